#!/usr/bin/env bash
# The thirty-second session's fourth call (any Hopper, about 200 s): the H100 random point that read DSA's selected
# rows at 3.55 TB/s (glm-5 b247 x 20,561 tp4, above the HBM's 3.35) measured again: `mlacalc profile` of that point
# (4 layers, as random_points ran it), then bench/dsa_bandwidth_check.py (one layer's call at batch 64, 132, 247,
# random and sorted indices, a read-only stream of as many bytes, three sequences checked against float64).
# Files under $OUT: run.log, profile.json, dsa_bw.json.
#     run(command="bash bench/session_cj_gpu.sh", timeout_s=400)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
timeout 120 mlacalc profile glm-5 --batch 247 --context 20561 --tp 4 --layers 4 --kernel auto --json \
  > "$OUT/profile.json" 2>> "$LOG"
echo "profile exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 - "$OUT/profile.json" <<'PY' | tee -a "$LOG"
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    print("latency", d.get("latency", {}).get("median"), "expected", d.get("predicted", {}).get("attn_core", {}).get("expected_s"))
except Exception as e:  # noqa: BLE001 - the log says what is missing
    print("no profile:", e)
PY
cd bench && timeout $(( 330 - SECONDS )) python3 dsa_bandwidth_check.py --out "$OUT/dsa_bw.json" 2>&1 | tail -12 \
  | tee -a "$LOG"
echo "total ${SECONDS} s"
