#!/usr/bin/env bash
# Issue 14, one device call (<= 9.5 minutes) to A/B a change to the seesaw compute groups against the committed kernel
# (run 1: P0 handed over unscaled before WG1's softmax, which then rescaled its accumulator by a1 itself: 1.07-1.13x
# slower, reverted; run 2: each group's first P @ V left running while it waits for the other group, WG1's two
# P @ V queued back to back on its accumulator):
# 1. the fp8 and sparse Gluon kernels against the float64 reference (a hang shows here, cut short);
# 2. a same-run A/B of the dense kernel against the committed one (copies by `bash bench/make_ab_base.sh`), with
#    FlashMLA beside them (bench/ab_seesaw.py --seesaw-only: 32- and 64-key tiles of the new kernel);
# 3. the MLA, Gluon and sparse GPU tests over the new kernel;
# 4. the same A/B for the fp8 cache and the sparse kernel, then the new kernel against a variant that issues
#    P0 V0_L before storing P0 (kernels/_ab_v2_seesaw.py, untracked) if time is left.
# Files under $OUT: run.log, ab_dense.json, pytest.txt, ab_fp8.json, ab_sparse.json, ab_v2.json.
#     run(command="bash bench/session_v_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
check_fp8_gluon
check_sparse_gluon
[ "$checked" = 0 ] || { echo "sparse check failed: nothing timed"; exit 1; }
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
timeout 150 python3 bench/ab_seesaw.py --old kernels/_ab_base_seesaw.py --seesaw-only --out "$OUT/ab_dense.json" \
  2>&1 | tail -4 | tee -a "$LOG"
echo "ab dense exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
python3 - "$OUT/ab_dense.json" > "$W/gain.txt" <<'PY'
import json, math, sys
rows = [r for r in json.load(open(sys.argv[1]))["rows"] if r["kind"] == "seesaw"]
t = {(r["B"], r["ctx"], r["heads"], r["layout"], r["variant"]): r["graph_ms"] for r in rows}
ratios = [t[k[:4] + ("new32",)] / v for k, v in t.items() if k[4] == "old32" and k[:4] + ("new32",) in t]
g = math.exp(sum(map(math.log, ratios)) / max(len(ratios), 1))
print(f"dense new32 / old32: geomean {g:.3f}, range {min(ratios):.3f}-{max(ratios):.3f}")
sys.exit(0 if g < 0.995 else 1)
PY
gain=$?
tee -a "$LOG" < "$W/gain.txt"
[ "$gain" = 0 ] || { echo "no gain: tests and further A/Bs skipped" | tee -a "$LOG"; exit 0; }
kernel_gpu_tests 200
timeout 60 python3 bench/ab_seesaw.py --old kernels/_ab_base_seesaw.py --fp8 --out "$OUT/ab_fp8.json" 2>&1 \
  | tail -3 | tee -a "$LOG"
echo "ab fp8 exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
timeout 80 python3 bench/ab_sparse_gluon.py --out "$OUT/ab_sparse.json" --base _ab_base_sparse --no-triton 2>&1 \
  | tail -4 | tee -a "$LOG"
echo "ab sparse exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG"
[ -f kernels/_ab_v2_seesaw.py ] && timeout $(( 570 - SECONDS )) python3 bench/ab_seesaw.py \
  --old kernels/_ab_v2_seesaw.py --seesaw-only --out "$OUT/ab_v2.json" 2>&1 | tail -3 | tee -a "$LOG"
echo "total ${SECONDS} s"
