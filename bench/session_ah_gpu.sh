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
BASE_PYTHONPATH=${PYTHONPATH:-}
use_triton_slim || exit 1
gqa_gpu_tests 100 "$OUT/pytest_gqa_t39.txt"
timeout $(( 330 - SECONDS )) python3 bench/random_points.py --seed 10 --n 60 --out "$OUT/random_t39" \
  --gpu reports/h200/h200.yaml >> "$LOG" 2>&1
echo "random points (3.9) exit $? at ${SECONDS} s" | tee -a "$LOG"
grep -A8 "^## Accuracy" "$OUT/random_t39/validate.md" | tee -a "$LOG"
export PYTHONPATH=$BASE_PYTHONPATH; unset TRITON_PTXAS_PATH TRITON_PTXAS_BLACKWELL_PATH
python3 -c "import triton; print('now triton', triton.__version__)" | tee -a "$LOG"
timeout $(( 585 - SECONDS )) python3 bench/random_points.py --seed 10 --n 60 --out "$OUT/random_t36" \
  --gpu reports/h200/h200.yaml >> "$LOG" 2>&1
echo "random points (3.6) exit $? at ${SECONDS} s" | tee -a "$LOG"
grep -A8 "^## Accuracy" "$OUT/random_t36/validate.md" | tee -a "$LOG"
echo "total ${SECONDS} s"
