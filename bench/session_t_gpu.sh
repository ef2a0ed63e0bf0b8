#!/usr/bin/env bash
# Issue 14, one device call (<= 9 minutes), after bench/session_s_gpu.sh (whose GPU tests ran out of time):
# 1. the MLA, Gluon and sparse GPU tests (nothing else running: 77 tests took 155 s in the ninth session);
# 2. where an eager call's host time goes (bench/host_profile.py: Triton, Gluon dense and sparse, and references);
# 3. `mlacalc validate --suite expected` against the committed calibration (reports/h200/h200.yaml).
# Files under $OUT: run.log, pytest.txt, host_profile.txt, validate-expected.json, validate-expected.md.
#     run(command="bash bench/session_t_gpu.sh", timeout_s=600)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
kernel_gpu_tests 280
host_profile_step 90 16
validate_suite expected reports/h200/h200.yaml $(( 560 - SECONDS )) "$W" "$LOG"
grep -A14 "^## Accuracy" "$OUT/validate-expected.md" | tee -a "$LOG"
echo "total ${SECONDS} s"
