#!/usr/bin/env bash
# One device call: install, calibrate, validate, profiler GPU tests; everything lands under $OUT.
# Usage (on the GPU machine, repo root, .whl carried): bash bench/device_run.sh smoke|full
set -u
mode=${1:-full}
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv \
  > $OUT/nvidia-smi.txt 2>&1
if [ "$mode" = smoke ]; then
  mlacalc calibrate --quick --out $OUT/h100.yaml 2>&1 | tee $OUT/run.log
  mlacalc profile deepseek-v2-lite --batch 8 --context 4k --layers 4 --gpu $OUT/h100.yaml 2>&1 | tee -a $OUT/run.log
  mlacalc validate --quick --gpu $OUT/h100.yaml --out $OUT/h100 2>&1 | tee -a $OUT/run.log
  python3 -m pytest -q -x tests/test_profiler_gpu.py 2>&1 | tail -25 | tee -a $OUT/run.log
else
  mlacalc calibrate --out $OUT/h100.yaml 2>&1 | tee $OUT/run.log
  mlacalc validate --gpu $OUT/h100.yaml --out $OUT/h100 2>&1 | tee -a $OUT/run.log
  python3 -m pytest -q tests/test_profiler_gpu.py 2>&1 | tail -15 | tee -a $OUT/run.log
fi
