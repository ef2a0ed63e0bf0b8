#!/usr/bin/env bash
# Issue 14 / the expected-time model, one device call: decode points drawn at random (bench/random_points.py, seed 1,
# 60 points over real models, tp, batch, context, paged, bf16 / fp8 / fp8-ds, one or two query tokens) measured
# like `mlacalc validate`'s points against the committed calibration (reports/h200/h200.yaml): how the model
# generalises to points nobody chose. Files under $OUT: run.log, random/validate.json, random/validate.md.
#     run(command="bash bench/session_w_gpu.sh", timeout_s=600)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
random_points "${SEED:-1}" $(( 560 - SECONDS ))
