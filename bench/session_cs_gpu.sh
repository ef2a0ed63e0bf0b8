#!/usr/bin/env bash
# The CUDA fp8 kernel at 64 and 128 heads (thirty-fifth session; any Hopper, about 560 s). At 64 and 128 heads auto
# runs the Gluon fp8 kernel, 2.0-2.6x the fp8 floor (its widening through shared memory); the CUDA kernel now runs
# more rows than a CTA takes in head groups of 32 (or 16) rows side by side in the grid, each group re-reading the
# tiles (from L2 after the first). Does that beat Gluon there? Then the split count swept at 16 heads (32 x 4k ran
# 2.0x the floor: fixed costs or the splits' partials?).
#   1. the extension built; the GPU tests of the kernel (all modes: head groups of 40/64/128 heads, 16 or 32 rows a CTA)
#   2. bench/ab_fp8_cuda.py --heads 64 128: auto (Gluon) against cuda (32 rows a CTA), cuda3 (3 stages), cuda16
#   3. bench/sweep_fp8_cuda_splits.py at 16 heads with what time is left
# Files under $OUT: run.log, build.log, pytest.txt, ab_fp8_cuda_h64_128.json, sweep_splits_h16.json.
#     run(command="bash bench/session_cs_gpu.sh", timeout_s=590)
set -u
END=${END:-570}
. bench/device_lib.sh
begin_run_without_peers || exit 1
build_cuda_fp8 "$OUT/build.log"
timeout 90 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py -k "cuda_fp8" \
  > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s" | tee -a "$LOG"
grep -E "passed|failed|Error" "$OUT/pytest.txt" | tail -8 | tee -a "$LOG"
left=$(( END - SECONDS - 120 ))
[ "$left" -gt 260 ] && left=260
timeout "$left" python3 bench/ab_fp8_cuda.py --out "$OUT/ab_fp8_cuda_h64_128.json" --heads 64 128 >> "$LOG" 2>&1
echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_fp8_cuda_h64_128.json" cuda/auto,cuda3/auto,cuda16/auto 2>&1 | tail -4 | tee -a "$LOG"
left=$(( END - SECONDS - 5 ))
if [ "$left" -gt 30 ]; then
  timeout "$left" python3 bench/sweep_fp8_cuda_splits.py --out "$OUT/sweep_splits_h16.json" 2>&1 | tee -a "$LOG" | tail -40
  echo "sweep exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
fi
echo "total ${SECONDS} s"
