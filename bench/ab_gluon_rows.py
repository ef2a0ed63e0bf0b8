"""Lab script (GPU): the Gluon seesaw kernel under 64 query rows (16 and 32 heads, the 64-row tile padded as
FlashMLA pads it; branch gluon-rows) against the Triton kernel's 16/32-row tiles that impl="auto" runs there, and
FlashMLA, on the same paged bf16 cache (64-token blocks, shuffled), one token, graph-timed with the L2 flushed; each
variant first checked against the float64 reference on a small mixed-length case.

    python3 bench/ab_gluon_rows.py --out OUT.json
"""

from __future__ import annotations

import statistics

import torch

from common import dump_run, gpu_lab_args, record, time_flashmla_paged

from mlacalc.kernels.bench import MLA_SCALE, _flash_mla, eager_and_graph
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
from mlacalc.profiler.timing import L2Flusher

D, R, BLOCK = 576, 512, 64
# (batch, ctx, heads, mixed lengths): the random comparison's worst 32-head points first (tuning/random_vs_flashmla_
# seed1_t36.json), then a grid of uniform lengths
POINTS = ([(32, 25966, 32, True), (96, 6527, 32, True), (24, 15388, 32, True), (96, 1155, 32, True),
           (24, 45027, 16, True)]
          + [(B, ctx, H, False) for H in (16, 32) for B in (1, 8, 32, 128) for ctx in (2048, 16384)])


def check(impl: str, heads: int) -> float:
    case = make_mla_case([4097, 1500, 64, 65, 1], heads=heads, device="cuda", paged=True, seed=1)
    return rel_error(run_mla_case(lambda *a, **k: mla_decode(*a, impl=impl, **k), case), case.ref)


def main() -> int:
    a = gpu_lab_args(__doc__)
    if a is None:
        return 2
    fm, flusher, rows = _flash_mla(), L2Flusher(torch.cuda.current_device()), []
    ok = {}
    for impl in ("gluon", "triton"):
        for H in (16, 32):
            try:
                err = check(impl, H)
            except Exception as e:  # noqa: BLE001 - a lab script records the failure and goes on
                err = f"{type(e).__name__}: {e}"[:300]
            ok[impl, H] = isinstance(err, float) and err < 1e-2
            record(rows, kind="check", impl=impl, heads=H, rel_err=err)
    gen = torch.Generator(device="cpu").manual_seed(1)
    for B, ctx, H, mixed in POINTS:
        lo = ctx // 2 if mixed else ctx
        lens_cpu = torch.randint(lo, ctx + 1, (B,), generator=gen, dtype=torch.int32)
        blocks = -(-ctx // BLOCK)
        pool = torch.randn(B * blocks, BLOCK, D, device="cuda", dtype=torch.bfloat16)
        table = torch.randperm(B * blocks, device="cuda").view(B, blocks).to(torch.int32)
        lens = lens_cpu.cuda()
        q = torch.randn(B, 1, H, D, device="cuda", dtype=torch.bfloat16)
        t = {}
        for impl in ("gluon", "triton"):
            if ok[impl, H]:
                t[impl] = eager_and_graph(lambda: mla_decode(q, pool, lens, table, softmax_scale=MLA_SCALE,
                                                             max_seqlen=ctx, impl=impl), flusher)["graph_ms"]
        if fm is not None:
            t["flashmla"] = time_flashmla_paged(fm, q, pool, table, lens, flusher)["graph_ms"]
        record(rows, kind="point", B=B, ctx=ctx, heads=H, mixed=mixed, **{f"{k}_ms": v for k, v in t.items()})
        dump_run(a.out, rows)
        del pool, table, q
        torch.cuda.empty_cache()
    pts = [r for r in rows if r["kind"] == "point" and "gluon_ms" in r and "triton_ms" in r]
    if pts:
        g = [r["gluon_ms"] / r["triton_ms"] for r in pts]
        print(f"gluon / triton over {len(g)} points: median {statistics.median(g):.3f}, range {min(g):.3f}-"
              f"{max(g):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
