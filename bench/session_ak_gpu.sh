#!/usr/bin/env bash
# The fifteenth session's last call: under Triton 3.9 (carried, bench/slim_triton.sh) the MLA/Gluon/sparse GPU tests
# that session_ag's 150 s cut left unrun (its first 57 of the 82 "mla or sparse or gluon" tests passed; these are
# the 58th on, in pytest's collection order).
# Files under $OUT: run.log, pytest_rest_t39.txt.
#     run(command="bash bench/session_ak_gpu.sh", carry=[".t39"], timeout_s=300)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
use_triton_slim || exit 1
python3 -m pytest -q -m gpu -p no:cacheprovider -k "mla or sparse or gluon" tests/test_kernels_gpu.py --collect-only \
  2>/dev/null | grep "::" | tail -n +58 > /tmp/rest_ids.txt
echo "$(wc -l < /tmp/rest_ids.txt) tests left" | tee -a "$LOG"
timeout 200 python3 -m pytest -q -p no:cacheprovider $(cat /tmp/rest_ids.txt) > "$OUT/pytest_rest_t39.txt" 2>&1
echo "pytest (3.9) exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest_rest_t39.txt")" | tee -a "$LOG"
