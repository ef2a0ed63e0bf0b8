#!/usr/bin/env bash
# Issue 14, one device call (<= 9.5 minutes):
# 1. (AB=1 only) while FlashMLA builds: the seesaw kernel with the next pair's block-table rows loaded at the top of a pair (the
#    copy issue no longer waits on a table load) against the committed kernel (bash bench/make_ab_base.sh first:
#    kernels/_ab_base_seesaw.py), checked against the float64 reference, graph-timed; then the Gluon GPU tests;
# 2. the expected time of the Triton sparse kernel: the DSA profiler GPU tests, `mlacalc calibrate --kernels` (now with
#    DSA points at 4 heads a GPU, which auto runs on the Triton sparse kernel: they fit `triton_gather_tile_us`) and
#    `mlacalc validate --suite expected` against it (held-out Triton sparse points: auto at 2-4 heads, and the kernel
#    forced at 16-128 heads).
# Files under $OUT: run.log, ab_paged_rows.json, pytest.txt, h200.yaml, calibrate.json, validate-expected.json and .md.
#     run(command="AB=1 bash bench/session_o_gpu.sh", carry=[".peers"], timeout_s=600)   # 1 and 2 (the first run:
#     its calibrate stopped at a bug fixed since, device_arch)
#     run(command="bash bench/session_o_gpu.sh", carry=[".peers"], timeout_s=600)        # 2 only
set -u
. bench/device_lib.sh
begin_run || exit 1
if [ -n "${AB:-}" ]; then
  timeout 150 python3 bench/ab_seesaw.py --old kernels/_ab_base_seesaw.py --seesaw-only --out "$OUT/ab_paged_rows.json" \
    2>&1 | tail -4 | tee -a "$LOG"
  echo "ab exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
  timeout 100 python3 -m pytest -q -m gpu -p no:cacheprovider -k "gluon" tests/test_kernels_gpu.py > "$OUT/pytest.txt" 2>&1
  echo "pytest (gluon) exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
fi
dsa_tests_calibrate_validate 250 570
echo "total ${SECONDS} s"
