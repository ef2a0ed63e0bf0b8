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
dsa_tests_calibrate_validate 300 570
echo "total ${SECONDS} s"
