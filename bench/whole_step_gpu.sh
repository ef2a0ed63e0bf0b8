#!/usr/bin/env bash
# Issue 13, item 2 in ONE device call (about 2-3 minutes on an H200): whole decode and prefill steps of a few real
# layers under torch.profiler, each op's kernel time beside the calculator's floor and expected time
# (mlacalc profile MODEL --whole-step; profiler/whole_step.py). Files under $OUT (7; the device tool returns 8):
#   run.log                      install, each command's stderr, the summary table
#   ws-<point>.json (6 points)   one `mlacalc profile ... --whole-step --json` result each
# Device call (repo root):
#     run(command="bash bench/whole_step_gpu.sh", timeout_s=300)
# Priced with the committed H200 calibration (reports/h200/h200.yaml). Each point has 60 s; points left when the
# budget (170 s) runs out are skipped and say so.
set -u
. bench/device_lib.sh
export PYTHONUNBUFFERED=1
LOG="$OUT/run.log"; W=/tmp/mlacalc-ws; mkdir -p "$W"
install_project "$W/install.log" "$LOG" || exit 1
python3 -c "import triton, torch; print('triton', triton.__version__, 'torch', torch.__version__, \
torch.cuda.get_device_name(0))" | tee -a "$LOG"
GPU=${GPU:-reports/h200/h200.yaml}   # GPU=FILE: price with another calibration

point() {   # name, then the profile arguments
  local name=$1; shift
  if [ "$SECONDS" -gt "${WS_BUDGET:-170}" ]; then echo "$name: skipped (budget spent at ${SECONDS} s)" | tee -a "$LOG"; return; fi
  echo "== mlacalc profile $* --whole-step --json" >> "$LOG"
  local t0=$SECONDS
  timeout 60 mlacalc profile "$@" --whole-step --gpu "$GPU" --json > "$OUT/ws-$name.json" 2>> "$LOG"
  echo "$name: exit $? in $(( SECONDS - t0 )) s" | tee -a "$LOG"
}

point dsv3-tp8-decode   deepseek-v3 --tp 8 --phase decode --batch 32 --context 4k --layers 2
point dsv2lite-decode   deepseek-v2-lite --phase decode --batch 16 --context 8k --layers 2
point llama8b-decode    llama-3.1-8b --phase decode --batch 8 --context 4k --layers 4
point llama8b-prefill   llama-3.1-8b --phase prefill --batch 1 --context 4k --layers 2
point qwen3moe-tp4-decode qwen3-235b-a22b --tp 4 --phase decode --batch 32 --context 4k --layers 2
point dsv2lite-prefill  deepseek-v2-lite --phase prefill --batch 2 --context 2k --layers 2

python3 - "$OUT" <<'EOF' 2>&1 | tee -a "$LOG"
import glob, json, sys

def us(x):
    return "" if x is None else f"{x * 1e6:9.1f}"

def pct(x):
    return "" if x is None else f"{x:+6.0f}%"

for path in sorted(glob.glob(f"{sys.argv[1]}/ws-*.json")):
    try:
        p = json.load(open(path))
    except Exception as e:
        print(f"\n{path}: no result ({e})")
        continue
    print(f"\n{p['key']}  status {p['status']}  attention {p.get('attention_impl')}  moe {p.get('moe_impl')}"
          f"  eager step {us(p.get('step_eager_s'))} us  unlinked {us(p.get('unlinked_s'))} us")
    print(f"{'op':<16}{'floor us':>10}{'expect us':>10}{'meas us':>10}{'vs floor':>9}{'vs exp':>8}  kernels/launches")
    for r in p.get("ops", []):
        kl = f"{'' if r['kernels'] is None else r['kernels']}/{'' if r['launches'] is None else round(r['launches'])}"
        print(f"{r['name']:<16}{us(r['floor_s']):>10}{us(r['expected_s']):>10}{us(r['measured_s']):>10}"
              f"{pct(r['error_floor_pct']):>9}{pct(r['error_expected_pct']):>8}  {kl}")
    c = {x["name"]: x for x in p.get("comparisons", [])}
    if "step_s" in c:
        f, e = c["step_s"], c["step_expected_s"]
        print(f"{'step (kernels)':<16}{us(f['predicted']):>10}{us(e['predicted']):>10}{us(f['measured']):>10}"
              f"{pct(f['error_pct']):>9}{pct(e['error_pct']):>8}")
EOF
echo "total ${SECONDS} s" | tee -a "$LOG"
