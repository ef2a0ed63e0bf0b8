#!/usr/bin/env bash
# The seventeenth session's second call: the seesaw kernel's 64-key tiles under Triton 3.9 (carried, .t39), with
# FlashMLA from .fmla_site (built by bench/session_ar_gpu.sh in the previous call on the same warm machine).
# Compiled for sm_90 on the CPU, the 64-key tile spills 129 times under 3.9 (WG0's unmasked loop 3 spill loads a
# pair, WG1's 13) and 453 under 3.6; the 32-key tile 0 and 14 (`python bench/sass_loops.py --gluon`).
# 1. A/B at the 24 dense bench points of 64 and 128 heads, two rounds in alternating order: new32 (the default),
#    new64 (the working tree's kernel as run: for BLOCK_N == 64 WG1 multiplied its P1 from the copy it hands to WG0,
#    in shared memory, instead of from registers; measured equal to old64, geomean 1.001, and reverted, so the
#    committed kernel is old64's) and old64 (the kernel of the commit before, P1 from registers:
#    kernels/_ab_base_seesaw.py), FlashMLA beside them when .fmla_site survived (it did not);
# 2. `mlacalc bench kernels --peers` under 3.9 with the committed defaults into kernels_t39.json.
# Files under $OUT: run.log, ab_t39_64.json, kernels_t39.json.
#     git show HEAD:kernels/gluon_mla_seesaw.py > kernels/_ab_base_seesaw.py
#     run(command="bash bench/session_as_gpu.sh", carry=[".t39"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
if [ -d .fmla_site/flash_mla ]; then export PYTHONPATH=$PWD/.fmla_site; echo "flash_mla from .fmla_site" | tee -a "$LOG"
else echo "no .fmla_site: FlashMLA not timed" | tee -a "$LOG"; fi
use_triton_slim || exit 1
timeout 300 python3 bench/ab_seesaw.py --old kernels/_ab_base_seesaw.py --seesaw-only --points bench \
  --variants new32,new64,old64 --repeat 2 --out "$OUT/ab_t39_64.json" 2>&1 | tail -3 | tee -a "$LOG"
echo "ab exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_t39_64.json" new64/new32,old64/new32,new64/old64 | tee -a "$LOG"
bench_peers $(( 585 - SECONDS ))
echo "total ${SECONDS} s"
