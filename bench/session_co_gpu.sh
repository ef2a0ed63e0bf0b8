#!/usr/bin/env bash
# The thirty-third session's last call (written; no device time was left to run it; any Hopper, about 540 s): the
# Triton GQA kernel at head dims that are no power of two (padded tiles; the fuzz of session_cn found 80 and 96
# refused), its GPU tests; then 40 random points over the wider model list (bench/random_points.py --wide, seed 20:
# Phi-3.5-mini, Phi-2, GPT-NeoX-20B, Gemma-2, Falcon-7B, StarCoder2, EXAONE beside the usual), every output checked;
# then the GPU fuzz with what time is left (seed 3).
# Files under $OUT: run.log, pytest_gqa.txt, random20w/validate.{json,md}, fuzz_gpu_seed3.json.
#     run(command="bash bench/session_co_gpu.sh", timeout_s=560)      (END=150 for the tests and a short fuzz only)
set -u
END=${END:-540}
. bench/device_lib.sh
begin_run_without_peers || exit 1
timeout 90 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py \
  -k "no_power_of_two or gqa_decode_triton_and_sdpa" > "$OUT/pytest_gqa.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s" | tee -a "$LOG"
tail -3 "$OUT/pytest_gqa.txt" | tee -a "$LOG"
if [ $(( END - SECONDS )) -gt 300 ]; then
  timeout $(( END - SECONDS - 120 )) python3 bench/random_points.py --seed 20 --n 40 --wide --out "$OUT/random20w" \
    --gpu h100-sxm >> "$LOG" 2>&1
  echo "random points seed 20 --wide exit $? at ${SECONDS} s" | tee -a "$LOG"
  grep -A8 "^## Accuracy" "$OUT/random20w/validate.md" | tail -2 | tee -a "$LOG"
  grep "output WRONG\|output not checked\|error:" "$LOG" | tee -a "$OUT/wrong.txt"
fi
left=$(( END - SECONDS - 15 ))
if [ "$left" -gt 20 ]; then
  timeout $(( left + 10 )) python3 bench/fuzz_kernels_gpu.py --cases 200 --seed 3 --budget-s "$left" \
    --out "$OUT/fuzz_gpu_seed3.json" 2>&1 | tee -a "$LOG" | tail -12
fi
echo "total ${SECONDS} s"
