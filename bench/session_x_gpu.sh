#!/usr/bin/env bash
# The GQA kernel's launch plan (twelfth H200 session): the GQA GPU tests on the new plan (row blocks of <= 64 query
# rows, stages and programs an SM from what fits), then bench/ab_gqa_plan.py: the plan before (4 programs counted an
# SM, 3 stages) against 3 and 2 stages counting the programs that fit, and the default. Files under $OUT: run.log,
# pytest.txt, ab_gqa_plan.json.
#     run(command="bash bench/session_x_gpu.sh", timeout_s=600)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
gqa_gpu_tests 150 "$OUT/pytest.txt"
timeout $(( 570 - SECONDS )) python3 bench/ab_gqa_plan.py --out "$OUT/ab_gqa_plan.json" >> "$LOG" 2>&1
echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
