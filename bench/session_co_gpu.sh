#!/usr/bin/env bash
# The thirty-third session's last call (any Hopper, about 140 s): the Triton GQA kernel at head dims that are no
# power of two (padded tiles; the fuzz of session_cn found 80 and 96 refused), its GPU tests, then the GPU fuzz with
# what time is left (seed 3). Files under $OUT: run.log, pytest_gqa.txt, fuzz_gpu_seed3.json.
#     run(command="bash bench/session_co_gpu.sh", timeout_s=170)
set -u
END=${END:-150}
. bench/device_lib.sh
begin_run_without_peers || exit 1
timeout 90 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py \
  -k "no_power_of_two or gqa_decode_triton_and_sdpa" > "$OUT/pytest_gqa.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s" | tee -a "$LOG"
tail -3 "$OUT/pytest_gqa.txt" | tee -a "$LOG"
left=$(( END - SECONDS - 15 ))
if [ "$left" -gt 20 ]; then
  timeout $(( left + 10 )) python3 bench/fuzz_kernels_gpu.py --cases 200 --seed 3 --budget-s "$left" \
    --out "$OUT/fuzz_gpu_seed3.json" 2>&1 | tee -a "$LOG" | tail -12
fi
echo "total ${SECONDS} s"
