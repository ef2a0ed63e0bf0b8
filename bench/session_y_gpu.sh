#!/usr/bin/env bash
# The GQA kernel's new plan in the expected-time model (twelfth H200 session), one device call:
# 1. decode points drawn at random with a new seed (bench/random_points.py, SEED, default 2), measured while FlashMLA
#    builds; compared offline against the new calibration (`python bench/revalidate.py`);
# 2. `mlacalc calibrate --kernels` (with the new GQA points: paged, two query tokens, tp 8, MHA, head dim 256) and
#    `mlacalc validate --suite expected` against it;
# 3. `mlacalc bench kernels --peers` into kernels.json (the GQA rows on the new plan).
# Files under $OUT: run.log, random/validate.json, h200.yaml, calibrate.json, validate-expected.json/.md,
# kernels.json.
#     run(command="bash bench/session_y_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
random_points "${SEED:-2}" 150
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
calibrate_then_validate 170 470
bench_peers $(( 585 - SECONDS ))
echo "total ${SECONDS} s"
