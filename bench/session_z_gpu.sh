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
random_points "${SEED:-3}" 150
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
calibrate_then_validate 200 560
echo "total ${SECONDS} s"
