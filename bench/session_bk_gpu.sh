#!/usr/bin/env bash
# History: runs only at commit 60a4490 (fp8_direct was removed after this measurement). Run in the twenty-sixth
# session on an H100 with QUICK=1 POINTS=2 END=110: fp8_direct correct but 1.26-1.34x slower
# (reports/h100/tuning/session_bk_ab_fp8_direct.json). What it tested: GluonMLAConfig.fp8_direct, the fp8
# kernel's widening group loading tiles from global memory into registers instead of TMA copies widened in place
# (37 KB less shared-memory traffic a 32-key tile of 221: docs/kernels-notes.md, "Why the fp8 target is out of this
# tile's reach"). Compiled on the CPU only (Triton 3.6: the fill loop 666 SASS instructions, 25 spill instructions
# at the group's 56 registers; the TMA group's loop 538 and 4).
# 1. a hang probe: the float64 checks of direct1 alone, cut at 90 s (a barrier never signalled shows here);
# 2. the GPU tests that run it (prefetch distances 0-4 x direct, 16/128 heads, paged/contiguous, 7 splits; the
#    out-of-range values);
# 3. A/B, graph-timed, L2 flushed, two rounds alternating: pf1 (the default) against direct1 and direct2 at the
#    fp8 grid (bench/ab_prefetch.py), then `python3 bench/ab_summary.py ab.json direct1/pf1,direct2/pf1`.
# Files under $OUT: run.log, probe.json, pytest_direct.txt, ab.json.
#     run(command="bash bench/session_bk_gpu.sh", kind="nvidia-h200", timeout_s=420)
# Short of device time: `QUICK=1 POINTS=4 END=170 bash bench/session_bk_gpu.sh` (the probe and 4 points, no tests).
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
timeout 90 python3 bench/ab_prefetch.py --variants direct1 --points 0 --out "$OUT/probe.json" > "$OUT/probe.log" 2>&1
echo "probe exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 -c "import json,sys; [print(r) for r in json.load(open(sys.argv[1]))['rows'] if r.get('kind') == 'check']" \
  "$OUT/probe.json" 2>&1 | tee -a "$LOG"
if [ -z "${QUICK:-}" ]; then
  timeout 120 python3 -m pytest -q -m gpu -p no:cacheprovider -k "fp8_l2_prefetch or fp8_direct" \
    tests/test_kernels_gpu.py > "$OUT/pytest_direct.txt" 2>&1
  echo "pytest (fp8_direct) exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest_direct.txt")" | tee -a "$LOG"
  grep -E "^(FAILED|ERROR)" "$OUT/pytest_direct.txt" | head -20 | tee -a "$LOG"
fi
timeout $(( ${END:-400} - SECONDS )) python3 bench/ab_prefetch.py --variants pf1,direct1,direct2 --points "${POINTS:-20}" \
  --out "$OUT/ab.json" > "$OUT/ab.log" 2>&1
echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab.json" direct1/pf1,direct2/pf1 2>&1 | tee -a "$LOG"
echo "total ${SECONDS} s"
