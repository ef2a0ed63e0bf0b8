#!/usr/bin/env bash
# The thirty-fourth session's first call (any Hopper, about 540 s): on an H200, the report refresh
# (bench/session_cd_gpu.sh's steps: FlashMLA built, `mlacalc bench kernels --peers` into kernels.json) and then the
# Triton GQA kernel's GPU tests at head dims that are no power of two; on any other card, bench/session_co_gpu.sh
# (those tests, 40 random points over the wider model list with every output checked, the GPU fuzz).
#     run(command="bash bench/session_cp_gpu.sh", carry=[".peers"], timeout_s=560)
set -u
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
if ! echo "$GPU" | grep -q H200; then exec bash bench/session_co_gpu.sh; fi
. bench/device_lib.sh
h200_report_refresh || exit 1
timeout 90 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py \
  -k "no_power_of_two or gqa_decode_triton_and_sdpa" > "$OUT/pytest_gqa.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s" | tee -a "$LOG"
tail -3 "$OUT/pytest_gqa.txt" | tee -a "$LOG"
echo "total ${SECONDS} s"
