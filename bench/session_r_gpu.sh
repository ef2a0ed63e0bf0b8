#!/usr/bin/env bash
# Issue 14, a short device call (<= 4 minutes): the in-place fp8 widening (dense fp8 Gluon kernel) and the fp8-ds
# dequantisation (Gluon sparse kernel) in chunks of 32 rows, one barrier a tile half, against the committed 16-row
# chunks (copies by `bash bench/make_ab_base.sh`: kernels/_ab_base_seesaw.py, kernels/_ab_base_sparse.py), each
# checked against the float64 reference first, then graph-timed in the same run.
# Files under $OUT: run.log, ab_fp8.json, ab_sparse.json.
#     run(command="bash bench/session_r_gpu.sh", timeout_s=300)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
timeout 90 python3 bench/ab_seesaw.py --old kernels/_ab_base_seesaw.py --out "$OUT/ab_fp8.json" --fp8 2>&1 | tail -4 \
  | tee -a "$LOG"
echo "ab fp8 exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
timeout 120 python3 bench/ab_sparse_gluon.py --out "$OUT/ab_sparse.json" --base _ab_base_sparse --no-triton 2>&1 \
  | tail -4 | tee -a "$LOG"
echo "ab sparse exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
echo "total ${SECONDS} s"
