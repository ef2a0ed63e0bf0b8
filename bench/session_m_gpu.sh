#!/usr/bin/env bash
# Issue 14, one device call (<= 5 minutes): the Gluon sparse kernel ending each split at its last used slot.
# The float64 check first (a hang shows there, cut at 120 s); on success the Gluon sparse GPU tests, the A/B against
# the committed kernel (copied by bench/make_ab_base.sh: AB_BASE=_ab_base_sparse) at 1k context (-1 padded top-2048
# lists), then DSA points through the profiler against the committed calibration (reports/h200/h200.yaml): contexts
# under the top-k (where the kernel now stops early), one at the top-k and one over it (nothing to trim).
# Files under $OUT: run.log, pytest.txt, ab_short.json, dsa_short.jsonl.
#     run(command="AB_BASE=_ab_base_sparse bash bench/session_m_gpu.sh", timeout_s=300)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
check_sparse_gluon
[ "$checked" -eq 0 ] || { echo "check failed: nothing else run"; exit 1; }
timeout 100 python3 -m pytest -q -m gpu -p no:cacheprovider -k "sparse_gluon" tests/test_kernels_gpu.py \
  > "$OUT/pytest.txt" 2>&1
echo "pytest (sparse_gluon) exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
timeout 70 python3 bench/ab_sparse_gluon.py --ctx 1024 --out "$OUT/ab_short.json" ${AB_BASE:+--base "$AB_BASE"} \
  >> "$LOG" 2>&1
echo "ab short exit $? at ${SECONDS} s" | tee -a "$LOG"
for p in "deepseek-v3.2 --tp 8 --batch 128 --context 1024" "deepseek-v3.2 --tp 8 --batch 6 --context 1536" \
         "glm-5 --tp 8 --batch 16 --context 1024 --kv-dtype fp8-ds" "deepseek-v3.2 --tp 2 --batch 64 --context 2048" \
         "deepseek-v3.2 --tp 8 --batch 32 --context 32768"; do
  timeout 40 mlacalc profile $p --layers 4 --paged --gpu reports/h200/h200.yaml --json >> "$OUT/dsa_short.jsonl" \
    2>> "$LOG"
  echo "profile $p exit $? at ${SECONDS} s" | tee -a "$LOG"
done
echo "total ${SECONDS} s"
