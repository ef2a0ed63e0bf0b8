"""``mlacalc calibrate --gpus N``: the interconnect, measured with the collectives a sharded model runs.

One process per GPU (``torch.multiprocessing``, NCCL through ``torch.distributed``; gloo on CPU for the tests),
each timing all-reduce, all-gather, reduce-scatter and all-to-all over message sizes from 4 KiB to 256 MiB. The
figures follow nccl-tests' conventions (``doc/PERFORMANCE.md``): algorithm bandwidth = bytes / time, bus
bandwidth = algorithm bandwidth x ``2 (n-1)/n`` for all-reduce and ``(n-1)/n`` for the others, so one number
describes the links whatever ``n`` is. Then a latency-bandwidth (alpha-beta) model is fitted per collective:
``time = alpha + bus_bytes / beta`` (``bus_bytes`` = size x the same factor), by least squares over the sizes.

What goes into the hardware YAML: ``interconnect_gb_s`` = all-reduce's beta (the roofline's comm term counts
ring all-reduce bytes), ``collective_latency_us`` = the median alpha of the four; the per-collective fits are kept
in the result for the report.
"""

from __future__ import annotations

import math
import os
import time

COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")
SIZES = [4 << 10, 64 << 10, 1 << 20, 8 << 20, 64 << 20, 256 << 20]


def bus_factor(op: str, n: int) -> float:
    """nccl-tests' bus-bandwidth factor: 2 (n-1)/n for all-reduce, (n-1)/n for the rest."""
    return 2 * (n - 1) / n if op == "all_reduce" else (n - 1) / n


def fit_alpha_beta(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares ``time = alpha + x / beta`` over (bus bytes x, seconds t); returns (alpha s, beta bytes/s)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    mt = sum(t for _, t in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (t - mt) for x, t in points) / sxx if sxx else 0.0
    alpha = max(0.0, mt - slope * mx)
    beta = 1.0 / slope if slope > 0 else math.inf
    return alpha, beta


def _worker(rank: int, world: int, backend: str, sizes: list[int], reps: int, port: int, out):
    import torch
    import torch.distributed as dist

    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group(backend, rank=rank, world_size=world)
    cuda = backend == "nccl"
    dev = torch.device("cuda", rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(dev)

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    rows = []
    for op in COLLECTIVES:
        for size in sizes:
            numel = max(world, size // 2 // world * world)           # bf16 elements, divisible by the ranks
            x = torch.ones(numel, dtype=torch.bfloat16 if cuda else torch.float32, device=dev)
            gathered = torch.empty(numel * world, dtype=x.dtype, device=dev)
            part = torch.empty(numel // world, dtype=x.dtype, device=dev)
            y = torch.empty_like(x)

            def run():
                if op == "all_reduce":
                    dist.all_reduce(x)
                elif op == "all_gather" and cuda:
                    dist.all_gather_into_tensor(gathered, x)
                elif op == "all_gather":
                    dist.all_gather(list(gathered.chunk(world)), x)
                elif op == "reduce_scatter" and cuda:
                    dist.reduce_scatter_tensor(part, x)
                elif op == "reduce_scatter":          # gloo has none: the CPU test path reduces the whole buffer
                    dist.all_reduce(x)
                else:
                    dist.all_to_all_single(y, x)

            for _ in range(2):
                run()
            sync()
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(reps):
                run()
            sync()
            t = (time.perf_counter() - t0) / reps
            nbytes = x.numel() * x.element_size()
            rows.append({"op": op, "bytes": nbytes, "time_s": t})
            del x, gathered, part, y
    times = torch.tensor([r["time_s"] for r in rows], dtype=torch.float64, device=dev)
    dist.all_reduce(times, op=dist.ReduceOp.MAX)                   # the slowest rank's time counts
    if rank == 0:
        for r, t in zip(rows, times.tolist()):
            r["time_s"] = t
        out.put(rows)
    dist.destroy_process_group()


def measure_collectives(world: int, *, backend: str = "nccl", sizes: list[int] | None = None,
                        reps: int = 10, port: int = 29517) -> dict:
    """Time the four collectives on ``world`` processes and fit alpha-beta per collective (see the module
    docstring). Returns {"rows": [...], "fits": {op: {...}}, "interconnect_gb_s", "collective_latency_us"}."""
    import torch.multiprocessing as mp

    sizes = sizes or SIZES
    ctx = mp.get_context("spawn")
    q = ctx.SimpleQueue()
    procs = [ctx.Process(target=_worker, args=(r, world, backend, sizes, reps, port, q)) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode for p in procs):
        raise RuntimeError(f"a collective worker failed (exit codes {[p.exitcode for p in procs]})")
    rows = q.get()
    fits = {}
    for op in COLLECTIVES:
        pts = [(r["bytes"] * bus_factor(op, world), r["time_s"]) for r in rows if r["op"] == op]
        for r in rows:
            if r["op"] == op:
                r["bus_gb_s"] = r["bytes"] * bus_factor(op, world) / r["time_s"] / 1e9
        alpha, beta = fit_alpha_beta(pts)
        fits[op] = {"alpha_us": alpha * 1e6, "bus_gb_s": beta / 1e9}
    alphas = sorted(f["alpha_us"] for f in fits.values())
    return {"world": world, "backend": backend, "rows": rows, "fits": fits,
            "interconnect_gb_s": fits["all_reduce"]["bus_gb_s"],
            "collective_latency_us": alphas[len(alphas) // 2]}
