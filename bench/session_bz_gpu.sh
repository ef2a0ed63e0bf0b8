#!/usr/bin/env bash
# The thirty-first session's second call, any Hopper (about 560 s): auto's own schedule made in the kernel, with its
# measured cost in the rule (gluon_mla_decode.OWN_RECORD_US = 6 us, from bench/session_by_gpu.sh). First the GPU
# tests of the scheduled mode (the own schedule in the kernel and by the fill against the float64 reference and
# plan_schedule's slot records, the auto and smoke tests) while FlashMLA builds; then on an H200 the issue's benchmark
# (`mlacalc bench kernels --peers`: the report's refresh) and on any other card 40 uniform points off the grid beside
# FlashMLA at seeds 5 (session_bv and session_by measured it before) and 6 (fresh).
# Files under $OUT: run.log, pytest.txt, then kernels.json (H200) or uniform_seed{5,6}.json.
#     run(command="bash bench/session_bz_gpu.sh", carry=[".peers"], timeout_s=590)
set -u
END=${END:-570}
. bench/device_lib.sh
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
begin_run || exit 1
timeout 200 python3 -m pytest -q -m gpu -p no:cacheprovider -x tests/test_kernels_gpu.py \
  -k "own_schedule or auto_schedule or gluon_sched" > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
grep -E "^(FAILED|ERROR|E )" "$OUT/pytest.txt" | head -20 | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
if echo "$GPU" | grep -q H200; then
  bench_peers $(( END - SECONDS - 10 ))
  print_bench_summary "$OUT/kernels.json"
else
  uniform_seeds "$END" 5 6
fi
echo "total ${SECONDS} s"
