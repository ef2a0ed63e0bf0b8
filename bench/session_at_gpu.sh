#!/usr/bin/env bash
# The seventeenth session's closing call, under Triton 3.9 (carried, .t39; bench/slim_triton.sh) with FlashMLA built
# from the carried ../shared/peers (.peers) in the same call (its build does not depend on Triton). The committed
# kernels: the Gluon kernel takes 64-key tiles above 64 query rows under Triton >= 3.9
# (kernels/gluon_mla_decode.default_gluon_config; bench/session_as_gpu.sh measured them).
# 1. the fp8 and sparse Gluon checks (a hang shows here), then the MLA, sparse and Gluon GPU tests under 3.9;
# 2. `mlacalc bench kernels --peers` under 3.9, FlashMLA beside ours, into kernels.json.
# Files under $OUT: run.log, pytest.txt, kernels.json.
# The working tree, Triton 3.9 and FlashMLA's sources fit in one call's 64 MiB only with the three plotly pages
# (reports/h100/index.html, reports/h200/index.html, reports/h200/validate-expected.html: 14 MB) left behind:
# `git rm --cached` them and list them in .git/info/exclude for the call, `git reset -- THEM` after.
#     run(command="bash bench/session_at_gpu.sh", carry=[".peers", ".t39"], timeout_s=600)
set -u
. bench/device_lib.sh
begin_run || exit 1
use_triton_slim || exit 1
check_fp8_gluon
check_sparse_gluon
kernel_gpu_tests $(( 330 - SECONDS ))
finish_flashmla_build "$W/flashmla_build.log" "$LOG"
bench_peers $(( 590 - SECONDS ))
echo "total ${SECONDS} s"
