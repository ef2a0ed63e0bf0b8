"""The calculator from Python: the same answers as the CLI, as frozen reports.

Each function takes a spec (from :func:`load_spec`, or a name/path it loads), keyword arguments named like the
CLI's flags (``context``, ``batch``, ``parallel`` ...), and returns the report the command prints; the report's
``to_json()`` is the command's ``--json`` output (``fit --json`` lists one ``Fit.to_json()`` per model under
``"fits"``). Counts accept ints or the CLI's strings (``"128k"``). Bad values raise :class:`SpecError` (an
:class:`ArgError` naming the argument).

    >>> import mlacalc
    >>> spec = mlacalc.load_spec("deepseek-v3")
    >>> r = mlacalc.kv_cache(spec, context=32768, batch=4, parallel=mlacalc.Parallelism(tp=8, dp_attention=True))
    >>> r.per_gpu.total
    2302672896.0
"""

from __future__ import annotations

from .errors import ArgError
from .capacity import Fit
from .capacity import fit as _fit
from .hardware import Hardware, load_hardware
from .kv import KVReport, kv_report
from .parallel import Parallelism
from .step import Roofline, Step
from .step import roofline as _roofline
from .spec import ModelSpec, load_spec
from .training import GIB, TrainMemory, TrainRun
from .training import train_memory as _train_memory
from .units import dtype_bits, parse_count
from .params import WeightsReport, weights_report


def _spec(spec: ModelSpec | str) -> ModelSpec:
    """``spec`` loaded, or checked as a spec file is when it is a :class:`ModelSpec` already: one built or changed in
    Python (``dataclasses.replace(spec, num_layers=2**40)``) bypassed every check, and hung, raised TypeError or
    priced zero KV heads as 0 bytes."""
    if not isinstance(spec, ModelSpec):
        return load_spec(spec)
    from .spec import spec_from_dict, spec_to_dict

    spec_from_dict(_as_dict(spec_to_dict, spec, "spec"))
    return spec


def _gpu(gpu: Hardware | str) -> Hardware:
    """``gpu`` loaded, or checked as a hardware file is when it is a :class:`Hardware` already (a zero bandwidth
    set by ``dataclasses.replace`` was a ZeroDivisionError)."""
    if not isinstance(gpu, Hardware):
        return load_hardware(gpu)
    from .hardware import hardware_from_dict

    hardware_from_dict(_as_dict(Hardware.to_dict, gpu, "gpu"), "gpu")
    return gpu


def _as_dict(to_dict, obj, name: str) -> dict:
    try:
        return to_dict(obj)
    except (AttributeError, TypeError, ValueError, RecursionError) as e:  # a field holding what a file cannot
        raise ArgError(name, f"holds a value a spec cannot: {type(e).__name__}: {e}".splitlines()[0]) from None


def _count(value: int | str, name: str, minimum: int = 1) -> int:
    return parse_count(value, name, minimum)


def _bits(dtype: str | float | None, name: str) -> float | None:
    return None if dtype is None else dtype_bits(dtype, name)


def _kv(kv_dtype: str | float | None) -> tuple[float | None, str | None]:
    """(bits per KV element, packed layout) that ``kv_dtype`` names, as the CLI's ``--kv-dtype`` reads it:
    ``"fp8-ds"`` (FlashMLA's 656-byte DSA rows) is 8-bit values in that layout. The API refused it while
    ``mlacalc kv --kv-dtype fp8-ds`` sized it (audit 5). ``"int4"``, ``"int8"``, ``"fp4"``: values and their
    scales (:func:`mlacalc.kv.kv_dtype_layout`)."""
    from .kv import kv_dtype_layout

    if isinstance(kv_dtype, str):
        return kv_dtype_layout(kv_dtype)
    return _bits(kv_dtype, "kv_dtype"), None


def _parallel(parallel: Parallelism | None) -> Parallelism:
    if parallel is None:
        return Parallelism()
    if not isinstance(parallel, Parallelism):
        raise ArgError("parallel", f"expected a Parallelism, got {type(parallel).__name__}")
    return parallel


def kv_cache(spec: ModelSpec | str, context: int | str = 4096, batch: int | str = 1, *,
             parallel: Parallelism | None = None, kv_dtype: str | float | None = None, cache: str = "compressed",
             block_size: int | None = None) -> KVReport:
    """KV-cache bytes per token, layer, sequence, batch and GPU (``mlacalc kv``)."""
    bits, fmt = _kv(kv_dtype)
    return kv_report(_spec(spec), _count(context, "context"), _count(batch, "batch"),
                     kv_bits=bits, cache=cache, block_size=block_size, parallel=_parallel(parallel), kv_format=fmt)


def weights(spec: ModelSpec | str, *, parallel: Parallelism | None = None,
            weight_dtype: str | float | None = None) -> WeightsReport:
    """Parameters and weight bytes: total (MTP apart), active per token, per GPU (``mlacalc weights``)."""
    return weights_report(_spec(spec), weight_dtype, _parallel(parallel))


def roofline(spec: ModelSpec | str, gpu: Hardware | str = "h100-sxm", *, phase: str = "decode",
             batch: int | str = 1, context: int | str = 4096, q_tokens: int = 1,
             parallel: Parallelism | None = None, mla_form: str | None = None,
             weight_dtype: str | float | None = None, kv_dtype: str | float | None = None,
             paged: bool = False) -> Roofline:
    """One forward step, op by op, on one GPU of the group (``mlacalc roofline``); ``paged``: a paged KV cache."""
    from .kv import format_bits

    step = Step(phase, _count(batch, "batch"), _count(context, "context"), q_tokens, paged)
    s, (bits, fmt) = _spec(spec), _kv(kv_dtype)
    return _roofline(s, _gpu(gpu), step, _parallel(parallel), mla_form=mla_form,
                     weight_bits=_bits(weight_dtype, "weight_dtype"), kv_bits=format_bits(s, fmt) or bits)


def fit(spec: ModelSpec | str, gpu: Hardware | str = "h100-sxm", *, context: int | str = 32768,
        batch: int | str = 1, parallel: Parallelism | None = None, q_tokens: int = 1,
        weight_dtype: str | float | None = None, kv_dtype: str | float | None = None, gpu_mem_util: float | None = None,
        workspace_tokens: int | str | None = None, workspace_bytes: float | None = None,
        block_size: int | None = None, engine: str = "mlacalc", max_num_seqs: int | None = None,
        non_torch_bytes: float | None = None, mamba_cache_mode: str | None = None, sampler: str | None = None,
        cudagraph_bytes: float | None = None, vllm_version: str | None = None) -> Fit:
    """The largest batch at ``context``, the longest context at ``batch``, and decode there (``mlacalc fit``).
    ``workspace_tokens`` None: 8,192, or vLLM's default for the card under ``engine="vllm"`` (mlacalc.vllm), SGLang's
    ``chunked_prefill_size`` under ``engine="sglang"`` (mlacalc.sglang). ``gpu_mem_util`` None: 0.9, or under
    ``engine="sglang"`` SGLang's default ``mem_fraction_static`` for the card and the layout. ``mamba_cache_mode``:
    vLLM on a hybrid, "none" (the default) or "align" (mlacalc.vllm_hybrid). ``sampler``: vLLM's top-k/top-p path,
    "flashinfer" (the default), "triton", "sort" or "mrv2" (mlacalc.vllm.SAMPLER_PATHS). ``cudagraph_bytes``: vLLM
    >= 0.21's logged CUDA-graph estimate, subtracted from its budget (None: not subtracted). ``vllm_version``: a vLLM
    release ("0.17") whose rules pick the sampler, the non-torch bytes and the CUDA-graph rule
    (mlacalc.vllm.version_rules; a given ``sampler`` or ``non_torch_bytes`` wins)."""
    bits, fmt = _kv(kv_dtype)
    return _fit(_spec(spec), _gpu(gpu), _count(context, "context"), _parallel(parallel), batch=_count(batch, "batch"),
                weight_bits=_bits(weight_dtype, "weight_dtype"), kv_bits=bits, kv_format=fmt,
                gpu_mem_util=gpu_mem_util, workspace_bytes=workspace_bytes, block_size=block_size, q_tokens=q_tokens,
                workspace_tokens=None if workspace_tokens is None else _count(workspace_tokens, "workspace_tokens", 0),
                engine=engine, max_num_seqs=max_num_seqs, non_torch_bytes=non_torch_bytes,
                mamba_cache_mode=mamba_cache_mode, sampler=sampler, cudagraph_bytes=cudagraph_bytes,
                vllm_version=vllm_version)


def train_memory(spec: ModelSpec | str, gpu: Hardware | str = "h100-sxm", *, micro_batch: int | str = 1,
                 seq: int | str = 4096, parallel: Parallelism | None = None, recompute: str = "none",
                 kernel: str | None = None, convention: str = "native", precision: str = "mixed", zero: int = 0,
                 reserve_gib: float = 2.0) -> TrainMemory:
    """Training memory per GPU and the limits that fit (``mlacalc train``)."""
    from .activations import resolve_kernel
    from .units import finite

    s = _spec(spec)
    par = _parallel(parallel).check(s)
    run = TrainRun(micro_batch=_count(micro_batch, "micro_batch"), seq=_count(seq, "seq"), recompute=recompute,
                   kernel=resolve_kernel(convention, kernel), convention=convention, precision=precision,
                   zero=zero, parallel=par,
                   reserve_bytes=finite(reserve_gib, "reserve_gib", minimum=0, maximum=2.0**30) * GIB)
    return _train_memory(s, run, _gpu(gpu))
