#!/usr/bin/env bash
# The eighteenth session's last call (about 200 s of device time were left), under the GPU machine's Triton 3.6:
# ours beside FlashMLA at seeded random points nobody chose (bench/random_vs_flashmla.py: batch 1-128, mixed
# lengths in 1k-64k, 16/32/64/128 heads, paged), rows written as they land.
# Files under $OUT: run.log, random_vs_flashmla.json.
#     run(command="bash bench/session_az_gpu.sh", carry=[".peers"], timeout_s=200)
set -u
. bench/device_lib.sh
begin_run || exit 1
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
timeout $(( 185 - SECONDS )) python3 bench/random_vs_flashmla.py --seed 1 --n 40 --out "$OUT/random_vs_flashmla.json" \
  2>&1 | tail -2 | tee -a "$LOG"
echo "total ${SECONDS} s"
