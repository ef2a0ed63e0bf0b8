#!/usr/bin/env bash
# The thirty-first session's last call, any Hopper (H100: about 200 s): at the points of fresh uniform seeds 7-9 where
# auto's own schedule ran (held out: the rule was set before they were drawn) and the worst one where it did not
# (17 x 7,964), is the schedule a gain? bench/auto_schedule_trace.py, fixed grid against the own schedule (forced)
# and a schedule filled once, two rounds in alternating order. On an H200 the report's refresh comes first
# (bench/session_cd_gpu.sh's steps). Files under $OUT: run.log, trace.json, trace.log (H200: kernels.json too).
#     run(command="bash bench/session_ce_gpu.sh", carry=[".peers"], timeout_s=500)
set -u
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
. bench/device_lib.sh
if echo "$GPU" | grep -q H200; then
  h200_report_refresh || exit 1
else
  begin_run_without_peers || exit 1
fi
timeout $(( 490 - SECONDS )) python3 bench/auto_schedule_trace.py --rounds 2 --variants fixed,own,explicit \
  --points 23:11411,24:10424,105:4751,92:6436,72:6875,117:8988,17:7964 --out "$OUT/trace.json" > "$OUT/trace.log" 2>&1
echo "trace exit $? at ${SECONDS} s" | tee -a "$LOG"
grep " us = " "$OUT/trace.log" | tee -a "$LOG"
echo "total ${SECONDS} s"
