"""Lab script (GPU): the balanced schedule at the issue's uniform grid. With power-of-two batches the fixed grid
plans 128 or 256 programs (batch x head blocks x splits) on the H200's 132 SMs (`gluon_splits`: every point of
issue 14's grid), so 4 SMs idle for the whole call, about 3% of a memory-bound call; FlashMLA cuts the sum of the
work over all 132. The balanced schedule (`triton_schedule.mla_decode_schedule()`) does the same, at the cost of a
segment's refill and more partials, and was only ever timed at mixed lengths (docs/kernels-notes.md, "Measured at
the session's end"). This times mla_decode(impl="auto") fixed against scheduled on the same inputs, graph-timed with
the L2 flushed, best of two rounds in alternating order, at batch 8/32/128 x 4k/32k x 16/64/128 heads x contiguous
and paged caches (64-token blocks); both are checked against the float64 reference first (mixed lengths, 16/64/128
heads, paged).

    python3 bench/ab_sched_uniform.py --out OUT.json
    python3 bench/ab_summary.py OUT.json sched/fixed     # the ratios
"""

from __future__ import annotations

import torch

from ab_seesaw import inputs
from common import alternating, check_variants, dump_run, gpu_lab_args, lab_run, record

from mlacalc.kernels.bench import MLA_SCALE, eager_and_graph
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
from mlacalc.kernels.triton_schedule import mla_decode_schedule
from mlacalc.profiler.timing import L2Flusher

VARIANTS = ("fixed", "sched")
# largest batch first: the points that miss the target (batch 128, 32) land before a time limit
POINTS = [(B, ctx, H, layout) for B in (128, 32, 8) for ctx in (32768, 4096) for H in (128, 64, 16)
          for layout in ("paged64", "contiguous")]


def check(name: str) -> dict:
    """The variant against the float64 reference: mixed lengths (one of a single key), paged, 16/64/128 heads."""
    errs = {}
    for heads in (16, 64, 128):
        case = make_mla_case([4097, 1500, 64, 65, 1], heads=heads, device="cuda", paged=True, seed=heads)
        kw = {"schedule": mla_decode_schedule()} if name == "sched" else {}
        errs[f"h{heads}"] = rel_error(run_mla_case(mla_decode, case, **kw), case.ref)
    return errs


def main() -> int:
    a = gpu_lab_args(__doc__)
    if a is None:
        return 2
    flusher = L2Flusher(torch.cuda.current_device())
    with lab_run(a.out) as rows:
        ok = check_variants(rows, VARIANTS, check)
        names = [n for n in VARIANTS if ok[n]]
        for B, ctx, H, layout in POINTS:
            q, cache, lens, table, _ = inputs(B, ctx, H, layout)
            sched = mla_decode_schedule()
            fixed = mla_decode(q, cache, lens, table, softmax_scale=MLA_SCALE, max_seqlen=ctx)
            out = mla_decode(q, cache, lens, table, softmax_scale=MLA_SCALE, schedule=sched)  # fills the schedule
            agree = rel_error(out, fixed)
            calls = {"fixed": lambda: mla_decode(q, cache, lens, table, softmax_scale=MLA_SCALE, max_seqlen=ctx),
                     "sched": lambda: mla_decode(q, cache, lens, table, softmax_scale=MLA_SCALE, schedule=sched)}
            for rnd, name in alternating(names):
                record(rows, kind="dense", variant=name, round=rnd, B=B, ctx=ctx, heads=H, layout=layout,
                       agree=agree, **eager_and_graph(calls[name], flusher))
            dump_run(a.out, rows)
            q = cache = table = fixed = out = None
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
