"""Measure the card's ceilings and write them as a hardware spec (the format of ``mlacalc/hardware.py``).

The one ceiling probe of the project: `mlacalc calibrate` and the kernel benchmark (``kernels/bench.py``, through
:func:`measure_ceilings`) both measure with these functions. What is measured, each as the median of timed
repetitions (see ``timing.time_cuda``: device time, L2 flushed, host-bound runs detected):

- ``mem_bandwidth_gb_s``: a device-to-device copy of a 2 GiB buffer, counting bytes read plus bytes written
  (2 x size), the figure a decode kernel that streams its cache can approach.
- ``bf16_tflops`` / ``fp16_tflops``: an 8192^3 matrix product through torch (cuBLAS), 2·M·N·K FLOPs.
- ``fp8_tflops``: the same shape through ``torch._scaled_mm`` with e4m3 operands (0 where the card or build
  has no fp8 matrix product).
- ``fp32_tflops``: a 4096^3 float32 product with TF32 off (the CUDA cores' rate).
- ``kernel_launch_us``: the fixed cost of one kernel in a chain of dependent kernels: :data:`LAUNCH_CHAIN`
  in-place adds to a 1-element tensor captured in one CUDA graph, the graph replayed and timed with CUDA events,
  divided by the chain's length (median over repetitions). Graph replay is how the profiler times decode steps,
  so this is the per-kernel cost those timings contain. The same chain launched eagerly from Python is measured
  too (``time_cuda(hold=False)``) and written in the notes (host-bound: PyTorch's per-op overhead, not the GPU's).

``boost_clock_ghz`` is not measured but read: NVML's maximum SM clock (nvidia-smi "Max Clocks SM"), the clock the
built-in specs give as the boost clock, which prices prefill's softmax exponentials (``mlacalc.expected.exp_rate_per_s``);
left out where NVML does not answer.

Not measurable on one card: the interconnect; it is taken from ``base`` (a built-in spec such as ``h100-sxm``)
and the file says so. Memory is the card's total as the driver reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .results import write_atomic
from .timing import L2Flusher, time_cuda

LAUNCH_CHAIN = 200  # kernels per timed chain in the launch-latency measurement


@dataclass(frozen=True)
class Calibration:
    name: str
    memory_bytes: int
    mem_bandwidth_gb_s: float
    bf16_tflops: float
    fp16_tflops: float
    fp8_tflops: float
    fp32_tflops: float
    interconnect_gb_s: float
    spreads_pct: dict
    notes: str
    kernel_launch_us: float = 0.0
    kernel_launch_eager_us: float = 0.0
    scale_up_gpus: int = 0          # the base spec's NVLink domain and network (not measured: one card); 0: none
    scale_out_gb_s: float = 0.0
    boost_clock_ghz: float = 0.0    # NVML's maximum SM clock, GHz; 0: NVML did not answer (left out of the file)

    def hardware_dict(self) -> dict:
        """The mapping ``mlacalc.hardware.hardware_from_dict`` accepts (``measured: true``)."""
        d = {"name": self.name, "source": "measured by mlacalc calibrate", "measured": True,
             "memory_bytes": self.memory_bytes, "mem_bandwidth_gb_s": round(self.mem_bandwidth_gb_s, 1),
             "bf16_tflops": round(self.bf16_tflops, 1), "fp16_tflops": round(self.fp16_tflops, 1),
             "fp8_tflops": round(self.fp8_tflops, 1), "fp32_tflops": round(self.fp32_tflops, 2),
             "interconnect_gb_s": self.interconnect_gb_s, "kernel_launch_us": round(self.kernel_launch_us, 2),
             "notes": self.notes}
        if self.scale_up_gpus and self.scale_out_gb_s:
            d |= {"scale_up_gpus": self.scale_up_gpus, "scale_out_gb_s": self.scale_out_gb_s}
        if self.boost_clock_ghz:
            d["boost_clock_ghz"] = self.boost_clock_ghz
        return d


def base_links(base: str | None) -> tuple[float, str, int, float]:
    """(interconnect GB/s, its note, GPUs an NVLink domain, network GB/s a GPU) taken from the built-in spec
    ``base``: one card measures none of them, and without the domain a calibrated file would price a group of two
    boards' GPUs as one NVLink domain. (0, "not measured", 0, 0) without a base or for an unknown one."""
    from mlacalc.hardware import load_hardware

    if base:
        try:
            hw = load_hardware(base)
        except Exception:  # noqa: BLE001 - an unknown base leaves the links unknown, as with no base
            hw = None
        if hw is not None:
            return (hw.interconnect_gb_s, f"interconnect from the built-in spec {base!r}, not measured",
                    hw.scale_up_gpus, hw.scale_out_gb_s)
    return 0.0, "interconnect not measured (one card)", 0, 0.0


def copy_bandwidth(size_bytes: int = 2 << 30, reps: int = 30) -> tuple[float, float]:
    """(GB/s, spread %) of a device-to-device copy of ``size_bytes``, counting bytes read plus bytes written."""
    import torch

    src = torch.randint(0, 2**31 - 1, (size_bytes // 4,), dtype=torch.int32, device="cuda")
    dst = torch.empty_like(src)
    s = time_cuda(lambda: dst.copy_(src), warmup=3, reps=reps)
    del src, dst
    return 2 * size_bytes / s.median / 1e9, s.spread_pct


def matmul_rate(n: int = 8192, dtype_name: str = "bf16", reps: int = 30,
                flusher: L2Flusher | None = None) -> tuple[float, float]:
    """(TFLOP/s, spread %) of an n^3 matrix product (2 n^3 FLOPs) in bf16 / fp16 / fp8 / fp32 (TF32 off)."""
    import torch

    if dtype_name == "fp8":
        if not hasattr(torch, "float8_e4m3fn") or not hasattr(torch, "_scaled_mm"):
            return 0.0, 0.0
        a = torch.randn(n, n, device="cuda").to(torch.float8_e4m3fn)
        b = torch.randn(n, n, device="cuda").to(torch.float8_e4m3fn).t()  # column-major second operand
        one = torch.ones((), device="cuda")
        try:
            torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
        except Exception:  # no fp8 matrix units on this card or in this build
            return 0.0, 0.0
        fn = lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)  # noqa: E731
    else:
        dt = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name]
        a = torch.randn(n, n, device="cuda", dtype=dt)
        b = torch.randn(n, n, device="cuda", dtype=dt)
        fn = lambda: torch.mm(a, b)  # noqa: E731
    prev = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        s = time_cuda(fn, warmup=3, reps=reps, flusher=flusher)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev
    return 2 * n**3 / s.median / 1e12, s.spread_pct


def _launch_latency(reps: int, n: int = LAUNCH_CHAIN) -> tuple[float, float, float]:
    """(graph us per kernel, eager us per kernel, graph spread %) of a chain of ``n`` 1-element in-place adds."""
    import torch

    x = torch.zeros(1, device="cuda")

    def chain():
        for _ in range(n):
            x.add_(1.0)

    eager = time_cuda(chain, warmup=2, reps=reps, hold=False)  # the host's pace, on purpose
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        chain()  # warm-up off the capture stream
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        chain()
    graph = time_cuda(g.replay, warmup=3, reps=reps)
    del g, x
    return graph.median / n * 1e6, eager.median / n * 1e6, graph.spread_pct


def calibrate(*, base: str | None = "h100-sxm", quick: bool = False, device: int = 0) -> Calibration:
    """Measure this card (about 10 s; ``quick``: smaller sizes, about 3 s)."""
    import torch

    from mlacalc.hardware import load_hardware

    from .device import device_info

    torch.cuda.set_device(device)
    info = device_info(device)
    flusher = L2Flusher(device)
    reps = 10 if quick else 30
    bw, bw_sp = copy_bandwidth((512 if quick else 2048) * 2**20, reps)
    n = 4096 if quick else 8192
    bf16, bf16_sp = matmul_rate(n, "bf16", reps, flusher)
    fp16, fp16_sp = matmul_rate(n, "fp16", reps, flusher)
    fp8, fp8_sp = matmul_rate(n, "fp8", reps, flusher)
    fp32, fp32_sp = matmul_rate(4096 if not quick else 2048, "fp32", max(5, reps // 3), flusher)
    try:
        launch, launch_eager, launch_sp = _launch_latency(reps)
    except Exception:  # no graph capture here: leave the launch term out (0) rather than guess
        launch, launch_eager, launch_sp = 0.0, 0.0, 0.0
    del flusher
    torch.cuda.empty_cache()
    ic, ic_note, scale_up, scale_out = base_links(base)
    if not ic:
        ic = 1.0  # the format needs a positive number; one card never uses it
    notes = (f"copy {(512 if quick else 2048)} MiB device-to-device (read + write bytes); matmul {n}^3 via "
             f"torch.mm / torch._scaled_mm, L2 flushed, median of up to {reps}; kernel launch "
             f"{launch:.2f} us per kernel replayed from a CUDA graph of {LAUNCH_CHAIN} dependent 1-element adds "
             f"({launch_eager:.2f} us each launched eagerly from Python); {ic_note}; "
             f"torch {torch.__version__}, CUDA {torch.version.cuda}; clocks as found "
             f"(SM {info.sm_clock_mhz} of max {info.max_sm_clock_mhz} MHz at start, NVML {info.nvml})")
    return Calibration(name=f"{info.name} (measured)", memory_bytes=int(info.memory_total),
                       mem_bandwidth_gb_s=bw, bf16_tflops=bf16, fp16_tflops=fp16, fp8_tflops=fp8,
                       fp32_tflops=fp32, interconnect_gb_s=ic,
                       spreads_pct={"copy": bw_sp, "bf16": bf16_sp, "fp16": fp16_sp, "fp8": fp8_sp,
                                    "fp32": fp32_sp, "launch": launch_sp},
                       notes=notes, kernel_launch_us=launch, kernel_launch_eager_us=launch_eager,
                       scale_up_gpus=scale_up, scale_out_gb_s=scale_out,
                       boost_clock_ghz=max_clock_ghz(info.max_sm_clock_mhz))


def max_clock_ghz(max_sm_clock_mhz) -> float:
    """NVML's maximum SM clock (MHz, None where NVML did not answer) as the spec's ``boost_clock_ghz``: 1980 -> 1.98;
    0.0 (left out of the file) for None or a value that is no positive number."""
    if isinstance(max_sm_clock_mhz, bool) or not isinstance(max_sm_clock_mhz, (int, float)) or max_sm_clock_mhz <= 0:
        return 0.0
    return round(max_sm_clock_mhz / 1000, 3)


def measure_ceilings(log=None, *, flusher: L2Flusher | None = None) -> dict:
    """The roofline floor's two ceilings, for a benchmark to measure in its own run: ``copy_gbps`` (2 GiB copy)
    and ``matmul_tflops`` (bf16 8192^3), with the same probes as :func:`calibrate`; ``log`` gets one line."""
    import torch

    ceil = {"copy_gbps": copy_bandwidth()[0], "matmul_tflops": matmul_rate(8192, "bf16", 30, flusher)[0]}
    if log is not None:
        import triton

        log(f"{torch.cuda.get_device_name()} torch {torch.__version__} triton {triton.__version__}: copy "
            f"{ceil['copy_gbps']:.0f} GB/s, bf16 matmul {ceil['matmul_tflops']:.0f} TFLOP/s")
    return ceil


def device_arch(props) -> str:
    """The hardware spec's ``arch`` of a CUDA device's properties: ``sm_90`` from capability 9.0, or the AMD target
    (``gfx942`` of ``gfx942:sramecc+:xnack-``) under ROCm. torch on CUDA fills ``gcnArchName`` too, with the card's
    name ("NVIDIA H200", seen on the H200 machine): only a gfx target counts."""
    gcn = str(getattr(props, "gcnArchName", "") or "")
    return gcn.split(":")[0] if gcn.startswith("gfx") else f"sm_{props.major}{props.minor}"


def write_hardware_yaml(cal: Calibration, path, extra: dict | None = None) -> None:
    """Write ``cal`` (and ``extra`` fields: ``sms``, ``kernels``) as a hardware spec; validated by loading it back
    before the rename makes it visible."""
    import yaml

    from mlacalc.hardware import hardware_from_dict

    d = cal.hardware_dict() | (extra or {})
    hardware_from_dict(dict(d), str(path))  # refuse to write a file the loader would reject
    text = "# Written by `mlacalc calibrate`: measured on this card; see notes.\n" + yaml.safe_dump(
        d, sort_keys=False, width=110)
    write_atomic(path, text)
