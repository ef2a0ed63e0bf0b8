#!/usr/bin/env bash
# The fifteenth session's first call: the same kernels under Triton 3.9 (carried, bench/slim_triton.sh) and the
# machine's Triton 3.6 (FlashMLA is not carried: the working tree and Triton 3.9 fill the 64 MiB). Compiled for sm_90
# on the CPU, the seesaw kernel spills under 3.6 (16 spill loads/stores, 5,184 instructions) and not under 3.9 (4,904):
# `python bench/sass_loops.py --gluon`.
# 1. Triton 3.9: the Gluon fp8 and sparse checks, then the MLA/Gluon/sparse GPU tests (cut at 150 s);
# 2. `mlacalc bench kernels --peers` (FlashMLA absent) under 3.9 into kernels_t39.json, then under 3.6 into kernels_t36.json.
# Files under $OUT: run.log, pytest_t39.txt, kernels_t39.json, kernels_t36.json.
#     run(command="bash bench/session_ag_gpu.sh", carry=[".t39"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
use_triton_slim || exit 1
check_fp8_gluon
check_sparse_gluon
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider -k "mla or sparse or gluon" tests/test_kernels_gpu.py \
  > "$OUT/pytest_t39.txt" 2>&1
echo "pytest (3.9) exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest_t39.txt")" | tee -a "$LOG"
echo "== bench kernels --peers (no FlashMLA), triton 3.9" | tee -a "$LOG"
timeout 140 mlacalc bench kernels --peers --json --out "$OUT/kernels_t39.json" >> "$LOG" 2>&1
echo "bench (3.9) exit $? at ${SECONDS} s" | tee -a "$LOG"
use_machine_triton
echo "== bench kernels --peers (no FlashMLA), triton 3.6" | tee -a "$LOG"
timeout $(( 585 - SECONDS )) mlacalc bench kernels --peers --json --out "$OUT/kernels_t36.json" >> "$LOG" 2>&1
echo "bench (3.6) exit $? at ${SECONDS} s" | tee -a "$LOG"
echo "total ${SECONDS} s"
