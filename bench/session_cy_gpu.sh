#!/usr/bin/env bash
# Three instruction cuts in the CUDA fp8 kernel's loop, against the kernel as it is, in one run (any Hopper, about
# 480 s). Written in the thirty-sixth session, which ran out of device time before timing them, so the tree keeps
# the measured kernel and the candidates come from their commits: "shift" (5655732): the widening reads each fp8
# word's high half in place (no SHF: 136 fewer instructions a warp a tile); "loop" (687cdb9): that, plus o's rescale
# skipped by a warp vote once no row's max moves, plus tiles every row sees whole skipping the mask; "cuda": the
# tree's kernel. Make the copies first (untracked, they travel with the tree; delete them after):
#     bash bench/make_ab_base_cuda.sh 5655732 bench/_ab_shift_cuda; bash bench/make_ab_base_cuda.sh 687cdb9 bench/_ab_loop_cuda
# (1) the CUDA kernels' GPU tests and the Gluon sparse kernel's on pool rows and its early end (c1835cc), on the
# tree; (2) DeepSeek-V3.2 at 97 x 884 keys through `mlacalc profile` (session_cx's seed 22 missed it by 52%: the
# early end over pool rows); (3) bench/ab_fp8_cuda.py at 32 and 16 heads, batch 8/32/128 x 4k/32k, paged in 64-token
# blocks, graph-timed with the L2 flushed, best of two alternating rounds; each candidate checked against the
# float64 reference first. Files under $OUT: run.log, build.log, pytest_cuda.txt, profile_884.json,
# ab_fp8_cuda_loop.json.
#     run(command="END=480 bash bench/session_cy_gpu.sh", timeout_s=520)   (a smaller END cuts the A/B short)
set -u
END=${END:-480}
. bench/device_lib.sh
for d in _ab_shift_cuda _ab_loop_cuda; do
  [ -f "bench/$d/mla_fp8_decode.cu" ] || { echo "no bench/$d: run bench/make_ab_base_cuda.sh first"; exit 1; }
done
begin_run_without_peers || exit 1
export MAX_JOBS=16
for n in shift loop; do   # the other revisions' extensions build beside the tree's (torch's cache keeps them)
  (cd bench && timeout 250 python3 -c "from ab_fp8_cuda import load_ext; load_ext('$n', '_ab_${n}_cuda')" \
     > "$W/build_$n.log" 2>&1; echo "build $n exit $?" >> "$LOG") &
done
build_cuda_fp8 "$OUT/build.log"
wait
echo "all built at ${SECONDS} s" | tee -a "$LOG"
timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py \
  -k "cuda_fp8_mla or cuda_sparse_fp8_ds or pool_rows or last_used_slot" > "$OUT/pytest_cuda.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest_cuda.txt")" | tee -a "$LOG"
# the Gluon sparse kernel's early end over pool rows (bench/session_cz_gpu.sh alone is the short form), at
# the point session_cx's seed 22 missed by 52% (DeepSeek-V3.2, 97 x 884 keys, 128 heads, contiguous)
card=h100-sxm; nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200 && card=h200
timeout 60 mlacalc profile deepseek-v3.2 --batch 97 --context 884 --layers 4 --gpu "$card" --json \
  > "$OUT/profile_884.json" 2>> "$LOG"
echo "profile 884 exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 -c "
import json; d = json.load(open('$OUT/profile_884.json'))
c = {x['name']: x for x in d.get('comparisons', [])}.get('latency_expected_s', {})
print('97 x 884: expected', c.get('predicted'), 'measured', c.get('measured'), 'error %', c.get('error_pct'))" 2>&1 | tee -a "$LOG"
timeout $(( END - SECONDS - 15 )) python3 bench/ab_fp8_cuda.py --out "$OUT/ab_fp8_cuda_loop.json" \
  --ext shift=bench/_ab_shift_cuda --ext loop=bench/_ab_loop_cuda --variants loop shift cuda --heads 32 16 \
  --layouts paged64 >> "$LOG" 2>&1
echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_fp8_cuda_loop.json" loop/cuda,shift/cuda,loop/shift 2>&1 | tee -a "$LOG"
echo "total ${SECONDS} s"
