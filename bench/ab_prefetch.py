"""Lab script (GPU): the fp8 Gluon kernel's L2 prefetch (the widening group asks L2 for a pair of tiles'
bytes `l2_prefetch_pairs` pairs before it issues their TMA copy: gluon_mla_seesaw._prefetch_tile) at 0 (no
prefetch), 1 and 2 pairs, on the same inputs, graph-timed with the L2 flushed, two
rounds in alternating order, at the fp8 grid of `mlacalc bench kernels` (batch 8/32/128 x 4k/32k x 16/64/128 heads,
paged 64-token blocks; 16 heads run the Gluon tile padded to 64 rows, with auto's choice there timed beside), plus
two contiguous points. Each variant is checked against the float64 reference first (mixed lengths with partial
tiles, paged and contiguous, 16/64/128 heads, a split ending mid-pair); a failed check is recorded and that variant
is not timed.

    python3 bench/ab_prefetch.py --out OUT.json [--points N] [--variants pf0,pf1,pf2]   # N: the first N points,
                                                        # largest batch and context first
    python3 bench/ab_summary.py OUT.json pf1/pf0      # the table of ratios
`--points 0` checks only. (Variants direct1/direct2, the removed fp8_direct widening group, ran at commit 60a4490:
reports/h100/tuning/session_bk_ab_fp8_direct.json.)
"""

from __future__ import annotations

import signal
import sys

import torch

from ab_seesaw import inputs
from common import check_variants, dump_run, gpu_lab_args, record

from mlacalc.kernels import gluon_mla_decode as gmd
from mlacalc.kernels.bench import MLA_SCALE, eager_and_graph
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
from mlacalc.profiler.timing import L2Flusher

VARIANTS = {"pf0": gmd.GluonMLAConfig(l2_prefetch_pairs=0), "pf1": gmd.GluonMLAConfig(l2_prefetch_pairs=1),
            "pf2": gmd.GluonMLAConfig(l2_prefetch_pairs=2)}
POINTS = [(B, ctx, H, "paged64") for B in (128, 32, 8) for ctx in (32768, 4096) for H in (64, 128, 16)] \
    + [(32, 32768, 64, "contiguous"), (128, 4096, 128, "contiguous")]


def config(name: str) -> gmd.GluonMLAConfig:
    return VARIANTS[name]


def check(name: str) -> dict:
    """The variant against the float64 reference: fp8 caches, mixed lengths (partial tiles and pairs, a one-key
    sequence), paged and contiguous, 16 (padded), 64 and 128 heads; and with 7 splits (splits ending mid-sequence)."""
    errs = {}
    for heads, paged in ((128, True), (64, False), (16, True), (64, True)):
        case = make_mla_case([4097, 1500, 64, 65, 1, 333], heads=heads, device="cuda", paged=paged, fp8=True,
                             seed=heads + paged)
        errs[f"h{heads}_{'paged' if paged else 'contig'}"] = rel_error(
            run_mla_case(gmd.mla_decode_gluon, case, config=config(name)), case.ref)
    case = make_mla_case([8191, 3000], heads=64, device="cuda", paged=True, fp8=True, seed=7)
    errs["splits7"] = rel_error(run_mla_case(gmd.mla_decode_gluon, case, config=config(name), num_splits=7),
                                case.ref)
    return errs


def time_points(rows, ok, n_points: int) -> None:
    scale = torch.tensor([0.02], device="cuda")
    names = [n for n in ok if ok[n]]
    for B, ctx, H, layout in POINTS[:n_points]:
        q, cache, lens, table, _ = inputs(B, ctx, H, layout)
        cache = cache.to(torch.float8_e4m3fn)
        point = dict(kind="fp8", B=B, ctx=ctx, heads=H, layout=layout)
        for rnd in range(2):
            for name in (names[::-1] if rnd else names):
                record(rows, variant=name, round=rnd, **point, **eager_and_graph(lambda: gmd.mla_decode_gluon(
                    q, cache, lens, table, softmax_scale=MLA_SCALE, kv_scale=scale, max_seqlen=ctx,
                    config=config(name)), FLUSHER))
        if H < gmd.auto_min_rows(True):  # what auto runs there (the Triton kernel's fp8 tile)
            record(rows, variant="auto", round=0, **point, **eager_and_graph(lambda: mla_decode(
                q, cache, lens, table, softmax_scale=MLA_SCALE, kv_scale=scale, max_seqlen=ctx), FLUSHER))
        q = cache = None
        torch.cuda.empty_cache()


def main() -> int:
    global FLUSHER
    a = gpu_lab_args(__doc__, lambda ap: (ap.add_argument("--points", type=int, default=len(POINTS)),
                                          ap.add_argument("--variants", default="pf0,pf1,pf2")))
    if a is None:
        return 2
    FLUSHER = L2Flusher(torch.cuda.current_device())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))  # a device script's `timeout`: still write what landed
    rows = []
    try:
        names = a.variants.split(",")
        unknown = set(names) - set(VARIANTS)
        if unknown:
            raise SystemExit(f"ab_prefetch: unknown variants {sorted(unknown)} (known: {', '.join(VARIANTS)})")
        chosen = {n: VARIANTS[n] for n in names}
        time_points(rows, check_variants(rows, chosen, check), a.points)
    finally:
        dump_run(a.out, rows, triton=__import__("triton").__version__)
    return 0


FLUSHER = None

if __name__ == "__main__":
    raise SystemExit(main())
