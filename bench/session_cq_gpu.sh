#!/usr/bin/env bash
# The thirty-fourth session's CUDA fp8 kernel (kernels/cuda/mla_fp8_decode.cu, impl "cuda"; any Hopper, about 450 s):
# the extension built (its log kept), its GPU tests (tests/test_kernels_gpu.py -k cuda_fp8), then the A/B against
# impl "auto" at the fp8 points at 16 heads (bench/ab_fp8_cuda.py), the ratios printed.
# Files under $OUT: run.log, build.log, pytest_cuda_fp8.txt, ab_fp8_cuda.json. As run (reports/h100/tuning/
# ab_fp8_cuda_session_cq.json) it timed three variants of the kernel at commit de1d853: "cuda" (the early refill, since
# removed), "cuda_late" (the kernel as it is now, named "cuda" since) and "cuda3".
#     run(command="bash bench/session_cq_gpu.sh", timeout_s=560)
set -u
END=${END:-530}
. bench/device_lib.sh
begin_run_without_peers || exit 1
build_cuda_fp8 "$OUT/build.log"
timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py -k cuda_fp8 \
  > "$OUT/pytest_cuda_fp8.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s" | tee -a "$LOG"
grep -E "passed|failed|Error" "$OUT/pytest_cuda_fp8.txt" | tail -8 | tee -a "$LOG"
left=$(( END - SECONDS - 10 ))
if [ "$left" -gt 60 ]; then
  timeout "$left" python3 bench/ab_fp8_cuda.py --out "$OUT/ab_fp8_cuda.json" --heads 16 >> "$LOG" 2>&1
  echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
  python3 bench/ab_summary.py "$OUT/ab_fp8_cuda.json" cuda/auto,cuda3/auto 2>&1 | tee -a "$LOG"
  grep "'kind': 'check'" "$LOG" | cut -c1-200 | tee -a "$LOG" > /dev/null
fi
echo "total ${SECONDS} s"
