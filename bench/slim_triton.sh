#!/usr/bin/env bash
# Here, once: a Triton wheel slimmed to what an sm_90 compile and launch need, as .t39/triton-slim.tar.xz (git-ignored),
# so a device call can carry a Triton newer than the GPU machine's 3.6 (the carry limit is 64 MiB; the wheel is
# 286 MB, and the working tree itself is ~25 MB). Dropped: CUPTI and the profiler (proton), both ptxas (the machine's
# CUDA 13.0 ptxas is used instead: TRITON_PTXAS_PATH), nvdisasm, FileCheck, instrumentation, plugins, the MLIR headers
# and the AMD backend's libraries (its Python stays: Gluon imports it); libtriton.so stripped of its symbol tables (477 -> 192 MB). What remains: ~39 MB compressed.
# Triton's wheels are abi3, so one built for CPython 3.12 (the device's) loads there.
#     bash bench/slim_triton.sh [VERSION]       (default 3.9.0)
# On the GPU machine: `use_triton_slim` in bench/device_lib.sh unpacks it and puts it first on PYTHONPATH.
set -eu
cd "$(dirname "$0")/.."
VERSION=${1:-3.9.0}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 -m pip download -q --no-deps --python-version 3.12 --only-binary=:all: "triton==$VERSION" -d "$WORK/whl"
mkdir "$WORK/x" && (cd "$WORK/x" && python3 -m zipfile -e "$WORK"/whl/*.whl .)
cd "$WORK/x/triton"
rm -rf backends/nvidia/lib/cupti backends/nvidia/lib/cupti-blackwell backends/nvidia/bin/ptxas \
  backends/nvidia/bin/ptxas-blackwell backends/nvidia/bin/nvdisasm backends/nvidia/lib/gsan.ll backends/amd/lib \
  backends/amd/include \
  _C/libproton.so instrumentation FileCheck plugins include
chmod +x backends/nvidia/bin/*   # zipfile drops the mode bits
strip --strip-unneeded _C/libtriton.so
cd - > /dev/null
mkdir -p .t39
tar cf - -C "$WORK/x" . | xz -T0 -9e > .t39/triton-slim.tar.xz
echo "$VERSION" > .t39/VERSION
ls -la .t39
