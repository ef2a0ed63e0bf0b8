#!/usr/bin/env bash
# The fourteenth session's second kernel call: the Triton MLA kernel's planner counting the programs an SM holds once
# a plan outgrows the SMs (kernels/triton_mla_decode._plan), one call:
# 1. the Triton MLA GPU tests (incl. MiniCPM3's dims replanned, contiguous and paged) into $OUT/pytest_mla.txt;
# 2. bench/ab_mla_resident.py: one program an SM (the old default), two, and the new default, same inputs.
# Files under $OUT: run.log, pytest_mla.txt, ab_mla_resident.json.
#     run(command="bash bench/session_ae_gpu.sh", timeout_s=600)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
mla_triton_gpu_tests 200 "$OUT/pytest_mla.txt"
timeout 150 python3 bench/ab_mla_resident.py --out "$OUT/ab_mla_resident.json" >> "$LOG" 2>&1
echo "ab_mla_resident exit $? at ${SECONDS} s" | tee -a "$LOG"
echo "total ${SECONDS} s"
