#!/usr/bin/env bash
# The twenty-fourth session's last call (device time short): the two measurements that waited, most valuable first.
# 1. the prefill calibration points at head dims 64, 128, 256 and MLA's 192/128 (bench/prefill_headdim.py: the 14
#    PREFILL_POINTS through the profiler's own SDPA path), then the sdpa refit on this machine's CPU into $OUT only
#    (bench/fit_expected.py --sdpa; what bench/session_prefill_exp_gpu.sh does);
# 2. bench/probe_fp8_bound.py: the fp8 Gluon kernel beside broken variants of its widening group and the bf16 kernel
#    on the same 32-key tile (what bounds fp8: bench/session_bg_gpu.sh's first step);
# 3. Nsight Compute (source counters) on fp8 at 32 x 32k x 64 heads, paged, with what time is left.
# Files under $OUT: run.log, prefill_headdim.json (+ .log), refit.txt, h200-sdpa-refit.yaml, probe.json (+ .log),
# ncu.txt.
#     run(command="bash bench/session_bh_gpu.sh", timeout_s=360)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
prefill_headdim_refit 200 90
timeout $(( 320 - SECONDS )) python3 bench/probe_fp8_bound.py --out "$OUT/probe.json" > "$OUT/probe.log" 2>&1
echo "probe exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 - "$OUT/probe.json" <<'PY' | tee -a "$LOG"
import collections, json, sys
best = collections.defaultdict(dict)
try:
    rows = json.load(open(sys.argv[1]))["rows"]
except Exception as e:  # noqa: BLE001 - the log says what is missing
    rows = []
    print("no probe rows:", e)
for r in rows:
    if r.get("graph_ms") is not None:
        k = (r["B"], r["ctx"], r["heads"], r["layout"])
        best[k][r["variant"]] = min(best[k].get(r["variant"], 9e9), r["graph_ms"])
for k, v in best.items():
    print(k, " ".join(f"{n} {ms:.4f}" for n, ms in v.items()))
PY
if [ $(( 350 - SECONDS )) -gt 40 ]; then
  timeout $(( 350 - SECONDS )) ncu --profile-from-start off --clock-control none --section SpeedOfLight \
    --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section WarpStateStats \
    --section SchedulerStats --section InstructionStats --section SourceCounters \
    --print-details all python3 bench/ncu_probe.py fp8-h64-paged > "$OUT/ncu.txt" 2>&1
  echo "ncu exit $? at ${SECONDS} s" | tee -a "$LOG"
fi
echo "total ${SECONDS} s"
