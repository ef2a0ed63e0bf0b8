#!/usr/bin/env bash
# The next session's first call (written in the twenty-seventh, when no device time was left to start one): what it
# left unmeasured, shortest first, no FlashMLA build (the sparse A/B is ours against ours):
# 1. bench/ab_sparse_splits.py: the sparse decode's planned split count against 16/24/32 at batch 1-32 x 64/128 heads
#    x bf16/fp8-ds rows (float64 checks first), and its ratio table;
#    then bench/sparse_host_time.py (sparse decode's eager host time, value checks off and on);
# 2. the MLA, sparse and Gluon GPU tests that the last H200 call's time limit cut (81 passed there, none failed);
# 3. the GQA GPU tests, with what time is left.
# Files under $OUT: run.log, ab_sparse_splits.json (+ .log), sparse_host_time.json, pytest.txt, pytest_gqa.txt.
#     run(command="bash bench/session_bm_gpu.sh", carry=[".peers"], timeout_s=600)
# Short of device time: END (default 570: the second by which the tests end), e.g. END=200 for the A/B alone.
set -u
. bench/device_lib.sh
END=${END:-570}
begin_run_without_peers || exit 1
T=$(( END - SECONDS - 10 < 190 ? END - SECONDS - 10 : 190 ))   # the A/B's seconds: a short END, what is left
if [ "$T" -gt 20 ]; then   # a negative `timeout` is a usage error: the step left out instead
  timeout "$T" python3 bench/ab_sparse_splits.py --out "$OUT/ab_sparse_splits.json" > "$OUT/ab_sparse_splits.log" 2>&1
  echo "ab sparse splits exit $? at ${SECONDS} s" | tee -a "$LOG"
  python3 -c "import json,sys; [print(r) for r in json.load(open(sys.argv[1]))['rows'] if r['kind'] == 'check']" \
    "$OUT/ab_sparse_splits.json" | tee -a "$LOG"
  python3 bench/ab_summary.py "$OUT/ab_sparse_splits.json" s16/plan,s24/plan,s32/plan | tee -a "$LOG"
fi
if [ $(( END - SECONDS )) -gt 60 ]; then   # sparse decode's host time, checks off (the default) and on
  timeout 45 python3 bench/sparse_host_time.py --out "$OUT/sparse_host_time.json" 2>&1 | tee -a "$LOG"
fi
if [ $(( END - 40 - SECONDS )) -gt 20 ]; then
  kernel_gpu_tests $(( END - 40 - SECONDS ))
  grep -E "^(FAILED|ERROR)" "$OUT/pytest.txt" | head -20 | tee -a "$LOG"
fi
[ $(( END - SECONDS )) -gt 20 ] && gqa_gpu_tests $(( END - SECONDS )) "$OUT/pytest_gqa.txt"
echo "total ${SECONDS} s"
