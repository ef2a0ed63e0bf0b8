#!/usr/bin/env bash
# Issue 14 / the expected-time model after the seesaw's split loop (commit eee0646: 0.90-0.98x the time at 64-128
# heads), one device call under the machine's Triton 3.6:
# 1. 60 random decode points with a fresh seed (12) while FlashMLA builds, judged against the committed calibration
#    here and offline against a refit (`python bench/revalidate.py`);
# 2. `mlacalc calibrate --kernels` on the new kernel (its decode points merged offline with the earlier runs' points
#    of kernels that did not change: bench/merge_calibrations.py --fresh);
# 3. `mlacalc validate --suite expected` against this run's own calibration (re-judged offline against the refit).
# Files under $OUT: run.log, random12/, h200.yaml, calibrate.json, validate-expected.json and .md.
#     run(command="bash bench/session_ap_gpu.sh", carry=[".peers"], timeout_s=560)
set -u
. bench/device_lib.sh
begin_run || exit 1
random_points 12 100 random12
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
calibrate_kernels $(( 430 - SECONDS )) "$LOG"
validate_suite expected "$OUT/h200.yaml" $(( 545 - SECONDS )) "$W" "$LOG"
grep -A12 "^## Accuracy" "$OUT/validate-expected.md" | tee -a "$LOG"
echo "total ${SECONDS} s"
