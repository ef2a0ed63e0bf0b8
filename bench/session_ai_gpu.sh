#!/usr/bin/env bash
# The fifteenth session's third call: the Triton MLA kernel's 16-row tiles at DeepSeek's dims (bench/ab_mla_tiles16.py)
# under Triton 3.9 (carried, bench/slim_triton.sh), then under the machine's 3.6: which tile each Triton wants, after
# the default ran 1.07-1.21x slower on contiguous caches under 3.9 (session_ag, session_ah).
# Files under $OUT: run.log, ab_tiles16_t39.json, ab_tiles16_t36.json.
#     run(command="bash bench/session_ai_gpu.sh", carry=[".t39"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
use_triton_slim || exit 1
timeout 200 python3 bench/ab_mla_tiles16.py --out "$OUT/ab_tiles16_t39.json" >> "$LOG" 2>&1
echo "ab (3.9) exit $? at ${SECONDS} s" | tee -a "$LOG"
use_machine_triton
timeout $(( 420 - SECONDS )) python3 bench/ab_mla_tiles16.py --out "$OUT/ab_tiles16_t36.json" >> "$LOG" 2>&1
echo "ab (3.6) exit $? at ${SECONDS} s" | tee -a "$LOG"
echo "total ${SECONDS} s"
