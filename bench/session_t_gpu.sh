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
timeout 280 python3 -m pytest -q -m gpu -p no:cacheprovider -k "mla or sparse or gluon" tests/test_kernels_gpu.py \
  > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
timeout 90 python3 bench/host_profile.py > "$OUT/host_profile.txt" 2>&1
echo "host_profile exit $? at ${SECONDS} s" | tee -a "$LOG"
head -16 "$OUT/host_profile.txt" | tee -a "$LOG"
validate_suite expected reports/h200/h200.yaml $(( 560 - SECONDS )) /tmp/mlacalc-run "$LOG"
grep -A14 "^## Accuracy" "$OUT/validate-expected.md" | tee -a "$LOG"
echo "total ${SECONDS} s"
