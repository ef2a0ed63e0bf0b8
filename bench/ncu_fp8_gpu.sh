#!/usr/bin/env bash
# Issue 14, a short device call: Nsight Compute on named bench/ncu_probe.py cases (default: the fp8 Gluon kernel and
# the bf16 one at the same shape, fp8-h128 and ours-h128-paged-8k: 32 x 8k x 128 heads, paged), to see what bounds
# a kernel (shared-memory traffic, tensor pipe, stalls). Files under $OUT: run.log, ncu.txt.
#     run(command="bash bench/ncu_fp8_gpu.sh [CASE ...]", timeout_s=240)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
cases=("$@"); [ ${#cases[@]} -eq 0 ] && cases=(fp8-h128 ours-h128-paged-8k)
for c in "${cases[@]}"; do ncu_case "$c" "$OUT/ncu.txt"; done
echo "total ${SECONDS} s"
