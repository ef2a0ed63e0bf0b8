#!/usr/bin/env bash
# Issue 14, the closing device call (<= 9.5 minutes) after the host-path changes (launch keys hashed by identity, the
# split merge's integers kept per plan, alignment checked on tensors only, sparse auto's choice cached, TMA
# descriptors encoded once under Triton 3.6: launch._DescLaunch) and the fp8-ds calibration points:
# 1. the launch-path GPU tests (repeated calls, CUDA graphs, sparse repeated calls) and the Gluon sparse check,
#    while FlashMLA builds (bench/build_flashmla_sparse.py);
# 2. where an eager call's host time goes now (bench/host_profile.py);
# 3. `mlacalc bench kernels --peers` into kernels.json;
# 4. `mlacalc calibrate --kernels` (with the fp8-ds DSA points) and `mlacalc validate --suite expected` against it.
# Files under $OUT: run.log, pytest.txt, host_profile.txt, kernels.json, h200.yaml, calibrate.json,
# validate-expected.json, validate-expected.md.
#     run(command="bash bench/session_u_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
check_sparse_gluon
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider -k "repeated or graph or fp8_tensor_scale or host" \
  tests/test_kernels_gpu.py tests/test_kernels_host.py > "$OUT/pytest.txt" 2>&1
rc=$?
echo "pytest exit $rc at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
if [ "$rc" != 0 ]; then  # a direct launch went wrong: the figures below through Triton's own launch path
  export MLACALC_DIRECT_LAUNCH=0; echo "MLACALC_DIRECT_LAUNCH=0 for the rest of the run" | tee -a "$LOG"
fi
timeout 60 python3 bench/host_profile.py > "$OUT/host_profile.txt" 2>&1
echo "host_profile exit $? at ${SECONDS} s" | tee -a "$LOG"
head -12 "$OUT/host_profile.txt" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
echo "== bench kernels --peers" | tee -a "$LOG"
timeout 120 mlacalc bench kernels --peers --json --out "$OUT/kernels.json" >> "$LOG" 2>&1
echo "bench exit $? at ${SECONDS} s" | tee -a "$LOG"
calibrate_kernels 150 "$LOG"
validate_suite expected "$OUT/h200.yaml" $(( 575 - SECONDS )) "$W" "$LOG"
grep -A14 "^## Accuracy" "$OUT/validate-expected.md" | tee -a "$LOG"
echo "total ${SECONDS} s"
