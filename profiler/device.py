"""The GPU as NVML sees it: name, memory, per-process memory, clocks, power, temperature.

Through nvidia-ml-py (``import pynvml``), imported inside the functions. NVML is optional: when the package or
the driver library is missing, :func:`nvml_open` returns None with the reason, and the profiler carries on with
the PyTorch allocator's figures and says so (``nvml: "absent: <why>"`` in its output).

NVML's memory figures are the driver's: ``used`` counts every process and the driver's own reservations, so
it is read as a difference (before and after) or per process (our PID), never as an absolute measure of one
allocation. Units: bytes, MHz, watts, degrees Celsius.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass


class GPUUnavailable(RuntimeError):
    """No usable CUDA device (no torch, no CUDA build, no GPU, or too little memory). One line for the CLI."""


@dataclass(frozen=True)
class DeviceInfo:
    """One reading of one GPU. NVML fields are None when NVML is absent."""

    index: int
    name: str
    memory_total: int
    memory_used: int | None = None
    process_memory: int | None = None      # this process's device memory per NVML (context included)
    sm_clock_mhz: int | None = None
    mem_clock_mhz: int | None = None
    max_sm_clock_mhz: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    temperature_c: int | None = None
    driver: str | None = None
    nvml: str = "ok"                       # "ok" or "absent: <reason>"

    def as_dict(self) -> dict:
        return asdict(self)


class NVML:
    """A small handle over pynvml for one device index. Use :func:`nvml_open` to get one."""

    def __init__(self, pynvml, index: int):
        self._n = pynvml
        self.index = index
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)

    def _try(self, fn, *args):
        try:
            return fn(*args)
        except Exception:  # a field this card or driver does not report
            return None

    def memory(self) -> tuple[int, int]:
        """(used, total) bytes on the device, all processes."""
        m = self._n.nvmlDeviceGetMemoryInfo(self.handle)
        return int(m.used), int(m.total)

    def process_memory(self, pid: int | None = None) -> int | None:
        """Device memory NVML attributes to ``pid`` (default: this process); None if not listed or not allowed.

        Inside containers the PID namespace often hides our PID from NVML: then None, and the caller falls back
        to the device-wide ``used`` difference."""
        pid = os.getpid() if pid is None else pid
        procs = self._try(self._n.nvmlDeviceGetComputeRunningProcesses, self.handle) or []
        for p in procs:
            if p.pid == pid and p.usedGpuMemory is not None:
                return int(p.usedGpuMemory)
        return None

    def read(self) -> DeviceInfo:
        n, h = self._n, self.handle
        used, total = self.memory()
        name = n.nvmlDeviceGetName(h)
        name = name.decode() if isinstance(name, bytes) else name
        drv = self._try(n.nvmlSystemGetDriverVersion)
        power = self._try(n.nvmlDeviceGetPowerUsage, h)
        limit = self._try(n.nvmlDeviceGetEnforcedPowerLimit, h)
        return DeviceInfo(
            index=self.index, name=name, memory_total=total, memory_used=used,
            process_memory=self.process_memory(),
            sm_clock_mhz=self._try(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_SM),
            mem_clock_mhz=self._try(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_MEM),
            max_sm_clock_mhz=self._try(n.nvmlDeviceGetMaxClockInfo, h, n.NVML_CLOCK_SM),
            power_w=power / 1000 if power is not None else None,
            power_limit_w=limit / 1000 if limit is not None else None,
            temperature_c=self._try(n.nvmlDeviceGetTemperature, h, n.NVML_TEMPERATURE_GPU),
            driver=drv.decode() if isinstance(drv, bytes) else drv,
        )


def nvml_open(index: int = 0) -> tuple[NVML | None, str]:
    """(handle, "ok") or (None, "absent: <why>"). Never raises."""
    try:
        import pynvml
    except Exception as e:  # package missing
        return None, f"absent: nvidia-ml-py not importable ({type(e).__name__})"
    try:
        pynvml.nvmlInit()
        return NVML(pynvml, cuda_to_nvml_index(index)), "ok"
    except Exception as e:  # no driver library, no device
        return None, f"absent: {str(e) or type(e).__name__}"


def cuda_to_nvml_index(index: int) -> int:
    """CUDA device index -> NVML index, through CUDA_VISIBLE_DEVICES when it lists plain integers."""
    vis = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    parts = [p.strip() for p in vis.split(",") if p.strip()]
    if parts and all(p.isdigit() for p in parts) and index < len(parts):
        return int(parts[index])
    return index


def import_torch():
    """``import torch`` without the warning a CPU torch without numpy prints on import (two lines on stderr before a
    command's one-line error)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        import torch
    return torch


def require_cuda(min_free_bytes: int = 0):
    """Return ``torch`` with a usable CUDA device, or raise :class:`GPUUnavailable` with one line."""
    try:
        torch = import_torch()
    except Exception as e:
        raise GPUUnavailable(f"PyTorch is not installed ({type(e).__name__}); install mlacalc[gpu]") from None
    if not torch.cuda.is_available():
        raise GPUUnavailable("no CUDA GPU is visible to PyTorch (CPU-only build or no device); "
                             "profile, calibrate, validate and bench kernels need one")
    if min_free_bytes:
        free, total = torch.cuda.mem_get_info()
        if free < min_free_bytes:
            raise GPUUnavailable(f"GPU too small: {free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB, "
                                 f"need at least {min_free_bytes / 2**30:.1f} GiB")
    return torch


def device_info(index: int = 0) -> DeviceInfo:
    """A reading through NVML, or the allocator's view of the card when NVML is absent."""
    handle, status = nvml_open(index)
    if handle is not None:
        try:
            return handle.read()
        except Exception as e:
            status = f"absent: {e}"
    import torch

    props = torch.cuda.get_device_properties(index)
    return DeviceInfo(index=index, name=props.name, memory_total=int(props.total_memory), nvml=status)


def versions() -> dict:
    """Library and driver versions for the report's provenance block."""
    import platform
    import sys

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    try:
        import torch

        out.update(torch=torch.__version__, cuda=torch.version.cuda)
        if torch.cuda.is_available():
            out["gpu"] = torch.cuda.get_device_name(0)
            out["cudnn"] = torch.backends.cudnn.version()
    except Exception:
        pass
    for mod in ("triton", "pynvml", "plotly"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "present")
        except Exception:
            out[mod] = None
    try:
        from importlib.metadata import version

        out["mlacalc"] = version("mlacalc")
    except Exception:
        pass
    handle, status = nvml_open(0)
    if handle is not None:
        try:
            out["driver"] = handle.read().driver
        except Exception:
            pass
    out["nvml"] = status
    return out
