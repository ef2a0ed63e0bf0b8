#!/usr/bin/env bash
# Issue 14, one device call (<= 9.5 minutes): FlashMLA's sparse decode as the reference for ours, and (AB_BASE set)
# an A/B of the Gluon sparse kernel against earlier ones (AB_BASE: modules under kernels/, space-separated).
# 1. while FlashMLA builds (dense and sparse decode: bench/build_flashmla_sparse.py): our Gluon sparse kernel against
#    the float64 reference (a hang is cut here); with AB_BASE=_ab_base_sparse (copies of the committed kernels by
#    bench/make_ab_base.sh) bench/ab_sparse_gluon.py times both in the same run; then Nsight Compute on our sparse
#    kernel, fp8-ds rows, 64 x top-2048 of 32k x 128 heads (bench/ncu_probe.py case sparse-fp8ds-h128);
# 2. Nsight Compute on FlashMLA's sparse decode at the same point, same rows and selection;
# 3. `mlacalc bench kernels --peers` (with FlashMLA's sparse decode beside ours on fp8-ds rows).
# With AB_SEESAW=1, also the dense fp8 Gluon kernel against the committed seesaw (bench/ab_seesaw.py --fp8).
# Files under $OUT: run.log, ab_sparse.json (AB_BASE), ab_fp8.json (AB_SEESAW), ncu.txt.gz, kernels.json.
#     run(command="AB_SEESAW=1 AB_BASE='_ab_base_sparse _ab_f16_sparse' bash bench/session_p_gpu.sh", carry=[".peers"],
#         timeout_s=600)   # the bf16 dequantisation, the fp16 one with 8-row chunks, and the working tree's
set -u
. bench/device_lib.sh
begin_run || exit 1
check_sparse_gluon
if [ -n "${AB_BASE:-}" ] && [ "$checked" = 0 ]; then
  bases=(); for m in $AB_BASE; do bases+=(--base "$m"); done
  timeout 180 python3 bench/ab_sparse_gluon.py --out "$OUT/ab_sparse.json" "${bases[@]}" --no-triton 2>&1 | tail -30 \
    >> "$LOG"
  echo "ab exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
fi
if [ -n "${AB_SEESAW:-}" ]; then  # the dense fp8 Gluon kernel against the committed seesaw (kernels/_ab_base_seesaw.py)
  timeout 120 python3 bench/ab_seesaw.py --old kernels/_ab_base_seesaw.py --out "$OUT/ab_fp8.json" --fp8 2>&1 \
    | tail -4 >> "$LOG"
  echo "ab fp8 exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
fi
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
python3 -c "import flash_mla.cuda as c; print('flash_mla sparse decode:', hasattr(c, 'sparse_decode_fwd'))" 2>&1 \
  | tee -a "$LOG"
ncu_case flashmla-sparse-h128 "$W/ncu.txt"
[ "$SECONDS" -lt 420 ] && ncu_case sparse-fp8ds-h128 "$W/ncu.txt"
gzip -c "$W/ncu.txt" > "$OUT/ncu.txt.gz"
echo "== bench kernels --peers" | tee -a "$LOG"
timeout 150 mlacalc bench kernels --peers --json --out "$OUT/kernels.json" >> "$LOG" 2>&1
echo "bench exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))['summary'], indent=1))" "$OUT/kernels.json" \
  2>&1 | tee -a "$LOG"
echo "total ${SECONDS} s"
