#!/usr/bin/env bash
# The thirty-second session's fifth call (H100, about 400 s): after the fix of the profiler's DSA points on a
# contiguous cache (positions were read as rows of the flattened pool: every sequence read sequence 0's rows),
# bench/dsa_bandwidth_check.py again (the Gluon sparse kernel against float64 with rows, and its bandwidth), then
# the three H100 random seeds measured again with the fixed profiler (15, 16, 17; built-in h100-sxm) into random15-17/.
# Files under $OUT: run.log, dsa_bw.json, random1{5,6,7}/validate.{json,md}.
#     run(command="bash bench/session_ck_gpu.sh", timeout_s=560)
set -u
END=${END:-540}
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
. bench/device_lib.sh
begin_run_without_peers || exit 1
timeout 90 python3 bench/dsa_bandwidth_check.py --out "$OUT/dsa_bw.json" 2>&1 | tail -9 | tee -a "$LOG"
for seed in 16 17 15; do
  if [ $(( END - SECONDS )) -lt 90 ]; then echo "no time left for seed $seed (at ${SECONDS} s)" | tee -a "$LOG"; break; fi
  timeout $(( END - SECONDS )) python3 bench/random_points.py --seed "$seed" --n 60 --out "$OUT/random$seed" \
    --gpu h100-sxm >> "$LOG" 2>&1
  echo "random points seed $seed exit $? at ${SECONDS} s" | tee -a "$LOG"
  grep -A8 "^## Accuracy" "$OUT/random$seed/validate.md" | tail -2 | tee -a "$LOG"
done
echo "total ${SECONDS} s"
