"""Lab script (GPU): Q read through a stacked view (gluon_mla_seesaw._stack_q; GluonMLAConfig / GluonSparseConfig
stack_q=True, the default since the thirtieth session) against Q's earlier loop-invariant view (`flat`: stack_q=False).

Why: under Triton 3.6 the loop-invariant view's wgmma descriptors were hoisted out of the compute groups' pair loops
into registers, and the loops spilled (64-key tile: 13-18 and 6-9 spill instructions a pair; fp8 56-65 and sparse
53-84 in all); stacked, none spills and the 64-key loops are 10% shorter (`python bench/sass_loops.py --gluon-sched`,
CPU). This measures what that is worth: each variant is checked against the float64 reference first (dense bf16
contiguous and paged at 64 and 128 heads, an explicit schedule, fp8, sparse bf16 and fp8-ds rows), then timed,
graph-timed with the L2 flushed, best of two rounds in alternating order, at the issue's dense grid (batch 8/32/128 x
4k/32k x 16/64/128 heads, paged 64-token blocks; 128 heads also contiguous) beside FlashMLA where it imports, fp8
(batch 32/128 x 4k/32k x 64/128 heads, paged) and sparse top-2048 of a 32k context (batch 32/128 x 64/128 heads,
bf16 and fp8-ds rows).

    python3 bench/ab_stack_q.py --out OUT.json [--kinds dense,fp8,sparse]
    python3 bench/ab_summary.py OUT.json stacked/flat                # the ratios
"""

from __future__ import annotations

import dataclasses

import torch

from ab_seesaw import inputs, time_flashmla
from common import alternating, check_variants, dump_run, gpu_lab_args, lab_run, record

from mlacalc.kernels import gluon_mla_decode as gmd
from mlacalc.kernels.bench import MLA_SCALE, eager_and_graph, sparse_inputs
from mlacalc.kernels.gluon_mla_sparse import GluonSparseConfig, mla_decode_sparse_gluon
from mlacalc.kernels.testing import make_mla_case, make_sparse_case, rel_error, run_mla_case, run_sparse_case
from mlacalc.kernels.triton_schedule import mla_decode_schedule
from mlacalc.profiler.timing import L2Flusher

VARIANTS = ("flat", "stacked")
DENSE = [(B, ctx, H, layout) for B in (128, 32, 8) for ctx in (32768, 4096) for H in (128, 64, 16)
         for layout in (("paged64", "contiguous") if H == 128 else ("paged64",))]
FP8 = [(B, ctx, H) for B in (128, 32) for ctx in (32768, 4096) for H in (128, 64)]
SPARSE = [(B, H) for B in (128, 32) for H in (128, 64)]
TOPK, SPARSE_CTX = 2048, 32768


def dense_config(name: str, H: int, fp8: bool = False, page_size: int | None = 64) -> gmd.GluonMLAConfig:
    """The tile mla_decode_gluon takes at H heads, with the variant's view of Q."""
    return dataclasses.replace(gmd.default_gluon_config(H, fp8=fp8, page_size=page_size), stack_q=name == "stacked")


def check(name: str) -> dict:
    """Each kernel's output with the variant's view of Q against the float64 reference (mixed lengths)."""
    errs, stack = {}, name == "stacked"
    for heads in (128, 64):
        for paged in (False, True):
            case = make_mla_case([4097, 1500, 64, 65], heads=heads, device="cuda", paged=paged, seed=heads + paged)
            cfg = dense_config(name, heads, page_size=64 if paged else None)
            errs[f"bf16_h{heads}_{'paged' if paged else 'contig'}"] = rel_error(
                run_mla_case(gmd.mla_decode_gluon, case, config=cfg), case.ref)
    case = make_mla_case([4097, 1500, 64, 65], heads=128, device="cuda", paged=True, seed=7)
    errs["bf16_h128_schedule"] = rel_error(run_mla_case(gmd.mla_decode_gluon, case, config=dense_config(name, 128),
                                                        schedule=mla_decode_schedule()), case.ref)
    case = make_mla_case([4097, 1500, 64, 65], heads=128, device="cuda", paged=True, fp8=True, seed=3)
    errs["fp8_h128"] = rel_error(run_mla_case(gmd.mla_decode_gluon, case, config=dense_config(name, 128, True)),
                                 case.ref)
    for ds in (False, True):
        case = make_sparse_case([4097, 2500, 65, 1], heads=128, topk=TOPK, fp8_ds=ds, device="cuda", seed=5 + ds)
        out = run_sparse_case(mla_decode_sparse_gluon, case, check=True, config=GluonSparseConfig(stack_q=stack))
        errs[f"sparse_{'fp8_ds' if ds else 'bf16'}_h128"] = rel_error(out, case.ref)
    return errs


def time_dense(rows, names, flusher, fm) -> None:
    for B, ctx, H, layout in DENSE:
        q, cache, lens, table, fm_table = inputs(B, ctx, H, layout)
        page = 64 if table is not None else None
        for rnd, name in alternating(names):
            call = lambda: gmd.mla_decode_gluon(  # noqa: E731
                q, cache, lens, table, softmax_scale=MLA_SCALE, max_seqlen=ctx, config=dense_config(name, H,
                                                                                                    page_size=page))
            record(rows, kind="dense", variant=name, round=rnd, B=B, ctx=ctx, heads=H, layout=layout,
                   **eager_and_graph(call, flusher))
        if fm is not None:
            record(rows, kind="dense", variant="flashmla", round=0, B=B, ctx=ctx, heads=H, layout=layout,
                   **time_flashmla(fm, q, cache, lens, table, fm_table, flusher))
        q = cache = table = fm_table = None
        torch.cuda.empty_cache()


def time_fp8(rows, names, flusher) -> None:
    scale = torch.tensor([0.02], device="cuda")
    for B, ctx, H in FP8:
        q, cache, lens, table, _ = inputs(B, ctx, H, "paged64")
        cache = cache.to(torch.float8_e4m3fn)
        for rnd, name in alternating(names):
            call = lambda: gmd.mla_decode_gluon(  # noqa: E731
                q, cache, lens, table, softmax_scale=MLA_SCALE, kv_scale=scale, max_seqlen=ctx,
                config=dense_config(name, H, True))
            record(rows, kind="fp8", variant=name, round=rnd, B=B, ctx=ctx, heads=H, layout="paged64",
                   **eager_and_graph(call, flusher))
        q = cache = table = None
        torch.cuda.empty_cache()


def time_sparse(rows, names, flusher) -> None:
    dev = torch.device("cuda")
    for B in sorted({b for b, _ in SPARSE}, reverse=True):
        (kv, ds), table, lens, idx = sparse_inputs(B, SPARSE_CTX, TOPK, dev)
        for H in [h for b, h in SPARSE if b == B]:
            q = torch.randn(B, 1, H, 576, device=dev, dtype=torch.bfloat16)
            for fmt, cache in (("bf16", kv), ("fp8_ds", ds)):
                for rnd, name in alternating(names):
                    cfg = GluonSparseConfig(stack_q=name == "stacked")
                    call = lambda: mla_decode_sparse_gluon(  # noqa: E731
                        q, cache, idx, table, lens, softmax_scale=MLA_SCALE, config=cfg)
                    record(rows, kind="sparse", variant=name, round=rnd, B=B, heads=H, cache=fmt, topk=TOPK,
                           **eager_and_graph(call, flusher))
        kv = ds = table = idx = None
        torch.cuda.empty_cache()


def main() -> int:
    a = gpu_lab_args(__doc__, lambda ap: ap.add_argument("--kinds", default="dense,fp8,sparse"))
    if a is None:
        return 2
    kinds = a.kinds.split(",")
    if not set(kinds) <= {"dense", "fp8", "sparse"}:
        print(f"ab_stack_q: --kinds takes dense, fp8 and sparse, comma-separated, not {a.kinds!r}")
        return 2
    flusher = L2Flusher(torch.cuda.current_device())
    try:
        import flash_mla as fm
    except ImportError:
        fm = None
    with lab_run(a.out, flashmla=fm is not None) as rows:
        ok = check_variants(rows, VARIANTS, check)
        names = [n for n in VARIANTS if ok[n]]
        for kind, timer in (("dense", lambda: time_dense(rows, names, flusher, fm)),
                            ("fp8", lambda: time_fp8(rows, names, flusher)),
                            ("sparse", lambda: time_sparse(rows, names, flusher))):
            if kind in kinds:
                timer()
                dump_run(a.out, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
