#!/usr/bin/env bash
# The fifteenth session's second call: does the expected-time model (calibrated with the machine's Triton 3.6) hold
# for the Triton that current torch installs (3.9: torch 2.13 pins it)? The same 60 random decode points (seed 10,
# bench/random_points.py) measured under Triton 3.9 (carried, bench/slim_triton.sh) and then under 3.6, against the
# committed calibration (reports/h200/h200.yaml), plus the GQA kernel's GPU tests under 3.9.
# Files under $OUT: run.log, random_t39/, random_t36/ (validate.json, validate.md), pytest_gqa_t39.txt.
#     run(command="bash bench/session_ah_gpu.sh", carry=[".t39"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
use_triton_slim || exit 1
gqa_gpu_tests 100 "$OUT/pytest_gqa_t39.txt"
random_points 10 $(( 330 - SECONDS )) random_t39
use_machine_triton
random_points 10 $(( 585 - SECONDS )) random_t36
echo "total ${SECONDS} s"
