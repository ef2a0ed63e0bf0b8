#!/usr/bin/env bash
# Issue 14, one device call (<= 9.5 minutes): the Gluon sparse kernel (bf16 and fp8-ds rows) timed beside the
# Triton sparse kernel (bench/ab_sparse_gluon.py, after its check), the MLA kernels' GPU tests, then
# `mlacalc calibrate --kernels`, `mlacalc validate --suite expected` and `mlacalc bench kernels --peers`. Files under
# $OUT (8): run.log, pytest.txt, ab_sparse.json, h200.yaml, calibrate.json, validate-expected.json,
# validate-expected.md, kernels.json.
#     run(command="bash bench/session_i_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
timeout 110 python3 bench/ab_sparse_gluon.py --out "$OUT/ab_sparse.json" >> "$LOG" 2>&1
echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider -k "mla" tests/test_kernels_gpu.py > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
calibrate_validate_bench 150 520 575
echo "total ${SECONDS} s"
