#!/usr/bin/env bash
# The twenty-first session's first call, under the GPU machine's Triton 3.6: the seesaw kernel's lazy rescale
# (kernels/gluon_mla_seesaw._softmax_step / _rescaled: a row's reference max moves only past a slack of 8, base 2,
# and a group skips its accumulator's 128 FMULs a thread when no row's moved; FlashMLA rescales every tile).
# Slack 0 compiles to the previous kernel's SASS byte for byte (Triton 3.6 and 3.9, seven variants), so slack0 is
# the base of the A/B.
# 1. hang checks (fp8 and sparse Gluon kernels, now with slack 8), while FlashMLA builds;
# 2. bench/ab_rescale.py fp8 and sparse points (slack8 vs slack0), then the dense grid's 24 points at 64 and 128
#    heads with FlashMLA beside;
# 3. the MLA, Gluon and sparse GPU tests (the rescaling test at slack 0, 1, 8 and both tiles).
# Files under $OUT: run.log, ab_rescale_fs.json, ab_rescale_dense.json, pytest.txt.
#     run(command="bash bench/session_bd_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
check_fp8_gluon
check_sparse_gluon
timeout 150 python3 bench/ab_rescale.py --only fp8,sparse --out "$OUT/ab_rescale_fs.json" > "$W/ab_fs.log" 2>&1
echo "ab fp8/sparse exit $? at ${SECONDS} s" | tee -a "$LOG"
grep "kind': 'check" "$W/ab_fs.log" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_rescale_fs.json" slack8/slack0 | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
timeout 200 python3 bench/ab_rescale.py --only dense --out "$OUT/ab_rescale_dense.json" > "$W/ab_dense.log" 2>&1
echo "ab dense exit $? at ${SECONDS} s" | tee -a "$LOG"
grep "kind': 'check" "$W/ab_dense.log" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_rescale_dense.json" slack8/slack0 | tee -a "$LOG"
kernel_gpu_tests $(( 585 - SECONDS ))
echo "total ${SECONDS} s"
