#!/usr/bin/env bash
# The twenty-sixth session's call (H200 starts were scarce: one call does what bench/session_bh_gpu.sh and
# session_bi_gpu.sh split in two; the fp8 probe and ncu of bh are left out, the H100 probe answered them):
# 1. the 14 prefill calibration points at head dims 64/128/256 and MLA's (bench/prefill_headdim.py) while FlashMLA
#    builds; the sdpa refit runs afterwards on the CPU here (bench/fit_expected.py --sdpa), not on device time;
# 2. `mlacalc bench kernels --peers --json` (FlashMLA beside) with the kernels as they are now (length and
#    table-entry clamps, sparse value checks on by default);
# 3. the out-of-range GPU tests, then the MLA, sparse and Gluon GPU tests, then the GQA ones, with the time left.
# On an H100 the prefill points (the H200 spec's) are skipped and the rest runs as history.
# Files under $OUT: run.log, prefill_headdim.json (+ .log), kernels.json, pytest_bad.txt, pytest.txt, pytest_gqa.txt.
#     run(command="bash bench/session_bj_gpu.sh", carry=[".peers"], kind="nvidia-h200", timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
if nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200; then
  prefill_headdim_points 170   # calibration points of the H200's spec only
fi
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
bench_peers 150
print_bench_summary "$OUT/kernels.json"
out_of_range_gpu_tests 90
kernel_gpu_tests $(( 575 - SECONDS ))
grep -E "^(FAILED|ERROR)" "$OUT/pytest.txt" | head -20 | tee -a "$LOG"
[ $(( 590 - SECONDS )) -gt 30 ] && gqa_gpu_tests $(( 590 - SECONDS )) "$OUT/pytest_gqa.txt"
echo "total ${SECONDS} s"
