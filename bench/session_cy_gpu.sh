#!/usr/bin/env bash
# The thirty-sixth session's third device call (any Hopper, about 400 s): the CUDA fp8 kernels with the high half of
# each fp8 word read in place by the widening (no shift: 136 fewer instructions a warp a tile, 4,984 against 5,256
# in the two dense instantiations' SASS) against the committed kernels in the same run. Needs bench/_ab_base_cuda/
# (`bash bench/make_ab_base_cuda.sh` before the call; untracked, it travels with the tree). (1) the CUDA kernels' GPU
# tests (dense and sparse) on the changed source; (2) bench/ab_fp8_cuda.py --base at 16 and 32 heads, batch 8/32/128
# x 4k/32k, paged in 64-token blocks, graph-timed with the L2 flushed, best of two alternating rounds.
# Files under $OUT: run.log, build.log, pytest_cuda.txt, ab_fp8_cuda_shift.json.
#     run(command="bash bench/session_cy_gpu.sh", timeout_s=600)
set -u
END=${END:-580}
. bench/device_lib.sh
[ -f bench/_ab_base_cuda/mla_fp8_decode.cu ] || { echo "no bench/_ab_base_cuda: run bench/make_ab_base_cuda.sh first"; exit 1; }
begin_run_without_peers || exit 1
build_cuda_fp8 "$OUT/build.log"
timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py \
  -k "cuda_fp8_mla or cuda_sparse_fp8_ds" > "$OUT/pytest_cuda.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest_cuda.txt")" | tee -a "$LOG"
export MAX_JOBS=16
timeout $(( END - SECONDS - 15 )) python3 bench/ab_fp8_cuda.py --out "$OUT/ab_fp8_cuda_shift.json" \
  --base bench/_ab_base_cuda --variants cuda base --heads 16 32 --layouts paged64 >> "$LOG" 2>&1
echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_fp8_cuda_shift.json" cuda/base 2>&1 | tee -a "$LOG"
echo "total ${SECONDS} s"
