#!/usr/bin/env bash
# One device call (<= 9.5 minutes): where eager host time goes (bench/host_profile.py), the fp8 / sparse tile
# candidates (bench/tune_fp8_sparse.py), the GPU kernel and whole-step tests, and the whole-step profile points
# (bench/whole_step_gpu.sh). Files under $OUT (8 at most come back): run.log (every log), tune_fp8_sparse.json,
# ws-*.json (6).
#     run(command="bash bench/session_a_gpu.sh", timeout_s=600)
set -u
. bench/device_lib.sh
export PYTHONUNBUFFERED=1
LOG="$OUT/run.log"
install_project /tmp/install.log "$LOG" || exit 1
echo "== host_profile" >> "$LOG"
timeout 60 python3 bench/host_profile.py >> "$LOG" 2>&1; echo "host_profile exit $?" | tee -a "$LOG"
if [ -f bench/tune_fp8_sparse.py ]; then
  echo "== tune_fp8_sparse" >> "$LOG"
  timeout 250 python3 bench/tune_fp8_sparse.py --out "$OUT/tune_fp8_sparse.json" >> "$LOG" 2>&1
  echo "tune exit $?" | tee -a "$LOG"
fi
echo "== pytest -m gpu" >> "$LOG"
timeout 120 python3 -m pytest -q -m gpu tests/test_kernels_gpu.py tests/test_whole_step.py -p no:cacheprovider -rf \
  >> "$LOG" 2>&1; echo "pytest exit $?" | tee -a "$LOG"
left=$(( 560 - SECONDS ))
if [ "$left" -gt 60 ]; then
  timeout "$left" bash bench/whole_step_gpu.sh >> "$LOG" 2>&1; echo "whole_step exit $?" | tee -a "$LOG"
fi
tail -30 "$LOG"; echo "total ${SECONDS} s"
