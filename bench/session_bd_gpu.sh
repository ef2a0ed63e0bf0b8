#!/usr/bin/env bash
# The twenty-first session's call (one: device time ran short while none was lent), under the GPU machine's Triton
# 3.6: the seesaw kernel's lazy rescale and the scale in the exponent (kernels/gluon_mla_seesaw._softmax_step /
# _rescaled: a row's reference max moves only past a slack of 8, base 2; a group skips its accumulator's 128 FMULs a
# thread when no row's moved; FlashMLA rescales every tile), and auto's padded Gluon tile at 32 heads.
# Slack 0 compiles to the previous kernel's SASS byte for byte (Triton 3.6 and 3.9, seven variants), so slack0 is
# the base of the A/B.
# 1. hang checks (fp8 and sparse Gluon kernels), while FlashMLA builds;
# 2. bench/ab_rescale.py: the dense grid's 24 points at 64 and 128 heads (slack8 vs slack0, FlashMLA beside: issue
#    14's targets at the points this kernel runs), then the fp8 and sparse points;
# 3. the Gluon GPU tests (the rescaling test at slack 0, 1, 8 and both tiles; the padded tile; auto's dispatch) and
#    the sparse Gluon ones, with what time is left.
# 4. the scheduled mode's smoke tests, last.
# Files under $OUT: run.log, ab_rescale_dense.json, ab_rescale_fs.json (and their row logs ab_dense.log,
# ab_fs.log), pytest.txt, smoke.txt.
#     run(command="bash bench/session_bd_gpu.sh", carry=[".peers"], timeout_s=480)
set -u
. bench/device_lib.sh
begin_run || exit 1
check_fp8_gluon
check_sparse_gluon
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
timeout 200 python3 bench/ab_rescale.py --only dense --out "$OUT/ab_rescale_dense.json" > "$OUT/ab_dense.log" 2>&1
echo "ab dense exit $? at ${SECONDS} s" | tee -a "$LOG"
grep "kind': 'check" "$OUT/ab_dense.log" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_rescale_dense.json" slack8/slack0 | tee -a "$LOG"
timeout 90 python3 bench/ab_rescale.py --only fp8,sparse --out "$OUT/ab_rescale_fs.json" > "$OUT/ab_fs.log" 2>&1
echo "ab fp8/sparse exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_rescale_fs.json" slack8/slack0 | tee -a "$LOG"
timeout $(( 420 - SECONDS )) python3 -m pytest -q -m gpu -p no:cacheprovider \
  -k "gluon_mla or rescaling or auto_dispatch or sparse_gluon" tests/test_kernels_gpu.py > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
# the scheduled mode's smoke tests (the same softmax inside _wg_sched), last: a hang there costs nothing above
timeout $(( 465 - SECONDS )) python3 -m pytest -q -m gpu -p no:cacheprovider -k "gluon_sched_smoke" \
  tests/test_kernels_gpu.py > "$OUT/smoke.txt" 2>&1
echo "sched smoke exit $? at ${SECONDS} s: $(tail -1 "$OUT/smoke.txt")" | tee -a "$LOG"
echo "total ${SECONDS} s"
