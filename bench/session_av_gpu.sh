#!/usr/bin/env bash
# The seventeenth session's last call: a fresh seed 13 of 60 random decode points against the committed calibration
# (reports/h200/h200.yaml), first under the machine's Triton 3.6 (the kernels the calibration measured), then the
# same points under Triton 3.9 (carried, .t39), where the Gluon kernel takes 64-key tiles above 64 query rows
# (default_gluon_config): how far the expected-time model, calibrated under 3.6, is from the kernels torch 2.13 brings.
# Files under $OUT: run.log, random13/ and random13-t39/ (validate.json, validate.md).
# The working tree and Triton 3.9 fit in the 64 MiB only with the three plotly pages left behind (as in
# bench/session_at_gpu.sh's header).
#     run(command="bash bench/session_av_gpu.sh", carry=[".t39"], timeout_s=420)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
random_points 13 170 random13
use_triton_slim || exit 1
random_points 13 $(( 400 - SECONDS )) random13-t39
echo "total ${SECONDS} s"
