#!/usr/bin/env bash
# Issue 14 (expected time of DSA decode), one device call (<= 9.5 minutes): the DSA profiler tests (bf16 and the
# 656-byte fp8-ds rows) while FlashMLA builds, then `mlacalc calibrate --kernels` and `mlacalc validate --suite
# expected` against it: the held-out DSA points now priced over the indexer's whole top-k list (short contexts
# included), and five fp8-ds DSA points no calibration point has.
# Files under $OUT: run.log, h200.yaml, calibrate.json, validate-expected.json, validate-expected.md.
#     run(command="bash bench/session_l_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
dsa_tests_calibrate_validate 230 560
echo "total ${SECONDS} s"
