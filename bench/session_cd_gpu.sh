#!/usr/bin/env bash
# The thirty-first session's H200 call (about 300 s; stops at once on any other card): the report's refresh with
# this session's kernels, `mlacalc bench kernels --peers` (reports/h200/kernels.*), then 40 uniform points off the
# grid beside FlashMLA (seed 7) with what time is left. Files under $OUT: run.log, kernels.json, uniform_seed7.json.
#     run(command="bash bench/session_cd_gpu.sh", carry=[".peers"], kind="nvidia-h200", timeout_s=500)
set -u
END=${END:-480}
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
if ! echo "$GPU" | grep -q H200; then echo "not an H200 ($GPU): nothing run"; exit 0; fi
. bench/device_lib.sh
h200_report_refresh || exit 1
uniform_seeds "$END" 7
echo "total ${SECONDS} s"
