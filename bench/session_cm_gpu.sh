#!/usr/bin/env bash
# The thirty-third session's call (any Hopper, about 480 s): the profiler now checks the output of what it times
# (profiler/output_check.py: each decode point's last sequence against its float32 reference). First its GPU tests
# (tests/test_profiler_gpu.py -k output: DSA contiguous and fp8-ds paged, 128 heads on the Gluon kernel, fp8, two
# query tokens, GQA paged, a sliding window), then two fresh random seeds of 60 points (18, 19; built-in h100-sxm,
# the card these runs have had) whose every decode point carries its check: held-out evidence for the expected-time
# model and a sweep of the check over the model zoo's shapes. Files under $OUT: run.log, pytest_output.txt,
# random1{8,9}/validate.{json,md}.
#     run(command="bash bench/session_cm_gpu.sh", timeout_s=560)
set -u
END=${END:-530}
. bench/device_lib.sh
begin_run_without_peers || exit 1
echo "== pytest -m gpu tests/test_profiler_gpu.py -k output" | tee -a "$LOG"
timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_profiler_gpu.py -k output \
  > "$OUT/pytest_output.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s" | tee -a "$LOG"
tail -3 "$OUT/pytest_output.txt" | tee -a "$LOG"
for seed in 18 19; do
  if [ $(( END - SECONDS )) -lt 90 ]; then echo "no time left for seed $seed (at ${SECONDS} s)" | tee -a "$LOG"; break; fi
  timeout $(( END - SECONDS )) python3 bench/random_points.py --seed "$seed" --n 60 --out "$OUT/random$seed" \
    --gpu h100-sxm >> "$LOG" 2>&1
  echo "random points seed $seed exit $? at ${SECONDS} s" | tee -a "$LOG"
  grep -A8 "^## Accuracy" "$OUT/random$seed/validate.md" | tail -2 | tee -a "$LOG"
  grep -c "output ok" "$LOG" | sed 's/^/lines with output ok so far: /' | tee -a "$LOG"
  grep "output WRONG\|output not checked" "$LOG" | tee -a "$OUT/wrong.txt"
done
echo "total ${SECONDS} s"
