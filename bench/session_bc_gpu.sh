#!/usr/bin/env bash
# For the next GPU session (written 2026-12-05, when no GPU was lent): the three opt-in decode paths merged
# unmeasured, in one call (supersedes session_bb_gpu.sh, which did not know the Gluon schedule).
# 1. The Gluon kernel's scheduled mode first, alone, under a timeout: its smoke tests (one segment a part, then many
#    short segments a part, empty and one-tile segments after split ones, two parts of ~15 segments) show a phase
#    counted wrong across segments as a hang (exit 124), cut at 200 s.
# 2. The GPU tests of all three while FlashMLA builds: the Triton schedule and the Gluon one (-k sched), the Gluon
#    kernel under 64 rows (-k gluon_mla); the Gluon schedule's tests are left out when its smoke tests failed.
# 3. bench/random_vs_flashmla.py --schedule all|triton at the seed-1 points (40; the run in
#    reports/h200/tuning/random_vs_flashmla_seed1_t36.json, the same lengths): auto fixed vs auto scheduled vs
#    FlashMLA, and under 64 heads impl="gluon" (the padded tile) fixed and scheduled (--padded-gluon).
#    bench/imbalance_vs_measured.py predicted on the CPU: scheduled median 0.96 over all points, 128 heads 1.00 (max
#    1.05), 64 heads 0.92, 16 heads 0.87, 32 heads 1.20 (Triton tile); padded Gluon at 32 heads 1.17 fixed, 0.92
#    scheduled. (bench/ab_gluon_rows.py, Gluon vs Triton under 64 rows at chosen points, is left for a later call.)
# Then: where the schedule wins, make auto build one per call when none is given (its fill is one launch: timed in
#   bench/ab_schedule.py) or document it as the engine's job, price it in mlacalc.expected, calibrate; if Gluon wins
#   under 64 rows, move auto's threshold (kernels/decode._gluon_applies: min_rows).
# Files under $OUT: run.log, smoke.txt, pytest.txt, random_sched.json (written point by point: a cut run keeps
# its rows).
#     run(command="bash bench/session_bc_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
timeout 200 python3 -m pytest -q -m gpu -p no:cacheprovider -x -k "gluon_sched_smoke" tests/test_kernels_gpu.py \
  > "$OUT/smoke.txt" 2>&1
smoke=$?
echo "gluon schedule smoke exit $smoke at ${SECONDS} s: $(tail -1 "$OUT/smoke.txt")" | tee -a "$LOG"
if [ "$smoke" -eq 0 ]; then
  tests="(sched or gluon_mla) and not smoke"; which=all
else
  tests="(sched or gluon_mla) and not gluon_sched and not auto"; which=triton  # auto: the Gluon graph case
fi
timeout 160 python3 -m pytest -q -m gpu -p no:cacheprovider -k "$tests" tests/test_kernels_gpu.py \
  > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
timeout $(( 585 - SECONDS )) python3 bench/random_vs_flashmla.py --schedule "$which" --padded-gluon \
  --out "$OUT/random_sched.json" \
  2>&1 | tail -4 | tee -a "$LOG"
echo "random points done at ${SECONDS} s" | tee -a "$LOG"
echo "total ${SECONDS} s"
