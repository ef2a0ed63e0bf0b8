#!/usr/bin/env bash
# Issue 13, data for the expected-time model (one device call, <= 9 minutes): the q=2 tile configs (bench/tune_q2.py)
# while FlashMLA builds, then `mlacalc calibrate --kernels` over the calibration grid (profiler/kernel_calibration.py:
# ~90 decode points for auto and flashmla, none a validation point). Files under $OUT: run.log, nvidia-smi.txt,
# tune_q2.json, h200.yaml, calibrate.json.
#     run(command="bash bench/issue13_grid_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
export PYTHONUNBUFFERED=1
LOG="$OUT/run.log"; W=/tmp/mlacalc-run; mkdir -p "$W"
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . > "$W/install.log" 2>&1 \
  || { tail -20 "$W/install.log" | tee -a "$LOG"; exit 1; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv \
  > "$OUT/nvidia-smi.txt" 2>&1
python3 -c "import triton, torch; print('triton', triton.__version__, 'torch', torch.__version__)" | tee -a "$LOG"
( timeout 240 python3 .peers/build_flashmla.py --site /tmp/site > "$W/flashmla_build.log" 2>&1;
  echo "build exit $?" >> "$W/flashmla_build.log" ) &
build_pid=$!
timeout 150 python3 bench/tune_q2.py --out "$OUT/tune_q2.json" >> "$LOG" 2>&1; echo "tune_q2 exit $?" | tee -a "$LOG"
wait "$build_pid"; tail -2 "$W/flashmla_build.log" | tee -a "$LOG"
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
left=$(( 560 - SECONDS ))
echo "== calibrate --kernels (budget ${left} s)" | tee -a "$LOG"
timeout "$left" mlacalc calibrate --out "$OUT/h200.yaml" --base h200 --kernels --json > "$OUT/calibrate.json" 2>> "$LOG"
echo "calibrate exit $?" | tee -a "$LOG"
tail -8 "$LOG"; echo "total ${SECONDS} s" | tee -a "$LOG"
