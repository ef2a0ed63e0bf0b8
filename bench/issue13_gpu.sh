#!/usr/bin/env bash
# Issue 13 in ONE device call (<= 9.5 minutes): calibrate the expected-time model on this GPU and validate it on
# held-out points. Eight files land under $OUT (the device tool returns at most 8):
#   nvidia-smi.txt, run.log (install, FlashMLA build, calibrate and validate logs),
#   h200.yaml + calibrate.json   (mlacalc calibrate --kernels: ceilings, SMs, per-backend coefficients, points)
#   validate-default.json/.md    (mlacalc validate: memory, training, the floor: the suite of earlier reports)
#   validate-expected.json/.md   (mlacalc validate --suite expected: held-out decode auto/flashmla, prefill sdpa)
# Device call (repo root; .peers is a git-ignored copy of ../shared/peers):
#     run(command="bash bench/issue13_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
export PYTHONUNBUFFERED=1
LOG="$OUT/run.log"; W=/tmp/mlacalc-run; mkdir -p "$W"
install_project "$W/install.log" "$LOG" || exit 1
gpu_facts "$OUT/nvidia-smi.txt" "$LOG"

start_flashmla_build "$W/flashmla_build.log"

# while FlashMLA compiles (CPU): the memory/training suite (the floor's report, as on the H100)
if [ "${SKIP_DEFAULT:-0}" != 1 ]; then   # SKIP_DEFAULT=1: only calibrate and the expected suite
  validate_suite default h200 150 "$W" "$LOG"
fi

finish_flashmla_build "$W/flashmla_build.log" "$LOG"
python3 -c "import flash_mla; print('flash_mla importable')" 2>&1 | tail -1 | tee -a "$LOG"

if [ "${SKIP_CALIBRATE:-0}" = 1 ]; then   # SKIP_CALIBRATE=1: validate with the committed calibration
  cp reports/h200/h200.yaml "$OUT/h200.yaml"
else
  calibrate_kernels 170 "$LOG"; grep -A60 '^kernels' "$OUT/h200.yaml" | head -60
fi

validate_suite expected "$OUT/h200.yaml" $(( 555 - SECONDS )) "$W" "$LOG"
tail -12 "$LOG"
echo "total ${SECONDS} s" | tee -a "$LOG"
