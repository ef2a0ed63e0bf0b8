#!/usr/bin/env bash
# The twenty-fourth session's call, under the GPU machine's Triton: the fp8 widening group's L2 prefetch
# (kernels/gluon_mla_seesaw._prefetch_tile; GluonMLAConfig.l2_prefetch_pairs, fp8's default 1 when this was written),
# then issue 14's benchmark with it.
# 1. the fp8 Gluon hang check (the default config: prefetch on), while FlashMLA builds;
# 2. bench/ab_prefetch.py: 0 / 1 / 2 pairs ahead at the bench's 18 fp8 points and two contiguous ones (16 heads: the
#    padded Gluon tile, auto's Triton tile beside), after a float64 check of each variant;
# 3. `mlacalc bench kernels --peers --json` (FlashMLA beside; the fp8 rows with the default);
# 4. the prefetch's GPU test (0-4 pairs, 16 and 128 heads, a sequence ending at the allocation's end), last.
# Files under $OUT: run.log, ab_prefetch.json (its row log ab.log), kernels.json, pytest.txt.
#     run(command="bash bench/session_bf_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
check_fp8_gluon
timeout 230 python3 bench/ab_prefetch.py --out "$OUT/ab_prefetch.json" > "$OUT/ab.log" 2>&1
echo "ab prefetch exit $? at ${SECONDS} s" | tee -a "$LOG"
grep "kind': 'check" "$OUT/ab.log" | tee -a "$LOG"
python3 bench/ab_summary.py "$OUT/ab_prefetch.json" pf1/pf0,pf2/pf0,pf2/pf1,auto/pf1 | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
bench_peers $(( 555 - SECONDS ))
python3 - "$OUT/kernels.json" <<'PY' | tee -a "$LOG"
import json, sys
try:
    print(json.dumps(json.load(open(sys.argv[1])).get("summary"), indent=1))
except Exception as e:  # noqa: BLE001 - the log says what is missing
    print("no summary:", e)
PY
timeout $(( 590 - SECONDS )) python3 -m pytest -q -m gpu -p no:cacheprovider -k "l2_prefetch" \
  tests/test_kernels_gpu.py > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
echo "total ${SECONDS} s"
