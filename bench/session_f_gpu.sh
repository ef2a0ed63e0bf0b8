#!/usr/bin/env bash
# Issue 14, one device call (<= 9.5 minutes): the Gluon kernel's GPU tests (bf16 and the fp8 widening kernel) and
# bench/ab_fp8_gluon.py (fp8 through Gluon against the Triton fp8 kernel and the bf16 Gluon kernel; as run this
# session, with the fp8 designs since removed: as of commit b9520cb). Files under $OUT: run.log, pytest.txt,
# ab_fp8.json.
#     run(command="bash bench/session_f_gpu.sh", timeout_s=600)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
check_fp8_gluon
timeout 240 python3 -m pytest -q -m gpu -p no:cacheprovider -k "gluon" tests/test_kernels_gpu.py \
  > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
timeout $(( 560 - SECONDS )) python3 bench/ab_fp8_gluon.py --out "$OUT/ab_fp8.json" >> "$LOG" 2>&1
echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
tail -3 "$LOG"; echo "total ${SECONDS} s"
