"""Lab script (GPU): the seesaw kernel with the softmax scale folded into the exponent (`GluonMLAConfig.fold_scale`:
P = 2^(raw x qk_scale - m) on unmasked tiles, one FFMA a score, FlashMLA's form; 30 fewer instructions in each
compute group's 64-key loop under Triton 3.6, `python bench/sass_loops.py --gluon`) against the kernel as it is
(`fold0`, the default), on the same inputs, graph-timed with the L2 flushed, two rounds in alternating order, over
issue 14's dense grid where auto takes the Gluon kernel (batch 8/32/128 x 4k/32k x 64/128 heads, contiguous and paged
64-token blocks; 16 heads run the Triton kernel; the tile each shape takes by default), largest batch and context
first, FlashMLA beside when built. Each variant is checked
against the float64 reference first (mixed lengths with partial tiles, keys rising along the sequence, 16/64/128
heads, paged and contiguous, 7 splits); a failed check is recorded and that variant is not timed.

    python3 bench/ab_fold.py --out OUT.json [--points N] [--heads H]   # N: the first N points (0: checks only);
                                                                      # H: only the points of H heads
    python3 bench/ab_summary.py OUT.json fold1/fold0        # the table of ratios
"""

from __future__ import annotations

import signal
import sys
from dataclasses import replace

import torch

from ab_seesaw import inputs
from common import check_variants, dump_run, gpu_lab_args, record, time_flashmla_paged

from mlacalc.kernels import gluon_mla_decode as gmd
from mlacalc.kernels.bench import MLA_SCALE, _flash_mla, eager_and_graph
from mlacalc.kernels.reference import mla_latent_attention_reference
from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
from mlacalc.profiler.timing import L2Flusher

VARIANTS = {"fold0": False, "fold1": True}
POINTS = [(B, ctx, H, layout) for B in (128, 32, 8) for ctx in (32768, 4096) for H in (128, 64)
          for layout in ("paged64", "contiguous")]


def config(name: str, rows: int, page_size=None) -> gmd.GluonMLAConfig:
    """The tile the shape takes by default, with or without the fold."""
    return replace(gmd.default_gluon_config(rows, page_size=page_size), fold_scale=VARIANTS[name])


def check(name: str) -> dict:
    """The variant against the float64 reference: keys scaled up along each sequence (the max moves, every tile
    rescales) at 128 and 16 (padded) heads, contiguous; random keys, paged, at 128 and 64 heads; mixed lengths with
    partial tiles and a one-key sequence; and a sequence cut in 7 splits."""
    errs = {}
    for heads in (128, 16):
        case = make_mla_case([4097, 1500, 64, 65, 1, 333], heads=heads, device="cuda", seed=heads)
        ramp = torch.linspace(0.2, 3.0, case.kv_cache.shape[1], device="cuda")[None, :, None]
        case.kv_cache.mul_(ramp.to(case.kv_cache.dtype))
        ref = mla_latent_attention_reference(case.q.cpu(), case.kv_cache.cpu(), 512, scale=case.softmax_scale,
                                             kv_lengths=case.cache_seqlens.cpu())
        errs[f"rising_h{heads}"] = rel_error(run_mla_case(gmd.mla_decode_gluon, case, config=config(name, heads)), ref)
    for heads in (128, 64):
        case = make_mla_case([4097, 1500, 64, 65, 1, 333], heads=heads, device="cuda", paged=True, seed=heads + 1)
        errs[f"paged_h{heads}"] = rel_error(run_mla_case(gmd.mla_decode_gluon, case, config=config(name, heads, 64)),
                                            case.ref)
    case = make_mla_case([8191, 3000], heads=128, device="cuda", paged=True, seed=7)
    errs["splits7"] = rel_error(run_mla_case(gmd.mla_decode_gluon, case, config=config(name, 128, 64), num_splits=7),
                                case.ref)
    return errs


def time_points(rows, ok, points, fm, flusher) -> None:
    names = [n for n in VARIANTS if ok[n]]
    for B, ctx, H, layout in points:
        q, cache, lens, table, fm_table = inputs(B, ctx, H, layout)
        page = 64 if table is not None else None
        point = dict(kind="dense", B=B, ctx=ctx, heads=H, layout=layout)
        for rnd in range(2):
            for name in (names[::-1] if rnd else names):
                cfg = config(name, H, page)
                record(rows, variant=name, round=rnd, **point, **eager_and_graph(lambda: gmd.mla_decode_gluon(
                    q, cache, lens, table, softmax_scale=MLA_SCALE, max_seqlen=ctx, config=cfg), flusher))
        if fm is not None:
            pool = cache if table is not None else cache.view(-1, 64, cache.shape[-1])
            record(rows, variant="flashmla", **point, **time_flashmla_paged(fm, q, pool, fm_table, lens, flusher))
        q = cache = None
        torch.cuda.empty_cache()


def main() -> int:
    a = gpu_lab_args(__doc__, lambda ap: (ap.add_argument("--points", type=int, default=len(POINTS)),
                                          ap.add_argument("--heads", type=int, choices=(64, 128))))
    if a is None:
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))  # a device script's `timeout`: still write what landed
    rows = []
    meta = dict(triton=__import__("triton").__version__)
    try:
        ok = check_variants(rows, VARIANTS, check)
        dump_run(a.out, rows, **meta)
        points = [p for p in POINTS if a.heads in (None, p[2])][:a.points]
        time_points(rows, ok, points, _flash_mla(), L2Flusher(torch.cuda.current_device()))
    finally:
        dump_run(a.out, rows, **meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
