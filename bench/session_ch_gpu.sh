#!/usr/bin/env bash
# The thirty-second session's second call, by card. On an H200: the report's refresh (as session_cd). On an H100:
# two fresh seeds of random decode points (16, 17: drawn after the gather rate a SM stopped scaling with bandwidth, so
# held out from that change too) priced with the built-in h100-sxm card, into random16/ and random17/.
#     run(command="bash bench/session_ch_gpu.sh", carry=[".peers"], kind="nvidia-h200", timeout_s=600)
set -u
END=${END:-540}
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
. bench/device_lib.sh
if echo "$GPU" | grep -q H200; then
  h200_report_refresh || exit 1
  uniform_seeds "$END" 7
elif echo "$GPU" | grep -q H100; then
  begin_run_without_peers || exit 1
  for seed in 16 17; do
    echo "== random points seed $seed on $GPU" | tee -a "$LOG"
    timeout $(( END - SECONDS )) python3 bench/random_points.py --seed "$seed" --n 60 --out "$OUT/random$seed" \
      --gpu h100-sxm >> "$LOG" 2>&1
    echo "random points exit $? at ${SECONDS} s" | tee -a "$LOG"
    grep -A8 "^## Accuracy" "$OUT/random$seed/validate.md" | tee -a "$LOG"
  done
else
  echo "neither an H200 nor an H100 ($GPU): nothing run"
fi
echo "total ${SECONDS} s"
