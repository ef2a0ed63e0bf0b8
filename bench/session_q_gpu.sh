#!/usr/bin/env bash
# Issue 14, the closing device call (<= 9.5 minutes) after the fp16 dequantisation (Gluon sparse kernel, fp8-ds rows)
# and the 16-row widening chunks (Gluon fp8 kernel):
# 1. the MLA, Gluon and sparse GPU tests (while FlashMLA builds: bench/build_flashmla_sparse.py);
# 2. `mlacalc bench kernels --peers` (FlashMLA's dense and sparse decode beside ours), `mlacalc calibrate --kernels`,
#    `mlacalc validate --suite expected` against it.
# Files under $OUT: run.log, pytest.txt, h200.yaml, calibrate.json, validate-expected.json, validate-expected.md,
# kernels.json.
#     run(command="bash bench/session_q_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
kernel_gpu_tests 200
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
bench_peers 120   # first of the closing steps: the figures survive a cut run
calibrate_then_validate 150 570
echo "total ${SECONDS} s"
