#!/usr/bin/env bash
# SUPERSEDED by session_bc_gpu.sh (which adds the Gluon schedule). For the next GPU session (written 2026-12-04,
# when no GPU was lent): measure the two opt-in decode paths merged
# unmeasured, in one call.
# 1. GPU tests of both while FlashMLA builds: the Triton schedule (tests/test_kernels_gpu.py -k sched: 16/32/128
#    heads, mixed lengths 0..32k, fp8, a graph replay) and the Gluon kernel under 64 rows (-k gluon_mla: h32,
#    h16_paged, h32_b1 beside the 64+-row cases);
# 2. bench/ab_schedule.py: fixed grid vs schedule vs FlashMLA at 24 seeded mixed-length points (16/32 heads);
# 3. bench/ab_gluon_rows.py: impl gluon vs impl triton (auto at 16/32 heads) vs FlashMLA.
# Then: if the schedule wins, make it auto's (filled per call when none is given costs a launch: decide from the
#   timed schedule launch), price it in mlacalc.expected; if Gluon wins under 64 rows, move auto's threshold
#   (kernels/decode._gluon_applies: min_rows) and price gluon_dense at rows < 64; calibrate those points.
# Files under $OUT: run.log, pytest.txt, ab_schedule.json, ab_gluon_rows.json.
#     run(command="bash bench/session_bb_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
timeout 230 python3 -m pytest -q -m gpu -p no:cacheprovider -k "sched or gluon_mla" tests/test_kernels_gpu.py \
  > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
timeout $(( 450 - SECONDS )) python3 bench/ab_schedule.py --out "$OUT/ab_schedule.json" 2>&1 | tail -30 \
  | tee -a "$LOG"
echo "ab_schedule done at ${SECONDS} s" | tee -a "$LOG"
timeout $(( 580 - SECONDS )) python3 bench/ab_gluon_rows.py --out "$OUT/ab_gluon_rows.json" 2>&1 | tail -3 \
  | tee -a "$LOG"
echo "total ${SECONDS} s"
