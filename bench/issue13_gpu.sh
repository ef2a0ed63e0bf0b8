#!/usr/bin/env bash
# Issue 13 in ONE device call (<= 9.5 minutes): calibrate the expected-time model on this GPU and validate it on
# held-out points. Everything lands under $OUT:
#   install.log, nvidia-smi.txt, flashmla_build.log,
#   h200.yaml + calibrate.json   (mlacalc calibrate --kernels: ceilings, SMs, per-backend coefficients, points)
#   validate-default/            (mlacalc validate: memory, training, the floor; the suite of earlier reports)
#   validate-expected/           (mlacalc validate --suite expected: held-out decode auto/flashmla, prefill sdpa)
# Device call (repo root; .peers is a git-ignored copy of ../shared/peers):
#     run(command="bash bench/issue13_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . > "$OUT/install.log" 2>&1 \
  || { tail -20 "$OUT/install.log"; exit 1; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv \
  > "$OUT/nvidia-smi.txt" 2>&1
python3 -c "import triton, torch; print('triton', triton.__version__, 'torch', torch.__version__)" | tee -a "$OUT/install.log"

( timeout 240 python3 .peers/build_flashmla.py --site /tmp/site > "$OUT/flashmla_build.log" 2>&1;
  echo "build exit $?" >> "$OUT/flashmla_build.log" ) &
build_pid=$!

# while FlashMLA compiles (CPU): the memory/training suite (the floor's report, as on the H100)
timeout 150 mlacalc validate --out "$OUT/validate-default" --gpu h200 > "$OUT/validate-default.log" 2>&1
echo "validate default exit $?"; tail -12 "$OUT/validate-default.log"

wait "$build_pid"; tail -2 "$OUT/flashmla_build.log"
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
python3 -c "import flash_mla; print('flash_mla importable')" 2>&1 | tail -1

timeout 150 mlacalc calibrate --out "$OUT/h200.yaml" --base h200 --kernels --json > "$OUT/calibrate.json" \
  2> "$OUT/calibrate.log"
echo "calibrate exit $?"; tail -8 "$OUT/calibrate.log"; grep -A40 '^kernels' "$OUT/h200.yaml" | head -40

left=$(( 560 - SECONDS ))
echo "validate expected budget: ${left} s"
timeout "$left" mlacalc validate --out "$OUT/validate-expected" --gpu "$OUT/h200.yaml" --suite expected \
  > "$OUT/validate-expected.log" 2>&1
echo "validate expected exit $?"; tail -25 "$OUT/validate-expected.log"
echo "total ${SECONDS} s"
