#!/usr/bin/env bash
# Issue 14, one device call (<= 9.5 minutes, the GPU machine's Triton 3.6): session_am again in full (its files were
# lost with the session that ran it), on the committed kernel (the seesaw compute groups' loop split in two: whole
# pairs unmasked, then the masked rest, for the 16-bit cache only):
# 1. the fp8 and sparse Gluon kernels against the float64 reference (a hang shows here, cut short);
# 2. the dense A/B, new32 (split loop) against old32 (one masked loop, kernels/_ab_base_seesaw.py), two rounds a
#    point in alternating order, FlashMLA beside them;
# 3. the fp8 A/B: new32 (the committed kernel: one masked loop for fp8) against old32 = the split loop for fp8 too
#    (kernels/_ab_split_fp8_seesaw.py), the measurement behind gating the split off for the fed cache;
# 4. `mlacalc bench kernels --peers` into kernels.json;
# 5. the MLA, sparse and Gluon GPU tests (all of them, not cut as in session_am).
# Files under $OUT: run.log, ab_dense.json, ab_fp8.json, kernels.json, pytest.txt.
# The two A/B bases (untracked; delete them after the run), then the call:
#     git show d28f04b:kernels/gluon_mla_seesaw.py > kernels/_ab_base_seesaw.py   # the kernel before the split
#     sed 's/    if SPARSE or FED:/    if SPARSE:/' kernels/gluon_mla_seesaw.py > kernels/_ab_split_fp8_seesaw.py
#     run(command="bash bench/session_an_gpu.sh", carry=[".peers"], timeout_s=600)
# Summaries: python3 bench/ab_summary.py reports/h200/tuning/ab_unmasked.json (and ab_unmasked_fp8.json).
set -u
. bench/device_lib.sh
begin_run || exit 1
check_fp8_gluon
check_sparse_gluon
[ "$checked" = 0 ] || { echo "sparse check failed: nothing timed"; exit 1; }
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
timeout 200 python3 bench/ab_seesaw.py --old kernels/_ab_base_seesaw.py --seesaw-only --variants new32,old32 \
  --repeat 2 --out "$OUT/ab_dense.json" 2>&1 | tail -3 | tee -a "$LOG"
echo "ab dense exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_dense.json" | tee -a "$LOG"
timeout 60 python3 bench/ab_seesaw.py --old kernels/_ab_split_fp8_seesaw.py --fp8 --out "$OUT/ab_fp8.json" 2>&1 \
  | tail -3 | tee -a "$LOG"
echo "ab fp8 exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_fp8.json" | tee -a "$LOG"
bench_peers $(( 380 - SECONDS ))
kernel_gpu_tests $(( 590 - SECONDS ))
echo "total ${SECONDS} s"
