#!/usr/bin/env bash
# (Runs as written at commit e79a23a only: it times options of the CUDA kernels removed after it.)
# The CUDA fp8 kernel at 64 and 128 heads, and its widenings by integer operations (thirty-fifth session; any Hopper,
# about 570 s). At 64 and 128 heads auto runs the Gluon fp8 kernel, 2.0-2.6x the fp8 floor (its widening through
# shared memory); the CUDA kernel now runs more rows than a CTA takes in head groups of 32 (or 16) rows side by side
# in the grid, each group re-reading the tiles (from L2 after the first), and can widen the fp8 bytes by integer
# operations (PRMT, shift, mask) instead of the conversion unit (conv 1: the scores', 2: P @ V's, 3: both), whose
# rate may bound it once a CTA's rows double. Does either beat Gluon there, or help at 16/32 heads? Then the split
# count swept at 16 heads (32 x 4k ran 2.0x the floor: fixed costs or the splits' partials?).
#   1. the extension built; the GPU tests of the kernel (all modes: head groups of 40/64/128 heads, 16 or 32 rows a
#      CTA, conv 1-3, the fused merge, L2 prefetch) and of the sparse kernel (test_cuda_sparse_fp8_ds: its first run)
#   2. bench/ab_fp8_cuda.py --heads 64 128, paged64: auto (Gluon) against cuda (32 rows a CTA), cuda16, cuda_i1,
#      cuda_i3, cuda_all (integer widenings, the merge inside the kernel, 4 tiles asked into L2 ahead)
#   3. bench/ab_fp8_cuda.py --heads 32 16, paged64: auto, cuda, cuda_i3, cuda_fm, cuda_pf2, cuda_all
#   4. bench/sweep_fp8_cuda_splits.py at 16 heads with what time is left (base, int, fused, pf4, all at each count)
# Files under $OUT: run.log, build.log, pytest.txt, ab_fp8_cuda_h64_128.json, ab_fp8_cuda_conv_h32_16.json,
# sweep_splits_h16.json.
#     run(command="bash bench/session_cs_gpu.sh", timeout_s=595)
set -u
END=${END:-575}
. bench/device_lib.sh
begin_run_without_peers || exit 1
build_cuda_fp8 "$OUT/build.log"
timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py -k "cuda_fp8 or cuda_sparse" \
  > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s" | tee -a "$LOG"
grep -E "passed|failed|Error" "$OUT/pytest.txt" | tail -8 | tee -a "$LOG"
left=$(( END - SECONDS - 120 ))
[ "$left" -gt 200 ] && left=200
timeout "$left" python3 bench/ab_fp8_cuda.py --out "$OUT/ab_fp8_cuda_h64_128.json" --heads 64 128 --layouts paged64 \
  --variants auto cuda cuda16 cuda_i1 cuda_i3 cuda_all >> "$LOG" 2>&1
echo "ab 64/128 exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_fp8_cuda_h64_128.json" cuda/auto,cuda16/auto,cuda_i1/auto,cuda_i3/auto,cuda_all/auto \
  2>&1 | tail -7 | tee -a "$LOG"
left=$(( END - SECONDS - 60 ))
if [ "$left" -gt 40 ]; then
  timeout "$left" python3 bench/ab_fp8_cuda.py --out "$OUT/ab_fp8_cuda_conv_h32_16.json" --heads 32 16 --layouts paged64 \
    --variants auto cuda cuda_i3 cuda_fm cuda_pf2 cuda_all >> "$LOG" 2>&1
  echo "ab 32/16 exit $? at ${SECONDS} s" | tee -a "$LOG"
  python3 bench/ab_summary.py "$OUT/ab_fp8_cuda_conv_h32_16.json" cuda/auto,cuda_i3/auto,cuda_fm/auto,cuda_pf2/auto,cuda_all/auto \
    2>&1 | tail -7 | tee -a "$LOG"
fi
left=$(( END - SECONDS - 5 ))
if [ "$left" -gt 30 ]; then
  timeout "$left" python3 bench/sweep_fp8_cuda_splits.py --out "$OUT/sweep_splits_h16.json" 2>&1 | tee -a "$LOG" | tail -40
  echo "sweep exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
fi
echo "total ${SECONDS} s"
