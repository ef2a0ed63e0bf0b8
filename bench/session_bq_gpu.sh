#!/usr/bin/env bash
# The twenty-ninth session's third call, after impl auto learned to run its own balanced schedule at 128 heads where
# the fixed grid leaves a wave's SMs idle (gluon_mla_decode.auto_schedules), on any Hopper GPU:
# 1. the GPU tests of that path and of the scheduled modes (tests/test_kernels_gpu.py -k "auto_schedule or
#    gluon_sched or scheduled_decode_in_a_cuda_graph"), while FlashMLA's dense decode builds;
# 2. bench/random_vs_flashmla.py --uniform at seed 1 (the 40 points measured before the change, session_bp) and at
#    seed 3 (40 points no rule was looked at), ours (auto) beside FlashMLA.
# Files under $OUT: run.log, pytest.txt, uniform_seed1.json, uniform_seed3.json.
#     run(command="bash bench/session_bq_gpu.sh", carry=[".peers"], timeout_s=480)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
start_dense_flashmla_build "$W/flashmla_build.log"
timeout 170 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_kernels_gpu.py \
  -k "auto_schedule or gluon_sched or scheduled_decode_in_a_cuda_graph" > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
grep -E "^(FAILED|ERROR)" "$OUT/pytest.txt" | head -20 | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
for seed in 1 3; do
  left=$(( 430 - SECONDS ))
  [ "$left" -gt 30 ] || break
  timeout "$left" python3 bench/random_vs_flashmla.py --uniform --seed "$seed" --n 40 \
    --out "$OUT/uniform_seed$seed.json" >> "$LOG" 2>&1
  echo "uniform seed $seed exit $? at ${SECONDS} s" | tee -a "$LOG"
  grep -A4 "ours / FlashMLA over" "$LOG" | tail -4
done
echo "total ${SECONDS} s"
