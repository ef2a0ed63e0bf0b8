"""Lab script (GPU): our MLA decode (mla_decode, impl auto) beside FlashMLA's dense decode at points nobody chose:
seeded random batch (1-128), mixed sequence lengths (each drawn in [ctx / 2, ctx], ctx log-uniform in 1k-64k, not
multiples of the 64-token block), 16/32/64/128 heads, one query token, the same paged bf16 cache (64-token blocks
in shuffled order) and block table for both, graph-timed with the L2 flushed. Each row is written as it lands.

--schedule triton|all also times mla_decode with a balanced schedule (triton_schedule.mla_decode_schedule(), filled
once before the timed calls, as FlashMLA's metadata is): at 16/32 heads (the Triton kernel's scheduled mode) or at
every head count (the Gluon kernel's too, at >= 64 heads). bench/imbalance_vs_measured.py predicts, from the seed-1
run without it, what the scheduled column should show.

--uniform draws the issue's ranges instead, off its grid: batch 8-128 and context 4k-32k (any integers; every
sequence the context's length), 16/64/128 heads: where the split planners' wave quantization shows (a batch x head
blocks that is no divisor of the SMs), which the power-of-two grid of `mlacalc bench kernels` does not reach.

--padded-gluon also times impl="gluon" under 64 heads (the 64-row tile padded), with the fixed grid and, with
--schedule all, with a schedule: columns gluon_ratio, gluon_sched_ratio (imbalance_vs_measured.py predicts them).

    python3 bench/random_vs_flashmla.py --out OUT.json [--seed 1] [--n 40] [--schedule none|triton|all]
                                        [--padded-gluon] [--uniform]
"""

from __future__ import annotations

import math
import random
import statistics

import torch

from common import dump_run, gpu_lab_args, record, time_flashmla_paged

from mlacalc.kernels.bench import MLA_SCALE, _flash_mla, eager_and_graph
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.testing import rel_error
from mlacalc.kernels.triton_schedule import mla_decode_schedule
from mlacalc.profiler.timing import L2Flusher

D, R, BLOCK = 576, 512, 64


def draw(seed: int, n: int) -> list[tuple[int, int, int]]:
    """(batch, ctx, heads) points, seeded."""
    rng = random.Random(seed)
    return [(rng.choice([1, 2, 3, 5, 8, 12, 16, 24, 32, 48, 64, 96, 128]),
             int(math.exp(rng.uniform(math.log(1024), math.log(65536)))), rng.choice([16, 32, 64, 128]))
            for _ in range(n)]


def draw_uniform(seed: int, n: int) -> list[tuple[int, int, int]]:
    """(batch, ctx, heads) points within the issue's ranges, seeded: batch 8-128, ctx 4,096-32,768, any integers."""
    rng = random.Random(seed)
    return [(rng.randint(8, 128), rng.randint(4096, 32768), rng.choice([16, 64, 128])) for _ in range(n)]


def main() -> int:
    a = gpu_lab_args(__doc__, lambda ap: (ap.add_argument("--seed", type=int, default=1),
                                          ap.add_argument("--n", type=int, default=40),
                                          ap.add_argument("--schedule", choices=["none", "triton", "all"],
                                                          default="none"),
                                          ap.add_argument("--padded-gluon", action="store_true"),
                                          ap.add_argument("--uniform", action="store_true")))
    if a is None:
        return 2
    fm = _flash_mla()
    if fm is None:
        print("random_vs_flashmla: flash_mla not importable")
        return 2
    dev, flusher, rows = torch.device("cuda"), L2Flusher(torch.cuda.current_device()), []
    gen = torch.Generator(device="cpu").manual_seed(a.seed)
    for B, ctx, H in (draw_uniform if a.uniform else draw)(a.seed, a.n):
        if a.uniform:
            lens_cpu = torch.full((B,), ctx, dtype=torch.int32)
        else:
            lens_cpu = torch.randint(ctx // 2, ctx + 1, (B,), generator=gen, dtype=torch.int32)
        blocks = -(-ctx // BLOCK)
        pool = torch.randn(B * blocks, BLOCK, D, device=dev, dtype=torch.bfloat16)
        table = torch.randperm(B * blocks, device=dev).view(B, blocks).to(torch.int32)
        lens = lens_cpu.to(dev)
        q = torch.randn(B, 1, H, D, device=dev, dtype=torch.bfloat16)
        ours = eager_and_graph(lambda: mla_decode(q, pool, lens, table, softmax_scale=MLA_SCALE, max_seqlen=ctx),
                               flusher)
        theirs = time_flashmla_paged(fm, q, pool, table, lens, flusher)
        row = dict(B=B, ctx=ctx, heads=H, mean_len=float(lens_cpu.float().mean()), ours_ms=ours["graph_ms"],
                   flashmla_ms=theirs["graph_ms"], ratio=ours["graph_ms"] / theirs["graph_ms"])
        if a.schedule == "all" or (a.schedule == "triton" and H < 64):
            row |= _scheduled(q, pool, lens, table, ctx, theirs["graph_ms"], flusher)
        if a.padded_gluon and H < 64:
            row |= _padded_gluon(q, pool, lens, table, ctx, theirs["graph_ms"], flusher, a.schedule == "all")
        record(rows, **row)
        dump_run(a.out, rows, seed=a.seed, uniform=a.uniform)
        del pool, table, q
        torch.cuda.empty_cache()
    r = sorted(x["ratio"] for x in rows)
    print(f"ours / FlashMLA over {len(r)} points: median {statistics.median(r):.3f}, max {r[-1]:.3f}")
    for heads in sorted({x["heads"] for x in rows}):
        rh = sorted(x["ratio"] for x in rows if x["heads"] == heads)
        print(f"  {heads} heads, {len(rh)} points: median {statistics.median(rh):.3f}, range {rh[0]:.3f}-{rh[-1]:.3f}")
    rs = sorted(x["sched_ratio"] for x in rows if "sched_ratio" in x)
    if rs:
        print(f"scheduled / FlashMLA over {len(rs)} points: median {statistics.median(rs):.3f}, max {rs[-1]:.3f}")
    return 0


def _padded_gluon(q, pool, lens, table, ctx, flashmla_ms, flusher, scheduled: bool) -> dict:
    """impl="gluon" under 64 heads (the 64-row tile padded): its fixed grid and, when `scheduled`, with a schedule,
    each against FlashMLA; an error is recorded and the run goes on."""
    kw = dict(softmax_scale=MLA_SCALE, impl="gluon")
    out = {}
    try:
        t = eager_and_graph(lambda: mla_decode(q, pool, lens, table, max_seqlen=ctx, **kw), flusher)
        out |= dict(gluon_ms=t["graph_ms"], gluon_ratio=t["graph_ms"] / flashmla_ms)
        if scheduled:
            sched = mla_decode_schedule()
            mla_decode(q, pool, lens, table, schedule=sched, **kw)
            t = eager_and_graph(lambda: mla_decode(q, pool, lens, table, schedule=sched, **kw), flusher)
            out |= dict(gluon_sched_ms=t["graph_ms"], gluon_sched_ratio=t["graph_ms"] / flashmla_ms)
    except Exception as exc:  # noqa: BLE001 - a lab run records the failure and goes on
        out["gluon_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return out


def _scheduled(q, pool, lens, table, ctx, flashmla_ms, flusher) -> dict:
    """The same call with a balanced schedule (filled by a first call outside the timing), its agreement with the
    fixed grid's output, and its time; an error is recorded and the run goes on."""
    kw = dict(softmax_scale=MLA_SCALE)
    try:
        fixed = mla_decode(q, pool, lens, table, max_seqlen=ctx, **kw)
        sched = mla_decode_schedule()
        out = mla_decode(q, pool, lens, table, schedule=sched, **kw)
        t = eager_and_graph(lambda: mla_decode(q, pool, lens, table, schedule=sched, **kw), flusher)
    except Exception as exc:  # noqa: BLE001 - a lab run records the failure and goes on
        return dict(sched_error=f"{type(exc).__name__}: {exc}"[:300])
    return dict(sched_ms=t["graph_ms"], sched_ratio=t["graph_ms"] / flashmla_ms, sched_agree=rel_error(out, fixed))


if __name__ == "__main__":
    raise SystemExit(main())
