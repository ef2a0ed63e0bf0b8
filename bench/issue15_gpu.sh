#!/usr/bin/env bash
# Issue 15 ("multi-GPU truth") in ONE device call on an N-GPU machine: calibrate the interconnect with NCCL, then
# validate the multi-GPU points (sharded decode under TP, EP and data-parallel attention; ZeRO-0..3 and TP+SP
# training) against that calibration. Everything lands under $OUT: install.log, nvidia-smi.txt, versions.txt,
# calibrate.log, h200x${N}.yaml, calibrate.json, pytest.log, validate.log and the report folder h200x${N}/
# (validate.json, validate.md, index.html). Copy that folder to reports/h200x${N}/ with this command line.
#
# Usage (repo root):
#     N=8 bash bench/issue15_gpu.sh        # run(command="N=8 bash bench/issue15_gpu.sh", kind="nvidia-h200-x8")
#     N=1 bash bench/issue15_gpu.sh        # dry run on one GPU: the same code path, one NCCL rank per point,
#                                          # nothing judged (collectives to itself); what a 1-GPU lease allows
# Options: SKIP_CALIBRATE=1 validates against reports/h200/h200.yaml (its interconnect is the datasheet's);
#          QUICK=1 calibrates with --quick; RESUME=1 starts from reports/h200x${N}/validate.json (a previous call's,
#          committed) and runs only the points it lacks (each point costs about 10-20 s: processes, NCCL, build).
#
# Not run yet on several GPUs (none was lent when it was written); the CPU tests (tests/test_sharded.py) run the
# same runner with gloo processes.
set -u
. bench/device_lib.sh
export PYTHONUNBUFFERED=1
N=${N:-8}
NAME=h200x${N}
BUDGET=${BUDGET:-560}     # seconds for the whole script, inside a 10-minute call
install_project "$OUT/install.log" || exit 1
nvidia-smi --query-gpu=index,name,driver_version,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv \
  > "$OUT/nvidia-smi.txt" 2>&1
nvidia-smi topo -m >> "$OUT/nvidia-smi.txt" 2>&1
python3 - > "$OUT/versions.txt" 2>&1 <<'EOF'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())
try:
    print("nccl", ".".join(map(str, torch.cuda.nccl.version())))
except Exception as e:  # noqa: BLE001
    print("nccl: unknown", e)
try:
    import triton
    print("triton", triton.__version__)
except ImportError:
    print("triton: absent")
EOF
cat "$OUT/versions.txt"
have=$(python3 -c "import torch; print(torch.cuda.device_count())")
if [ "$have" -lt "$N" ]; then
  echo "asked for N=$N GPUs; this machine has $have"; exit 2
fi

HW="$OUT/$NAME.yaml"
if [ "${SKIP_CALIBRATE:-0}" = 1 ]; then
  HW=reports/h200/h200.yaml
  echo "validating against $HW (no interconnect calibration)"
else
  q=""; [ "${QUICK:-0}" = 1 ] && q="--quick"
  echo "mlacalc calibrate --gpus $N --base h200 $q --out $HW --json" | tee "$OUT/calibrate.log"
  timeout 240 mlacalc calibrate --gpus "$N" --base h200 $q --out "$HW" --json > "$OUT/calibrate.json" \
    2>> "$OUT/calibrate.log"
  echo "calibrate exit $?"
  [ -s "$HW" ] || { echo "no calibration written; falling back to reports/h200/h200.yaml"; HW=reports/h200/h200.yaml; }
fi

# the GPU test of the runner (the one-GPU dry run; skips nothing on a GPU machine)
timeout 120 python3 -m pytest -q -m gpu tests/test_sharded.py -p no:cacheprovider -rf 2>&1 | tee "$OUT/pytest.log" \
  | tail -5

left=$(( BUDGET - SECONDS ))
echo "validate budget: ${left} s"
CMD="mlacalc validate --gpus $N --suite multi --gpu $HW --out $OUT/$NAME"
if [ "${RESUME:-0}" = 1 ] && [ -f "reports/$NAME/validate.json" ]; then
  mkdir -p "$OUT/$NAME" && cp "reports/$NAME/validate.json" "$OUT/$NAME/" && CMD="$CMD --resume"
fi
echo "$CMD" | tee "$OUT/validate.log"
timeout "$left" $CMD >> "$OUT/validate.log" 2>&1
echo "validate exit $?"
tail -40 "$OUT/validate.log"
echo "total ${SECONDS} s"
