"""Lab script (GPU): the seesaw Gluon kernel as it is now against an earlier version of it, and FlashMLA, on the
same inputs (graph-timed, L2 flushed), plus the Triton kernel at 16 heads paged against contiguous.

    python3 bench/ab_seesaw.py --old FILE.py --out OUT.json [--seesaw-only] [--variants new32,old32] [--repeat N]
    python3 bench/ab_seesaw.py --old FILE.py --out OUT.json --fp8   # the fp8 cache only (e4m3, per-tensor scale,
                                                                     # widened by a third warp group), new vs old

FILE.py: an earlier kernels/gluon_mla_seesaw.py (e.g. `git show REV:kernels/gluon_mla_seesaw.py`); its
_mla_decode_seesaw_kernel must take the same arguments. Each variant is checked against the float64 reference on a
small mixed-length case first; a failed check is recorded and that variant is not timed. --repeat N times each
point's variants N times, the order reversed every other round (rows carry `round`), so that a drift in clocks
over a point shows as a spread between rounds, not as a difference between variants.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys

import torch

from ab_fp8_gluon import POINTS as FP8_GLUON_POINTS  # the fp8 Gluon kernel's A/B points
from common import record

from mlacalc.kernels import gluon_mla_decode as gmd
from mlacalc.kernels.bench import MLA_SCALE, _flash_mla, eager_and_graph
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.launch import FastLauncher
from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
from mlacalc.profiler.timing import L2Flusher

D, R = 576, 512
POINTS = [(64, 16384, 128, "contiguous"), (32, 32768, 128, "paged64"), (128, 4096, 128, "contiguous"),
          (128, 32768, 128, "paged64"), (128, 4096, 128, "paged64"),
          (8, 32768, 128, "contiguous"), (32, 32768, 64, "paged64"), (128, 4096, 64, "paged64"),
          (8, 4096, 64, "contiguous")]
# the dense grid of `mlacalc bench kernels` (kernels/bench.py) where the seesaw kernel runs: 64 and 128 heads
BENCH_POINTS = [(B, ctx, H, layout) for B in (8, 32, 128) for ctx in (4096, 32768) for H in (64, 128)
                for layout in ("contiguous", "paged64")]
TRITON_POINTS = [(32, 32768, 16, "paged64"), (32, 32768, 16, "contiguous"), (32, 4096, 16, "paged64"),
                 (8, 32768, 16, "paged64")]
# Triton tiles two programs to an SM (4 warps each: the default one-program tiles leave 4 warps an SM, latency-bound
# in Nsight Compute: IPC 0.8-1.2): (block_h, block_n, warps, stages, programs_per_sm, fp8_mode)
TRITON_TILES = {"bf16": [None, (16, 32, 4, 3, 2, "slices"), (16, 32, 4, 2, 2, "slices")],
                "fp8": [None, (16, 32, 4, 3, 2, "dual"), (16, 32, 4, 2, 2, "dual"), (16, 64, 4, 2, 2, "dual")]}
FP8_POINTS = [(32, 32768, 16, "paged64"), (128, 4096, 16, "paged64"), (8, 32768, 16, "paged64")]


def load_kernel(path: str):
    spec = importlib.util.spec_from_file_location("old_seesaw", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_seesaw"] = mod
    spec.loader.exec_module(mod)
    return mod._mla_decode_seesaw_kernel


def use(kernel) -> None:
    """Route mla_decode_gluon to `kernel` (plans are per shape; the launcher keeps compiled kernels per key)."""
    gmd._LAUNCH_SEESAW = FastLauncher(kernel)


def check(block_n: int, fp8: bool = False) -> float:
    case = make_mla_case([4097, 1500, 64, 65, 1], heads=128, device="cuda", paged=True, fp8=fp8, seed=1)
    return rel_error(run_mla_case(gmd.mla_decode_gluon, case, config=gmd.GluonMLAConfig(block_n=block_n)), case.ref)


def ab_fp8(new_kernel, old_kernel, flusher) -> list:
    """The fp8 cache (e4m3, one scale) through the Gluon kernel, new against old: checked, then graph-timed."""
    rows, ok = [], {}
    variants = {"new32": new_kernel, "old32": old_kernel}
    for name, kern in variants.items():
        use(kern)
        try:
            err = check(32, fp8=True)
        except Exception as e:  # noqa: BLE001 - a lab script records the failure and goes on
            err = f"{type(e).__name__}: {e}"[:300]
        ok[name] = isinstance(err, float) and err < 3e-2
        rows.append(dict(kind="check", fmt="fp8", variant=name, rel_err=err))
        print("check fp8", name, err, flush=True)
    scale = torch.tensor([0.02], device="cuda")
    for B, ctx, H, layout in FP8_GLUON_POINTS:
        q, cache, lens, table, _ = inputs(B, ctx, H, layout)
        cache = cache.to(torch.float8_e4m3fn)
        for name, kern in variants.items():
            if ok[name]:
                use(kern)
                t = eager_and_graph(lambda: gmd.mla_decode_gluon(q, cache, lens, table, softmax_scale=MLA_SCALE,
                                                                 kv_scale=scale, max_seqlen=ctx), flusher)
                record(rows, kind="seesaw_fp8", variant=name, B=B, ctx=ctx, heads=H, layout=layout, **t)
        q = cache = None
        torch.cuda.empty_cache()
    use(new_kernel)
    return rows


def inputs(B, ctx, H, layout):
    dev = torch.device("cuda")
    q = torch.randn(B, 1, H, D, device=dev, dtype=torch.bfloat16)
    lens = torch.full((B,), ctx, dtype=torch.int32, device=dev)
    pool = torch.randn(B * ctx // 64, 64, D, device=dev, dtype=torch.bfloat16)
    if layout == "paged64":
        table = torch.randperm(B * ctx // 64, device=dev).view(B, ctx // 64).to(torch.int32)
        return q, pool, lens, table, table
    ident = torch.arange(B * ctx // 64, device=dev, dtype=torch.int32).view(B, ctx // 64)
    return q, pool.view(B, ctx, D), lens, None, ident


def time_flashmla(fm, q, cache, lens, table, fm_table, flusher) -> dict:
    """FlashMLA's dense decode on the same cache (it always reads 64-token blocks: the identity table over a
    contiguous cache), timed as ours are."""
    meta = fm.get_mla_metadata()[0]
    kc = (cache if table is not None else cache.view(-1, 64, D)).view(-1, 64, 1, D)
    return eager_and_graph(lambda: fm.flash_mla_with_kvcache(q, kc, fm_table, lens, R, meta,
                                                             softmax_scale=MLA_SCALE), flusher)


def write_rows(path: str, rows: list) -> None:
    with open(path, "w") as f:
        json.dump(dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, rows=rows), f, indent=1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seesaw-only", action="store_true", help="time the seesaw variants and FlashMLA only")
    ap.add_argument("--fp8", action="store_true", help="the fp8 cache through both kernels only")
    ap.add_argument("--variants", default="new32,new64,old32", help="comma-separated: new32, new64, old32, old64")
    ap.add_argument("--points", choices=("ab", "bench"), default="ab",
                    help="ab: the 9 points above; bench: the dense grid of `mlacalc bench kernels` at 64 and 128 heads")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of each point's variants (order alternating)")
    a = ap.parse_args()
    if not a.old.endswith(".py") or not os.path.isfile(a.old):
        print(f"ab_seesaw: --old {a.old!r}: expected an earlier kernels/gluon_mla_seesaw.py", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("ab_seesaw: needs a CUDA GPU (sm_90)", file=sys.stderr)
        return 2
    new_kernel, old_kernel = gmd._mla_decode_seesaw_kernel, load_kernel(a.old)
    flusher = L2Flusher(torch.cuda.current_device())
    if a.fp8:
        write_rows(a.out, ab_fp8(new_kernel, old_kernel, flusher))
        return 0
    fm = _flash_mla()
    known = {"new32": (new_kernel, 32), "new64": (new_kernel, 64), "old32": (old_kernel, 32), "old64": (old_kernel, 64)}
    names = a.variants.split(",")
    if not set(names) <= set(known) or a.repeat < 1:
        print(f"ab_seesaw: --variants {a.variants!r} / --repeat {a.repeat}: expected names from {sorted(known)}, "
              "repeat >= 1", file=sys.stderr)
        return 2
    variants = {n: known[n] for n in names}
    rows, ok = [], {}
    for name, (kern, bn) in variants.items():
        use(kern)
        try:
            err = check(bn)
        except Exception as e:  # noqa: BLE001 - a lab script records the failure and goes on
            err = f"{type(e).__name__}: {e}"[:300]
        ok[name] = isinstance(err, float) and err < 1e-2
        rows.append(dict(kind="check", variant=name, rel_err=err))
        print("check", name, err, flush=True)
    for B, ctx, H, layout in (POINTS if a.points == "ab" else BENCH_POINTS):
        q, cache, lens, table, fm_table = inputs(B, ctx, H, layout)
        for rnd in range(a.repeat):
            order = list(variants.items())
            for name, (kern, bn) in (order[::-1] if rnd % 2 else order):
                if not ok[name]:
                    continue
                use(kern)
                cfg = gmd.GluonMLAConfig(block_n=bn)
                t = eager_and_graph(lambda: gmd.mla_decode_gluon(q, cache, lens, table, softmax_scale=MLA_SCALE,
                                                                 max_seqlen=ctx, config=cfg), flusher)
                record(rows, kind="seesaw", variant=name, round=rnd, B=B, ctx=ctx, heads=H, layout=layout, **t)
        if fm is not None:
            record(rows, kind="seesaw", variant="flashmla", B=B, ctx=ctx, heads=H, layout=layout,
                   **time_flashmla(fm, q, cache, lens, table, fm_table, flusher))
        q = cache = None  # free them before the next point allocates its own
        torch.cuda.empty_cache()
    use(new_kernel)
    for B, ctx, H, layout in ([] if a.seesaw_only else TRITON_POINTS):
        q, cache, lens, table, fm_table = inputs(B, ctx, H, layout)
        t = eager_and_graph(lambda: mla_decode(q, cache, lens, table, softmax_scale=MLA_SCALE, max_seqlen=ctx),
                            flusher)
        record(rows, kind="triton16", variant="ours", B=B, ctx=ctx, heads=H, layout=layout, **t)
        if fm is not None:
            record(rows, kind="triton16", variant="flashmla", B=B, ctx=ctx, heads=H, layout=layout,
                   **time_flashmla(fm, q, cache, lens, table, fm_table, flusher))
        q = cache = None  # free them before the next point allocates its own
        torch.cuda.empty_cache()
    from mlacalc.kernels.triton_mla_decode import MLADecodeConfig, mla_decode_triton

    def tile_cfg(t):
        return None if t is None else MLADecodeConfig(block_h=t[0], block_n=t[1], num_warps=t[2], num_stages=t[3],
                                                      programs_per_sm=t[4], fp8_mode=t[5])

    for fmt, pts in (() if a.seesaw_only else (("bf16", TRITON_POINTS), ("fp8", FP8_POINTS))):
        for B, ctx, H, layout in pts:
            q, cache, lens, table, _ = inputs(B, ctx, H, layout)
            scale = None
            if fmt == "fp8":
                cache, scale = cache.to(torch.float8_e4m3fn), torch.tensor([0.02], device="cuda")
            for t in TRITON_TILES[fmt]:
                cfg = tile_cfg(t)
                try:
                    case = make_mla_case([4097, 65, 1], heads=H, device="cuda", paged=True, fp8=fmt == "fp8", seed=2)
                    err = rel_error(run_mla_case(mla_decode_triton, case, config=cfg), case.ref)
                    tm = eager_and_graph(lambda: mla_decode_triton(q, cache, lens, table, softmax_scale=MLA_SCALE,
                                                                   kv_scale=scale, max_seqlen=ctx, config=cfg),
                                         flusher) if err < 3e-2 else {}
                except Exception as e:  # noqa: BLE001 - recorded, the sweep goes on
                    err, tm = f"{type(e).__name__}: {e}"[:300], {}
                record(rows, kind="triton_tile", fmt=fmt, tile=t, rel_err=err, B=B, ctx=ctx, heads=H,
                       layout=layout, **tm)
            q = cache = None  # free them before the next point allocates its own
            torch.cuda.empty_cache()
    write_rows(a.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
