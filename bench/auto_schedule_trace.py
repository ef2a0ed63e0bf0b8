"""Lab script (GPU): where impl auto's own schedule spends its time. At 128 heads, uniform lengths, paged bf16, the
points of the twenty-ninth session where auto schedules (and one balanced grid), three ways of the same call:
`fixed` (the fixed grid: num_splits forced to the planner's count), `auto` (no schedule given: the call fills one of
its own at every launch where gluon_mla_decode.auto_schedules says so), `explicit` (a schedule filled once, before
the timed calls, as an engine fills one a decode step). Each is graph-timed with the L2 flushed
(kernels/bench.eager_and_graph), then 20 replays of its CUDA graph run under torch.profiler, which gives each
kernel's device time a call (the schedule fill, the decode kernel, the merge); `gaps_us` is the graph time minus
their sum. Session_bq measured auto 17-22 us slower than explicit at these points, more than a one-program fill
over 35-72 lengths should cost: this says which kernel (or gap) it is.

    python3 bench/auto_schedule_trace.py --out OUT.json [--points 34:10048,77:7437] [--variants auto,explicit,refill]
                                         [--below 0.95] [--rounds 2]

`refill`: an explicit schedule made anew at every call (so filled at every launch, as auto's own is, but through the
explicit path's plan): if it is as slow as auto, the penalty comes from filling before the decode kernel, not from
auto's plan. `own` and `fill` (thirty-first session): a schedule of the call's own wherever the modelled ratio
allows it (GluonMLAConfig.own_schedule_us = 0), made by the decode programs themselves (`own`,
schedule_in_kernel) or by the fill kernel before them (`fill`, the earlier way): `own` against `explicit` is what
computing the record in the kernel costs (gluon_mla_decode.OWN_RECORD_US).
"""

from __future__ import annotations

import collections
import dataclasses

import torch

from common import alternating, dump_run, gpu_lab_args, lab_run, record

from mlacalc.kernels.bench import MLA_SCALE, eager_and_graph
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.gluon_mla_decode import (auto_schedules, default_gluon_config, gluon_splits, mla_decode_gluon,
                                              split_keys)
from mlacalc.kernels.launch import num_sms
from mlacalc.kernels.triton_schedule import mla_decode_schedule
from mlacalc.profiler.timing import L2Flusher, cuda_graph

D, BLOCK, HEADS = 576, 64, 128
# the twenty-ninth session's auto-scheduled points, a balanced grid, and (thirtieth session) seed 5's worst off-grid
# points with Q's stacked view (reports/h100/tuning/uniform_vs_flashmla_seed5_session_bv.json: 1.14-1.24x FlashMLA)
POINTS = [(35, 17927), (72, 17927), (69, 12050), (46, 13407), (128, 16384), (34, 10048), (39, 4525), (77, 7437),
          (54, 16428)]


def kernel_times(graph, replays: int = 20) -> dict:
    """Device microseconds a replay of `graph` spends in each kernel (by name), from torch.profiler."""
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(replays):
            graph.replay()
        torch.cuda.synchronize()
    times = collections.defaultdict(float)
    for e in prof.key_averages():
        us = getattr(e, "self_device_time_total", None)
        if us is None:
            us = getattr(e, "self_cuda_time_total", 0.0)
        if us:
            times[e.key[:60]] += us / replays
    return dict(times)


def _args(ap) -> None:
    ap.add_argument("--points", help="B:ctx pairs, comma-separated (default: POINTS)")
    ap.add_argument("--variants", default="fixed,auto,explicit", help="of fixed, auto, explicit, refill, own, fill")
    ap.add_argument("--rounds", type=int, default=1, help="timed rounds, the variants' order reversed each round "
                                                           "(common.alternating); each variant's best is kept")
    ap.add_argument("--below", type=float, help="own and fill: schedule where the modelled ratio is under this "
                                                "(GluonMLAConfig.auto_schedule_below; default the config's)")


def main() -> int:
    a = gpu_lab_args(__doc__, _args)
    if a is None:
        return 2
    try:
        points = [tuple(int(x) for x in p.split(":")) for p in a.points.split(",")] if a.points else POINTS
        variants = a.variants.split(",")
        if any(len(p) != 2 or min(p) < 1 for p in points) or not set(variants) <= {"fixed", "auto", "explicit",
                                                                                     "refill", "own", "fill"}:
            raise ValueError
        if a.rounds < 1 or (a.below is not None and not 0 < a.below < 10):   # nan fails the comparison too
            raise ValueError
    except ValueError:
        print("auto_schedule_trace: --points takes B:ctx pairs of positive integers, --variants names of fixed, auto, "
              "explicit, refill, own, fill, --rounds a count of at least 1, --below a ratio in (0, 10)")
        return 2
    dev = torch.device("cuda")
    flusher, sms = L2Flusher(torch.cuda.current_device()), num_sms(torch.device("cuda"))
    cfg = default_gluon_config(HEADS, page_size=BLOCK)
    below = dict(auto_schedule_below=a.below) if a.below is not None else {}
    forced_own = dataclasses.replace(cfg, own_schedule_us=0.0, **below)
    forced_fill = dataclasses.replace(cfg, own_schedule_us=0.0, schedule_in_kernel=False, **below)
    with lab_run(a.out) as rows:
        for B, ctx in points:
            blocks = -(-ctx // BLOCK)
            pool = torch.randn(B * blocks, BLOCK, D, device=dev, dtype=torch.bfloat16)
            table = torch.randperm(B * blocks, device=dev).view(B, blocks).to(torch.int32)
            lens = torch.full((B,), ctx, dtype=torch.int32, device=dev)
            q = torch.randn(B, 1, HEADS, D, device=dev, dtype=torch.bfloat16)
            splits, per = gluon_splits(B, HEADS, ctx, sms=sms, block_n=split_keys(cfg))
            own = auto_schedules(B, HEADS, ctx, sms=sms, config=cfg, tokens_per_split=per, num_splits=splits)
            sched = mla_decode_schedule()
            kw = dict(softmax_scale=MLA_SCALE, max_seqlen=ctx)
            calls = {
                "fixed": lambda: mla_decode_gluon(q, pool, lens, table, num_splits=splits, **kw),
                "auto": lambda: mla_decode(q, pool, lens, table, **kw),
                "explicit": lambda: mla_decode(q, pool, lens, table, schedule=sched, **kw),
                "refill": lambda: mla_decode(q, pool, lens, table, schedule=mla_decode_schedule(), **kw),
                "own": lambda: mla_decode_gluon(q, pool, lens, table, config=forced_own, **kw),
                "fill": lambda: mla_decode_gluon(q, pool, lens, table, config=forced_fill, **kw),
            }
            calls = {k: v for k, v in calls.items() if k in variants}
            if "explicit" in calls:
                calls["explicit"]()  # fills the schedule once, outside the timing
            best = {}
            for _, name in alternating(list(calls), a.rounds):  # a drift of the clocks weighs on each alike
                ms = eager_and_graph(calls[name], flusher)["graph_ms"]
                best[name] = min(ms, best.get(name, ms))
            for name, call in calls.items():
                g = cuda_graph(call)
                kernels = kernel_times(g) if g is not None else {}
                record(rows, B=B, ctx=ctx, heads=HEADS, variant=name, auto_schedules=own, splits=splits,
                       graph_ms=best[name], kernels_us=kernels,
                       gaps_us=(best[name] * 1e3 - sum(kernels.values())) if kernels else None)
                dump_run(a.out, rows)
            pool = table = q = None
            torch.cuda.empty_cache()
    for r in rows:
        ks = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["kernels_us"].items(), key=lambda kv: -kv[1]))
        print(f"{r['B']:>4} x {r['ctx']:>6} {r['variant']:>8}: graph {r['graph_ms'] * 1e3:8.1f} us = {ks}; gaps "
              f"{r['gaps_us'] or 0:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
