#!/usr/bin/env bash
# The twenty-eighth session's second call: two A/Bs of plans, ours against ours (no FlashMLA build):
# 1. bench/ab_sparse_splits.py --variants plan,w128,w64: the sparse planner against its wave_chunk knob (within one
#    wave of programs, the most splits with chunks of >= 128 / 64 slots), where the first call's forced counts showed
#    fp8-ds rows 7-11% faster with more splits inside one wave;
# 2. bench/ab_sched_uniform.py: mla_decode(impl="auto") fixed grid against the balanced schedule at issue 14's
#    36 uniform points (power-of-two batches plan 128 / 256 programs on 132 SMs).
# Files under $OUT: run.log, ab_sparse_splits.json (+ .log), ab_sched_uniform.json (+ .log).
#     run(command="bash bench/session_bn_gpu.sh", carry=[".peers"], timeout_s=420)
set -u
. bench/device_lib.sh
END=${END:-400}
begin_run_without_peers || exit 1
timeout 90 python3 bench/ab_sparse_splits.py --out "$OUT/ab_sparse_splits.json" > "$OUT/ab_sparse_splits.log" 2>&1
echo "ab sparse splits exit $? at ${SECONDS} s" | tee -a "$LOG"
grep "kind': 'check" "$OUT/ab_sparse_splits.log" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_sparse_splits.json" w128/plan,w64/plan | tee -a "$LOG"
T=$(( END - SECONDS - 15 ))
if [ "$T" -gt 20 ]; then
  timeout "$T" python3 bench/ab_sched_uniform.py --out "$OUT/ab_sched_uniform.json" > "$OUT/ab_sched_uniform.log" 2>&1
  echo "ab sched uniform exit $? at ${SECONDS} s" | tee -a "$LOG"
  grep "kind': 'check" "$OUT/ab_sched_uniform.log" | tee -a "$LOG"
  tail -3 "$OUT/ab_sched_uniform.log" | tee -a "$LOG"
  python3 bench/ab_summary.py "$OUT/ab_sched_uniform.json" sched/fixed | tee -a "$LOG"
fi
echo "total ${SECONDS} s"
