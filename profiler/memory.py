"""Device memory as the PyTorch caching allocator and NVML see it.

Three views, kept apart because they answer different questions:

- **Allocator** (``torch.cuda.memory_allocated`` / ``max_memory_allocated`` / ``memory_reserved``): bytes of live
  tensors, their peak, and what the caching allocator holds from the driver. Tensor sizes are rounded up to
  512 bytes; these are the figures compared with the calculator, since they count exactly what a formula can.
- **NVML** (a background thread sampling device-wide ``used`` every few ms): what the card really had in use,
  including the allocator's cached but free blocks, cuBLAS/Triton workspaces and the CUDA context.
- **CUDA context**: the driver's own cost of this process (kernel images, context, cuBLAS handle), measured once
  as NVML's ``used`` after CUDA start-up minus before, minus what the allocator reserved. Shown apart, as a
  serving engine's ``--gpu-mem-util`` budget would.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import asdict, dataclass, field

from .device import NVML
from .results import DOES_NOT_FIT


@dataclass
class AllocatorFigures:
    """Bytes, relative to ``baseline`` (what was allocated when the measurement began)."""

    baseline: int
    allocated: int      # live at the end, minus baseline
    peak: int           # max live during the region, minus baseline
    reserved: int       # allocator's reservation at the end (absolute)
    peak_reserved: int  # absolute
    requested: int | None = None       # live bytes as the tensors asked for them (no rounding, no unsplit blocks)
    requested_peak: int | None = None  # their peak; both None where the allocator keeps no such statistic

    def as_dict(self) -> dict:
        return asdict(self)


class AllocatorWatch:
    """``with AllocatorWatch() as w: ...`` -> ``w.figures``: allocation and peak over the block, from a baseline."""

    def __init__(self, device: int = 0):
        self.device = device
        self.figures: AllocatorFigures | None = None

    def __enter__(self):
        import torch

        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        self._base = torch.cuda.memory_allocated(self.device)
        self._req_base = _requested(torch, self.device)[0]
        return self

    def __exit__(self, *exc):
        import torch

        try:
            torch.cuda.synchronize(self.device)
        except Exception:  # an OOM or launch error already being raised
            pass
        self.figures = AllocatorFigures(
            baseline=self._base,
            allocated=torch.cuda.memory_allocated(self.device) - self._base,
            peak=torch.cuda.max_memory_allocated(self.device) - self._base,
            reserved=torch.cuda.memory_reserved(self.device),
            peak_reserved=torch.cuda.max_memory_reserved(self.device),
        )
        req, req_peak = _requested(torch, self.device)
        if req is not None and self._req_base is not None:
            self.figures.requested = req - self._req_base
            self.figures.requested_peak = req_peak - self._req_base
        return False


def _requested(torch, device) -> tuple[int | None, int | None]:
    """The caching allocator's ``requested_bytes`` (current, peak): what live tensors asked for. ``allocated``
    counts whole blocks instead: a request served by a cached free block whose remainder would be 1 MiB or less
    takes the block unsplit, so a 2 MiB cache can count as 3 MiB (seen on the H200 at 1k-token caches)."""
    stats = torch.cuda.memory_stats(device)
    return stats.get("requested_bytes.all.current"), stats.get("requested_bytes.all.peak")


@dataclass
class NVMLSamples:
    """What the sampler saw: device-wide ``used`` bytes over time."""

    interval_s: float
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, used bytes)

    @property
    def peak(self) -> int | None:
        return max((u for _, u in self.samples), default=None)

    @property
    def first(self) -> int | None:
        return self.samples[0][1] if self.samples else None

    def as_dict(self, keep: int = 200) -> dict:
        """Summary plus at most ``keep`` evenly spaced samples (the full series can be thousands long)."""
        step = max(1, len(self.samples) // keep)
        return {"interval_s": self.interval_s, "n": len(self.samples), "first": self.first, "peak": self.peak,
                "samples": self.samples[::step]}


class NVMLSampler:
    """Background thread reading NVML ``used`` memory every ``interval_s`` until stopped.

    ``with NVMLSampler(handle) as s: ...`` -> ``s.result``. With ``handle`` None it does nothing and
    ``result`` stays None (NVML absent)."""

    def __init__(self, handle: NVML | None, interval_s: float = 0.005):
        self.handle = handle
        self.interval_s = interval_s
        self.result: NVMLSamples | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self):
        t0 = time.perf_counter()
        out = self.result
        while True:
            try:
                used, _ = self.handle.memory()
                out.samples.append((time.perf_counter() - t0, used))
            except Exception:
                pass
            if self._stop.wait(self.interval_s):
                break
        try:  # one last reading after the work stopped
            out.samples.append((time.perf_counter() - t0, self.handle.memory()[0]))
        except Exception:
            pass

    def __enter__(self):
        if self.handle is not None:
            self.result = NVMLSamples(self.interval_s)
            self._thread = threading.Thread(target=self._loop, name="nvml-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=2)
        return False


def cuda_context_cost(handle: NVML | None, device: int = 0) -> dict:
    """Start CUDA (if not yet) and report what the context costs on the device, apart from tensors.

    Reads NVML ``used`` before and after start-up; context = delta - allocator reservation. If CUDA was already
    started, or NVML is absent, says so instead of guessing. Call it first thing in a process."""
    import torch

    out: dict = {"bytes": None, "method": ""}
    if handle is None:
        out["method"] = "unknown: NVML absent"
        torch.cuda.init()
        return out
    already = torch.cuda.is_initialized()
    before, _ = handle.memory()
    torch.cuda.init()
    x = torch.ones(1, device=f"cuda:{device}")  # forces the context and the allocator's first segment
    torch.cuda.synchronize(device)
    after, _ = handle.memory()
    reserved = torch.cuda.memory_reserved(device)
    del x
    if already:
        out["method"] = "unknown: CUDA was already started in this process"
    else:
        out.update(bytes=after - before - reserved,
                   method="NVML used after CUDA start-up minus before, minus allocator reservation")
    out["process_memory_nvml"] = handle.process_memory()
    return out


# The guard around one measured point: an out-of-memory error is a result ("does not fit"), not a failure.

def is_oom(exc: BaseException) -> bool:
    """True for CUDA out-of-memory errors (torch's OutOfMemoryError, or a RuntimeError saying so)."""
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def free_cuda_memory() -> None:
    """Drop cached blocks after a point (or an OOM) so the next point starts clean."""
    gc.collect()
    try:
        import torch

        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    except Exception:
        pass


def run_or_oom(body) -> dict:
    """``body()`` -> its result dict with ``status`` "ok", or on an out-of-memory error ``does not fit`` and the
    error's first line (any other error propagates); ``wall_s``; the allocator's cache emptied afterwards."""
    t0 = time.perf_counter()
    try:
        res = {**body(), "status": "ok"}
    except Exception as e:
        if not is_oom(e):
            raise
        res = {"status": DOES_NOT_FIT, "error": str(e).splitlines()[0][:300]}
    finally:
        free_cuda_memory()
    res["wall_s"] = time.perf_counter() - t0
    return res


def guarded(cfg, body, predicted_peak: int | None, free_bytes: int | None) -> dict:
    """Run ``body()`` -> result dict; on OOM record ``does not fit`` against the fit prediction, then clean up.

    The fit prediction is ``predicted_peak <= free_bytes``; ``fit_agrees`` says whether reality matched it."""
    predicted_fits = None if predicted_peak is None or free_bytes is None else predicted_peak <= free_bytes
    res = run_or_oom(body)
    res["fit"] = {"predicted_peak_bytes": predicted_peak, "free_bytes_at_start": free_bytes,
                  "predicted_fits": predicted_fits,
                  "measured_fits": res["status"] == "ok",
                  "fit_agrees": None if predicted_fits is None else predicted_fits == (res["status"] == "ok")}
    return res
