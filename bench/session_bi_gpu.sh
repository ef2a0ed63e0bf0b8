#!/usr/bin/env bash
# The twenty-fifth session's first call: out-of-range values unchecked (the kernels now clamp lengths to the
# capacity and block-table entries to the pool: triton_flash.valid_length / valid_page, the Gluon kernels'
# _valid_length; sparse decode checks its values by default on CUDA), then issue 14's benchmark with those kernels.
# 1. the new GPU tests (test_*out_of_range_values*), then the MLA, sparse and Gluon GPU tests, while FlashMLA builds;
# 2. `mlacalc bench kernels --peers --json` (FlashMLA beside): did the clamps cost time (16-head paged: the Triton
#    loop went 895 -> 897 SASS instructions under Triton 3.6, python bench/sass_loops.py)?
# Files under $OUT: run.log, pytest_bad.txt, pytest.txt, kernels.json.
# About 350 s (the bench took 62 s in the last session's call; FlashMLA builds while the tests run).
#     run(command="bash bench/session_bi_gpu.sh", carry=[".peers"], timeout_s=450)
set -u
. bench/device_lib.sh
begin_run || exit 1
out_of_range_gpu_tests 120
kernel_gpu_tests $(( 250 - SECONDS ))
grep -E "^(FAILED|ERROR)" "$OUT/pytest.txt" | head -20 | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
bench_peers $(( 420 - SECONDS ))
print_bench_summary "$OUT/kernels.json"
echo "total ${SECONDS} s"
