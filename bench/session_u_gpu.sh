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
host_profile_step 60 12
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
bench_peers 120
calibrate_then_validate 150 575
echo "total ${SECONDS} s"
