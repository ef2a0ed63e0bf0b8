#!/usr/bin/env bash
# The twenty-seventh session's A/B call, under the GPU machine's Triton 3.6: the seesaw kernel with the softmax scale
# folded into the exponent (GluonMLAConfig.fold_scale; 30 fewer instructions in each compute group's 64-key loop)
# against the default, at the 24 points of issue 14's grid that run the Gluon kernel (64 and 128 heads), FlashMLA
# beside; then the rescaling GPU tests (the fold case among them) with the time left.
# 1. bench/ab_fold.py's float64 checks while FlashMLA builds (a wrong or hung variant shows here, cut at 150 s;
#    without PEERS they run first in step 2);
# 2. bench/ab_fold.py over the 24 points, largest first (two rounds, alternating order), and its ratio table;
# 3. pytest -k rescaling (Gluon, slack and fold cases).
# Files under $OUT: run.log, ab_fold_check.json, ab_fold.json (+ ab_fold.log), pytest_rescaling.txt.
#     run(command="bash bench/session_bl_gpu.sh", carry=[".peers"], timeout_s=480)
# Short of device time: PEERS=0 (no FlashMLA build: the A/B alone), HEADS=128 (only the 12 points of 128 heads),
# END (the second by which the tests end; the A/B ends 60 s before it), e.g. PEERS=0 HEADS=128 END=240.
set -u
. bench/device_lib.sh
END=${END:-450}   # the second by which the tests end
if [ "${PEERS:-1}" = 1 ]; then begin_run || exit 1; else begin_run_without_peers || exit 1; fi
if [ "${PEERS:-1}" = 1 ]; then  # the checks while FlashMLA builds (a wrong or hung variant shows here)
  timeout 150 python3 bench/ab_fold.py --points 0 --out "$OUT/ab_fold_check.json" > "$OUT/ab_fold_check.log" 2>&1
  echo "fold check exit $? at ${SECONDS} s" | tee -a "$LOG"
  finish_flashmla_build "$W/flashmla_build.log" "$LOG"
fi
timeout $(( END - 60 - SECONDS )) python3 bench/ab_fold.py --out "$OUT/ab_fold.json" ${HEADS:+--heads $HEADS} \
  > "$OUT/ab_fold.log" 2>&1
echo "ab fold exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 -c "import json,sys; [print(r) for r in json.load(open(sys.argv[1]))['rows'] if r['kind'] == 'check']" \
  "$OUT/ab_fold.json" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_fold.json" fold1/fold0,fold0/flashmla,fold1/flashmla | tee -a "$LOG"
if [ $(( END - SECONDS )) -gt 20 ]; then
  timeout $(( END - SECONDS )) python3 -m pytest -q -m gpu -p no:cacheprovider -k "rescaling" \
    tests/test_kernels_gpu.py > "$OUT/pytest_rescaling.txt" 2>&1
  echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest_rescaling.txt")" | tee -a "$LOG"
fi
echo "total ${SECONDS} s"
