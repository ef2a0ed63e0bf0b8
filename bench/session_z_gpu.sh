#!/usr/bin/env bash
# The Triton kernel's 64-row MLA tile in the expected-time model (twelfth H200 session), one device call:
# 1. decode points drawn at random with a fresh seed (bench/random_points.py, SEED, default 3) while FlashMLA builds;
#    judged offline against this call's calibration (`python bench/revalidate.py`);
# 2. `mlacalc calibrate --kernels` (with MiniCPM3's points: triton_mma_eff) and `mlacalc validate --suite expected`.
# Files under $OUT: run.log, random/validate.json, h200.yaml, calibrate.json, validate-expected.json/.md.
#     run(command="bash bench/session_z_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
timeout 150 python3 bench/random_points.py --seed "${SEED:-3}" --n "${N:-60}" --out "$OUT/random" \
  --gpu reports/h200/h200.yaml >> "$LOG" 2>&1
echo "random points exit $? at ${SECONDS} s" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
calibrate_then_validate 200 560
echo "total ${SECONDS} s"
