#!/usr/bin/env bash
# Issue 14, one device call (<= 9.5 minutes): the kernel GPU tests, the seesaw A/B (bench/ab_seesaw.py: this tree's
# kernel against OLD_SEESAW, an earlier kernels/gluon_mla_seesaw.py carried in .peers/, and FlashMLA) and
# `mlacalc bench kernels --peers`. Files under $OUT: run.log, pytest.txt, ab.json, kernels.json.
#     git show REV:kernels/gluon_mla_seesaw.py > .peers/old_seesaw.py
#     run(command="bash bench/session_d_gpu.sh", carry=[".peers"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider -k "mla" tests/test_kernels_gpu.py > "$OUT/pytest.txt" 2>&1
echo "pytest exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
timeout 200 python3 bench/ab_seesaw.py --old "${OLD_SEESAW:-.peers/old_seesaw.py}" --out "$OUT/ab.json" >> "$LOG" 2>&1
echo "ab exit $? at ${SECONDS} s" | tee -a "$LOG"
left=$(( 570 - SECONDS ))
echo "== bench kernels --peers (budget ${left} s)" | tee -a "$LOG"
timeout "$left" mlacalc bench kernels --peers --json --out "$OUT/kernels.json" >> "$LOG" 2>&1
echo "bench exit $? at ${SECONDS} s" | tee -a "$LOG"
python3 -c "import json; print(json.dumps(json.load(open('$OUT/kernels.json'))['summary']))" | tee -a "$LOG"
tail -3 "$LOG"; echo "total ${SECONDS} s"
