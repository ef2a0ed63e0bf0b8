#!/usr/bin/env bash
# Ready for the thirtieth session, any Hopper GPU (about 90 s): where auto's own schedule spends the 17-22 us it
# measured over a schedule filled once (bench/auto_schedule_trace.py: per-kernel device times of the fixed grid, auto
# and an explicit schedule at 128-head points, from torch.profiler over graph replays). Run in the thirtieth session
# before Q's stacked view (reports/h100/tuning/auto_schedule_trace_session_bt.*), then after it with four more points.
# Files under $OUT: run.log, trace.json.
#     run(command="bash bench/session_bt_gpu.sh", timeout_s=240)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
timeout 240 python3 bench/auto_schedule_trace.py --out "$OUT/trace.json" > "$OUT/trace.log" 2>&1
echo "trace exit $? at ${SECONDS} s" | tee -a "$LOG"
tail -16 "$OUT/trace.log" | tee -a "$LOG"
