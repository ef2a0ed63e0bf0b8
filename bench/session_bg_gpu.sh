#!/usr/bin/env bash
# The twenty-fourth session's second call: what bounds the fp8 Gluon decode (the L2 prefetch of the first call,
# bench/session_bf_gpu.sh, changed its time by 1%, so the copy's DRAM latency is not it).
# 1. bench/probe_fp8_bound.py: the committed kernel beside deliberately broken variants of its widening group (no
#    conversion, half of it, no wait for the copy, neither) and the bf16 kernel on the same 32-key tile;
# 2. Nsight Compute on fp8 and bf16 at B 32 x 32k x 64 heads, paged (bench/ncu_probe.py cases fp8-h64-paged and
#    ours-h64-paged), with the source counters (which instructions the warps stall on).
# Files under $OUT: run.log, probe.json, probe.log, ncu.txt.
#     run(command="bash bench/session_bg_gpu.sh", timeout_s=500)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
timeout 220 python3 bench/probe_fp8_bound.py --out "$OUT/probe.json" > "$OUT/probe.log" 2>&1
echo "probe exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 - "$OUT/probe.json" <<'PY' | tee -a "$LOG"
import collections, json, sys
best = collections.defaultdict(dict)
for r in json.load(open(sys.argv[1]))["rows"]:
    if r.get("graph_ms") is not None:
        k = (r["B"], r["ctx"], r["heads"], r["layout"])
        best[k][r["variant"]] = min(best[k].get(r["variant"], 9e9), r["graph_ms"])
for k, v in best.items():
    print(k, " ".join(f"{n} {ms:.4f}" for n, ms in v.items()))
PY
for c in fp8-h64-paged ours-h64-paged; do
  echo "===== case $c" >> "$OUT/ncu.txt"
  timeout 120 ncu --profile-from-start off --clock-control none --section SpeedOfLight \
    --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables \
    --section WarpStateStats --section SchedulerStats --section InstructionStats --section SourceCounters \
    --metrics regex:sm__pipe_.*cycles_active.avg.pct_of_peak_sustained_active \
    --print-details all python3 bench/ncu_probe.py "$c" >> "$OUT/ncu.txt" 2>&1
  echo "ncu $c exit $? at ${SECONDS} s" | tee -a "$LOG"
done
python3 bench/ncu_summary.py "$OUT/ncu.txt" 2>&1 | tee -a "$LOG"
echo "total ${SECONDS} s"
