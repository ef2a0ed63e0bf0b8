#!/usr/bin/env bash
# Issue 14 (expected time of DSA decode), one device call (<= 9.5 minutes): the DSA profiler tests (bf16 and the
# 656-byte fp8-ds rows) while FlashMLA builds, then `mlacalc calibrate --kernels` and `mlacalc validate --suite
# expected` against it: the held-out DSA points now priced over the indexer's whole top-k list (short contexts
# included), and five fp8-ds DSA points no calibration point has.
# Files under $OUT: run.log, h200.yaml, calibrate.json, validate-expected.json, validate-expected.md.
#     run(command="bash bench/session_l_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
echo "== pytest -m gpu tests/test_profiler_gpu.py -k dsa" | tee -a "$LOG"
timeout 120 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_profiler_gpu.py -k dsa 2>&1 | tail -3 \
  | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
calibrate_kernels 230 "$LOG"
validate_suite expected "$OUT/h200.yaml" $(( 560 - SECONDS )) "$W" "$LOG"
grep -A14 "^## Accuracy" "$OUT/validate-expected.md" | tee -a "$LOG"
echo "total ${SECONDS} s"
