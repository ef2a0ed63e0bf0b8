#!/usr/bin/env bash
# Issue 14, one device call: where our decode kernels and FlashMLA's spend their time, read by Nsight Compute
# (hardware counters work on the H200 machine's runtime: ../.library/device/KINDS.md; clocks left alone), plus the
# host-time probe with its whole profile. Files under $OUT: run.log, ncu.txt (one details page per case of
# bench/ncu_probe.py), host_profile.txt.
#     run(command="bash bench/ncu_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
NCU="ncu --profile-from-start off --clock-control none --section SpeedOfLight --section ComputeWorkloadAnalysis
 --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables --section WarpStateStats
 --section SchedulerStats --section Occupancy --section LaunchStats --section InstructionStats
 --metrics regex:sm__pipe_.*cycles_active.avg.pct_of_peak_sustained_active"
probe() {  # $1: case
  echo "===== case $1" >> "$OUT/ncu.txt"
  timeout 90 $NCU --print-details all python3 bench/ncu_probe.py "$1" >> "$OUT/ncu.txt" 2>&1 \
    || timeout 90 $NCU python3 bench/ncu_probe.py "$1" >> "$OUT/ncu.txt" 2>&1
  echo "case $1 exit $? at ${SECONDS} s" | tee -a "$LOG"
}
for c in ours-h128 triton-h128 ours-h64-paged ours-h16-paged ours-h16 fp8-h16 fp8-h128 sparse-bf16-h128 \
         sparse-bf16-h16 sparse-fp8ds-h64; do
  probe "$c"
done
echo "== host_profile" >> "$LOG"
timeout 60 python3 bench/host_profile.py > "$OUT/host_profile.txt" 2>&1
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
for c in flashmla-h128 flashmla-h64-paged flashmla-h16-paged; do
  probe "$c"
done
tail -3 "$LOG"; echo "total ${SECONDS} s"
