#!/usr/bin/env bash
# Issue 14, one device call (<= 8 minutes): the chunked Gluon kernel (64-key tiles, a barrier a 64-column chunk:
# kernels/gluon_mla_chunked.py). The float64 check first (a hang shows there, cut at 150 s); on success the Gluon
# dense GPU tests (both kernels), then the A/B against the default seesaw kernel and FlashMLA over issue 14's grid at
# 64 and 128 heads. Files under $OUT: run.log, pytest.txt, ab_chunked.json.
#     run(command="bash bench/session_n_gpu.sh", carry=[".peers"], timeout_s=540)
set -u
. bench/device_lib.sh
begin_run || exit 1
timeout 150 python3 bench/ab_chunked.py --check 2>&1 | tail -4 | tee -a "$LOG"
checked=${PIPESTATUS[0]}
echo "check exit $checked at ${SECONDS} s" | tee -a "$LOG"
if [ "$checked" -eq 0 ]; then
  timeout 180 python3 -m pytest -q -m gpu -p no:cacheprovider -k "gluon_mla" tests/test_kernels_gpu.py \
    > "$OUT/pytest.txt" 2>&1
  echo "pytest (gluon_mla) exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
fi
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
timeout $(( 500 - SECONDS )) python3 bench/ab_chunked.py --out "$OUT/ab_chunked.json" >> "$LOG" 2>&1
echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
echo "total ${SECONDS} s"
