#!/usr/bin/env bash
# The fifteenth session's closing call, on the final tree: under Triton 3.9 (carried, bench/slim_triton.sh) the Triton
# MLA kernel's GPU tests (its 16-row contiguous tile is now the two-program 32-key one there) and seed 10's random
# points again (the same 60 as session_ah, now with that tile); then, under the machine's Triton 3.6, the profiler's
# and whole-step GPU tests (after the calculator merges).
# Files under $OUT: run.log, pytest_mla_t39.txt, random_t39/ (validate.json, .md), pytest_profiler.txt.
#     run(command="bash bench/session_aj_gpu.sh", carry=[".t39"], timeout_s=480)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
use_triton_slim || exit 1
mla_triton_gpu_tests 150 "$OUT/pytest_mla_t39.txt"
random_points 10 $(( 300 - SECONDS )) random_t39
use_machine_triton
timeout $(( 400 - SECONDS )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_profiler_gpu.py \
  tests/test_whole_step.py > "$OUT/pytest_profiler.txt" 2>&1
echo "profiler pytest (3.6) exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest_profiler.txt")" | tee -a "$LOG"
echo "total ${SECONDS} s"
