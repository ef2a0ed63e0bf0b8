#!/usr/bin/env bash
# The eighteenth session's closing call. Under the GPU machine's Triton 3.6:
# 1. bench/ab_wide_splits.py: the 64-key tile's splits in whole pairs of tiles (the committed plan) against single
#    tiles (the plan bench/session_ax_gpu.sh calibrated) and the 32-key tile, at 128 heads, then the 16 calibration
#    points on the 64-key tile measured again (calpoint lines on ab_wide_splits.log);
# then under Triton 3.9 (carried, .t39; bench/slim_triton.sh), FlashMLA built from .peers in the same call:
# 2. the fp8 and sparse Gluon checks, the Gluon GPU tests (both tiles);
# 3. `mlacalc bench kernels --peers` into kernels.json.
# Files under $OUT: run.log, ab_wide_splits.json, ab_wide_splits.log, pytest.txt, kernels.json.
# The working tree, Triton 3.9 and FlashMLA's sources fit in one call's 64 MiB only with the three plotly pages
# left behind (see bench/session_at_gpu.sh).
#     run(command="bash bench/session_ay_gpu.sh", carry=[".peers", ".t39"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
timeout 200 python3 bench/ab_wide_splits.py --out "$OUT/ab_wide_splits.json" > "$OUT/ab_wide_splits.log" 2>&1
echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_wide_splits.json" pair64/tile64,pair64/tile32 | tee -a "$LOG"
use_triton_slim || exit 1
check_fp8_gluon
check_sparse_gluon
timeout $(( 440 - SECONDS )) python3 -m pytest -q -m gpu -p no:cacheprovider -k "gluon" tests/test_kernels_gpu.py \
  > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
bench_peers $(( 590 - SECONDS ))
echo "total ${SECONDS} s"
