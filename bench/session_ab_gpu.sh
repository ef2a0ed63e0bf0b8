#!/usr/bin/env bash
# Calibration points where seeds 2-4's random points missed (thirteenth H200 session), one device call:
# 1. 60 decode points drawn at random with a fresh seed (SEED, default 5) while FlashMLA builds, judged against the
#    committed calibration here and offline against this call's (`python bench/revalidate.py`);
# 2. `mlacalc calibrate --kernels` with the new points (32-head MLA tiles, short contexts at large batch, paged GQA at
#    short contexts, DSA at batch 1-2, MiniCPM3's fp8 cache) and `mlacalc validate --suite expected` against it.
# Files under $OUT: run.log, random/validate.json, h200.yaml, calibrate.json, validate-expected.json/.md.
#     run(command="bash bench/session_ab_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
random_points "${SEED:-5}" 150
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
calibrate_then_validate 290 588
echo "total ${SECONDS} s"
