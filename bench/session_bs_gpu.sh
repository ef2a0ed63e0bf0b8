#!/usr/bin/env bash
# The twenty-ninth session's closing call (about 250 s of device time left, the machine warm): 40 fresh uniform
# points (seed 4) of the ranges off its grid with auto's final rule (its own schedule only where the modelled
# saving outweighs the fill), ours beside FlashMLA's dense decode (built first, ~110 s). Files: run.log,
# uniform_seed4.json (written row by row: a cut keeps what landed).
#     run(command="bash bench/session_bs_gpu.sh", carry=[".peers"], timeout_s=210)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
timeout 150 python3 .peers/build_flashmla.py --site /tmp/site > "$W/flashmla_build.log" 2>&1
tail -1 "$W/flashmla_build.log" | tee -a "$LOG"
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
timeout $(( 200 - SECONDS )) python3 bench/random_vs_flashmla.py --uniform --seed 4 --n 40 \
  --out "$OUT/uniform_seed4.json" >> "$LOG" 2>&1
echo "uniform seed 4 exit $? at ${SECONDS} s" | tee -a "$LOG"
tail -5 "$LOG"
