#!/usr/bin/env bash
# Device check of the sliding-window "one truth" (issue 13 item 3): the profiler GPU tests, then Mistral-7B
# (4,096-token window) decode and prefill and Gemma-3 (5 local : 1 global) decode, predicted beside measured.
#     run(command="bash bench/windows_gpu_check.sh")
set -u
. bench/device_lib.sh
export PYTHONUNBUFFERED=1
install_project /tmp/install.log || exit 1
timeout 200 python3 -m pytest -q -m gpu tests/test_profiler_gpu.py -p no:cacheprovider -rf 2>&1 | tail -8 | tee "$OUT/profiler_gpu_tests.txt"
for ph in decode prefill; do
  timeout 60 mlacalc profile mistral-7b --phase $ph --batch 2 --context 8k --layers 4 --gpu h200 --json > "$OUT/mistral_$ph.json" 2> "$OUT/mistral_$ph.err"
  python3 -c "
import json,sys; d=json.load(open('$OUT/mistral_$ph.json'))
p=d.get('points',[d])[0] if 'points' in d else d
print('$ph', [(c['name'], round(c['predicted']), round(c['measured']), c['error_pct']) for c in p.get('comparisons',[])], p.get('window_note',''))
" 2>&1 | tail -2
done
timeout 60 mlacalc profile gemma-3-27b --phase decode --batch 4 --context 16k --layers 6 --gpu h200 --json > "$OUT/gemma_decode.json" 2> "$OUT/gemma_decode.err"
python3 -c "
import json; d=json.load(open('$OUT/gemma_decode.json')); p=d['points'][0] if 'points' in d else d
print('gemma', [(c['name'], round(c['predicted']), round(c['measured']), c['error_pct']) for c in p.get('comparisons',[])])" 2>&1 | tail -2
