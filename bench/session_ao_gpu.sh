#!/usr/bin/env bash
# Issue 14 / the expected-time model after the seesaw's split loop (commit eee0646), one device call: seed 10's 60
# random decode points again (measured before the change in session_ah: 56/60 within 15%, median 4.3%) and a fresh
# seed 11, against the committed calibration (reports/h200/h200.yaml, fitted to the one-loop kernel), under the
# machine's Triton 3.6. Files under $OUT: run.log, random10/ and random11/ (validate.json, validate.md).
#     run(command="bash bench/session_ao_gpu.sh", timeout_s=600)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
random_points 10 250 random10
random_points 11 $(( 560 - SECONDS )) random11
echo "total ${SECONDS} s"
