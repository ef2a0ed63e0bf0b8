#!/usr/bin/env bash
# The fourteenth session's closing device call: the Triton MLA, GQA, profiler and whole-step GPU tests on the final
# tree (after the planner change and the calculator merges). Files under $OUT: run.log, pytest_mla.txt,
# pytest_gqa.txt, pytest_profiler.txt.
#     run(command="bash bench/session_af_gpu.sh", timeout_s=600)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
mla_triton_gpu_tests 150 "$OUT/pytest_mla.txt"
gqa_gpu_tests 100 "$OUT/pytest_gqa.txt"
timeout 170 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_profiler_gpu.py tests/test_whole_step.py \
  > "$OUT/pytest_profiler.txt" 2>&1
echo "profiler + whole-step pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest_profiler.txt")" | tee -a "$LOG"
echo "total ${SECONDS} s"
