#!/usr/bin/env bash
# The thirty-first session's fifth call, any Hopper (about 450 s): the merge of split-KV partials with MERGE_CHUNK
# partials a step against one (bench/ab_combine.py), then the issue's benchmark with it (`mlacalc bench kernels
# --peers`: every split point's merge changed; on an H200 the report's refresh).
# Files under $OUT: run.log, ab_combine.json, ab_combine.log, kernels.json.
#     run(command="bash bench/session_cc_gpu.sh", carry=[".peers"], timeout_s=590)
set -u
. bench/device_lib.sh
begin_run || exit 1
timeout 120 python3 bench/ab_combine.py --out "$OUT/ab_combine.json" > "$OUT/ab_combine.log" 2>&1
echo "ab_combine exit $? at ${SECONDS} s" | tee -a "$LOG"
grep " us, in L2" "$OUT/ab_combine.log" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
bench_peers $(( 575 - SECONDS ))
print_bench_summary "$OUT/kernels.json"
echo "total ${SECONDS} s"
