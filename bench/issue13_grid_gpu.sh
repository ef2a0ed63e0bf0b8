#!/usr/bin/env bash
# Issue 13, data for the expected-time model (one device call, <= 9 minutes): the q=2 tile configs (bench/tune_q2.py)
# while FlashMLA builds, then `mlacalc calibrate --kernels` over the calibration grid (profiler/kernel_calibration.py:
# ~90 decode points for auto and flashmla, none a validation point). Files under $OUT: run.log, nvidia-smi.txt,
# tune_q2.json, h200.yaml, calibrate.json.
#     run(command="bash bench/issue13_grid_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
export PYTHONUNBUFFERED=1
LOG="$OUT/run.log"; W=/tmp/mlacalc-run; mkdir -p "$W"
install_project "$W/install.log" "$LOG" || exit 1
gpu_facts "$OUT/nvidia-smi.txt" "$LOG"
start_flashmla_build "$W/flashmla_build.log"
timeout 150 python3 bench/tune_q2.py --out "$OUT/tune_q2.json" >> "$LOG" 2>&1; echo "tune_q2 exit $?" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
calibrate_kernels $(( 560 - SECONDS )) "$LOG"
tail -8 "$LOG"; echo "total ${SECONDS} s" | tee -a "$LOG"
