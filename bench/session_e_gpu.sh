#!/usr/bin/env bash
# Issue 14, the closing run in ONE device call (<= 9 minutes): while FlashMLA builds, the MLA kernels' GPU tests;
# then `mlacalc calibrate --kernels` (the expected-time model refitted to the kernels as they are now: the fp8 tile
# of <= 16 rows runs two programs an SM), `mlacalc validate --suite expected` against it, and
# `mlacalc bench kernels --peers`. Files under $OUT (7): run.log, pytest.txt, h200.yaml, calibrate.json,
# validate-expected.json, validate-expected.md, kernels.json.
#     run(command="bash bench/session_e_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
timeout 170 python3 -m pytest -q -m gpu -p no:cacheprovider -k "mla" tests/test_kernels_gpu.py > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
calibrate_validate_bench 200 455 530
echo "total ${SECONDS} s"
