#!/usr/bin/env bash
# (Runs as written at commit e79a23a only: it times options of the CUDA kernels removed after it.)
# After session_cs (thirty-fifth session; any Hopper, about 420 s): impl auto now hands the CUDA fp8 kernel up to 32
# query rows (two row groups a CTA: 0.46-0.72x the Triton kernel's time at 32 heads), and the calculator prices that
# with a fit to 6 points. This run checks auto's route there (GPU tests: auto at 32 heads and at 16 heads x 2 tokens,
# the dense out-of-range values through it), holds the expected time out at 24 random points of 1-32 rows (seed 2;
# bench/heldout_fp8_cuda.py --max-heads 32, the Triton kernel beside), then times the sparse CUDA kernel against
# auto's sparse kernels (bench/ab_sparse_cuda.py; its GPU tests passed in session_cs).
# Files under $OUT: run.log, build.log, pytest.txt, heldout_seed2.json, ab_sparse_cuda.json.
#     run(command="bash bench/session_cu_gpu.sh", timeout_s=450)
set -u
END=${END:-430}
. bench/device_lib.sh
begin_run_without_peers || exit 1
build_cuda_fp8 "$OUT/build.log"
timeout 90 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py \
  -k "auto_heads32 or auto_mtp2 or auto_route or (out_of_range_values_unchecked and auto)" > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s" | tee -a "$LOG"
grep -E "passed|failed|Error" "$OUT/pytest.txt" | tail -6 | tee -a "$LOG"
left=$(( END - SECONDS - 130 ))
[ "$left" -gt 170 ] && left=170
timeout "$left" python3 bench/heldout_fp8_cuda.py --out "$OUT/heldout_seed2.json" --seed 2 --n 24 --max-heads 32 >> "$LOG" 2>&1
echo "heldout exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 bench/heldout_fp8_cuda.py --summary "$OUT/heldout_seed2.json" 2>&1 | tee -a "$LOG"
left=$(( END - SECONDS - 5 ))
if [ "$left" -gt 40 ]; then
  timeout "$left" python3 bench/ab_sparse_cuda.py --out "$OUT/ab_sparse_cuda.json" --heads 16 32 >> "$LOG" 2>&1
  echo "ab sparse exit $? at ${SECONDS} s" | tee -a "$LOG"
  python3 bench/ab_summary.py "$OUT/ab_sparse_cuda.json" cuda/auto,cuda_fm/auto,cuda_i3/auto,cuda_s16/auto 2>&1 | tail -5 \
    | tee -a "$LOG"
fi
echo "total ${SECONDS} s"
