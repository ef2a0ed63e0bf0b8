#!/usr/bin/env bash
# The thirty-sixth session's device call (any Hopper, about 450 s): what binds the CUDA fp8 kernel, then its expected
# time at a fresh seed. (1) Nsight Compute on auto's CUDA kernel at 32 x 32k x 16 heads (one row group a CTA), the
# same at 32 heads (two row groups: ~1.8x the time a key) and 32 x 4k x 16 heads (fixed costs: 51 us against a 25-us
# floor), with the source counters (where the warps stall); (2) bench/heldout_fp8_cuda.py at seed 4, which no
# constant or form of mlacalc.expected.cuda_fp8_decode_s has seen, with the time left.
# Files under $OUT: run.log, build.log, ncu.txt, heldout_seed4.json.
#     run(command="bash bench/session_cw_gpu.sh", timeout_s=600)
set -u
END=${END:-570}
. bench/device_lib.sh
begin_run_without_peers || exit 1
build_cuda_fp8 "$OUT/build.log"
for c in fp8-h16 fp8-h32 fp8-h16-32x4k; do
  echo "===== case $c" >> "$OUT/ncu.txt"
  timeout 100 ncu --profile-from-start off --clock-control none --section SpeedOfLight \
    --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section WarpStateStats \
    --section SchedulerStats --section InstructionStats --section Occupancy --section LaunchStats \
    --section SourceCounters --metrics regex:sm__pipe_.*cycles_active.avg.pct_of_peak_sustained_active \
    --print-details all python3 bench/ncu_probe.py "$c" >> "$OUT/ncu.txt" 2>&1
  echo "ncu $c exit $? at ${SECONDS} s" | tee -a "$LOG"
done
left=$(( END - SECONDS - 10 ))
timeout "$left" python3 bench/heldout_fp8_cuda.py --out "$OUT/heldout_seed4.json" --seed 4 --n 24 --max-heads 32 >> "$LOG" 2>&1
echo "heldout exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 bench/heldout_fp8_cuda.py --summary "$OUT/heldout_seed4.json" 2>&1 | tee -a "$LOG"
echo "total ${SECONDS} s"
