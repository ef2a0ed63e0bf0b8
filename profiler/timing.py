"""Timing GPU work: CUDA events, warm-up, repetitions, median and spread, L2 flushed between repetitions.

:func:`time_cuda` runs ``fn`` ``warmup`` times (compilation, autotuning, cuBLAS handles stay out of the numbers),
then ``reps`` times, each between a pair of CUDA events recorded on the current stream. Before each timed call
it overwrites a buffer larger than the L2 cache (H100: 50 MB; the buffer is 4x the reported L2 size), so every
repetition reads its inputs from HBM as a real decode step would. The flush is outside the events.

:func:`kernel_breakdown` runs ``fn`` under ``torch.profiler`` and returns the GPU kernels with their total and
mean device time, sorted by total; ``trace_path`` also writes a Chrome trace (opens in Perfetto or
chrome://tracing).
"""

from __future__ import annotations

from typing import Callable

from .results import Summary, summarize


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


def time_cuda(fn: Callable[[], object], *, warmup: int = 3, reps: int = 20, flusher: L2Flusher | None = None,
              max_seconds: float | None = 5.0) -> Summary:
    """Per-call device time of ``fn`` in seconds, over ``reps`` event-timed calls (fewer if ``max_seconds`` of
    measured time runs out first, never fewer than 3)."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times: list[float] = []
    spent = 0.0
    for i in range(reps):
        if flusher is not None:
            flusher.flush()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        t = start.elapsed_time(end) / 1e3
        times.append(t)
        spent += t
        if max_seconds is not None and spent > max_seconds and i >= 2:
            break
    return summarize(times)


def kernel_breakdown(fn: Callable[[], object], *, reps: int = 3, trace_path: str | None = None,
                     top: int = 12) -> list[dict]:
    """GPU kernels launched by ``fn`` (run ``reps`` times under torch.profiler): name, calls, total and mean
    device time per call of ``fn`` in seconds, share of the GPU time. Sorted by total, ``top`` rows."""
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
    rows = []
    for ev in prof.key_averages():
        dev_us = getattr(ev, "self_device_time_total", None)
        if dev_us is None:
            dev_us = getattr(ev, "self_cuda_time_total", 0)
        if not dev_us or ev.key.startswith("ProfilerStep"):
            continue
        if getattr(ev, "device_type", None) is not None and "CUDA" not in str(ev.device_type):
            continue
        rows.append({"name": ev.key, "calls_per_step": ev.count / reps, "time_s": dev_us / 1e6 / reps})
    total = sum(r["time_s"] for r in rows) or 1.0
    rows.sort(key=lambda r: -r["time_s"])
    for r in rows:
        r["share"] = r["time_s"] / total
    return rows[:top]
