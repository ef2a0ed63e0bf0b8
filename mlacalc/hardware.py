"""GPU hardware specs: memory, memory bandwidth, peak matrix rates and interconnect.

Read from YAML (``model_specs/hardware/<name>.yaml`` or a file: ``mlacalc calibrate`` writes the same format
from measurements). Rates are dense (no 2:4 sparsity). Decimal units, as datasheets quote them:
GB/s = 1e9 bytes/s, TFLOP/s = 1e12 FLOP/s; memory in GiB (2**30 bytes) or bytes.

Memory in the built-in specs is the total the driver reports (nvidia-smi, rocm-smi) where one was found, each file
says which: it is what an engine can allocate from. Vendors' HBM "GB" are binary and rounded up (the H100's 80 GB
is 81,559 MiB = 79.65 GiB, the H200's 141 GB 143,771 MiB = 140.4 GiB), so a datasheet figure with no driver
figure is read as GiB, never as 1e9 bytes (7% less). Data-center GDDR cards keep ECC on by default and lose 1/16 of
their memory to it (L40S: 46,068 MiB of 48 GiB).

``cuda_memory_gib`` (optional): cudaMemGetInfo's total, what ``torch.cuda.mem_get_info`` and so vLLM see, under the
driver's figure (H100 79.22 against 79.65 GiB; H200 139.80 against 140.40, measured: reports/h200/nontorch_memory.json;
A100 40GB, A100 80GB, L40S, RTX 4090 and RTX 5090 from public vLLM logs, each file cites its log). Only ``--engine vllm``
and ``--engine sglang`` read it; files give it only where a measurement or a vLLM log naming the card states it.

``kernel_launch_us`` (optional, microseconds, default 0): the fixed cost of one kernel in a stream of dependent
kernels -- launch, scheduling and completion of a kernel that does no work. Datasheets do not give it, so the
built-in specs leave it 0 (roofline times unchanged); ``mlacalc calibrate`` measures it (a 1-element add replayed
from a CUDA graph, per kernel) and ``mlacalc.step`` adds ``launches x kernel_launch_us`` to each op.

``scale_up_gpus`` and ``scale_out_gb_s`` (optional): the GPUs one NVLink domain joins (8 on an HGX/DGX board, 72 in
a GB200/GB300 NVL72 rack) and each GPU's network bandwidth beyond it (one NIC a GPU on these systems: DGX A100 8 x
ConnectX-6 200 Gb/s; DGX H100/H200 and DGX B200 8 x ConnectX-7 400 Gb/s; DGX B300 and GB300 NVL72 ConnectX-8
800 Gb/s; GB200 NVL72 ConnectX-7 400 Gb/s). A collective over more GPUs than one domain holds is priced at the
network (:meth:`Hardware.collective_bytes_s`); ``--tp 16`` on H200s was priced at NVLink's 450 GB/s.

``boost_clock_ghz`` (optional, GHz): the SM clock at full boost, what nvidia-smi reports as "Max Clocks SM" (the
vendor's boost clock; AMD's "peak engine clock"). The expected time of prefill attention prices the softmax's
exponentials at ``SMs x exponentials a clock an SM x boost_clock_ghz`` (:func:`mlacalc.expected.exp_rate_per_s`);
a spec without it falls back to the architecture's ratio of exponentials to dense tensor FLOPs. Each built-in file
cites where its clock comes from; ``mlacalc calibrate`` writes the card's NVML maximum.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

from .errors import SpecError, show
from .units import finite


@dataclass(frozen=True)
class Hardware:
    """One GPU. Each field's unit is in its name."""

    name: str
    memory_bytes: float           # usable device memory (the card's, before any runtime reserve)
    mem_bandwidth_gb_s: float     # HBM/GDDR bandwidth, GB/s
    bf16_tflops: float            # dense bf16 tensor-core rate, TFLOP/s
    fp16_tflops: float
    fp8_tflops: float             # 0 where the card has no fp8 tensor cores
    fp32_tflops: float            # non-tensor-core fp32
    interconnect_gb_s: float      # GPU-to-GPU bandwidth per direction (NVLink/xGMI/PCIe), GB/s
    source: str = ""
    measured: bool = False        # True when written by `mlacalc calibrate` on a real card
    kernel_launch_us: float = 0.0  # fixed cost per kernel launch, microseconds (0: not modelled; see module doc)
    sms: int = 0                  # streaming multiprocessors (AMD: compute units); 0 = unknown
    arch: str = ""                # compute capability (``sm_90``) or AMD target (``gfx942``): which kernels run; "" =
    #                               unknown, taken as the card the kernel defaults were measured on (a Hopper)
    collective_latency_us: float = 0.0  # fixed cost of one collective (alpha); 0: not modelled (datasheet specs)
    scale_up_gpus: int = 0        # GPUs one NVLink/xGMI domain joins at interconnect_gb_s (HGX board 8, NVL72 72);
    #                               0: not given, every group taken as one domain
    scale_out_gb_s: float = 0.0   # each GPU's network bandwidth per direction to GPUs outside its domain, GB/s (its
    #                               NIC: 400 Gb/s ConnectX-7 = 50); 0: not given (see collective_bytes_s)
    cuda_memory_bytes: float = 0.0  # cudaMemGetInfo's total (what torch.cuda.mem_get_info and vLLM see), under the
    #                               driver's memory_bytes; 0: not measured. Only fit --engine vllm reads it
    boost_clock_ghz: float = 0.0  # SM boost clock (nvidia-smi "Max Clocks SM", AMD "peak engine clock"), GHz; 0:
    #                               not given (the SFU rate then follows the tensor rate: see module doc)
    kernels: tuple = ()           # ((backend, mlacalc.expected.KernelModel), ...): calibrated coefficients

    @property
    def mem_bandwidth_bytes_s(self) -> float:
        return self.mem_bandwidth_gb_s * 1e9

    @property
    def interconnect_bytes_s(self) -> float:
        return self.interconnect_gb_s * 1e9

    def domains(self, gpus: int) -> int:
        """NVLink (xGMI) domains a group of ``gpus`` GPUs spans: ``ceil(gpus / scale_up_gpus)``; 1 when the spec does
        not give its domain size or its network bandwidth."""
        if not self.scale_up_gpus or not self.scale_out_gb_s:
            return 1
        return -(-gpus // self.scale_up_gpus)

    def collective_bytes_s(self, gpus: int, all_to_all: bool = False) -> float:
        """Bytes/s at which one GPU of a group of ``gpus`` sends its share of a collective (the ``comm_bytes`` the
        roofline counts per GPU): ``interconnect_gb_s`` inside one domain. A group that spans ``N`` domains of ``m``:

        - ring collectives (all-reduce, all-gather, reduce-scatter): NCCL's rings each cross every domain boundary,
          one ring per NIC of a rail-optimized node, so the bus bandwidth is ``min(interconnect, m x scale_out)``.
        - all-to-all (MoE dispatch and combine): of the bytes a GPU sends, ``(m - 1) / (n - 1)`` stay in its domain
          and ``(n - m) / (n - 1)`` leave through its NIC, both at once (DeepEP's internode kernels forward over
          NVLink while RDMA runs): time is the larger of the two. DeepEP (README) measures 43-58 GB/s of RDMA a GPU
          on 400 Gb/s ConnectX-7 (50 GB/s) and 153-158 GB/s of NVLink on the H800 (DeepSeek-V3 report, section
          3.2.2: NVLink 160 GB/s, IB 50 GB/s), which is why an expert-parallel group that crosses nodes is bound by
          the network.
        """
        link = self.interconnect_bytes_s
        m = self.scale_up_gpus
        if self.domains(gpus) == 1:
            return link
        net = self.scale_out_gb_s * 1e9
        if not all_to_all:
            return min(link, m * net)
        n = gpus
        return 1.0 / max((m - 1) / (n - 1) / link, (n - m) / (n - 1) / net)

    def ridge_point(self, dtype_bits: float = 16) -> float:
        """FLOP per byte of HBM traffic above which a kernel is compute-bound: peak FLOP/s / bytes/s."""
        return self.flops_per_s(dtype_bits) / self.mem_bandwidth_bytes_s

    def flops_per_s(self, dtype_bits: float) -> float:
        """Peak matrix FLOP/s for operands of ``dtype_bits`` (8: fp8, 16: bf16, 32: fp32)."""
        if dtype_bits <= 8 and self.fp8_tflops:
            return self.fp8_tflops * 1e12
        if dtype_bits <= 16:
            return self.bf16_tflops * 1e12
        return self.fp32_tflops * 1e12

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["kernels"] = {k: m.to_dict() for k, m in self.kernels}
        # fields a file leaves out when not given, whose empty value the file check refuses (arch "" is no compute
        # capability, a clock of 0 no clock): writing them made mlacalc.api refuse a Hardware loaded from a file
        for k in ("arch", "boost_clock_ghz"):
            if not out[k]:
                del out[k]
        return out


_REQUIRED = ("name", "mem_bandwidth_gb_s", "bf16_tflops", "interconnect_gb_s")
ARCH_RE = re.compile(r"sm_[0-9]{2,3}[a-z]?|gfx[0-9a-f]{3,4}")   # ASCII digits: \d took "sm_٩٠" (Arabic-Indic)
# Upper bounds far above any card (a B200 has 192 GB, 8 TB/s, 4.5 PFLOP/s dense fp8), so that a typo like
# 1e300 is refused here rather than turning into an infinity or a NaN inside a roofline.
_MAX = {"memory_bytes": 2.0**60, "mem_bandwidth_gb_s": 1e9, "bf16_tflops": 1e9, "fp16_tflops": 1e9,
        "fp8_tflops": 1e9, "fp32_tflops": 1e9, "interconnect_gb_s": 1e9, "kernel_launch_us": 1e9,
        "collective_latency_us": 1e9, "scale_out_gb_s": 1e9, "cuda_memory_bytes": 2.0**60}
# Lower bounds of the rates every time divides by, far below any card (1 MB/s, 1 MFLOP/s): a rate of 1.0e-300 passed
# the "positive" check and a long step's time overflowed to infinity, so that --json died in a ValueError traceback
# (non-finite compute_util) and tables printed 300-digit times. fp8_tflops may still be 0. (Memory has no floor: a
# toy card of 1 MB is a fine test, and a tiny memory only fits nothing.)
_MIN = {"mem_bandwidth_gb_s": 1e-3, "bf16_tflops": 1e-6, "fp16_tflops": 1e-6, "fp8_tflops": 1e-6,
        "fp32_tflops": 1e-6, "interconnect_gb_s": 1e-3}
# An SM clock in GHz: every card here boosts between 1.4 (A100) and 2.6 (RTX PRO 6000); 0.1 to 10 GHz leaves room
# for any real part and refuses a clock written in MHz (1980), which would price the exponentials 1,000x too fast.
CLOCK_GHZ_RANGE = (0.1, 10.0)


def hardware_from_dict(d: dict, where: str) -> Hardware:
    """Validate a mapping into :class:`Hardware`; memory as ``memory_gib`` or ``memory_bytes``."""
    if not isinstance(d, dict):
        raise SpecError(where, "a hardware spec must be a mapping")
    d = dict(d)
    known = {f.name for f in fields(Hardware)} | {"memory_gib", "cuda_memory_gib", "notes"}
    for k in d:
        if k not in known:
            near = difflib.get_close_matches(k, sorted(known), n=1)
            raise SpecError(f"{where}: {k}", "unknown field" + (f" (did you mean {near[0]!r}?)" if near else ""))
    if "memory_gib" in d and "memory_bytes" in d:     # memory_gib won silently, whatever memory_bytes said
        raise SpecError(f"{where}: memory_bytes", "give memory_gib or memory_bytes, not both")
    gave_gib = "memory_gib" in d
    if gave_gib:
        gib = d.pop("memory_gib")
        finite(gib, f"{where}: memory_gib", minimum=0, maximum=2.0**30)
        d["memory_bytes"] = gib * 2**30
    if "cuda_memory_gib" in d and "cuda_memory_bytes" in d:
        raise SpecError(f"{where}: cuda_memory_bytes", "give cuda_memory_gib or cuda_memory_bytes, not both")
    if "cuda_memory_gib" in d:
        gib = d.pop("cuda_memory_gib")
        finite(gib, f"{where}: cuda_memory_gib", minimum=0, maximum=2.0**30)
        d["cuda_memory_bytes"] = gib * 2**30
    d.pop("notes", None)
    if "kernels" in d:
        from .expected import BACKENDS, kernel_model_from_dict

        ks = d["kernels"]
        if not isinstance(ks, dict):
            raise SpecError(f"{where}: kernels", "expected a mapping of backend -> coefficients")
        for k in ks:
            if k not in BACKENDS:
                raise SpecError(f"{where}: kernels.{k}", f"unknown backend (known: {', '.join(BACKENDS)})")
        d["kernels"] = tuple((k, kernel_model_from_dict(v, f"{where}: kernels.{k}")) for k, v in ks.items())
    if "sms" in d:
        finite(d["sms"], f"{where}: sms", minimum=0, maximum=100_000)
        if d["sms"] != int(d["sms"]):
            raise SpecError(f"{where}: sms", f"must be a whole number, got {d['sms']!r}")
        d["sms"] = int(d["sms"])
    if "scale_up_gpus" in d:
        finite(d["scale_up_gpus"], f"{where}: scale_up_gpus", minimum=0, maximum=1 << 20)
        if d["scale_up_gpus"] != int(d["scale_up_gpus"]):
            raise SpecError(f"{where}: scale_up_gpus", f"must be a whole number, got {d['scale_up_gpus']!r}")
        d["scale_up_gpus"] = int(d["scale_up_gpus"])
    for k in _REQUIRED:
        if k not in d:
            raise SpecError(f"{where}: {k}", "is required")
    if "memory_bytes" not in d:      # named the field the built-in files never write (they give memory_gib)
        raise SpecError(f"{where}: memory_gib", "is required (or memory_bytes)")
    if "arch" in d and not (isinstance(d["arch"], str) and ARCH_RE.fullmatch(d["arch"])):
        raise SpecError(f"{where}: arch", f"expected a compute capability like sm_90 or an AMD target like gfx942, "
                                          f"got {d['arch']!r}")
    for k in ("name", "source"):
        if k in d and not isinstance(d[k], str):
            raise SpecError(f"{where}: {k}", f"must be a string, got {d[k]!r}")
    if not d["name"].strip():                          # every report names the GPU; a model spec refuses it too
        raise SpecError(f"{where}: name", "may not be empty")
    if not d["name"].isprintable():                    # a line break split the reports' titles, as a model's did
        raise SpecError(f"{where}: name", f"must be one line of printable text, got {show(d['name'])}")
    if not isinstance(d.get("measured", False), bool):
        raise SpecError(f"{where}: measured", f"must be true or false, got {d['measured']!r}")
    for k in ("memory_bytes", "mem_bandwidth_gb_s", "bf16_tflops", "fp16_tflops", "fp8_tflops", "fp32_tflops",
              "interconnect_gb_s", "kernel_launch_us", "collective_latency_us", "scale_out_gb_s", "cuda_memory_bytes"):
        if k in d:
            finite(d[k], f"{where}: {k}", minimum=0, maximum=_MAX[k])
    if "boost_clock_ghz" in d:
        lo, hi = CLOCK_GHZ_RANGE
        finite(d["boost_clock_ghz"], f"{where}: boost_clock_ghz", minimum=0, maximum=1e9)
        if not lo <= d["boost_clock_ghz"] <= hi:
            hint = " (in GHz: 1.98, not 1980 MHz)" if d["boost_clock_ghz"] > hi else ""
            raise SpecError(f"{where}: boost_clock_ghz", f"must be a clock between {lo:g} and {hi:g} GHz{hint}, "
                                                         f"got {d['boost_clock_ghz']!r}")
    if d.get("cuda_memory_bytes", 0) > d["memory_bytes"]:   # CUDA's total is the driver's less its reserve
        raise SpecError(f"{where}: cuda_memory_gib", f"must be at most the card's memory "
                                                     f"({d['memory_bytes'] / 2**30:g} GiB), got "
                                                     f"{d['cuda_memory_bytes'] / 2**30:g} GiB")
    d.setdefault("fp16_tflops", d["bf16_tflops"])
    d.setdefault("fp8_tflops", 0.0)
    d.setdefault("fp32_tflops", d["bf16_tflops"] / 16)
    d.setdefault("kernel_launch_us", 0.0)
    for k in ("memory_bytes", "mem_bandwidth_gb_s", "bf16_tflops", "fp16_tflops", "fp32_tflops",
              "interconnect_gb_s"):
        if d[k] == 0:  # fp8_tflops may be 0 (no fp8 tensor cores), kernel_launch_us 0 (not modelled)
            # the field as the file wrote it: memory_gib: 0 was reported as "memory_bytes: must be ..., got 0"
            field = "memory_gib" if k == "memory_bytes" and gave_gib else k
            raise SpecError(f"{where}: {field}", f"must be a positive number, got 0")
    _check_floors(d, where)
    return Hardware(**d)


def _check_floors(d: dict, where: str) -> None:
    """Refuse a positive rate below :data:`_MIN` (fp8_tflops may be 0: no fp8 tensor cores)."""
    for k, low in _MIN.items():
        if 0 < d[k] < low:
            raise SpecError(f"{where}: {k}", f"must be at least {low:g}, got {d[k]:g}")


def hardware_names() -> list[str]:
    root = resources.files("mlacalc.model_specs.hardware")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


# Names people type for a built-in card (the bare product name means the part clouds rent: the H100 is the SXM5
# board, the A100 the 80 GB SXM4 one).
ALIASES = {"h100": "h100-sxm", "h100-sxm5": "h100-sxm", "h100-80gb": "h100-sxm", "h200-sxm": "h200",
           "h200-141gb": "h200", "h800-sxm": "h800", "a100": "a100-80gb", "a100-80g": "a100-80gb",
           "a100-40g": "a100-40gb", "a800-sxm4-80gb": "a800", "a800-80gb": "a800", "a800-sxm": "a800",
           "4090": "rtx-4090", "rtx4090": "rtx-4090", "geforce-rtx-4090": "rtx-4090",
           "5090": "rtx-5090", "rtx5090": "rtx-5090", "geforce-rtx-5090": "rtx-5090",
           "3090": "rtx-3090", "rtx3090": "rtx-3090", "geforce-rtx-3090": "rtx-3090",
           "a6000": "rtx-a6000", "rtxa6000": "rtx-a6000", "rtx-6000-ada-generation": "rtx-6000-ada",
           "rtx6000ada": "rtx-6000-ada", "rtx-6000ada": "rtx-6000-ada", "6000-ada": "rtx-6000-ada",
           "gh200-480gb": "gh200", "gh200-96gb": "gh200",
           "rtx-pro-6000-blackwell": "rtx-pro-6000", "b300-sxm": "b300", "gb200-nvl72": "gb200",
           "gb300-nvl72": "gb300", "mi300": "mi300x", "mi325": "mi325x", "mi355": "mi355x"}


def _gpu_key(name: str) -> str:
    """A GPU name as the built-in files spell it: lower case, spaces and underscores as hyphens, an ``nvidia-`` or
    ``amd-`` (``instinct-``) prefix dropped, then :data:`ALIASES` (``H100 SXM`` -> ``h100-sxm``, ``A100`` ->
    ``a100-80gb``)."""
    key = re.sub(r"[\s_]+", "-", name.strip().lower())
    key = re.sub(r"^(nvidia-|amd-)?(instinct-)?", "", key)
    return ALIASES.get(key, key)


def load_hardware(name_or_path: str) -> Hardware:
    """A built-in GPU by name (``h100-sxm``; any case, ``H100 SXM``, and the aliases of :data:`ALIASES`) or a YAML
    file (e.g. one written by ``mlacalc calibrate``)."""
    import os

    from .files import read_data

    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
    if not isinstance(name_or_path, str):     # load_hardware(None) raised TypeError from pathlib
        from .errors import ArgError, show

        raise ArgError("gpu", f"expected a built-in GPU name or a path to a hardware YAML, got "
                              f"{type(name_or_path).__name__} {show(name_or_path)}")
    if not name_or_path.strip():     # the argument: the CLI says --gpu, load_hardware("") said it too
        from .errors import ArgError

        raise ArgError("gpu", "is empty; give a built-in name (h100-sxm, h200, ...) or a hardware YAML")
    p = Path(name_or_path)
    try:
        p = p.expanduser()
    except RuntimeError:  # ~nosuchuser/gpu.yaml: no home to expand; reported below as an unknown GPU
        pass
    if p.is_file():
        data = read_data(p, str(p), "json" if p.suffix == ".json" else "yaml")
        return hardware_from_dict(data, str(p))
    if p.is_dir():
        raise SpecError(f"--gpu {name_or_path}", "is a folder; give a hardware YAML file or a built-in name")
    names = hardware_names()
    key = _gpu_key(name_or_path)
    if key not in names:
        near = difflib.get_close_matches(key, names, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(near)}?" if near else f" (known: {', '.join(names)})"
        raise SpecError(f"--gpu {name_or_path}", f"unknown GPU{hint}")
    return hardware_from_dict(read_data(builtin_hardware_file(key), key), key)


def builtin_hardware_file(name: str):
    """The packaged YAML of the built-in GPU ``name`` (any case, the aliases of :data:`ALIASES`), or None where no
    built-in is called so: what a tool rewriting a built-in card reads (bench/fit_expected.py --write)."""
    key = _gpu_key(name)
    return resources.files("mlacalc.model_specs.hardware").joinpath(f"{key}.yaml") if key in hardware_names() else None
