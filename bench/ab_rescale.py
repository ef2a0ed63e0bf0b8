"""Lab script (GPU): the seesaw kernel's lazy rescale (a row's reference max moves only when a tile passes it by more
than `rescale_slack`, base 2; the output's multiply is skipped when no row's moved: gluon_mla_seesaw._softmax_step)
against rescaling every tile (slack 0: the kernel before, byte-identical SASS), on the same inputs, graph-timed with
the L2 flushed, two rounds in alternating order:
  * dense bf16: the grid of `mlacalc bench kernels` at 64 and 128 heads (24 points), FlashMLA beside when built;
  * fp8 e4m3 (the widening group's path): bench/ab_fp8_gluon.py's 6 points;
  * sparse top-2048 (bf16 and fp8-ds rows): 4 points of bench/ab_sparse_gluon.py.
Each variant is checked against the float64 reference first (mixed lengths, keys rising along the sequence so that
both variants rescale); a failed check is recorded and that variant is not timed.

    python3 bench/ab_rescale.py --out OUT.json [--only dense,fp8,sparse]
"""

from __future__ import annotations

import json
import signal
import sys

import torch

from ab_fp8_gluon import POINTS as FP8_POINTS
from ab_seesaw import BENCH_POINTS, inputs
from common import check_variants, gpu_lab_args, record, time_flashmla_paged

from mlacalc.kernels import gluon_mla_decode as gmd
from mlacalc.kernels.bench import MLA_SCALE, _flash_mla, eager_and_graph, sparse_inputs
from mlacalc.kernels.gluon_mla_sparse import GluonSparseConfig, mla_decode_sparse_gluon
from mlacalc.kernels.reference import mla_latent_attention_reference
from mlacalc.kernels.testing import make_mla_case, make_sparse_case, rel_error, run_mla_case, run_sparse_case
from mlacalc.profiler.timing import L2Flusher

SLACKS = {"slack0": 0.0, "slack8": 8.0}
SPARSE_POINTS = [(64, 128), (64, 64), (128, 64), (32, 128)]  # (batch, heads), topk 2048 of a 32k paged context


def dense_config(name: str, rows: int, fp8: bool = False, page_size=None) -> gmd.GluonMLAConfig:
    base = gmd.default_gluon_config(rows, fp8=fp8, page_size=page_size)
    return gmd.GluonMLAConfig(block_n=base.block_n, rescale_slack=SLACKS[name])


def check(name: str) -> dict:
    """The variant against the float64 reference: 128 heads (64-key tile) and 64 heads (32-key tile) over keys rising
    along the sequence, the fp8 cache, and sparse lists (bf16 and fp8-ds rows)."""
    errs = {}
    for heads in (128, 64):
        case = make_mla_case([4097, 1500, 64, 65, 1], heads=heads, device="cuda", seed=heads)  # contiguous: ramp by key
        ramp = torch.linspace(0.2, 3.0, case.kv_cache.shape[1], device="cuda")[None, :, None]
        case.kv_cache.mul_(ramp.to(case.kv_cache.dtype))
        ref = mla_latent_attention_reference(case.q.cpu(), case.kv_cache.cpu(), 512, scale=case.softmax_scale,
                                             kv_lengths=case.cache_seqlens.cpu())
        out = run_mla_case(gmd.mla_decode_gluon, case, config=dense_config(name, heads))
        errs[f"rising_h{heads}"] = rel_error(out, ref)
    case = make_mla_case([4097, 1500, 64, 65, 1], heads=128, device="cuda", paged=True, fp8=True, seed=1)
    errs["fp8_h128"] = rel_error(run_mla_case(gmd.mla_decode_gluon, case, config=dense_config(name, 128, True)),
                                 case.ref)
    for ds in (False, True):
        case = make_sparse_case([4097, 2500, 65, 1], heads=128, topk=2048, fp8_ds=ds, device="cuda", seed=3)
        errs[f"sparse_{'fp8_ds' if ds else 'bf16'}"] = rel_error(
            run_sparse_case(mla_decode_sparse_gluon, case, config=GluonSparseConfig(rescale_slack=SLACKS[name])),
            case.ref)
    return errs


def rounds(rows, ok, point: dict, call) -> None:
    """Both variants at one point, twice, the order reversed in the second round."""
    names = [n for n in SLACKS if ok[n]]
    for rnd in range(2):
        for name in (names[::-1] if rnd else names):
            record(rows, variant=name, round=rnd, **point, **eager_and_graph(lambda: call(name), FLUSHER))


def dense(rows, ok, fm) -> None:
    for B, ctx, H, layout in BENCH_POINTS:
        q, cache, lens, table, fm_table = inputs(B, ctx, H, layout)
        page = 64 if table is not None else None
        point = dict(kind="dense", B=B, ctx=ctx, heads=H, layout=layout)
        rounds(rows, ok, point, lambda name: gmd.mla_decode_gluon(
            q, cache, lens, table, softmax_scale=MLA_SCALE, max_seqlen=ctx, config=dense_config(name, H, page_size=page)))
        if fm is not None:
            pool = cache if table is not None else cache.view(-1, 64, cache.shape[-1])
            record(rows, variant="flashmla", **point, **time_flashmla_paged(fm, q, pool, fm_table, lens, FLUSHER))
        q = cache = None
        torch.cuda.empty_cache()


def fp8(rows, ok) -> None:
    scale = torch.tensor([0.02], device="cuda")
    for B, ctx, H, layout in FP8_POINTS:
        q, cache, lens, table, _ = inputs(B, ctx, H, layout)
        cache = cache.to(torch.float8_e4m3fn)
        rounds(rows, ok, dict(kind="fp8", B=B, ctx=ctx, heads=H, layout=layout), lambda name: gmd.mla_decode_gluon(
            q, cache, lens, table, softmax_scale=MLA_SCALE, kv_scale=scale, max_seqlen=ctx,
            config=dense_config(name, H, fp8=True)))
        q = cache = None
        torch.cuda.empty_cache()


def sparse(rows, ok) -> None:
    dev = torch.device("cuda")
    for B in sorted({b for b, _ in SPARSE_POINTS}):
        (kv, ds), table, lens, idx = sparse_inputs(B, 32768, 2048, dev)
        for H in [h for b, h in SPARSE_POINTS if b == B]:
            q = torch.randn(B, 1, H, 576, device=dev, dtype=torch.bfloat16)
            for fmt, cache in (("bf16", kv), ("fp8_ds", ds)):
                rounds(rows, ok, dict(kind="sparse", B=B, heads=H, cache=fmt), lambda name: mla_decode_sparse_gluon(
                    q, cache, idx, table, lens, softmax_scale=MLA_SCALE,
                    config=GluonSparseConfig(rescale_slack=SLACKS[name])))
        kv = ds = table = idx = None
        torch.cuda.empty_cache()


def main() -> int:
    global FLUSHER
    a = gpu_lab_args(__doc__, lambda ap: ap.add_argument("--only", default="dense,fp8,sparse"))
    if a is None:
        return 2
    FLUSHER = L2Flusher(torch.cuda.current_device())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))  # a device script's `timeout`: still write what landed
    rows = []
    ok = check_variants(rows, SLACKS, check)
    parts = a.only.split(",")
    try:
        if "dense" in parts:
            dense(rows, ok, _flash_mla())
        if "fp8" in parts:
            fp8(rows, ok)
        if "sparse" in parts:
            sparse(rows, ok)
    finally:
        with open(a.out, "w") as f:
            json.dump(dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__,
                           triton=__import__("triton").__version__, rows=rows), f, indent=1)
    return 0


FLUSHER = None

if __name__ == "__main__":
    raise SystemExit(main())
