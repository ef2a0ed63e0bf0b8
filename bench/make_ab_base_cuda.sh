#!/usr/bin/env bash
# Before timing a change to the CUDA fp8 kernels: copies of the committed kernels/cuda/*.cu (git HEAD, or the
# revision given) in bench/_ab_base_cuda/ (untracked; delete it after the run), so that one device call builds both
# and times them (bench/ab_fp8_cuda.py --base bench/_ab_base_cuda --variants cuda base).
set -eu
rev=${1:-HEAD}
mkdir -p bench/_ab_base_cuda
for f in $(git ls-tree --name-only "$rev" kernels/cuda/ | grep '\.cu$'); do
  git show "$rev:$f" > "bench/_ab_base_cuda/$(basename "$f")"
done
echo "bench/_ab_base_cuda/ from $(git rev-parse --short "$rev"): $(ls bench/_ab_base_cuda | tr '\n' ' ')"
