#!/usr/bin/env bash
# The twenty-sixth session's call (H200 starts were scarce: one call does what bench/session_bh_gpu.sh and
# session_bi_gpu.sh split in two; the fp8 probe and ncu of bh are left out, the H100 probe answered them):
# 1. the 14 prefill calibration points at head dims 64/128/256 and MLA's (bench/prefill_headdim.py) while FlashMLA
#    builds; the sdpa refit runs afterwards on the CPU here (bench/fit_expected.py --sdpa), not on device time;
# 2. `mlacalc bench kernels --peers --json` (FlashMLA beside) with the kernels as they are now (length and
#    table-entry clamps, sparse value checks on by default);
# 3. the out-of-range GPU tests, then the MLA, sparse and Gluon GPU tests, then the GQA ones, with the time left.
# On another GPU (an H100) only the tests run (the prefill points are the H200 spec's; the H100 bench has three
# samples from the last session): `END=380 bash bench/session_bj_gpu.sh`.
# Files under $OUT: run.log, prefill_headdim.json (+ .log), kernels.json, pytest_bad.txt, pytest.txt, pytest_gqa.txt.
#     run(command="bash bench/session_bj_gpu.sh", carry=[".peers"], kind="nvidia-h200", timeout_s=600)
set -u
. bench/device_lib.sh
END=${END:-575}   # the second by which the tests end
if nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200; then
  begin_run || exit 1
  prefill_headdim_points 170
  finish_flashmla_build "$W/flashmla_build.log" "$LOG"
  bench_peers 150
  print_bench_summary "$OUT/kernels.json"
else
  begin_run_without_peers || exit 1
fi
out_of_range_gpu_tests 90
if [ $(( END - 60 - SECONDS )) -gt 20 ]; then   # a short END: the steps left out, not a `timeout` usage error
  kernel_gpu_tests $(( END - 60 - SECONDS ))
  grep -E "^(FAILED|ERROR)" "$OUT/pytest.txt" | head -20 | tee -a "$LOG"
fi
[ $(( END - SECONDS )) -gt 20 ] && gqa_gpu_tests $(( END - SECONDS )) "$OUT/pytest_gqa.txt"
echo "total ${SECONDS} s"
