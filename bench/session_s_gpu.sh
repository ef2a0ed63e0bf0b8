#!/usr/bin/env bash
# Issue 14, one device call (<= 9.5 minutes) after the fp8-ds scales moved into the buffers' free bytes (Gluon sparse
# kernel: a split now holds 2,048 fp8-ds slots, so top-2048 needs no second split and merge):
# 1. the Gluon sparse kernel against the float64 reference (a hang shows here, cut at 120 s);
# 2. the MLA, Gluon and sparse GPU tests (while FlashMLA builds: bench/build_flashmla_sparse.py), the first run of
#    the GPU tests over the 32-row widening / dequantisation chunks too;
# 3. a same-run A/B against the committed kernel (copies by `bash bench/make_ab_base.sh`);
# 4. `mlacalc bench kernels --peers` (FlashMLA's dense and sparse decode beside ours) into kernels.json.
# Files under $OUT: run.log, pytest.txt, ab_sparse.json, kernels.json.
#     run(command="bash bench/session_s_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
check_sparse_gluon
[ "$checked" = 0 ] || { echo "sparse check failed: nothing timed"; exit 1; }
kernel_gpu_tests 200
timeout 120 python3 bench/ab_sparse_gluon.py --out "$OUT/ab_sparse.json" --base _ab_base_sparse --no-triton 2>&1 \
  | tail -4 | tee -a "$LOG"
echo "ab sparse exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
bench_peers $(( 575 - SECONDS ))
echo "total ${SECONDS} s"
