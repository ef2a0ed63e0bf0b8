"""Lab script: the Triton MLA decode with and without the balanced schedule (kernels/schedule.py,
triton_schedule.py), beside FlashMLA where it imports, at seeded mixed-length points: 16/32 heads (the Triton
path), batch 8-128, each sequence's length drawn in [ctx / 2, ctx], ctx log-uniform in 1k-64k, one query token,
a paged bf16 cache (64-token blocks in shuffled order). Graph-timed with the L2 flushed (kernels/bench.py's
eager_and_graph, as bench/random_vs_flashmla.py); the schedule is filled once before the timed calls, as
FlashMLA's metadata is, and its own launch is timed apart. Each row is written as it lands.

    python bench/ab_schedule.py --out OUT.json [--seed 1] [--n 24]     # GPU
    python bench/ab_schedule.py --dry [--seed 1] [--n 24]              # CPU: the plans only

--dry prints, per point, the fixed grid's plan and the schedule's (parts G, payload in tiles) and the load
imbalance each leaves, from the Python mirror: makespan / (total load / program slots), loads in key tiles plus
the per-segment overhead (schedule.part_loads; the fixed grid's programs handed to the SMs' slots in launch order,
schedule.makespan). 1.0 is perfect balance; `model` is the ratio of the two makespans (scheduled / fixed), the
expected time ratio where the time is the busiest slot's tiles (the combine and per-tile latency left out).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys

H200_SMS = 132  # the dry run plans for the GPU machine's H200
BLOCK = 64      # the cache's block size (FlashMLA's)


def draw(seed: int, n: int) -> list[dict]:
    """Seeded points: batch, ctx, heads and each sequence's length (Python's random, so the dry run and the GPU run
    see the same lengths)."""
    rng = random.Random(seed)
    points = []
    for _ in range(n):
        B = rng.choice([8, 12, 16, 24, 32, 48, 64, 96, 128])
        ctx = int(math.exp(rng.uniform(math.log(1024), math.log(65536))))
        heads = rng.choice([16, 32])
        points.append(dict(B=B, ctx=ctx, heads=heads, lens=[rng.randint(ctx // 2, ctx) for _ in range(B)]))
    return points


def plans(p: dict, sms: int) -> dict:
    """The fixed grid's and the schedule's plans of point p on `sms` SMs, and the imbalance each leaves."""
    from mlacalc.kernels.schedule import (grid_loads, makespan, part_loads, plan_schedule, schedule_parts,
                                          segment_overhead_tiles)
    from mlacalc.kernels.triton_mla_decode import _plan, mla_resident_programs

    B, ctx, H, lens = p["B"], p["ctx"], p["heads"], p["lens"]
    capacity = -(-ctx // BLOCK) * BLOCK
    cfg, block_h, head_blocks, splits, per_split = _plan(B, 1, H, ctx, sms=sms, token_bytes=576 * 2,
                                                         kv_lora_rank=512, fp8=False, config=None, num_splits=None,
                                                         paged=True)
    hp = head_blocks * cfg.split_v
    ov = segment_overhead_tiles(min(block_h, H), cfg.block_n, 576, 512 // cfg.split_v, q_bytes=2, kv_bytes=2)
    slots = sms * mla_resident_programs(576, block_h, cfg)
    fixed = grid_loads(lens, block_n=cfg.block_n, tokens_per_split=per_split, num_splits=splits, overhead=ov)
    fixed = [x for x in fixed for _ in range(hp)]  # head programs are grid axis 0, the fastest
    G = schedule_parts(hp, sms, cfg.programs_per_sm or 1)
    sched = plan_schedule(lens, block_n=cfg.block_n, overhead=ov, parts=G)
    loads = [x for x in part_loads(sched) for _ in range(hp)]
    before, after = makespan(fixed, slots), max(loads)
    assert capacity >= max(lens)
    return dict(block_n=cfg.block_n, overhead=ov, splits=splits, programs=len(fixed), slots=slots, parts=G,
                payload=sched.payload, partials=sched.slots, imbalance_before=before / (sum(fixed) / slots),
                imbalance_after=after / (sum(loads) / min(slots, G * hp)), model_ratio=after / before)


def dry(seed: int, n: int) -> int:
    print(f"plans for an H200 ({H200_SMS} SMs), paged bf16, s_q 1; loads in {BLOCK}-key tiles + overhead a segment")
    print(f"{'B':>4} {'ctx':>6} {'H':>3} {'splits':>6} {'progs':>6} {'G':>4} {'payload':>7} {'ovh':>3} "
          f"{'imb.fixed':>9} {'imb.sched':>9} {'model':>6}")
    rows = []
    for p in draw(seed, n):
        r = plans(p, H200_SMS)
        rows.append(r | dict(B=p["B"], ctx=p["ctx"], heads=p["heads"]))
        print(f"{p['B']:>4} {p['ctx']:>6} {p['heads']:>3} {r['splits']:>6} {r['programs']:>6} {r['parts']:>4} "
              f"{r['payload']:>7} {r['overhead']:>3} {r['imbalance_before']:>9.3f} {r['imbalance_after']:>9.3f} "
              f"{r['model_ratio']:>6.3f}")
    for H in (16, 32):
        sel = [r for r in rows if r["heads"] == H]
        if sel:
            med = lambda k: statistics.median(r[k] for r in sel)  # noqa: E731
            print(f"{H} heads, {len(sel)} points: imbalance fixed median {med('imbalance_before'):.3f} (max "
                  f"{max(r['imbalance_before'] for r in sel):.3f}), scheduled median {med('imbalance_after'):.3f} "
                  f"(max {max(r['imbalance_after'] for r in sel):.3f}); model ratio median {med('model_ratio'):.3f} "
                  f"(range {min(r['model_ratio'] for r in sel):.3f}-{max(r['model_ratio'] for r in sel):.3f})")
    return 0


def gpu(a) -> int:
    import torch

    from mlacalc.kernels.bench import MLA_SCALE, _flash_mla, eager_and_graph
    from mlacalc.kernels.decode import mla_decode
    from mlacalc.kernels.testing import rel_error
    from mlacalc.kernels.triton_schedule import fill_schedule, mla_decode_schedule
    from mlacalc.profiler.timing import L2Flusher, time_cuda

    from common import D, dump_run, record, time_flashmla_paged

    fm = _flash_mla()
    dev, flusher, rows = torch.device("cuda"), L2Flusher(torch.cuda.current_device()), []
    sms = torch.cuda.get_device_properties(dev).multi_processor_count
    for p in draw(a.seed, a.n):
        B, ctx, H = p["B"], p["ctx"], p["heads"]
        blocks = -(-ctx // BLOCK)
        pool = torch.randn(B * blocks, BLOCK, D, device=dev, dtype=torch.bfloat16)
        table = torch.randperm(B * blocks, device=dev).view(B, blocks).to(torch.int32)
        lens = torch.tensor(p["lens"], dtype=torch.int32, device=dev)
        q = torch.randn(B, 1, H, D, device=dev, dtype=torch.bfloat16)
        kw = dict(softmax_scale=MLA_SCALE, impl="triton")
        fixed_out = mla_decode(q, pool, lens, table, max_seqlen=ctx, **kw)
        sched = mla_decode_schedule()
        sched_out = mla_decode(q, pool, lens, table, schedule=sched, **kw)  # fills the schedule, outside the timing
        fixed = eager_and_graph(lambda: mla_decode(q, pool, lens, table, max_seqlen=ctx, **kw), flusher)
        scheduled = eager_and_graph(lambda: mla_decode(q, pool, lens, table, schedule=sched, **kw), flusher)
        _, G, block_n, overhead, _ = sched.shape
        fill = time_cuda(lambda: fill_schedule(lens, sched.parts, sched.seqs, block_n=block_n, overhead=overhead),
                         warmup=2, reps=30, max_seconds=0.1, min_reps=5)
        row = dict(B=B, ctx=ctx, heads=H, mean_len=sum(p["lens"]) / B, fixed_ms=fixed["graph_ms"],
                   scheduled_ms=scheduled["graph_ms"], ratio=scheduled["graph_ms"] / fixed["graph_ms"],
                   schedule_fill_us=fill.median * 1e6, agree=rel_error(sched_out, fixed_out),
                   fixed_eager_ms=fixed["eager_ms"], scheduled_eager_ms=scheduled["eager_ms"])
        row |= {f"model_{k}": v for k, v in plans(p, sms).items()}
        if fm is not None:
            theirs = time_flashmla_paged(fm, q, pool, table, lens, flusher)
            row |= dict(flashmla_ms=theirs["graph_ms"], fixed_vs_flashmla=fixed["graph_ms"] / theirs["graph_ms"],
                        scheduled_vs_flashmla=scheduled["graph_ms"] / theirs["graph_ms"])
        record(rows, **row)
        dump_run(a.out, rows, seed=a.seed)
        del pool, table, q
        torch.cuda.empty_cache()
    print(f"{'B':>4} {'ctx':>6} {'H':>3} {'fixed ms':>9} {'sched ms':>9} {'ratio':>6} {'model':>6} {'vs FlashMLA':>11}")
    for r in rows:
        vs = f"{r['fixed_vs_flashmla']:.2f}->{r['scheduled_vs_flashmla']:.2f}" if "flashmla_ms" in r else "-"
        print(f"{r['B']:>4} {r['ctx']:>6} {r['heads']:>3} {r['fixed_ms']:>9.4f} {r['scheduled_ms']:>9.4f} "
              f"{r['ratio']:>6.3f} {r['model_model_ratio']:>6.3f} {vs:>11}")
    ratios = sorted(r["ratio"] for r in rows)
    print(f"scheduled / fixed over {len(ratios)} points: median {statistics.median(ratios):.3f}, "
          f"range {ratios[0]:.3f}-{ratios[-1]:.3f}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="JSON to write (GPU run)")
    ap.add_argument("--dry", action="store_true", help="print the planned parts and imbalance only (CPU)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=24)
    a = ap.parse_args(argv)
    if a.dry:
        return dry(a.seed, a.n)
    import torch

    if a.out is None or not torch.cuda.is_available():
        print("ab_schedule: a GPU run needs --out and a CUDA GPU (or pass --dry)", file=sys.stderr)
        return 2
    return gpu(a)


if __name__ == "__main__":
    raise SystemExit(main())
