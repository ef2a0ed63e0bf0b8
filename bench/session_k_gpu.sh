#!/usr/bin/env bash
# Issue 14 (expected time of DSA decode), one device call (<= 9.5 minutes): `mlacalc calibrate --kernels` (now with
# DeepSeek-V3.2 / GLM-5 top-2048 decode points: the Gluon sparse kernel's gather rate), then `mlacalc validate
# --suite expected` against that calibration (ten held-out DSA points among the rest).
# Files under $OUT: run.log, h200.yaml, calibrate.json, validate-expected.json, validate-expected.md.
#     run(command="bash bench/session_k_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
calibrate_kernels 230 "$LOG"
validate_suite expected "$OUT/h200.yaml" $(( 560 - SECONDS )) "$W" "$LOG"
grep -A14 "^## Accuracy" "$OUT/validate-expected.md" | tee -a "$LOG"
echo "total ${SECONDS} s"
