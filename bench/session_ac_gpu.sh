#!/usr/bin/env bash
# The thirteenth session's closing device call: the GQA, profiler and whole-step GPU tests on the final tree while
# FlashMLA builds, then `mlacalc calibrate --kernels` with two Triton sparse fp8-ds points (that kernel's widening rate
# apart from the dense Triton kernel's, whose tiles also cost a fixed latency) and `mlacalc validate --suite expected`.
# Files under $OUT: run.log, pytest_gqa.txt, pytest_profiler.txt, h200.yaml, calibrate.json, validate-expected.json/.md.
#     run(command="bash bench/session_ac_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
gqa_gpu_tests 90 "$OUT/pytest_gqa.txt"
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_profiler_gpu.py tests/test_whole_step.py \
  > "$OUT/pytest_profiler.txt" 2>&1
echo "profiler + whole-step pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest_profiler.txt")" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
calibrate_then_validate 300 590
echo "total ${SECONDS} s"
