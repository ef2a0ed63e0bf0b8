#!/usr/bin/env bash
# The eighteenth session's first call, under the GPU machine's own Triton 3.6: the 64-key seesaw tile with its wgmma
# descriptors kept in the loop (kernels/gluon_mla_seesaw._pair_tiles: with two buffers the compiler hoisted them into
# registers; compiled for sm_90 on the CPU the tile's spill instructions fell from 427 to 57 under 3.6 and from 155
# to 3 under 3.9: `python bench/sass_loops.py --gluon`), and default_gluon_config taking that tile above 64 query
# rows under 3.6 too (for this measurement).
# 1. the Gluon GPU tests under 3.6 (both tiles) while FlashMLA builds;
# 2. A/B at the 24 dense bench points of 64 and 128 heads, two rounds in alternating order, FlashMLA beside them:
#    new32, new64 (this kernel) and old64 (the commit before: descriptors hoisted; kernels/_ab_base_seesaw.py);
# 3. `mlacalc bench kernels --peers` under 3.6 into kernels_t36.json.
# Files under $OUT: run.log, pytest.txt, ab_t36_64.json, kernels.json.
#     bash bench/make_ab_base.sh
#     run(command="bash bench/session_aw_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
timeout 200 python3 -m pytest -q -m gpu -p no:cacheprovider -k "gluon" tests/test_kernels_gpu.py \
  > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
timeout 280 python3 bench/ab_seesaw.py --old kernels/_ab_base_seesaw.py --seesaw-only --points bench \
  --variants new32,new64,old64 --repeat 2 --out "$OUT/ab_t36_64.json" 2>&1 | tail -3 | tee -a "$LOG"
echo "ab exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_t36_64.json" new64/new32,old64/new32,new64/old64,new64/flashmla,new32/flashmla \
  | grep -v "^('seesaw'" | tee -a "$LOG"
bench_peers $(( 590 - SECONDS ))
echo "total ${SECONDS} s"
