#!/usr/bin/env bash
# The twenty-first session's second call, under the GPU machine's Triton 3.6, with the default the first call chose
# (bench/session_bd_gpu.sh: the seesaw's rescale slack):
# 1. `mlacalc bench kernels --peers` (issue 14's 36 dense points, fp8, sparse; FlashMLA built in the call);
# 2. bench/random_vs_flashmla.py at the seed-1 points (40; the same lengths as
#    reports/h200/tuning/random_vs_flashmla_seed1_t36.json), auto fixed grid and FlashMLA, rows written as they land.
# Files under $OUT: run.log, kernels.json, random_seed1.json.
#     run(command="bash bench/session_be_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
bench_peers 330
python3 - "$OUT/kernels.json" <<'PY' | tee -a "$LOG"
import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps(d.get("summary"), indent=1))
PY
timeout $(( 585 - SECONDS )) python3 bench/random_vs_flashmla.py --out "$OUT/random_seed1.json" 2>&1 | tail -4 \
  | tee -a "$LOG"
echo "total ${SECONDS} s"
