#!/usr/bin/env bash
# The closing device call of the sixteenth session (<= 4 minutes, the machine's Triton 3.6): the GPU tests of the
# code the session's merges touched outside the MLA kernels (already run in session_an: 82 passed): the profiler
# (validate, calibrate, DSA), the whole-step and sharded runners (embed / lm_head without their vocabulary
# collectives), and the GQA kernel. Files under $OUT: run.log, profiler.txt, gqa.txt.
#     run(command="bash bench/session_aq_gpu.sh", timeout_s=300)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
profiler_gpu_tests 170 "$OUT/profiler.txt"
gqa_gpu_tests $(( 240 - SECONDS )) "$OUT/gqa.txt"
echo "total ${SECONDS} s"
