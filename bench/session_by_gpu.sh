#!/usr/bin/env bash
# The thirty-first session's call, any Hopper (about 560 s): auto's own schedule made by the decode programs
# themselves (GluonMLAConfig.schedule_in_kernel, gluon_mla_seesaw._own_record) instead of a fill kernel before them.
# First its GPU tests (the float64 reference, in-kernel and fill, 34 and 150 sequences; the scheduled and auto tests)
# while FlashMLA builds; then bench/auto_schedule_trace.py at its nine points, `own` (in the kernel) against
# `explicit` (a schedule filled once: the record's cost), `fill` (the earlier way) and `fixed`; then 40 uniform
# points off the issue's grid beside FlashMLA with the new default (seed 5, as session_bv measured before it).
# Files under $OUT: run.log, pytest.txt, trace.json, trace.log, uniform_seed5.json.
#     run(command="bash bench/session_by_gpu.sh", carry=[".peers"], timeout_s=590)
set -u
END=${END:-570}
. bench/device_lib.sh
begin_run || exit 1
timeout 170 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_kernels_gpu.py \
  -k "sched" > "$OUT/pytest.txt" 2>&1
tested=$?
echo "pytest exit $tested at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
grep -E "^(FAILED|ERROR|E )" "$OUT/pytest.txt" | head -20 | tee -a "$LOG"
timeout 170 python3 bench/auto_schedule_trace.py --variants fixed,explicit,own,fill --out "$OUT/trace.json" \
  > "$OUT/trace.log" 2>&1
echo "trace exit $? at ${SECONDS} s" | tee -a "$LOG"
grep " us = " "$OUT/trace.log" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
uniform_seeds "$END" 5
echo "total ${SECONDS} s"
