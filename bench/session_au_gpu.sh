#!/usr/bin/env bash
# The seventeenth session's closing call (the machine's Triton 3.6, <= 6 minutes): the GPU tests of what the day's
# merges touched outside the MLA kernels (those ran under 3.9 in bench/session_at_gpu.sh: 82 passed): the profiler
# (its KV sizing now goes through the merged dtypes.kv layouts), the whole-step and sharded runners, the GQA kernel;
# then the six random-seed points of Mistral-7B with a paged cache past its 4,096-token window measured again with
# the profiler that allocates vLLM's partly expired first block (the committed points predate it:
# reports/h200/README.md), into mistral-paged-windows.jsonl.
# Files under $OUT: run.log, profiler.txt, gqa.txt, mistral-paged-windows.jsonl.
#     run(command="bash bench/session_au_gpu.sh", timeout_s=420)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
profiler_gpu_tests 170 "$OUT/profiler.txt"
gqa_gpu_tests $(( 240 - SECONDS )) "$OUT/gqa.txt"
for p in "1 60359 4" "19 112887 1" "20 97597 2" "34 4330 2" "8 56669 8" "65 53691 2"; do
  set -- $p
  timeout 40 mlacalc profile mistral-7b --batch "$1" --context "$2" --tp "$3" --layers 4 --paged \
    --gpu reports/h200/h200.yaml --json >> "$OUT/mistral-paged-windows.jsonl" 2>> "$LOG"
  echo "profile b$1 c$2 tp$3 exit $? at ${SECONDS} s" | tee -a "$LOG"
done
echo "total ${SECONDS} s"
