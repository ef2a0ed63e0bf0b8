#!/usr/bin/env bash
# Issue 14 in ONE device call (<= 8 minutes): build FlashMLA, run the GPU kernel tests, run the --peers benchmark.
# Everything lands under $OUT: install.log, nvidia-smi.txt, flashmla_build.log, pytest.log, bench.log, kernels.json.
#
# Here, once (../shared does not travel to the GPU machine; a git-ignored folder of the repo does, when carried):
#     cp -r ../shared/peers .peers && echo /.peers/ >> .git/info/exclude
# Device call (repo root):
#     run(command="bash bench/issue14_gpu.sh", carry=[".peers"], timeout_s=600)
#
# The FlashMLA build (~105 s, CPU-bound: nvcc) runs in the background while the GPU tests run; the benchmark then
# imports flash_mla from /tmp/site (without it, the peer rows say "flash_mla not importable" and the rest runs).
set -u
export PYTHONUNBUFFERED=1
BUDGET=465  # seconds for the whole script, inside the 8-minute call
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . > "$OUT/install.log" 2>&1 \
  || { tail -20 "$OUT/install.log"; exit 1; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv \
  > "$OUT/nvidia-smi.txt" 2>&1
python3 -c "import triton, torch; print('triton', triton.__version__, 'torch', torch.__version__)" | tee -a "$OUT/install.log"

( timeout 300 python3 .peers/build_flashmla.py --site /tmp/site > "$OUT/flashmla_build.log" 2>&1;
  echo "build exit $?" >> "$OUT/flashmla_build.log" ) &
build_pid=$!

timeout 180 python3 -m pytest -q -m gpu tests/test_kernels_gpu.py -p no:cacheprovider -rf 2>&1 \
  | tee "$OUT/pytest.log" | tail -30

wait "$build_pid"
tail -3 "$OUT/flashmla_build.log"
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
python3 -c "import flash_mla; print('flash_mla importable')" 2>&1 | tail -1

left=$(( BUDGET - SECONDS ))
echo "bench budget: ${left} s"
timeout "$left" mlacalc bench kernels --peers --json --out "$OUT/kernels.json" 2> "$OUT/bench.log"
echo "bench exit $?"
tail -40 "$OUT/bench.log"
echo "total ${SECONDS} s"
