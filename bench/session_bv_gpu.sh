#!/usr/bin/env bash
# The thirtieth session's second call, after Q's stacked view (bench/session_bu_gpu.sh measured it on an H100): the
# issue's benchmark, `mlacalc bench kernels --peers`, with the new default, on whatever Hopper comes (an H200: the
# report's refresh, then the DSA fp8-ds validate points with what time is left; an H100: 40 fresh uniform points off
# the grid, bench/random_vs_flashmla.py --uniform --seed 5). The out-of-range GPU tests run while FlashMLA builds.
# Files under $OUT: run.log, kernels.json, pytest_bad.txt, and uniform_seed5.json (H100) or validate-dsa-fp8.* (H200).
#     run(command="bash bench/session_bv_gpu.sh", carry=[".peers"], kind="nvidia-h200", timeout_s=580)
#     run(command="END=440 bash bench/session_bv_gpu.sh", ..., timeout_s=470)   # less device time left
#     run(command="H200_ONLY=1 END=330 bash bench/session_bv_gpu.sh", ..., timeout_s=360)
set -u
END=${END:-560}   # the second by which the last step ends
. bench/device_lib.sh
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
# H200_ONLY=1: stop at once on any other card (a last try for the H200 report with little device time left)
if [ "${H200_ONLY:-0}" = 1 ] && ! echo "$GPU" | grep -q H200; then echo "not an H200 ($GPU): nothing run"; exit 0; fi
begin_run || exit 1
out_of_range_gpu_tests 90
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
bench_peers 300
print_bench_summary "$OUT/kernels.json"
if [ $(( END - SECONDS )) -lt 20 ]; then
  echo "no time left for the last step (END=$END, at ${SECONDS} s)" | tee -a "$LOG"
elif echo "$GPU" | grep -q H200; then
  validate_dsa_fp8 $(( END - SECONDS ))
else
  timeout $(( END - SECONDS )) python3 bench/random_vs_flashmla.py --uniform --seed 5 --n 40 \
    --out "$OUT/uniform_seed5.json" >> "$LOG" 2>&1
  echo "uniform seed 5 exit $? at ${SECONDS} s" | tee -a "$LOG"
fi
echo "total ${SECONDS} s"
