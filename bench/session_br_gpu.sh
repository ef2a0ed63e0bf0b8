#!/usr/bin/env bash
# The twenty-ninth session's last call (about 300 s of device time left): the GPU tests of impl auto's own balanced
# schedule (test_gluon_auto_schedule_off_the_grid, contiguous and paged: float64 reference, the fixed grid, a graph
# replay after the lengths shrink) and of a captured explicit schedule, which session_bq's run did not reach before
# its cut. Files under $OUT: run.log, pytest.txt.
#     run(command="bash bench/session_br_gpu.sh", timeout_s=240)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
timeout 200 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_kernels_gpu.py \
  -k "auto_schedule_off_the_grid or scheduled_decode_in_a_cuda_graph" > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
grep -E "^(FAILED|ERROR|E )" "$OUT/pytest.txt" | head -30 | tee -a "$LOG"
