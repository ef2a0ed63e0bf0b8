"""Lab script (GPU): the CUDA sparse decode over fp8-ds rows (mla_decode(indices=..., impl="cuda"),
kernels/cuda/mla_fp8_sparse.cu) against what impl "auto" runs for them today (the Triton sparse kernel below
gluon_mla_sparse.AUTO_MIN_HEADS heads, the Gluon one from there), at the issue's sparse points: batch 8/64 x top-2048
of a 32k-token paged cache (64-token blocks), 16, 32 and 64 heads; graph-timed with the L2 flushed, best of two rounds
in alternating order, beside the sparse floor (selected bytes and indices at the copy bandwidth measured in the same
run, or the dots at the matmul rate). Each variant is checked against the float64 reference first (mixed lengths,
unused slots); one that fails is not timed.

    python3 bench/ab_sparse_cuda.py --out OUT.json [--heads 16 32 64] [--variants auto cuda cuda_s16]
    python3 bench/ab_summary.py OUT.json cuda/auto,cuda_s16/auto
"""

from __future__ import annotations

import time

import torch

from common import alternating, check_variants, dump_run, gpu_lab_args, lab_run, record

from mlacalc.kernels.bench import MLA_SCALE, _floor_ms, eager_and_graph, sparse_decode_cost, sparse_inputs
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.testing import make_sparse_case, rel_error, run_sparse_case
from mlacalc.profiler.calibrate import measure_ceilings
from mlacalc.profiler.timing import L2Flusher

VARIANTS = {"auto": dict(impl="auto"), "cuda": dict(impl="cuda"),
            # the split count (the plan: one wave, >= 256 slots a split, so 8 at batch 8: 64 CTAs of 264 places)
            "cuda_s16": dict(impl="cuda", num_splits=16), "cuda_s32": dict(impl="cuda", num_splits=32)}
# (the thirty-fifth session's run also timed "cuda_fm" and "cuda_i3", options since removed: commit e79a23a)
POINTS = [(8, 32768), (64, 32768)]
TOPK = 2048


def check(name: str, heads: int) -> dict:
    case = make_sparse_case([4097, 2500, 65, 1], heads=heads, topk=TOPK, fp8_ds=True, device="cuda", seed=heads)
    run = lambda *a, **k: mla_decode(a[0], a[1], a[4], a[3], indices=a[2], **VARIANTS[name], **k)  # noqa: E731
    return dict(fp8_ds=rel_error(run_sparse_case(run, case), case.ref))


def main() -> int:
    def add(ap):
        ap.add_argument("--heads", type=int, nargs="+", default=[16, 32, 64])
        ap.add_argument("--variants", nargs="+", default=["auto", "cuda", "cuda_s16"],
                        choices=sorted(VARIANTS))

    a = gpu_lab_args(__doc__, add)
    if a is None:
        return 2
    flusher = L2Flusher(torch.cuda.current_device())
    with lab_run(a.out) as rows:
        t0 = time.time()
        try:
            check("cuda", 16)   # the first call builds the extension: its time on the log
        except Exception as e:  # noqa: BLE001 - recorded by check_variants below
            print(f"build/first call: {type(e).__name__}: {e}"[:300])
        print(f"extension ready after {time.time() - t0:.0f} s", flush=True)
        ceil = measure_ceilings(print, flusher=flusher)
        record(rows, kind="ceilings", **ceil)
        for H in a.heads:
            ok = check_variants(rows, a.variants, lambda n: check(n, H), tol=2e-2)
            names = [n for n in a.variants if ok[n]]
            for B, ctx in POINTS:
                (_, ds), table, lens, idx = sparse_inputs(B, ctx, TOPK, "cuda")
                q = torch.randn(B, 1, H, 576, device="cuda", dtype=torch.bfloat16)
                floor = _floor_ms(*sparse_decode_cost(B, TOPK, H, 656), ceil)
                for rnd, name in alternating(names):
                    call = lambda: mla_decode(q, ds, lens, table, indices=idx, softmax_scale=MLA_SCALE,  # noqa: E731
                                              **VARIANTS[name])
                    t = eager_and_graph(call, flusher)
                    record(rows, kind="sparse_fp8_ds", variant=name, round=rnd, B=B, ctx=ctx, heads=H, topk=TOPK,
                           layout="paged64", floor_ms=floor,
                           x_floor=t["graph_ms"] / floor if t["graph_ms"] else None, **t)
                dump_run(a.out, rows)
                q = ds = table = idx = None
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
