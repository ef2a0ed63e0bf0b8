#!/usr/bin/env bash
# The fourteenth session's device call (issue 14, the expected-time model where seeds 4-7 missed), one call:
# 1. bench/ab_mla_resident.py: MiniCPM3's 16- and 32-row Triton tiles, planner counting one program an SM (default)
#    against two (what the SM holds for 288-dim keys);
# 2. 60 decode points drawn at random with a fresh seed (SEED, default 8) while FlashMLA builds, judged against the
#    committed calibration here and offline against the refit (`python bench/revalidate.py`);
# 3. `mlacalc calibrate --kernels` with the new points (DSA at batch 100-180 over 8-32 heads, MiniCPM3's 16-bit small
#    tiles, short contexts at moderate batch), merged offline with the earlier runs (bench/merge_calibrations.py).
# Files under $OUT: run.log, ab_mla_resident.json, random/validate.json, h200.yaml, calibrate.json.
#     run(command="bash bench/session_ad_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
timeout 100 python3 bench/ab_mla_resident.py --out "$OUT/ab_mla_resident.json" >> "$LOG" 2>&1
echo "ab_mla_resident exit $? at ${SECONDS} s" | tee -a "$LOG"
random_points "${SEED:-8}" 130
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
calibrate_kernels $(( 585 - SECONDS )) "$LOG"
echo "total ${SECONDS} s"
