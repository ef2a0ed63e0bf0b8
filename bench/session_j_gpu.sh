#!/usr/bin/env bash
# Issue 14, one device call (<= 9.5 minutes): sparse (DSA) decode through the profiler, then the closing steps.
# 1. `mlacalc profile deepseek-v3.2` decode points (the sparse kernels over the indexer's top-2048, auto at 16 and
#    128 heads, triton forced, two query tokens) and one dense 8k prefill: predicted beside measured, one JSON
#    object a line in $OUT/dsa_profile.jsonl;
# 2. the MLA, Gluon and sparse GPU tests;
# 3. `mlacalc calibrate --kernels`, `mlacalc validate --suite expected`, `mlacalc bench kernels --peers`.
# Files under $OUT (8): run.log, dsa_profile.jsonl, pytest.txt, h200.yaml, calibrate.json, validate-expected.json,
# validate-expected.md, kernels.json.
#     run(command="bash bench/session_j_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
profile() {  # one point: its JSON on a line of dsa_profile.jsonl, its summary on the log
  timeout 90 mlacalc profile deepseek-v3.2 --gpu h200 --json "$@" > "$W/point.json" 2>> "$LOG"
  echo "profile $* exit $? at ${SECONDS} s" | tee -a "$LOG"
  python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))" "$W/point.json" \
    >> "$OUT/dsa_profile.jsonl" 2>> "$LOG"
}
profile --batch 32 --context 32k --tp 8 --layers 4 --paged
profile --batch 64 --context 32k --tp 8 --layers 4 --paged --kernel triton
profile --batch 16 --context 64k --tp 1 --layers 2 --paged
profile --batch 8 --context 16k --tp 2 --layers 4 --paged --q-tokens 2
profile --batch 4 --context 4k --tp 8 --layers 4
profile --phase prefill --kernel sdpa --batch 1 --context 8k --tp 8 --layers 1
timeout 200 python3 -m pytest -q -m gpu -p no:cacheprovider -k "mla or sparse or gluon" tests/test_kernels_gpu.py \
  > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
calibrate_validate_bench 150 500 575
echo "total ${SECONDS} s"
