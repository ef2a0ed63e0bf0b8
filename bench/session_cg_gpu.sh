#!/usr/bin/env bash
# The thirty-second session's call (about 520 s), by card. On an H200: the report's refresh (as session_cd:
# `mlacalc bench kernels --peers` -> kernels.json, then 40 uniform points off the grid, seed 7). On an H100: the
# expected-time model measured on that card, which so far priced it with coefficients fitted on the H200 (scaled by
# bandwidth a SM): 60 random decode points (seed 15, held out: drawn before any H100 coefficient exists; priced here
# with the built-in h100-sxm card, repriced offline by bench/revalidate.py) into random15/, then `mlacalc calibrate
# --kernels --base h100-sxm` (FlashMLA built, so its backend is fitted too) into h100.yaml + calibrate.json.
#     run(command="bash bench/session_cg_gpu.sh", carry=[".peers"], kind="nvidia-h200", timeout_s=600)
set -u
END=${END:-560}
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
. bench/device_lib.sh
begin_run || exit 1
if echo "$GPU" | grep -q H200; then
  finish_flashmla_build "$W/flashmla_build.log" "$LOG"
  bench_peers 300
  print_bench_summary "$OUT/kernels.json"
  uniform_seeds "$END" 7
elif echo "$GPU" | grep -q H100; then
  echo "== random points seed 15 on $GPU" | tee -a "$LOG"
  timeout 200 python3 bench/random_points.py --seed 15 --n 60 --out "$OUT/random15" --gpu h100-sxm >> "$LOG" 2>&1
  echo "random points exit $? at ${SECONDS} s" | tee -a "$LOG"
  grep -A8 "^## Accuracy" "$OUT/random15/validate.md" | tee -a "$LOG"
  finish_flashmla_build "$W/flashmla_build.log" "$LOG"
  echo "== mlacalc calibrate --out h100.yaml --base h100-sxm --kernels --json" | tee -a "$LOG"
  timeout $(( END - SECONDS )) mlacalc calibrate --out "$OUT/h100.yaml" --base h100-sxm --kernels --json \
    > "$OUT/calibrate.json" 2>> "$LOG"
  echo "calibrate exit $? at ${SECONDS} s" | tee -a "$LOG"
else
  echo "neither an H200 nor an H100 ($GPU): nothing run"
fi
echo "total ${SECONDS} s"
