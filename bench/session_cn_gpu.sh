#!/usr/bin/env bash
# The thirty-third session's second call (any Hopper, about 450 s): bench/fuzz_kernels_gpu.py, valid decode calls of
# random shapes nobody chose (dense MLA, fp8, sparse top-k, GQA; every impl) against the float64 reference, seeds 1
# and 2 while time is left. Files under $OUT: run.log, fuzz_gpu_seed{1,2}.json.
#     run(command="bash bench/session_cn_gpu.sh", timeout_s=560)
set -u
END=${END:-520}
. bench/device_lib.sh
begin_run_without_peers || exit 1
for seed in 1 2; do
  left=$(( END - SECONDS - 30 ))
  if [ "$left" -lt 60 ]; then echo "no time left for seed $seed (at ${SECONDS} s)" | tee -a "$LOG"; break; fi
  timeout $(( left + 20 )) python3 bench/fuzz_kernels_gpu.py --cases 200 --seed "$seed" --budget-s "$left" \
    --out "$OUT/fuzz_gpu_seed$seed.json" 2>&1 | tee -a "$LOG" | tail -25
  echo "fuzz seed $seed exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
done
echo "total ${SECONDS} s"
