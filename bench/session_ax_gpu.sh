#!/usr/bin/env bash
# The eighteenth session's second call, under the GPU machine's Triton 3.6, after the Gluon kernel's 64-key tile
# became the default above 64 query rows under 3.6 too (bench/session_aw_gpu.sh measured it: 0.83-0.87x the 32-key
# tile's time at 128 heads from batch 32): the expected-time model prices that tile at its own rate
# (wide_tile_mma_eff), which this call's calibration pins.
# 1. `mlacalc calibrate --kernels` (every calibration point, FlashMLA built first) into h200.yaml + calibrate.json;
# 2. `mlacalc validate --suite expected` against that calibration (held-out points);
# 3. 60 random decode points (seed 14) against the committed calibration (bench/random_points.py).
# Files under $OUT: run.log, h200.yaml, calibrate.json, validate-expected.json/.md, random14/.
#     run(command="bash bench/session_ax_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
calibrate_kernels 260 "$LOG"
validate_suite expected "$OUT/h200.yaml" $(( 440 - SECONDS )) "$W" "$LOG"
grep -A14 "^## Accuracy" "$OUT/validate-expected.md" | tee -a "$LOG"
random_points 14 $(( 590 - SECONDS )) random14
echo "total ${SECONDS} s"
