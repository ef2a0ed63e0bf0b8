#!/usr/bin/env bash
# The thirty-sixth session's second device call (any Hopper, about 560 s): the whole calculator against fresh random
# points now that auto runs the CUDA fp8 kernel up to 32 query rows (the last random seeds, 15-20w, ran before it):
# bench/random_points.py at seed 21 (the usual model list) and 22 (--wide), each output checked against the float64
# reference and each point's KV bytes, peak memory and expected decode time against the measured; then the GPU fuzz
# at seed 4 (a share of fp8 cases sent to impl cuda) with what time is left.
# Files under $OUT: run.log, build.log, random21/validate.{json,md}, random22w/validate.{json,md}, fuzz_gpu_seed4.json.
#     run(command="bash bench/session_cx_gpu.sh", timeout_s=600)
set -u
END=${END:-575}
. bench/device_lib.sh
begin_run_without_peers || exit 1
build_cuda_fp8 "$OUT/build.log"
for s in 21 22; do
  wide=""; name="random$s"; [ "$s" = 22 ] && { wide="--wide"; name="random${s}w"; }
  timeout 170 python3 bench/random_points.py --seed "$s" --n 50 $wide --out "$OUT/$name" --gpu h100-sxm >> "$LOG" 2>&1
  echo "random points seed $s $wide exit $? at ${SECONDS} s" | tee -a "$LOG"
  grep -A8 "^## Accuracy" "$OUT/$name/validate.md" | tail -4 | tee -a "$LOG"
done
grep "output WRONG\|output not checked\|error:" "$LOG" | tee -a "$OUT/wrong.txt"
left=$(( END - SECONDS - 15 ))
if [ "$left" -gt 20 ]; then
  timeout $(( left + 10 )) python3 bench/fuzz_kernels_gpu.py --cases 300 --seed 4 --cuda-share 0.3 --budget-s "$left" \
    --out "$OUT/fuzz_gpu_seed4.json" 2>&1 | tee -a "$LOG" | tail -12
fi
echo "total ${SECONDS} s"
