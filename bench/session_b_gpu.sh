#!/usr/bin/env bash
# Issues 13 and 14 in ONE device call (<= 9.5 minutes): while FlashMLA builds, the host-time probe; then
# `mlacalc calibrate --kernels` (the calibration grid), `mlacalc validate --suite expected` (held-out points) and
# `mlacalc bench kernels --peers` (ours beside FlashMLA). Files under $OUT (7):
#   run.log (nvidia-smi too), h200.yaml, calibrate.json, validate-expected.json, validate-expected.md, kernels.json,
#   whole-step.json (bench/whole_step_gpu.sh's points, priced with this run's h200.yaml)
#     run(command="bash bench/session_b_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
export PYTHONUNBUFFERED=1
LOG="$OUT/run.log"; W=/tmp/mlacalc-run; mkdir -p "$W"
install_project "$W/install.log" "$LOG" || exit 1
gpu_facts "$LOG" "$LOG"
start_flashmla_build "$W/flashmla_build.log"
echo "== host_profile" >> "$LOG"
timeout 60 python3 bench/host_profile.py 2>&1 | head -8 >> "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
calibrate_kernels 200 "$LOG"
validate_suite expected "$OUT/h200.yaml" $(( 490 - SECONDS )) "$W" "$LOG"
left=$(( 565 - SECONDS ))
echo "== bench kernels --peers (budget ${left} s)" | tee -a "$LOG"
timeout "$left" mlacalc bench kernels --peers --json --out "$OUT/kernels.json" >> "$LOG" 2>&1
echo "bench exit $? at ${SECONDS} s" | tee -a "$LOG"
left=$(( 585 - SECONDS ))
if [ "$left" -gt 40 ]; then   # whole steps, priced with this run's calibration, merged into one file
  echo "== whole steps (budget ${left} s)" | tee -a "$LOG"
  mkdir -p "$W/ws"
  CAL="$OUT/h200.yaml"
  GPU="$CAL" OUT="$W/ws" WS_BUDGET=$(( left - 15 )) timeout "$left" bash bench/whole_step_gpu.sh >> "$LOG" 2>&1
  python3 -c "import glob, json, os, sys; print(json.dumps({os.path.basename(p): json.load(open(p)) \
for p in sorted(glob.glob(sys.argv[1] + '/ws-*.json')) if os.path.getsize(p)}))" "$W/ws" > "$OUT/whole-step.json"
fi
grep -A12 "^## Accuracy" "$OUT/validate-expected.md" | tee -a "$LOG"
tail -5 "$LOG"; echo "total ${SECONDS} s"
