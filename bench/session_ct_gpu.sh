#!/usr/bin/env bash
# (Runs as written at commit e79a23a only: it times options of the CUDA kernels removed after it.)
# The CUDA sparse decode over fp8-ds rows, first run (thirty-fifth session; any Hopper, about 400 s): the extension
# built, the GPU tests of the sparse kernel (9 cases: pages and pool rows, 8-64 heads, two tokens, head groups, conv
# 3, the fused merge, 1 and 7 splits, out-of-range values unchecked), then bench/ab_sparse_cuda.py at batch 8/64 x
# top-2048 of 32k x 16/32/64 heads against what auto runs there (Triton below 64 heads, Gluon from 64): the kernel,
# its fused merge, its integer widenings, 16 splits.
# Files under $OUT: run.log, build.log, pytest.txt, ab_sparse_cuda.json.
#     run(command="bash bench/session_ct_gpu.sh", timeout_s=450)
set -u
END=${END:-430}
. bench/device_lib.sh
begin_run_without_peers || exit 1
build_cuda_fp8 "$OUT/build.log"
timeout 120 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py -k "cuda_sparse" \
  > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s" | tee -a "$LOG"
grep -E "passed|failed|Error" "$OUT/pytest.txt" | tail -8 | tee -a "$LOG"
left=$(( END - SECONDS - 10 ))
if [ "$left" -gt 40 ]; then
  timeout "$left" python3 bench/ab_sparse_cuda.py --out "$OUT/ab_sparse_cuda.json" >> "$LOG" 2>&1
  echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
  python3 bench/ab_summary.py "$OUT/ab_sparse_cuda.json" cuda/auto,cuda_fm/auto,cuda_i3/auto,cuda_s16/auto 2>&1 | tail -5 \
    | tee -a "$LOG"
fi
echo "total ${SECONDS} s"
