#!/usr/bin/env bash
# The CUDA fp8 kernel's next call (written in the thirty-fourth session, whose device time ran out; any Hopper,
# about 480 s): the extension built, the GPU tests of the kernel (its two row groups and two query tokens too) and
# of auto's fp8 path with bad values (auto runs it at <= 16 heads), the expected time held out at 24 random points
# (bench/heldout_fp8_cuda.py, seed 1) with the Triton kernel timed beside, then the A/B at 32 heads
# (bench/ab_fp8_cuda.py --heads 32: whether auto should take two row groups too), and the GPU fuzz with what time
# is left (fp8 cases of <= 32 rows through impl cuda).
# Files under $OUT: run.log, build.log, pytest.txt, heldout_seed1.json, ab_fp8_cuda_h32.json, fuzz_gpu_seed4_cuda.json.
#     run(command="bash bench/session_cr_gpu.sh", timeout_s=510)     (END=230 skips the A/B)
set -u
END=${END:-480}
. bench/device_lib.sh
begin_run_without_peers || exit 1
build_cuda_fp8 "$OUT/build.log"
timeout 60 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py \
  -k "cuda_fp8 or (out_of_range_values_unchecked and auto)" > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s" | tee -a "$LOG"
grep -E "passed|failed|Error" "$OUT/pytest.txt" | tail -6 | tee -a "$LOG"
left=$(( END - SECONDS - 5 ))
[ "$left" -gt 200 ] && left=200
timeout "$left" python3 bench/heldout_fp8_cuda.py --out "$OUT/heldout_seed1.json" --seed 1 --n 24 >> "$LOG" 2>&1
echo "heldout exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 bench/heldout_fp8_cuda.py --summary "$OUT/heldout_seed1.json" 2>&1 | tee -a "$LOG"
left=$(( END - SECONDS - 10 ))
if [ "$left" -gt 60 ]; then
  timeout "$left" python3 bench/ab_fp8_cuda.py --out "$OUT/ab_fp8_cuda_h32.json" --heads 32 >> "$LOG" 2>&1
  echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
  python3 bench/ab_summary.py "$OUT/ab_fp8_cuda_h32.json" cuda/auto,cuda3/auto 2>&1 | tail -3 | tee -a "$LOG"
fi
left=$(( END - SECONDS - 15 ))
if [ "$left" -gt 30 ]; then      # the GPU fuzz with most of its fp8 cases of <= 32 rows sent to impl cuda
  timeout $(( left + 10 )) python3 bench/fuzz_kernels_gpu.py --cases 120 --seed 4 --cuda-share 0.8 --budget-s "$left" \
    --out "$OUT/fuzz_gpu_seed4_cuda.json" 2>&1 | tee -a "$LOG" | tail -6
fi
echo "total ${SECONDS} s"
