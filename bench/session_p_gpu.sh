#!/usr/bin/env bash
# Issue 14, one device call (<= 9 minutes): FlashMLA's sparse decode as the reference for ours.
# 1. while FlashMLA builds (dense and sparse decode: bench/build_flashmla_sparse.py): Nsight Compute on our sparse
#    kernel, fp8-ds and bf16 rows, 64 x top-2048 of 32k x 128 heads (bench/ncu_probe.py cases);
# 2. Nsight Compute on FlashMLA's sparse decode at the same point, same rows and selection;
# 3. `mlacalc bench kernels --peers` (now with FlashMLA's sparse decode beside ours on fp8-ds rows).
# Files under $OUT: run.log, ncu.txt.gz, kernels.json.
#     run(command="bash bench/session_p_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
ncu_case sparse-fp8ds-h128 "$W/ncu.txt"
ncu_case sparse-bf16-h128 "$W/ncu.txt"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
python3 -c "import flash_mla.cuda as c; print('flash_mla sparse decode:', hasattr(c, 'sparse_decode_fwd'))" 2>&1 \
  | tee -a "$LOG"
ncu_case flashmla-sparse-h128 "$W/ncu.txt"
ncu_case flashmla-sparse-h64 "$W/ncu.txt"
ncu_case sparse-fp8ds-h64 "$W/ncu.txt"
gzip -c "$W/ncu.txt" > "$OUT/ncu.txt.gz"
echo "== bench kernels --peers" | tee -a "$LOG"
timeout 150 mlacalc bench kernels --peers --json --out "$OUT/kernels.json" >> "$LOG" 2>&1
echo "bench exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))['summary'], indent=1))" "$OUT/kernels.json" \
  2>&1 | tee -a "$LOG"
echo "total ${SECONDS} s"
