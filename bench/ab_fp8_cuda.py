"""Lab script (GPU): the CUDA fp8 decode (impl "cuda", kernels/cuda/mla_fp8_decode.cu) against what impl "auto" runs
today for an e4m3 cache at 16 heads and fewer (the Triton kernel), at the issue's fp8 points: batch 8/32/128 x
context 4k/32k, contiguous and paged in 64-token blocks, 16 heads, one per-tensor scale; graph-timed with the L2
flushed, best of two rounds in alternating order, beside the fp8 floor from ceilings measured in the same run. Each
variant is checked against the float64 reference first (mixed lengths, paged); one that fails is not timed. Over 16
heads (--heads 32 64 128) the kernel runs head groups of 32 rows ("cuda", "cuda3") or of 16 ("cuda16"), and auto runs
the Triton kernel (32) or the Gluon one (64, 128), before the thirty-fifth session handed the CUDA kernel up to 32
rows. (That session's "_i", "_fm", "_pf" and "cuda_all" variants timed options since removed: commit e79a23a.)

    python3 bench/ab_fp8_cuda.py --out OUT.json [--heads 16 8 | --heads 64 128] [--variants auto cuda cuda16]
          [--layouts paged64]
    python3 bench/ab_summary.py OUT.json cuda/auto,cuda3/auto,cuda16/auto     # the ratios

Changes to the kernel's source against committed ones, in one run (`--ext NAME=DIR`, repeated): DIR holds
kernels/cuda/*.cu of some revision (`bash bench/make_ab_base_cuda.sh REV DIR` copies them out of git), built as an
extension of its own; variant NAME launches it and "cuda" the working tree's, all through the same plan (split
count, partials, merge).

    python3 bench/ab_fp8_cuda.py --out OUT.json --ext base=bench/_ab_base_cuda --variants cuda base --heads 16 32
    python3 bench/ab_summary.py OUT.json cuda/base
"""

from __future__ import annotations

import sys
import time

import torch

from ab_seesaw import inputs
from common import alternating, check_variants, dump_run, gpu_lab_args, lab_run, record

from mlacalc.kernels.bench import MLA_SCALE, _floor_ms, eager_and_graph, mla_decode_cost
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
from mlacalc.profiler.calibrate import measure_ceilings
from mlacalc.profiler.timing import L2Flusher

VARIANTS = {"auto": dict(impl="auto"), "cuda": dict(impl="cuda"), "cuda3": dict(impl="cuda", stages=3),
            "cuda16": dict(impl="cuda", cta_rows=16)}   # over 16 heads: head groups of 16 rows (2 CTAs an SM)
DEFAULT_VARIANTS = ("auto", "cuda", "cuda3", "cuda16")
POINTS = [(B, ctx) for B in (8, 32, 128) for ctx in (4096, 32768)]


EXTS: dict = {}   # "cuda" and each --ext NAME -> the extension an --ext run launches for that variant


def load_ext(name: str, src: str):
    """Another revision's kernel: the extension built from the copies in `src` under a name of its own."""
    import os

    from torch.utils.cpp_extension import load

    os.environ["TORCH_CUDA_ARCH_LIST"] = "9.0"
    src = os.path.abspath(src)   # the same build key from any folder (a script may build it first elsewhere)
    return load(name=f"mlacalc_mla_fp8_decode_ab_{name}", sources=[os.path.join(src, "mla_fp8_decode_torch.cu")],
                extra_include_paths=[src], verbose=False, extra_cuda_cflags=["-O3"])


def plan_call(name: str, q, cache, lens, table, *, softmax_scale, kv_scale, max_seqlen=None, out=None, **_):
    """An --ext run's call: the wrapper's plan (kernels/cuda_mla_fp8._Plan) launching variant `name`'s extension."""
    from mlacalc.kernels import cuda_mla_fp8 as cm

    saved, cm._EXT = cm._EXT, EXTS[name]
    try:
        plan = cm._Plan(q, cache, table, max_seqlen, None, cm.STAGES, cm.default_cta_rows(q.shape[1] * q.shape[2]))
    finally:
        cm._EXT = saved
    scale_t = kv_scale if torch.is_tensor(kv_scale) else None
    return lambda: plan.launch(q, cache, lens, table, softmax_scale, kv_scale, scale_t, out)


def decode_call(name: str, *args, **kwargs):
    """A zero-argument call of variant `name` (mla_decode with its options, or an --ext run's plan)."""
    if name in EXTS:
        return plan_call(name, *args, **kwargs)
    return lambda: mla_decode(*args, **VARIANTS[name], **kwargs)


def check(name: str, heads: int) -> dict:
    errs = {}
    for paged in (False, True):
        case = make_mla_case([1, 63, 64, 65, 4097, 2000], heads=heads, device="cuda", paged=paged, fp8=True, seed=5)
        out = run_mla_case(lambda *a, **k: decode_call(name, *a, **k)(), case)
        errs["paged" if paged else "contiguous"] = rel_error(out, case.ref)
    return errs


def main() -> int:
    def add(ap):
        ap.add_argument("--heads", type=int, nargs="+", default=[16])
        ap.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS))
        ap.add_argument("--ext", action="append", default=[], metavar="NAME=DIR",
                        help="variant NAME: the kernels/cuda/*.cu copied in DIR, built and run (repeatable)")
        ap.add_argument("--layouts", nargs="+", default=["contiguous", "paged64"], choices=["contiguous", "paged64"])

    a = gpu_lab_args(__doc__, add)
    if a is None:
        return 2
    exts = dict(e.split("=", 1) for e in a.ext if "=" in e)
    unknown = [n for n in a.variants if n not in VARIANTS and n not in exts]
    if unknown or len(exts) != len(a.ext) or set(exts) & set(VARIANTS):
        print(f"ab_fp8_cuda: variants are {', '.join(VARIANTS)} or an --ext NAME=DIR's NAME (not one of those); "
              f"got variants {unknown or a.variants}, --ext {a.ext}", file=sys.stderr)
        return 2
    flusher = L2Flusher(torch.cuda.current_device())
    scale = torch.tensor([0.02], device="cuda")
    with lab_run(a.out) as rows:
        t0 = time.time()
        for name in ("cuda",):  # the first call builds the extension: its time on the log
            try:
                check(name, 16)
            except Exception as e:  # noqa: BLE001 - recorded by check_variants below
                print(f"build/first call: {type(e).__name__}: {e}"[:300])
        print(f"extension ready after {time.time() - t0:.0f} s", flush=True)
        if exts:
            from mlacalc.kernels.cuda_mla_fp8 import _extension

            EXTS.update(cuda=_extension(), **{n: load_ext(n, d) for n, d in exts.items()})
            print(f"--ext extensions ready after {time.time() - t0:.0f} s", flush=True)
        ceil = measure_ceilings(print, flusher=flusher)
        record(rows, kind="ceilings", **ceil)
        for H in a.heads:
            variants = [n for n in a.variants if not n.startswith("cuda16") or H > 16]   # cuda16 is cuda at <= 16
            ok = check_variants(rows, variants, lambda n: check(n, H), tol=2e-2)
            names = [n for n in variants if ok[n]]
            for B, ctx in POINTS:
                for layout in a.layouts:
                    q, cache, lens, table, _ = inputs(B, ctx, H, layout)
                    cache = cache.to(torch.float8_e4m3fn)
                    nbytes, flops = mla_decode_cost(B, ctx, H, 1)
                    floor = _floor_ms(nbytes, flops, ceil)
                    for rnd, name in alternating(names):
                        call = decode_call(name, q, cache, lens, table, softmax_scale=MLA_SCALE, kv_scale=scale,
                                           max_seqlen=ctx)
                        t = eager_and_graph(call, flusher)
                        record(rows, kind="fp8", variant=name, round=rnd, B=B, ctx=ctx, heads=H, layout=layout,
                               floor_ms=floor, x_floor=t["graph_ms"] / floor if t["graph_ms"] else None, **t)
                    dump_run(a.out, rows)
                    q = cache = table = None
                    torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
