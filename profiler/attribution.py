"""Which op of the model each GPU kernel belongs to: kernels from ``torch.profiler`` attributed to the
``record_function`` ranges the whole-step runner (``whole_step.py``) wraps around every op.

How (plain Python; no torch here, so it is tested on made-up events):

- The runner wraps each op of a layer in ``record_function("mlacalc::<op>")`` (``mlacalc::q_down``,
  ``mlacalc::attn_core``, ...: the calculator's op names, :mod:`mlacalc.step`) and each step in
  ``record_function("mlacalc-step:<i>")``. Those are CPU ranges: a name, a start and an end on one thread.
- ``torch.profiler`` ties every GPU kernel (and memcpy/memset) to the CPU event that was innermost when it was
  launched (CUPTI's external correlation id, which the profiler pushes for every op and every
  ``record_function``); :meth:`torch.autograd.profiler_util.FunctionEvent.kernels` lists them on that event. A
  :class:`Launch` is one such kernel with its device duration, placed at the start of its CPU event.
- A launch belongs to the **innermost** op range that holds its CPU time on its thread: of the ranges with
  ``start <= at <= end``, the one opened last (ties: the shorter). Ranges that nest give the nested one; ranges
  that overlap without nesting give the one opened most recently, which is the one whose code was running (the
  CPU runs one op at a time per thread). A launch in a step but in no op range counts as :data:`OTHER`; one in
  no step range is left out of every step (``outside_s``).
- Device kernels the profiler tied to no CPU event (it did not see their launch) cannot be placed: their time
  is :data:`UNLINKED`, spread evenly over the steps, so the per-step totals still add up to the GPU's kernel time.

Nothing is guessed from kernel names: a cuBLAS GEMM launched inside ``mlacalc::o_proj`` is ``o_proj``'s.
Times are the kernels' device durations summed (idle gaps between kernels are not in any op).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

OP_PREFIX = "mlacalc::"          # record_function name of an op: mlacalc::<op>
STEP_PREFIX = "mlacalc-step:"    # ... of a step: mlacalc-step:<i>
OTHER = "other"                  # kernels of a step launched outside every op range
UNLINKED = "unlinked"            # device kernels the profiler tied to no CPU event


@dataclass(frozen=True)
class Range:
    """A ``record_function`` range on the CPU timeline (microseconds)."""

    name: str
    start: float
    end: float
    thread: int | None = None     # None: matches any thread


@dataclass(frozen=True)
class Launch:
    """One device kernel: its name, the CPU time of the event that launched it, its device duration (us)."""

    kernel: str
    at: float
    duration_us: float
    thread: int | None = None


@dataclass
class OpTime:
    """Kernels attributed to one op in one step: device seconds, how many, and seconds per kernel name."""

    time_s: float = 0.0
    kernels: int = 0
    by_kernel: dict = field(default_factory=dict)

    def add(self, name: str, seconds: float, count: int = 1) -> None:
        self.time_s += seconds
        self.kernels += count
        self.by_kernel[name] = self.by_kernel.get(name, 0.0) + seconds


@dataclass(frozen=True)
class Attribution:
    """Per step (in step order), op name -> :class:`OpTime`; ``outside_s``: kernel seconds in no step."""

    steps: tuple[dict, ...]
    outside_s: float = 0.0
    unlinked_s: float = 0.0

    def mean(self) -> dict[str, OpTime]:
        """Each op's mean over the steps (an op missing from a step counts 0 there)."""
        n = max(1, len(self.steps))
        out: dict[str, OpTime] = {}
        for step in self.steps:
            for op, t in step.items():
                o = out.setdefault(op, OpTime())
                o.time_s += t.time_s / n
                o.kernels += t.kernels
                for k, s in t.by_kernel.items():
                    o.by_kernel[k] = o.by_kernel.get(k, 0.0) + s / n
        for o in out.values():
            o.kernels = round(o.kernels / n)
        return out

    def step_totals_s(self) -> list[float]:
        return [sum(t.time_s for t in step.values()) for step in self.steps]


class _Index:
    """Ranges sorted by start, for "the innermost range holding time t on a thread"."""

    def __init__(self, ranges: list[Range]):
        self.ranges = sorted(ranges, key=lambda r: (r.start, -r.end))
        self.starts = [r.start for r in self.ranges]

    def innermost(self, at: float, thread: int | None) -> Range | None:
        best = None
        for i in range(bisect.bisect_right(self.starts, at) - 1, -1, -1):
            r = self.ranges[i]
            if best is not None and r.start < best.start:
                break                   # every earlier range opened before the best one
            holds = r.end >= at and _same_thread(r.thread, thread)
            if holds and (best is None or (r.start == best.start and r.end < best.end)):
                best = r
        return best


def _same_thread(a: int | None, b: int | None) -> bool:
    return a is None or b is None or a == b


def attribute(ranges: list[Range], launches: list[Launch], unlinked_us: float = 0.0) -> Attribution:
    """Sum each step's kernels per op (see the module docstring). ``ranges``: op ranges (``mlacalc::<op>``) and
    step ranges (``mlacalc-step:<i>``; others are ignored); ``unlinked_us``: device time of kernels tied to no CPU
    event, shared evenly by the steps as :data:`UNLINKED`."""
    ops = _Index([r for r in ranges if r.name.startswith(OP_PREFIX)])
    step_ranges = sorted((r for r in ranges if r.name.startswith(STEP_PREFIX)), key=lambda r: r.start)
    steps_idx = _Index(step_ranges)
    order = {r: i for i, r in enumerate(step_ranges)}
    steps: list[dict] = [{} for _ in step_ranges]
    outside = 0.0
    for ln in launches:
        seconds = ln.duration_us * 1e-6
        step = steps_idx.innermost(ln.at, ln.thread)
        if step is None:
            outside += seconds
            continue
        r = ops.innermost(ln.at, ln.thread)
        op = r.name[len(OP_PREFIX):] if r is not None and r.start >= step.start else OTHER
        steps[order[step]].setdefault(op, OpTime()).add(ln.kernel, seconds)
    if unlinked_us > 0 and steps:
        for s in steps:
            s.setdefault(UNLINKED, OpTime()).add(UNLINKED, unlinked_us * 1e-6 / len(steps), 0)
    return Attribution(tuple(steps), outside_s=outside, unlinked_s=unlinked_us * 1e-6)


def _is_device(event) -> bool:
    return any(d in str(getattr(event, "device_type", "")) for d in ("CUDA", "HIP", "PrivateUse1", "XPU"))


def events_from_profile(events) -> tuple[list[Range], list[Launch], float]:
    """Ranges, launches and the unlinked device time (us) from ``torch.profiler``'s events
    (``prof.events()``: ``FunctionEvent`` objects with ``name``, ``time_range``, ``thread``, ``device_type``,
    ``kernels``). Device events count towards the total kernel time; whatever of it no CPU event claims (through
    ``kernels``) is unlinked. Annotations mirrored on the device timeline (named like our ranges) are not kernels."""
    ranges: list[Range] = []
    launches: list[Launch] = []
    device_us = 0.0
    for e in events:
        name = e.name
        ours = name.startswith((OP_PREFIX, STEP_PREFIX))
        if _is_device(e):
            if not ours and not getattr(e, "is_user_annotation", False):
                device_us += e.time_range.end - e.time_range.start
            continue
        if getattr(e, "is_async", False):
            continue
        if ours:
            ranges.append(Range(name, e.time_range.start, e.time_range.end, getattr(e, "thread", None)))
        if getattr(e, "is_legacy", False):   # the legacy profiler's per-op CUDA time, not a kernel
            continue
        for k in getattr(e, "kernels", None) or ():
            launches.append(Launch(k.name, e.time_range.start, float(k.duration), getattr(e, "thread", None)))
    linked = sum(ln.duration_us for ln in launches)
    return ranges, launches, max(0.0, device_us - linked)


__all__ = [
    "OP_PREFIX",
    "OTHER",
    "STEP_PREFIX",
    "UNLINKED",
    "Attribution",
    "Launch",
    "OpTime",
    "Range",
    "attribute",
    "events_from_profile",
]
