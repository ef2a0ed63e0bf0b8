#!/usr/bin/env bash
# The thirty-first session's own-record A/B, any Hopper (about 200 s): gluon_mla_seesaw._own_record with its nine
# reductions in one (5 CTA barriers a chunk instead of 29: bench/sass_loops.py --gluon-sched). The own-schedule GPU
# tests first (float64 reference, plan_schedule's slot records, 34 and 150 sequences), then the trace at five
# scheduled points, own against the same schedule filled once and the fixed grid, two alternating rounds
# (session_by/session_ce measured own 3-11 us over explicit before). Files under $OUT: run.log, pytest.txt, trace.*.
#     run(command="bash bench/session_cf_gpu.sh", carry=[".peers"], timeout_s=400)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider -x tests/test_kernels_gpu.py \
  -k "own_schedule or auto_schedule_off" > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
grep -E "^(FAILED|ERROR|E )" "$OUT/pytest.txt" | head -20 | tee -a "$LOG"
timeout $(( 390 - SECONDS )) python3 bench/auto_schedule_trace.py --rounds 2 --variants fixed,own,explicit \
  --points 72:6875,105:4751,34:10048,72:17927,69:12050 --out "$OUT/trace.json" > "$OUT/trace.log" 2>&1
echo "trace exit $? at ${SECONDS} s" | tee -a "$LOG"
grep " us = " "$OUT/trace.log" | tee -a "$LOG"
echo "total ${SECONDS} s"
