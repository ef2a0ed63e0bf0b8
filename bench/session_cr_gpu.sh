#!/usr/bin/env bash
# The thirty-fourth session's second CUDA fp8 call (any Hopper, about 250 s): the extension built, the GPU tests of
# the kernel and of auto's fp8 path with bad values (auto now runs it at <= 16 heads), then the expected time held
# out at 24 random points (bench/heldout_fp8_cuda.py, seed 1), the Triton kernel timed beside.
# Files under $OUT: run.log, build.log, pytest.txt, heldout_seed1.json.
#     run(command="bash bench/session_cr_gpu.sh", timeout_s=300)     (END=230 with ~300 s of device time left)
set -u
END=${END:-285}
. bench/device_lib.sh
begin_run_without_peers || exit 1
build_cuda_fp8 "$OUT/build.log"
timeout 60 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py \
  -k "cuda_fp8 or (out_of_range_values_unchecked and auto)" > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s" | tee -a "$LOG"
grep -E "passed|failed|Error" "$OUT/pytest.txt" | tail -6 | tee -a "$LOG"
left=$(( END - SECONDS - 5 ))
timeout "$left" python3 bench/heldout_fp8_cuda.py --out "$OUT/heldout_seed1.json" --seed 1 --n 24 >> "$LOG" 2>&1
echo "heldout exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 bench/heldout_fp8_cuda.py --summary "$OUT/heldout_seed1.json" 2>&1 | tee -a "$LOG"
echo "total ${SECONDS} s"
