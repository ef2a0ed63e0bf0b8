#!/usr/bin/env bash
# The thirtieth session's last call, any Hopper (about 60 s): is auto's decode-kernel penalty (2.6-5.0% over the same
# schedule filled once: reports/h100/tuning/auto_schedule_trace_session_bw.log) auto's plan, or filling before the
# decode kernel? bench/auto_schedule_trace.py at four auto-scheduled points with `refill` (an explicit schedule made
# anew every call: filled every launch through the explicit path's plan). Files under $OUT: run.log, trace.json,
# trace.log.
#     run(command="bash bench/session_bx_gpu.sh", timeout_s=180)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
timeout 150 python3 bench/auto_schedule_trace.py --points 34:10048,77:7437,69:12050,35:17927 \
  --variants auto,explicit,refill --out "$OUT/trace.json" > "$OUT/trace.log" 2>&1
echo "trace exit $? at ${SECONDS} s" | tee -a "$LOG"
grep " us = " "$OUT/trace.log" | tee -a "$LOG"
