"""Lab script (GPU): the Triton MLA kernel's 16-row tiles at DeepSeek's dims (16 heads a GPU: DeepSeek-V2/V3 at tp 8,
V2-Lite), A/B on the same inputs (graph-timed, L2 flushed), to be run once under each Triton: under Triton 3.9 (what
torch 2.13 installs) the default 16/64/4/3 tile ran 1.07-1.21x its Triton 3.6 time on contiguous caches and the same
on paged ones (reports/h200/tuning/triton39_vs_36.json).

    python3 bench/ab_mla_tiles16.py --out OUT.json

Variants (kernels/triton_mla_decode.py MLADecodeConfig; block_h/block_n/warps/stages):
  base    16/64/4/3, the default
  s2      16/64/4/2  one tile in flight, not two
  n32s3   16/32/4/3  32-key tiles
  n32s4   16/32/4/4  32-key tiles, three in flight
  dual    16/32/4/3 with two programs an SM in the split planner
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import torch

from ab_mla_resident import time_variants, write
from common import gpu_lab_args

from mlacalc.kernels.launch import num_sms
from mlacalc.kernels.triton_mla_decode import default_mla_config
from mlacalc.profiler.timing import L2Flusher

R, DR, HEADS = 512, 64, 16
POINTS = [(8, 4096), (8, 32768), (16, 16384), (32, 4096), (32, 32768), (64, 8192), (128, 4096), (128, 32768)]


def variants() -> dict:
    base = default_mla_config(HEADS, None)
    return {"base": base, "s2": replace(base, num_stages=2), "n32s3": replace(base, block_n=32),
            "n32s4": replace(base, block_n=32, num_stages=4),
            "dual": replace(base, block_n=32, programs_per_sm=2)}


def main() -> int:
    a = gpu_lab_args(__doc__)
    if a is None:
        return 2
    t_start = time.time()
    rows = []
    time_variants(variants(), HEADS, POINTS, R, DR, L2Flusher(torch.cuda.current_device()),
                  num_sms(torch.device("cuda")), rows)
    write(a.out, rows, t_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
