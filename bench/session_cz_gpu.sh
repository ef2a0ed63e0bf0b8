#!/usr/bin/env bash
# The thirty-sixth session's last device call (any Hopper, about 150 s): the Gluon sparse kernel now ends each split
# at its last used slot without lengths too (rows of the pool, FlashMLA's convention), where a context under the
# top-k ran the whole top-2048 (session_cx: DeepSeek-V3.2 at 97 x 884 keys x 128 heads, contiguous: 166 us a layer
# measured, what 2,048 keys take; 109 expected). (1) the Gluon sparse kernel's GPU tests on pool rows and on the
# early end; (2) that point again through `mlacalc profile` (the same config as seed 22's).
# Files under $OUT: run.log, pytest_sparse.txt, profile_884.json.
#     run(command="bash bench/session_cz_gpu.sh", timeout_s=200)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
timeout 100 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py \
  -k "pool_rows or last_used_slot" > "$OUT/pytest_sparse.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest_sparse.txt")" | tee -a "$LOG"
card=h100-sxm; nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200 && card=h200
for c in 884; do
  timeout 60 mlacalc profile deepseek-v3.2 --batch 97 --context "$c" --layers 4 --gpu "$card" --json \
    > "$OUT/profile_$c.json" 2>> "$LOG"
  echo "profile $c exit $? at ${SECONDS} s" | tee -a "$LOG"
  python3 -c "
import json; d = json.load(open('$OUT/profile_$c.json'))
c = {x['name']: x for x in d.get('comparisons', [])}.get('latency_expected_s', {})
print('97 x $c: expected', c.get('predicted'), 'measured', c.get('measured'), 'error %', c.get('error_pct'))" 2>&1 | tee -a "$LOG"
done
echo "total ${SECONDS} s"
