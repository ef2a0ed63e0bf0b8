#!/usr/bin/env bash
# The seventeenth session's first call (the machine's Triton 3.6): FlashMLA's dense and sparse decode built from the
# carried ../shared/peers (.peers) into .fmla_site in the repo root (git-ignored), which the GPU machine keeps between
# calls while it stays warm. The next call (bench/session_as_gpu.sh) carries Triton 3.9 (.t39) instead: the working
# tree, Triton 3.9 and FlashMLA's sources do not fit in one call's 64 MiB, the built package does not travel.
# Files under $OUT: run.log, flashmla_build.log.
#     run(command="bash bench/session_ar_gpu.sh", carry=[".peers"], timeout_s=400)
set -u
. bench/device_lib.sh
begin_run_without_peers || exit 1
rm -rf .fmla_site
timeout 330 python3 bench/build_flashmla_sparse.py --site "$PWD/.fmla_site" > "$OUT/flashmla_build.log" 2>&1
echo "build exit $? at ${SECONDS} s" | tee -a "$LOG"
PYTHONPATH=$PWD/.fmla_site python3 -c "import flash_mla; print('flash_mla', flash_mla.__file__)" 2>&1 | tail -1 \
  | tee -a "$LOG"
echo "total ${SECONDS} s"
