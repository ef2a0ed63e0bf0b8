#!/usr/bin/env bash
# Before trying a change to the Gluon sparse kernel: copies of the committed kernel (git HEAD) as
# kernels/_ab_base_seesaw.py and kernels/_ab_base_sparse.py (untracked; delete them after the run), so that one
# device call times both: `AB_BASE=_ab_base_sparse bash bench/session_h_gpu.sh` (bench/ab_sparse_gluon.py --base).
set -eu
git show HEAD:kernels/gluon_mla_seesaw.py > kernels/_ab_base_seesaw.py
git show HEAD:kernels/gluon_mla_sparse.py | sed 's/from \.gluon_mla_seesaw import/from ._ab_base_seesaw import/' \
  > kernels/_ab_base_sparse.py
grep -q "_ab_base_seesaw import" kernels/_ab_base_sparse.py
echo "kernels/_ab_base_seesaw.py kernels/_ab_base_sparse.py from $(git rev-parse --short HEAD)"
