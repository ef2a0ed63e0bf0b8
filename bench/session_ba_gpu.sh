#!/usr/bin/env bash
# For the next GPU session (branch gluon-rows, not merged: unmeasured): the Gluon kernel under 64 query rows.
# 1. the Gluon GPU tests at 16 and 32 heads (h32, h16_paged, h32_b1: a 64-row Q box over a 32-row query) and the
#    rest of the Gluon tests while FlashMLA builds;
# 2. bench/ab_gluon_rows.py: impl gluon against impl triton (what auto runs at 16/32 heads) and FlashMLA.
# Then, if the Gluon kernel wins: move auto's threshold (kernels/decode._gluon_applies: min_rows), price it in
# mlacalc.expected (gluon_dense: rows >= 64) and calibrate its points.
# Files under $OUT: run.log, pytest.txt, ab_gluon_rows.json.
#     run(command="bash bench/session_ba_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
timeout 240 python3 -m pytest -q -m gpu -p no:cacheprovider -k "gluon_mla" tests/test_kernels_gpu.py \
  > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
timeout $(( 580 - SECONDS )) python3 bench/ab_gluon_rows.py --out "$OUT/ab_gluon_rows.json" 2>&1 | tail -3 \
  | tee -a "$LOG"
echo "total ${SECONDS} s"
