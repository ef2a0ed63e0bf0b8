#!/usr/bin/env bash
# The thirtieth session's call, any Hopper (about 500 s): Q through a stacked view (gluon_mla_seesaw._stack_q, no
# spills under Triton 3.6) against Q's loop-invariant view, bench/ab_stack_q.py: both checked against the float64
# reference, then fp8 and sparse timed while FlashMLA builds, then the dense grid beside FlashMLA; then the Gluon GPU
# tests (the new default) with what time is left. Files under $OUT: run.log, ab_fp8_sparse.json, ab_dense.json,
# pytest.txt.
#     run(command="bash bench/session_bu_gpu.sh", carry=[".peers"], timeout_s=590)
set -u
. bench/device_lib.sh
begin_run || exit 1
timeout 200 python3 bench/ab_stack_q.py --kinds fp8,sparse --out "$OUT/ab_fp8_sparse.json" > "$W/ab1.log" 2>&1
echo "ab fp8,sparse exit $? at ${SECONDS} s" | tee -a "$LOG"
grep "kind': 'check" "$W/ab1.log" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_fp8_sparse.json" stacked/flat | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
timeout $(( 470 - SECONDS )) python3 bench/ab_stack_q.py --kinds dense --out "$OUT/ab_dense.json" > "$W/ab2.log" 2>&1
echo "ab dense exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_dense.json" stacked/flat | tee -a "$LOG"
timeout $(( 575 - SECONDS )) python3 -m pytest -q -m gpu -p no:cacheprovider -x tests/test_kernels_gpu.py \
  -k "gluon or sparse" > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
grep -E "^(FAILED|ERROR|E )" "$OUT/pytest.txt" | head -20 | tee -a "$LOG"
