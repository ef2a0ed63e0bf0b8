# Steps every device script shares; sourced from the repo root: `. bench/device_lib.sh`.
# On the GPU machine python3 has torch, triton, nvidia-ml-py, typer, rich and pyyaml, and no internet
# (../shared/device/README.md), so the project installs without its dependencies.

begin_run() {          # the opening of every device script: begin_run_without_peers, then FlashMLA building in
  # the background; status 1 when the install failed
  begin_run_without_peers || return 1
  start_flashmla_build "$W/flashmla_build.log"
}

begin_run_without_peers() {  # LOG=$OUT/run.log, work folder W, the project installed, the GPU's facts logged;
  # status 1 when the install failed (for scripts that do not time FlashMLA)
  export PYTHONUNBUFFERED=1
  LOG="$OUT/run.log"; W=/tmp/mlacalc-run; mkdir -p "$W"
  install_project "$W/install.log" "$LOG" || return 1
  gpu_facts "$LOG" "$LOG"
}

check_fp8_gluon() {    # the fp8 Gluon kernel against the float64 reference on a small case, first in a run: a hang
  # (a barrier never signalled) shows here, cut at 90 s, not inside the tests or the timings
  timeout 90 python3 bench/ab_fp8_gluon.py --check 2>&1 | tail -3 | tee -a "$LOG"
}

check_sparse_gluon() {  # the Gluon sparse kernel against the float64 reference, first in a run: a hang shows here,
  # cut at 120 s; sets $checked to its exit status
  timeout 120 python3 bench/ab_sparse_gluon.py --check 2>&1 | tail -3 | tee -a "$LOG"
  checked=${PIPESTATUS[0]}
  echo "check exit $checked at ${SECONDS} s" | tee -a "$LOG"
}

dsa_tests_calibrate_validate() {  # $1: calibrate seconds; $2: the run's second by which validate must end. The DSA
  # profiler GPU tests while FlashMLA builds, then calibrate_kernels and validate_suite expected against it, and the
  # accuracy table on the log
  echo "== pytest -m gpu tests/test_profiler_gpu.py -k dsa" | tee -a "$LOG"
  timeout 120 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_profiler_gpu.py -k dsa 2>&1 | tail -3 \
    | tee -a "$LOG"
  finish_flashmla_build "$W/flashmla_build.log" "$LOG"
  calibrate_kernels "$1" "$LOG"
  validate_suite expected "$OUT/h200.yaml" $(( $2 - SECONDS )) "$W" "$LOG"
  grep -A14 "^## Accuracy" "$OUT/validate-expected.md" | tee -a "$LOG"
}

calibrate_validate_bench() {  # $1: calibrate seconds; $2, $3: the run's second by which validate, then the bench,
  # must end. The closing steps: calibrate_kernels, validate_suite expected against that calibration,
  # `mlacalc bench kernels --peers` into $OUT/kernels.json, and the accuracy table on the log (FlashMLA built first)
  finish_flashmla_build "$W/flashmla_build.log" "$LOG"
  calibrate_kernels "$1" "$LOG"
  validate_suite expected "$OUT/h200.yaml" $(( $2 - SECONDS )) "$W" "$LOG"
  bench_peers $(( $3 - SECONDS ))
  grep -A12 "^## Accuracy" "$OUT/validate-expected.md" | tee -a "$LOG"
}

h200_report_refresh() {  # the H200 report's refresh, opening a run: begin_run, FlashMLA built, `mlacalc bench
  # kernels --peers` into $OUT/kernels.json (300 s) and its summary on the log; status 1 when the install failed
  begin_run || return 1
  finish_flashmla_build "$W/flashmla_build.log" "$LOG"
  bench_peers 300
  print_bench_summary "$OUT/kernels.json"
}

bench_peers() {        # $1: seconds. `mlacalc bench kernels --peers` into $OUT/kernels.json (FlashMLA on the path)
  echo "== bench kernels --peers (budget $1 s)" | tee -a "$LOG"
  timeout "$1" mlacalc bench kernels --peers --json --out "$OUT/kernels.json" >> "$LOG" 2>&1
  echo "bench exit $? at ${SECONDS} s" | tee -a "$LOG"
}

uniform_seeds() {      # $1: the run's second by which the last must end; then seeds. bench/random_vs_flashmla.py
  # --uniform (40 points off the issue's grid beside FlashMLA) into $OUT/uniform_seed<seed>.json, seed after seed while
  # a minute is left
  local end=$1 seed; shift
  for seed in "$@"; do
    if [ $(( end - SECONDS )) -lt 60 ]; then echo "no time left for seed $seed (at ${SECONDS} s)" | tee -a "$LOG"; break; fi
    timeout $(( end - SECONDS )) python3 bench/random_vs_flashmla.py --uniform --seed "$seed" --n 40 \
      --out "$OUT/uniform_seed$seed.json" >> "$LOG" 2>&1
    echo "uniform seed $seed exit $? at ${SECONDS} s" | tee -a "$LOG"
  done
}

print_bench_summary() {  # $1: a kernels.json. Its summary onto the log, or why there is none
  python3 - "$1" <<'PY' | tee -a "$LOG"
import json, sys
try:
    print(json.dumps(json.load(open(sys.argv[1])).get("summary"), indent=1))
except Exception as e:  # noqa: BLE001 - the log says what is missing
    print("no summary:", e)
PY
}

validate_dsa_fp8() {   # $1: seconds. The expected suite's DSA fp8-ds points measured again against h200.yaml:
  # `mlacalc validate --resume` over a copy of reports/h200/validate-expected.json without them (only they run), into
  # $OUT/validate-dsa-fp8.json / .md
  local V="$W/validate-dsa"; mkdir -p "$V"
  python3 - "$V/validate.json" <<'PY'
import json, sys
d = json.load(open("reports/h200/validate-expected.json"))
d["points"] = [p for p in d["points"] if not (p.get("attention") == "dsa" and p["key"].endswith("/fp8-ds"))]
json.dump(d, open(sys.argv[1], "w"))
PY
  echo "== validate --resume: the DSA fp8-ds points" | tee -a "$LOG"
  timeout "$1" mlacalc validate --out "$V" --gpu reports/h200/h200.yaml --suite expected --resume >> "$LOG" 2>&1
  echo "validate exit $? at ${SECONDS} s" | tee -a "$LOG"
  cp "$V/validate.json" "$OUT/validate-dsa-fp8.json"; cp "$V/validate.md" "$OUT/validate-dsa-fp8.md"
}

out_of_range_gpu_tests() {  # $1: seconds. The GPU tests of out-of-range lengths, table entries and indices into
  # $OUT/pytest_bad.txt, failures onto the log
  timeout "$1" python3 -m pytest -q -m gpu -p no:cacheprovider -k "out_of_range" tests/test_kernels_gpu.py \
    > "$OUT/pytest_bad.txt" 2>&1
  echo "pytest (out of range) exit $? at ${SECONDS} s: $(tail -1 "$OUT/pytest_bad.txt")" | tee -a "$LOG"
  grep -E "^(FAILED|ERROR)" "$OUT/pytest_bad.txt" | head -20 | tee -a "$LOG"
}

kernel_gpu_tests() {   # $1: seconds. The MLA, Gluon and sparse GPU tests into $OUT/pytest.txt; sets $tested to
  # pytest's exit status
  timeout "$1" python3 -m pytest -q -m gpu -p no:cacheprovider -k "mla or sparse or gluon" tests/test_kernels_gpu.py \
    > "$OUT/pytest.txt" 2>&1
  tested=$?
  echo "pytest exit $tested at ${SECONDS} s: $(tail -1 "$OUT/pytest.txt")" | tee -a "$LOG"
}

calibrate_then_validate() {  # $1: calibrate seconds; $2: the run's second by which validate must end.
  # calibrate_kernels, validate_suite expected against that calibration, the accuracy table on the log
  calibrate_kernels "$1" "$LOG"
  validate_suite expected "$OUT/h200.yaml" $(( $2 - SECONDS )) "$W" "$LOG"
  grep -A14 "^## Accuracy" "$OUT/validate-expected.md" | tee -a "$LOG"
}

host_profile_step() {  # $1: seconds; $2: lines of it onto the log. bench/host_profile.py into $OUT/host_profile.txt
  timeout "$1" python3 bench/host_profile.py > "$OUT/host_profile.txt" 2>&1
  echo "host_profile exit $? at ${SECONDS} s" | tee -a "$LOG"
  head -"$2" "$OUT/host_profile.txt" | tee -a "$LOG"
}

install_project() {    # $1: install log; $2: run log (optional). The working tree as an editable install; on failure
  # the install log's tail (printed, and added to the run log) and status 1
  python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . > "$1" 2>&1 \
    || { tail -20 "$1" | tee -a "${2:-/dev/null}"; return 1; }
}

gpu_facts() {          # $1: file for nvidia-smi's clocks, power and temperature; $2: log for the versions line
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv \
    >> "$1" 2>&1
  python3 -c "import triton, torch; print('triton', triton.__version__, 'torch', torch.__version__)" | tee -a "$2"
}

start_flashmla_build() {   # $1: build log; $2: seconds (default 300). FlashMLA's dense and sparse decode
  # (bench/build_flashmla_sparse.py) from a carried copy of ../shared/peers (.peers, git-ignored) into /tmp/site, in
  # the background (CPU-bound: nvcc); should that build fail, the dense-only one (.peers/build_flashmla.py, ~100 s)
  ( timeout "${2:-300}" python3 bench/build_flashmla_sparse.py --site /tmp/site > "$1" 2>&1 \
      || { echo "sparse build failed: dense only" >> "$1"; timeout 200 python3 .peers/build_flashmla.py \
           --site /tmp/site >> "$1" 2>&1; }
    echo "build exit $?" >> "$1" ) &
  FLASHMLA_PID=$!
}

start_dense_flashmla_build() {  # $1: build log. FlashMLA's dense decode alone (.peers/build_flashmla.py, ~110 s) into
  # /tmp/site in the background, for scripts that time no sparse decode; finish_flashmla_build waits for it
  ( timeout 200 python3 .peers/build_flashmla.py --site /tmp/site > "$1" 2>&1; echo "build exit $?" >> "$1" ) &
  FLASHMLA_PID=$!
}

finish_flashmla_build() {  # $1: build log; $2: run log. Waits for the build, then puts flash_mla on the path
  wait "$FLASHMLA_PID"
  tail -2 "$1" | tee -a "$2"
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
}

calibrate_kernels() {  # $1: seconds; $2: run log. `mlacalc calibrate --kernels` into $OUT/h200.yaml + calibrate.json
  echo "== mlacalc calibrate --out h200.yaml --base h200 --kernels --json" | tee -a "$2"
  timeout "$1" mlacalc calibrate --out "$OUT/h200.yaml" --base h200 --kernels --json > "$OUT/calibrate.json" \
    2>> "$2"
  echo "calibrate exit $? at ${SECONDS} s" | tee -a "$2"
}

validate_suite() {     # $1: suite; $2: hardware spec; $3: seconds; $4: work folder; $5: run log.
  # `mlacalc validate` into $4/validate-$1/, its JSON and Markdown copied to $OUT/validate-$1.json and .md
  echo "== mlacalc validate --out validate-$1 --gpu $2 --suite $1 (budget $3 s)" | tee -a "$5"
  timeout "$3" mlacalc validate --out "$4/validate-$1" --gpu "$2" --suite "$1" >> "$5" 2>&1
  echo "validate $1 exit $? at ${SECONDS} s" | tee -a "$5"
  cp "$4/validate-$1/validate.json" "$OUT/validate-$1.json"
  cp "$4/validate-$1/validate.md" "$OUT/validate-$1.md"
}

ncu_case() {           # $1: a bench/ncu_probe.py case; $2: file to append ncu's details page to. Nsight Compute on that
  # one decode call (its kernels only), cut at 90 s
  echo "===== case $1" >> "$2"
  timeout 90 ncu --profile-from-start off --clock-control none --section SpeedOfLight \
    --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables \
    --section WarpStateStats --section SchedulerStats --section InstructionStats \
    --metrics regex:sm__pipe_.*cycles_active.avg.pct_of_peak_sustained_active \
    --print-details all python3 bench/ncu_probe.py "$1" >> "$2" 2>&1
  echo "ncu $1 exit $? at ${SECONDS} s" | tee -a "$LOG"
}

random_points() {      # $1: seed; $2: seconds; $3: folder under $OUT (default random). bench/random_points.py: 60
  # (N) random decode points measured against the committed calibration into $OUT/$3, its accuracy table onto the log
  timeout "$2" python3 bench/random_points.py --seed "$1" --n "${N:-60}" --out "$OUT/${3:-random}" \
    --gpu reports/h200/h200.yaml >> "$LOG" 2>&1
  echo "random points ${3:-} exit $? at ${SECONDS} s" | tee -a "$LOG"
  grep -A8 "^## Accuracy" "$OUT/${3:-random}/validate.md" | tee -a "$LOG"
}

mla_triton_gpu_tests() {  # $1: seconds; $2: output file. The Triton MLA kernel's GPU tests (not Gluon, not sparse)
  timeout "$1" python3 -m pytest -q -m gpu -p no:cacheprovider -k "mla and not gluon and not sparse" \
    tests/test_kernels_gpu.py > "$2" 2>&1
  echo "mla pytest exit $? at ${SECONDS} s: $(tail -1 "$2")" | tee -a "$LOG"
}

profiler_gpu_tests() {  # $1: seconds; $2: output file. The profiler's (validate, calibrate, windows, DSA), the
  # whole-step and the sharded runners' GPU tests
  timeout "$1" python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_profiler_gpu.py tests/test_whole_step.py \
    tests/test_sharded.py > "$2" 2>&1
  echo "profiler/whole-step/sharded pytest exit $? at ${SECONDS} s: $(tail -1 "$2")" | tee -a "$LOG"
}

gqa_gpu_tests() {      # $1: seconds; $2: output file. The GQA kernel's GPU tests (GQA, MHA, MQA)
  timeout "$1" python3 -m pytest -q -m gpu -p no:cacheprovider -k "gqa or mha or mqa" tests/test_kernels_gpu.py \
    > "$2" 2>&1
  echo "gqa pytest exit $? at ${SECONDS} s: $(tail -1 "$2")" | tee -a "$LOG"
}

use_triton_slim() {    # The slimmed Triton of bench/slim_triton.sh (carried: .t39) unpacked into /tmp/triton-slim and put
  # first on PYTHONPATH, ahead of the machine's Triton 3.6, with the machine's ptxas (CUDA 13.0; the slim copy has
  # none); its version onto the log. Status 1 when it is not carried or does not import
  [ -f .t39/triton-slim.tar.xz ] || { echo "no .t39/triton-slim.tar.xz carried" | tee -a "$LOG"; return 1; }
  MACHINE_PYTHONPATH=${PYTHONPATH:-}
  mkdir -p /tmp/triton-slim && tar xJf .t39/triton-slim.tar.xz -C /tmp/triton-slim
  export PYTHONPATH=/tmp/triton-slim${PYTHONPATH:+:$PYTHONPATH}
  export TRITON_PTXAS_PATH=$(command -v ptxas || echo "${CUDA_HOME:-/usr/local/cuda}/bin/ptxas")
  export TRITON_PTXAS_BLACKWELL_PATH=$TRITON_PTXAS_PATH   # looked up for every compile's cache key
  echo "ptxas: $TRITON_PTXAS_PATH ($("$TRITON_PTXAS_PATH" --version | tail -1))" | tee -a "$LOG"
  python3 -c "import triton, torch; print('now triton', triton.__version__, 'torch', torch.__version__)" \
    >> "$LOG" 2>&1 || { tail -3 "$LOG"; return 1; }
  tail -1 "$LOG"
}

use_machine_triton() {  # back to the machine's Triton 3.6 after use_triton_slim; its version onto the log
  export PYTHONPATH=$MACHINE_PYTHONPATH
  unset TRITON_PTXAS_PATH TRITON_PTXAS_BLACKWELL_PATH
  python3 -c "import triton; print('now triton', triton.__version__)" | tee -a "$LOG"
}

prefill_headdim_points() {  # $1: seconds. bench/prefill_headdim.py (the 14 prefill calibration points at head dims
  # 64/128/256 and MLA's) into $OUT/prefill_headdim.json (+ .log)
  timeout "$1" python3 bench/prefill_headdim.py --out "$OUT" > "$OUT/prefill_headdim.log" 2>&1
  echo "prefill_headdim exit $? at ${SECONDS} s" | tee -a "$LOG"
  tail -2 "$OUT/prefill_headdim.log" | tee -a "$LOG"
}

prefill_headdim_refit() {  # $1, $2: seconds for the measurement and for the refit. bench/prefill_headdim.py (the 14
  # prefill calibration points at head dims 64/128/256 and MLA's) into $OUT/prefill_headdim.json, then the sdpa refit
  # on this machine's CPU into $OUT only (bench/fit_expected.py --sdpa: h200-sdpa-refit.yaml, refit.txt)
  prefill_headdim_points "$1"
  timeout "$2" python3 bench/fit_expected.py --sdpa "$OUT/prefill_headdim.json" reports/h200/calibrate-merged.json \
    reports/h200/h200.yaml reports/h200/validate-expected.json --write "$OUT/h200-sdpa-refit.yaml" \
    > "$OUT/refit.txt" 2>&1
  echo "refit exit $? at ${SECONDS} s" | tee -a "$LOG"
  grep -E "^sdpa|exponentials at|gives no boost clock" "$OUT/refit.txt" | tee -a "$LOG"
}

build_cuda_fp8() {      # $1: build log. The CUDA fp8 decode's extension (kernels/cuda_mla_fp8.py) built once, its
  # time on the run log: the GPU tests and timings after it load it from torch's extension cache
  export MAX_JOBS=16
  timeout 200 python3 -c "
import time; t = time.time()
from mlacalc.kernels.cuda_mla_fp8 import _extension
_extension(); print(f'built in {time.time() - t:.0f} s')" > "$1" 2>&1
  echo "build exit $? at ${SECONDS} s: $(tail -1 "$1")" | tee -a "$LOG"
}
