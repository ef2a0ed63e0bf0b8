"""Lab script (GPU): the CUDA fp8 decode's split count (impl "cuda", 16 heads), swept. Its plan
(cuda_mla_fp8.cuda_fp8_splits) fills one wave of two CTAs an SM, and at 32 x 4k it ran 2.0x the fp8 floor (51 us
against a 25-us floor, H100): are the ~25 us of fixed costs the splits' partials (8 splits of 16 x 512 fp32 a
sequence: written, then read by the merge) and each CTA's prologue, so that fewer, longer splits pay, or is it the
launch and the first tile's wait, which no split count moves? At each point the plan's count and the powers of two
from 1 to 64 (at least a 64-key tile a split), paged in 64-token blocks, one per-tensor scale, graph-timed with the L2
flushed (one round: a sweep, not an A/B), the fp8 floor from ceilings measured in the same run beside it.

    python3 bench/sweep_fp8_cuda_splits.py --out OUT.json [--heads 16] [--variants base]
"""

from __future__ import annotations

import torch

from ab_seesaw import inputs
from common import dump_run, gpu_lab_args, lab_run, record

from mlacalc.kernels import cuda_mla_fp8 as cf
from mlacalc.kernels.bench import MLA_SCALE, _floor_ms, eager_and_graph, mla_decode_cost
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.launch import num_sms
from mlacalc.profiler.calibrate import measure_ceilings
from mlacalc.profiler.timing import L2Flusher

POINTS = [(8, 4096), (32, 4096), (128, 4096), (8, 32768), (32, 32768)]
VARIANTS = {"base": {}}   # the kernel as it is (the thirty-fifth session's run also timed options since removed:
#                          commit e79a23a)

def split_counts(B: int, ctx: int, sms: int) -> tuple[int, list[int]]:
    """The plan's split count and the counts swept: powers of two with a tile at least a split (the plan keeps
    MIN_SPLIT_KEYS = 256, which at 8 x 4k leaves 128 CTAs for 264 resident places), and the plan's."""
    plan = cf.cuda_fp8_splits(B, ctx, sms)[0]
    counts = {n for n in (1, 2, 4, 8, 16, 32, 64) if ctx // n >= cf.TILE} | {plan}
    return plan, sorted(counts)


def main() -> int:
    def add(ap):
        ap.add_argument("--heads", type=int, default=16)
        ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))

    a = gpu_lab_args(__doc__, add)
    if a is None:
        return 2
    flusher = L2Flusher(torch.cuda.current_device())
    scale = torch.tensor([0.02], device="cuda")
    sms = num_sms(torch.device("cuda"))
    with lab_run(a.out) as rows:
        ceil = measure_ceilings(print, flusher=flusher)
        record(rows, kind="ceilings", **ceil)
        for B, ctx in POINTS:
            q, cache, lens, table, _ = inputs(B, ctx, a.heads, "paged64")
            cache = cache.to(torch.float8_e4m3fn)
            floor = _floor_ms(*mla_decode_cost(B, ctx, a.heads, 1), ceil)
            plan, counts = split_counts(B, ctx, sms)
            for n in counts:
                for name in a.variants:
                    call = lambda: mla_decode(  # noqa: E731
                        q, cache, lens, table, softmax_scale=MLA_SCALE, kv_scale=scale, max_seqlen=ctx, impl="cuda",
                        num_splits=n, **VARIANTS[name])
                    t = eager_and_graph(call, flusher)
                    record(rows, kind="splits", variant=name, B=B, ctx=ctx, heads=a.heads, splits=n, plan=n == plan,
                           floor_ms=floor, x_floor=t["graph_ms"] / floor if t["graph_ms"] else None, **t)
                    print(f"{B:4d} x {ctx:6d}  splits {n:3d}{' (plan)' if n == plan else '       '} {name:8s} "
                          f"{t['graph_ms'] * 1e3 if t['graph_ms'] else float('nan'):8.1f} us  "
                          f"{rows[-1]['x_floor'] or float('nan'):.2f}x floor", flush=True)
            dump_run(a.out, rows)
            q = cache = table = None
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
