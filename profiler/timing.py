"""Timing GPU work: the one timer of this project, used by the profiler, `mlacalc calibrate` and the kernel benchmark.

:func:`time_cuda` runs ``fn`` ``warmup`` times (compilation, autotuning, cuBLAS handles stay out of the numbers),
times one more call on the host to size the run, then queues ``reps`` calls, each between a pair of CUDA events on
the current stream, with the L2 flushed before each (``flusher``: a buffer 4x the L2, overwritten outside the
events, so every repetition reads its inputs from HBM as a real decode step would).

Device time, not host time: before queueing, the GPU is held by a device-side sleep long enough for the host to
queue every repetition, so the host's launch overhead (Python wrappers, several launches per call) never leaves
the GPU idle inside a timed region. If the hold ran out before the last repetition was queued (an event recorded
right after the hold has completed by then), the GPU may have waited for the host between a start event and its
kernel, which nothing else shows: the run is repeated with a 4x longer hold, up to ``HOLD_TRIES`` times, and
``host_bound`` says whether it still ran dry (found on the H100: a Gluon wrapper's median 8x its minimum; see
docs/kernels-notes.md, follow-up 5). ``gap_*`` is the GPU time between one repetition's end and the next one's
start: the flush alone when the host kept up. ``hold=False`` times what the host can feed (the calibration's eager
launch chain measures exactly that).

:func:`kernel_breakdown` runs ``fn`` under ``torch.profiler`` and returns the GPU kernels with their total and
mean device time, sorted by total; ``trace_path`` also writes a Chrome trace (opens in Perfetto or
chrome://tracing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from .results import Summary, summarize

HOLD_TRIES = 3  # timings of one point, each with a 4x longer hold of the GPU, until the host kept up
MAX_HOLD_MS = 4000.0
SLEEP_CYCLES_PER_MS = 2_000_000  # torch.cuda._sleep counts GPU clock cycles (~2 GHz)


class L2Flusher:
    """Holds a buffer of ``factor`` x the L2 size; ``flush()`` overwrites it on the current stream."""

    def __init__(self, device: int = 0, factor: int = 4):
        import torch

        props = torch.cuda.get_device_properties(device)
        l2 = int(getattr(props, "L2_cache_size", 0) or getattr(props, "l2_cache_size", 0) or 50 * 2**20)
        self.bytes = factor * l2
        self.buf = torch.empty(self.bytes // 4, dtype=torch.int32, device=f"cuda:{device}")

    def flush(self) -> None:
        self.buf.zero_()


@dataclass(frozen=True)
class Timing(Summary):
    """Seconds per call of ``fn`` (the Summary's fields), plus whether the host kept the GPU fed (``host_bound``
    None: not checked, ``hold=False``) and the GPU idle time between repetitions (seconds; None for one rep)."""

    host_bound: bool | None = None
    gap_median: float | None = None
    gap_max: float | None = None


def time_cuda(fn: Callable[[], object], *, warmup: int = 3, reps: int = 20, flusher: L2Flusher | None = None,
              max_seconds: float | None = 5.0, min_reps: int = 3, hold: bool = True) -> Timing:
    """Per-call device time of ``fn`` in seconds over ``reps`` event-timed calls (fewer when ``max_seconds`` of
    device time would run out first, never fewer than ``min_reps``); see the module docstring for the method."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    est = time.perf_counter() - t0
    if max_seconds is not None:
        reps = int(max(min_reps, min(reps, max_seconds / max(est, 1e-6))))
    hold_ms = max(1.0, 2e3 * est)  # per repetition
    for _ in range(HOLD_TRIES if hold else 1):
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
        if hold:
            torch.cuda._sleep(int(min(reps * hold_ms, MAX_HOLD_MS) * SLEEP_CYCLES_PER_MS))
            held = torch.cuda.Event()
            held.record()
        for start, end in events:
            if flusher is not None:
                flusher.flush()
            start.record()
            fn()
            end.record()
        ran_dry = held.query() if hold else None  # the hold was over before everything was queued
        torch.cuda.synchronize()
        if not ran_dry:
            break
        hold_ms *= 4
    s = summarize([a.elapsed_time(b) / 1e3 for a, b in events])
    gaps = [events[i][1].elapsed_time(events[i + 1][0]) / 1e3 for i in range(reps - 1)]
    return Timing(**s.__dict__, host_bound=ran_dry, gap_median=summarize(gaps).median if gaps else None,
                  gap_max=max(gaps) if gaps else None)


def cuda_graph(fn: Callable[[], object]):
    """A CUDA graph of one call of ``fn`` (warmed up once on a side stream first, as torch.cuda.graphs asks), or
    None when ``fn`` cannot be captured (a host sync, a CPU tensor, ...). Replaying it times the device alone."""
    import torch

    try:
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            fn()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            fn()
        torch.cuda.synchronize()
        return g
    except Exception:  # capture refused: the caller times fn eagerly
        torch.cuda.synchronize()
        return None


def device_kernels(fn: Callable[[], object], *, reps: int = 3, trace_path: str | None = None) -> list[tuple]:
    """The GPU kernels ``fn`` launches, run ``reps`` times under torch.profiler after one warm-up call:
    ``(name, calls, device seconds in total)`` per kernel name; ``trace_path`` also writes a Chrome trace."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
    if trace_path:
        prof.export_chrome_trace(str(trace_path))
    out = []
    for ev in prof.key_averages():
        dev_us = getattr(ev, "self_device_time_total", None)
        if dev_us is None:
            dev_us = getattr(ev, "self_cuda_time_total", 0)
        if not dev_us or ev.key.startswith("ProfilerStep"):
            continue
        if getattr(ev, "device_type", None) is not None and "CUDA" not in str(ev.device_type):
            continue
        out.append((ev.key, ev.count, dev_us / 1e6))
    return out


def kernel_breakdown(fn: Callable[[], object], *, reps: int = 3, trace_path: str | None = None,
                     top: int = 12) -> list[dict]:
    """GPU kernels launched by ``fn`` (run ``reps`` times under torch.profiler): name, calls, total and mean
    device time per call of ``fn`` in seconds, share of the GPU time. Sorted by total, ``top`` rows."""
    rows = [{"name": name, "calls_per_step": calls / reps, "time_s": seconds / reps}
            for name, calls, seconds in device_kernels(fn, reps=reps, trace_path=trace_path)]
    total = sum(r["time_s"] for r in rows) or 1.0
    rows.sort(key=lambda r: -r["time_s"])
    for r in rows:
        r["share"] = r["time_s"] / total
    return rows[:top]
