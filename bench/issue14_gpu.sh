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
. bench/device_lib.sh
export PYTHONUNBUFFERED=1
BUDGET=465  # seconds for the whole script, inside the 8-minute call
install_project "$OUT/install.log" || exit 1
gpu_facts "$OUT/nvidia-smi.txt" "$OUT/install.log"

start_flashmla_build "$OUT/flashmla_build.log" 300

timeout 180 python3 -m pytest -q -m gpu tests/test_kernels_gpu.py -p no:cacheprovider -rf 2>&1 \
  | tee "$OUT/pytest.log" | tail -30

finish_flashmla_build "$OUT/flashmla_build.log" "$OUT/install.log"
python3 -c "import flash_mla; print('flash_mla importable')" 2>&1 | tail -1

left=$(( BUDGET - SECONDS ))
echo "bench budget: ${left} s"
timeout "$left" mlacalc bench kernels --peers --json --out "$OUT/kernels.json" 2> "$OUT/bench.log"
echo "bench exit $?"
tail -40 "$OUT/bench.log"
echo "total ${SECONDS} s"
