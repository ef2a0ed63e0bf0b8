#!/usr/bin/env bash
# Before timing changes to the CUDA fp8 kernels: copies of kernels/cuda/*.cu at a revision (default git HEAD) in a
# folder (default bench/_ab_base_cuda; untracked: delete it after the run), so that one device call builds each and
# times them beside the working tree's (bench/ab_fp8_cuda.py --ext NAME=DIR --variants cuda NAME).
#     bash bench/make_ab_base_cuda.sh [REV [DIR]]
set -eu
rev=${1:-HEAD}
dir=${2:-bench/_ab_base_cuda}
mkdir -p "$dir"
# each copy's kernels and device code in a namespace of their own (mlacalc_fp8 -> mlacalc_fp8_<dir>), so that no
# symbol of one revision's extension can stand in for another's loaded in the same process
ns="mlacalc_fp8_$(basename "$dir" | tr -c 'A-Za-z0-9_\n' '_')"
for f in $(git ls-tree --name-only "$rev" kernels/cuda/ | grep '\.cu$'); do
  git show "$rev:$f" | sed "s/\bmlacalc_fp8\b/$ns/g" > "$dir/$(basename "$f")"
done
echo "$dir/ from $(git rev-parse --short "$rev"): $(ls "$dir" | tr '\n' ' ')"
