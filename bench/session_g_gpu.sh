#!/usr/bin/env bash
# Issue 14, one device call (<= 9.5 minutes): the fp8 Gluon kernel checked first (a hang shows here), timed beside
# the Triton fp8 kernel at three points (bench/ab_fp8_gluon.py --quick), the MLA kernels' GPU tests, then `mlacalc calibrate --kernels`,
# `mlacalc validate --suite expected` and `mlacalc bench kernels --peers`. Files under $OUT (8): run.log, pytest.txt,
# ab_fp8.json, h200.yaml, calibrate.json, validate-expected.json, validate-expected.md, kernels.json.
#     run(command="bash bench/session_g_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
check_fp8_gluon
timeout 100 python3 bench/ab_fp8_gluon.py --quick --out "$OUT/ab_fp8.json" >> "$LOG" 2>&1
echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider -k "mla" tests/test_kernels_gpu.py > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
calibrate_validate_bench 150 520 575
echo "total ${SECONDS} s"
