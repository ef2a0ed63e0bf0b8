#!/usr/bin/env bash
# The twenty-ninth session's second call (after bench/session_bo_gpu.sh), on any Hopper GPU:
# 1. bench/ab_fp8_splits.py: the dense fp8 kernel's new default (`plan`: one wave of >= 256-key splits where the byte
#    plan is under a wave) against the byte plan (`bytes`) and the bf16 plan (`as16`), batch 1-8, while FlashMLA's
#    dense decode builds (.peers/build_flashmla.py, ~105 s);
# 2. bench/random_vs_flashmla.py --uniform --schedule all: 40 seeded points of the ranges off its grid
#    (batch 8-128, context 4k-32k, any integers, uniform lengths, 16/64/128 heads, paged), ours (auto, fixed grid) and
#    ours with the balanced schedule, each beside FlashMLA;
# 3. then a second seed without the schedule while time is left.
# Files under $OUT: run.log, ab_fp8_splits.json (+ .log), uniform_seed1.json, uniform_seed2.json.
#     run(command="bash bench/session_bp_gpu.sh", carry=[".peers"], timeout_s=560)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
start_dense_flashmla_build "$W/flashmla_build.log"
timeout 90 python3 bench/ab_fp8_splits.py --out "$OUT/ab_fp8_splits.json" > "$OUT/ab_fp8_splits.log" 2>&1
echo "ab fp8 splits exit $? at ${SECONDS} s" | tee -a "$LOG"
grep "kind': 'check" "$OUT/ab_fp8_splits.log" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_fp8_splits.json" plan/bytes,as16/bytes | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
timeout 260 python3 bench/random_vs_flashmla.py --uniform --schedule all --seed 1 --n 40 \
  --out "$OUT/uniform_seed1.json" >> "$LOG" 2>&1
echo "uniform seed 1 exit $? at ${SECONDS} s" | tee -a "$LOG"
left=$(( 520 - SECONDS ))
if [ "$left" -gt 60 ]; then
  timeout "$left" python3 bench/random_vs_flashmla.py --uniform --seed 2 --n 40 --out "$OUT/uniform_seed2.json" \
    >> "$LOG" 2>&1
  echo "uniform seed 2 exit $? at ${SECONDS} s" | tee -a "$LOG"
fi
tail -12 "$LOG"
echo "total ${SECONDS} s"
