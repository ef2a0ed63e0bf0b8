#!/usr/bin/env bash
# Issue 14, the closing device call (<= 9.5 minutes) after the fp16 dequantisation (Gluon sparse kernel, fp8-ds rows)
# and the 16-row widening chunks (Gluon fp8 kernel):
# 1. the MLA, Gluon and sparse GPU tests (while FlashMLA builds: bench/build_flashmla_sparse.py);
# 2. `mlacalc bench kernels --peers` (FlashMLA's dense and sparse decode beside ours), `mlacalc calibrate --kernels`,
#    `mlacalc validate --suite expected` against it.
# Files under $OUT: run.log, pytest.txt, h200.yaml, calibrate.json, validate-expected.json, validate-expected.md,
# kernels.json.
#     run(command="bash bench/session_q_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
timeout 200 python3 -m pytest -q -m gpu -p no:cacheprovider -k "mla or sparse or gluon" tests/test_kernels_gpu.py \
  > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
echo "== bench kernels --peers" | tee -a "$LOG"   # first of the closing steps: the issue's figures survive a cut run
timeout 120 mlacalc bench kernels --peers --json --out "$OUT/kernels.json" >> "$LOG" 2>&1
echo "bench exit $? at ${SECONDS} s" | tee -a "$LOG"
calibrate_kernels 150 "$LOG"
validate_suite expected "$OUT/h200.yaml" $(( 570 - SECONDS )) "$W" "$LOG"
grep -A12 "^## Accuracy" "$OUT/validate-expected.md" | tee -a "$LOG"
echo "total ${SECONDS} s"
