#!/usr/bin/env bash
# The thirty-second session's third call (any Hopper; about 300 s): Nsight Compute on the Gluon decode kernel with
# auto's own schedule beside the same schedule filled once and given (bench/ncu_probe.py own-* / explicit-*, two
# off-grid 128-head points where own measured 5-7 us slower), to split the own record's cost between the prologue
# and the per-key loop (instructions, stalls, registers, DRAM bytes). Files under $OUT: run.log, ncu.txt.
#     run(command="bash bench/session_ci_gpu.sh", timeout_s=420)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
for c in own-h128-34x10048 explicit-h128-34x10048 own-h128-69x12050 explicit-h128-69x12050; do
  echo "===== case $c" >> "$OUT/ncu.txt"
  timeout 100 ncu --profile-from-start off --clock-control none --section SpeedOfLight --section LaunchStats \
    --section Occupancy --section WarpStateStats --section SchedulerStats --section InstructionStats \
    --section MemoryWorkloadAnalysis --section SourceCounters --print-details all \
    python3 bench/ncu_probe.py "$c" >> "$OUT/ncu.txt" 2>&1
  echo "ncu $c exit $? at ${SECONDS} s" | tee -a "$LOG"
done
grep -E "^===== case|Duration|Registers Per|Executed Instructions |DRAM Throughput|Memory Throughput|Elapsed Cycles|mma_decode|_kernel" "$OUT/ncu.txt" | head -80 | tee -a "$LOG"
echo "total ${SECONDS} s"
