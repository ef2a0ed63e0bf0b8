#!/usr/bin/env bash
# Issue 14 (expected time of the Triton sparse kernel), one device call (<= 9.5 minutes): the DSA profiler GPU tests
# while FlashMLA builds, then `mlacalc calibrate --kernels` (now with DSA points at 4 heads a GPU, which auto runs on
# the Triton sparse kernel: they fit `triton_gather_tile_us`) and `mlacalc validate --suite expected` against it
# (held-out Triton sparse points: auto at 2-4 heads, and the kernel forced at 16-128 heads).
# Files under $OUT: run.log, h200.yaml, calibrate.json, validate-expected.json, validate-expected.md.
#     run(command="bash bench/session_o_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
echo "== pytest -m gpu tests/test_profiler_gpu.py -k dsa" | tee -a "$LOG"
timeout 120 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_profiler_gpu.py -k dsa 2>&1 | tail -3 \
  | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
calibrate_kernels 300 "$LOG"
validate_suite expected "$OUT/h200.yaml" $(( 570 - SECONDS )) "$W" "$LOG"
grep -A14 "^## Accuracy" "$OUT/validate-expected.md" | tee -a "$LOG"
echo "total ${SECONDS} s"
