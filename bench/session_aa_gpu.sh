#!/usr/bin/env bash
# The twelfth session's closing device call: the GQA kernel's GPU tests on its final plan (3 stages where a program
# fits, waves of the programs that fit) and the profiler's GPU tests after the in-place fp8 cache fill.
# Files under $OUT: run.log, pytest_gqa.txt, pytest_profiler.txt.
#     run(command="bash bench/session_aa_gpu.sh", timeout_s=300)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
gqa_gpu_tests 90 "$OUT/pytest_gqa.txt"
timeout $(( 280 - SECONDS )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_profiler_gpu.py \
  > "$OUT/pytest_profiler.txt" 2>&1
echo "profiler pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest_profiler.txt")" | tee -a "$LOG"
