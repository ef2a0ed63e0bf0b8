#!/usr/bin/env bash
# Issue 13, the final run in ONE device call (<= 9.5 minutes): while FlashMLA builds, the profiler's and the whole
# step's GPU tests; then `mlacalc calibrate --kernels` (the calibration grid: decode, GEMM and SDPA prefill points),
# `mlacalc validate --suite expected` (held-out decode, prefill and training points) against it, and the whole-step
# points priced with it (bench/whole_step_gpu.sh, merged into one file). Files under $OUT (6):
#   run.log (nvidia-smi, tests, every command's log), h200.yaml, calibrate.json, validate-expected.json,
#   validate-expected.md, whole-step.json
#     run(command="bash bench/session_c_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
export PYTHONUNBUFFERED=1
LOG="$OUT/run.log"; W=/tmp/mlacalc-run; mkdir -p "$W"
install_project "$W/install.log" "$LOG" || exit 1
gpu_facts "$LOG" "$LOG"
start_flashmla_build "$W/flashmla_build.log"
echo "== pytest -m gpu (profiler, whole step)" >> "$LOG"
timeout 100 python3 -m pytest -q -m gpu tests/test_profiler_gpu.py tests/test_whole_step.py -p no:cacheprovider -rf \
  >> "$LOG" 2>&1; echo "pytest exit $?" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
calibrate_kernels 200 "$LOG"
validate_suite expected "$OUT/h200.yaml" $(( 470 - SECONDS )) "$W" "$LOG"
left=$(( 575 - SECONDS ))
if [ "$left" -gt 40 ]; then
  echo "== whole steps (budget ${left} s)" | tee -a "$LOG"
  mkdir -p "$W/ws"
  CAL="$OUT/h200.yaml"
  GPU="$CAL" OUT="$W/ws" WS_BUDGET=$(( left - 15 )) timeout "$left" bash bench/whole_step_gpu.sh >> "$LOG" 2>&1
  python3 -c "import glob, json, os, sys; print(json.dumps({os.path.basename(p): json.load(open(p)) \
for p in sorted(glob.glob(sys.argv[1] + '/ws-*.json')) if os.path.getsize(p)}))" "$W/ws" > "$OUT/whole-step.json"
fi
grep -A14 "^## Accuracy" "$OUT/validate-expected.md" | tee -a "$LOG"
echo "total ${SECONDS} s"
