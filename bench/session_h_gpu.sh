#!/usr/bin/env bash
# Issue 14, one device call (<= 9.5 minutes): the Gluon sparse (top-k) kernel. Its check against the float64
# reference first (a hang, a barrier never signalled, shows there, cut at 120 s), then the Gluon and sparse GPU tests
# (the dense Gluon kernels' too: their compute groups gained the sparse switches), then bench/ab_sparse_gluon.py
# (Gluon against the Triton sparse kernel, bf16 and fp8-ds rows). Files under $OUT: run.log,
# pytest.txt, ab_sparse.json. With AB_BASE=MODULE (copies made by bench/make_ab_base.sh) the A/B also times that
# earlier kernel (kind=base) in the same run.
#     run(command="bash bench/session_h_gpu.sh", timeout_s=600)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
check_sparse_gluon
if [ "$checked" -eq 0 ]; then tests="gluon or sparse"; else tests="gluon and not sparse"; fi
timeout 240 python3 -m pytest -q -m gpu -p no:cacheprovider -k "$tests" tests/test_kernels_gpu.py \
  > "$OUT/pytest.txt" 2>&1
echo "pytest ($tests) exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
if [ "$checked" -eq 0 ]; then
  timeout $(( 560 - SECONDS )) python3 bench/ab_sparse_gluon.py --out "$OUT/ab_sparse.json" \
    ${AB_BASE:+--base "$AB_BASE"} >> "$LOG" 2>&1
  echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
fi
tail -3 "$LOG"; echo "total ${SECONDS} s"
