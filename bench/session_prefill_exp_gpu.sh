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
prefill_headdim_refit 240 120
echo "total ${SECONDS} s"
