#!/usr/bin/env bash
# Branch prefill-exp's device call: the prefill calibration points at head dims 64, 128, 256 and MLA's 192/128
# (profiler.kernel_calibration.PREFILL_POINTS, 14 points) measured on the H200 by bench/prefill_headdim.py, then the
# sdpa refit on the CPU of the same machine (bench/fit_expected.py --sdpa, nothing written into reports/: the refit
# spec lands in $OUT for review).
# Files under $OUT: run.log, prefill_headdim.json, prefill_headdim.log, refit.txt, h200-sdpa-refit.yaml.
#     run(command="bash bench/session_prefill_exp_gpu.sh", timeout_s=400)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
timeout 240 python3 bench/prefill_headdim.py --out "$OUT" > "$OUT/prefill_headdim.log" 2>&1
echo "prefill_headdim exit $? at ${SECONDS} s" | tee -a "$LOG"
tail -2 "$OUT/prefill_headdim.log" | tee -a "$LOG"
timeout 120 python3 bench/fit_expected.py --sdpa "$OUT/prefill_headdim.json" reports/h200/calibrate-merged.json \
  reports/h200/h200.yaml reports/h200/validate-expected.json --write "$OUT/h200-sdpa-refit.yaml" \
  > "$OUT/refit.txt" 2>&1
echo "refit exit $? at ${SECONDS} s" | tee -a "$LOG"
grep -E "^sdpa|exponentials at|gives no boost clock" "$OUT/refit.txt" | tee -a "$LOG"
echo "total ${SECONDS} s"
