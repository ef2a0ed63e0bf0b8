#!/usr/bin/env bash
# The twenty-eighth session's third call, after the sparse planner took its fp8-ds wave rule
# (GluonSparseConfig.fp8_wave_chunk = 128, measured on an H100 in session_bn); steps 2-3 never ran on an H200 that
# session (no H200 start came), so this is the next session's first call:
# 1. bench/ab_sparse_splits.py --variants plan,w128: the byte plan against the rule, on this GPU; then
#    bench/ab_fp8_splits.py: the dense fp8 kernel's byte plan against the bf16 plan and one wave (batch 1-8);
# 2. the expected suite's DSA fp8-ds points measured again with the new plan (`mlacalc validate --suite expected
#    --resume` over a copy of reports/h200/validate-expected.json without them: only they run), against h200.yaml;
# 3. on an H200 only: `mlacalc bench kernels --peers` (FlashMLA built meanwhile) into $OUT/kernels.json.
# Files under $OUT: run.log, ab_sparse_splits.json (+ .log), ab_fp8_splits.json (+ .log), validate-dsa-fp8.json /
# .md, kernels.json.
#     run(command="bash bench/session_bo_gpu.sh", carry=[".peers"], timeout_s=560)
#     run(command="H100_AB=0 bash bench/session_bo_gpu.sh", ...)    # once an H100 has run the fp8 A/B
set -u
. bench/device_lib.sh
# The first run of this script (twenty-eighth session) came on an H100, where step 2 judged H100 times against the
# H200's spec (discarded); so on any other GPU it now stops before installing anything.
# On an H100 (the twenty-ninth session's change) the dense fp8 split A/B runs alone (it has run on no GPU yet), unless
# H100_AB=0 (a retry after it ran once): then nothing runs.
if ! nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200; then
  [ "${H100_AB:-1}" = 0 ] && { echo "not an H200: nothing run"; exit 0; }
  echo "not an H200: the dense fp8 split A/B only"
  begin_run_without_peers || exit 1
  timeout 90 python3 bench/ab_fp8_splits.py --out "$OUT/ab_fp8_splits.json" > "$OUT/ab_fp8_splits.log" 2>&1
  echo "ab fp8 splits exit $? at ${SECONDS} s" | tee -a "$LOG"
  grep "kind': 'check" "$OUT/ab_fp8_splits.log" | tee -a "$LOG"
  python3 bench/ab_summary.py "$OUT/ab_fp8_splits.json" as16/plan,wave/plan | tee -a "$LOG"
  exit 0
fi
H200=1
begin_run || exit 1
timeout 60 python3 bench/ab_sparse_splits.py --variants plan,w128 --out "$OUT/ab_sparse_splits.json" \
  > "$OUT/ab_sparse_splits.log" 2>&1
echo "ab sparse splits exit $? at ${SECONDS} s" | tee -a "$LOG"
grep "kind': 'check" "$OUT/ab_sparse_splits.log" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_sparse_splits.json" w128/plan | tee -a "$LOG"
timeout 75 python3 bench/ab_fp8_splits.py --out "$OUT/ab_fp8_splits.json" > "$OUT/ab_fp8_splits.log" 2>&1
echo "ab fp8 splits exit $? at ${SECONDS} s" | tee -a "$LOG"
grep "kind': 'check" "$OUT/ab_fp8_splits.log" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_fp8_splits.json" as16/plan,wave/plan | tee -a "$LOG"
validate_dsa_fp8 120
if [ "$H200" = 1 ]; then
  finish_flashmla_build "$W/flashmla_build.log" "$LOG"
  bench_peers 240
  print_bench_summary "$OUT/kernels.json"
fi
echo "total ${SECONDS} s"
