"""What the calculator predicts for one profiled point: KV bytes, the working set, attention-core FLOPs and bytes,
and the roofline time with a given (ideally calibrated) hardware spec.

KV bytes come from ``mlacalc.kv.kv_report`` and the attention core's FLOPs, bytes and roofline time from
``mlacalc.step`` (op ``attn_core``), unchanged: the profiler holds the calculator to account, so it never
re-derives a formula the calculator owns.

The working set of a decode step (what is live besides the cache) depends on the kernel; see
:func:`decode_workspace`. It is stated, not fitted: each term names the tensor it stands for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from mlacalc.attention import family
from mlacalc.attention.dsa import FP8_DS
from mlacalc.hardware import Hardware
from mlacalc.kv import format_bits, kv_report
from mlacalc.parallel import Parallelism
from mlacalc.spec import ModelSpec
from mlacalc.units import dtype_bits

ACT_BYTES = 2  # bf16 queries, outputs and activations


@dataclass(frozen=True)
class Heads:
    """Heads one GPU computes under tensor parallelism (MLA's latent belongs to no head: every rank has it)."""

    q: int
    kv: int


def mla_kernel(a) -> bool:
    """Whether the attention block runs on the latent (MLA) kernels rather than the GQA ones: the family says
    (``AttentionFamily.kernel``); a family with no kernel (linear attention) is refused."""
    kernel = family(a).kernel
    if not kernel:
        from mlacalc.errors import SpecError

        raise SpecError("attention.kind", f"the profiler has no kernel for {family(a).name} attention")
    return kernel == "mla"


def heads_per_rank(spec: ModelSpec, tp: int = 1) -> Heads:
    """Query heads and KV heads one of ``tp`` ranks computes (:class:`mlacalc.parallel.Parallelism`'s rule)."""
    a = spec.attention
    par = Parallelism(tp=tp).check(spec)
    return Heads(q=par.heads_per_rank(a.num_heads), kv=par.kv_groups_per_rank(family(a).kv_groups(a)))


@dataclass(frozen=True)
class OpCost:
    """FLOPs and fewest HBM bytes of one op on one GPU, summed over ``layers`` layers, with its roofline time."""

    flops: float
    bytes: float
    layers: int
    time_s: float
    bound: str
    launches: float = 0.0   # kernel launches over the layers
    launch_s: float = 0.0   # their share of time_s: launches x the hardware's kernel_launch_us
    expected_s: float = 0.0  # kernel-aware expected time (mlacalc.expected) with the backend's coefficients
    backend: str = ""        # whose coefficients
    exps: float = 0.0        # softmax exponentials over the layers (one a (query, key) pair and head)

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes if self.bytes else math.inf

    def as_dict(self) -> dict:
        return {"flops": self.flops, "bytes": self.bytes, "layers": self.layers, "intensity": self.intensity,
                "time_s": self.time_s, "bound": self.bound, "launches": self.launches, "launch_s": self.launch_s,
                "expected_s": self.expected_s, "backend": self.backend, "exps": self.exps}


def sparse_topk(spec: ModelSpec) -> int | None:
    """Keys each query attends in a sparse (DSA) model's decode: its indexer's ``index_topk``; None when dense."""
    a = spec.attention
    return a.index_topk if a.kind == "dsa" else None


def sparse_impl(spec: ModelSpec, kernel: str, tp: int = 1, *, sm90: bool = False) -> str:
    """Which sparse decode kernel ``mla_decode(indices=..., impl=kernel)`` runs for this model (kernels/decode.py):
    "gluon" when forced, or for auto on an sm_90 GPU at the Gluon kernel's dims (512 + 64, bf16 cache) from its
    AUTO_MIN_HEADS; "triton" otherwise."""
    if kernel == "gluon":
        return "gluon"
    a = spec.attention
    if kernel != "auto" or not sm90 or (a.kv_lora_rank, a.qk_rope_head_dim) != (512, 64):
        return "triton"
    try:
        from mlacalc.kernels.gluon_mla_sparse import AUTO_MIN_HEADS
    except ImportError:  # a Triton without Gluon's Hopper API: decode.py keeps the Triton kernel
        return "triton"
    return "gluon" if heads_per_rank(spec, tp).q >= AUTO_MIN_HEADS else "triton"


# profiled kernel -> the mlacalc.expected backend whose coefficients price it
BACKEND = {"auto": "auto", "triton": "triton", "gluon": "auto", "flashmla": "flashmla", "sdpa": "sdpa",
           "eager": "other"}


def attn_core(spec: ModelSpec, hw: Hardware, phase: str, batch: int, context: int, *, q_tokens: int = 1,
              tp: int = 1, kv_bits: float = 16, layers: int | None = None,
              launches_per_layer: int | None = None, kernel: str = "auto", paged: bool = False) -> OpCost:
    """The calculator's ``attn_core`` op (``mlacalc.step``) for the first ``layers`` layers, per GPU.

    The profiled cache holds exactly ``context`` tokens and the decode step's ``q_tokens`` queries are its last
    ones (the kernels' convention), so decode asks the roofline for ``prior = context - q_tokens`` cached tokens
    and ``q_tokens`` new ones: every query then attends the ``context`` keys the kernel reads.

    ``paged``: the profiled cache is paged (its expected decode time prices the block-table reads).

    ``launches_per_layer``: the kernels the profiled implementation launches per layer (the Triton decode kernels:
    2 with split-KV, 1 with a single split; see :func:`kernel_launches`), in place of the roofline's generic count;
    the time is then re-timed by ``mlacalc.step.time_ops`` (the launch term needs the hardware's
    ``kernel_launch_us``)."""
    from mlacalc.step import Step, roofline, time_ops

    s = spec if layers is None else spec_layers(spec, layers)
    if phase == "decode":
        step = Step("decode", batch, max(1, context - q_tokens), q_tokens, paged)
    else:
        step = Step("prefill", batch, context)
    backend = BACKEND.get(kernel, "other")
    r = roofline(s, hw, step, Parallelism(tp=tp), kv_bits=kv_bits, kernel=backend, cuda_fp8=cuda_fp8_buildable())
    op = r.op("attn_core")
    expected = op.expected_s
    if launches_per_layer is not None:
        cost = op.op._replace(launches=launches_per_layer * s.num_layers)
        op = time_ops((cost,), hw, r.weight_bits, r.kv_bits)[0]
    return OpCost(flops=op.op.flops, bytes=op.op.bytes, layers=s.num_layers, time_s=op.time_s, bound=op.bound,
                  launches=op.op.launches, launch_s=op.op.launches * hw.kernel_launch_us * 1e-6,
                  expected_s=max(expected, op.time_s), backend=backend, exps=op.op.exps)


def cuda_fp8_buildable() -> bool:
    """Whether impl auto can run the CUDA fp8 kernel in this process (kernels.cuda_mla_fp8.buildable: a CUDA build of
    torch with nvcc, no failed build); where not, auto runs the Triton kernel and is priced as such."""
    try:
        from mlacalc.kernels.cuda_mla_fp8 import buildable
    except Exception:   # no torch: nothing runs here anyway
        return False
    return buildable()


def cuda_fp8_splits(spec: ModelSpec, kernel: str, batch: int, context: int, *, q_tokens: int, tp: int, sms: int,
                    kv_element_size: int, sm90: bool) -> int | None:
    """The CUDA fp8 kernel's split count where impl auto runs it (kernels/decode._cuda_applies: an e4m3 cache at
    DeepSeek's dims, at most 32 query rows a sequence (query tokens x heads), sm_90, buildable here), else None."""
    from mlacalc.expected import CUDA_FP8_DIMS, CUDA_FP8_MAX_ROWS, cuda_fp8_ctas_per_sm

    a = spec.attention
    rows = q_tokens * heads_per_rank(spec, tp).q
    if not (sm90 and kernel == "auto" and kv_element_size == 1 and family(a).kernel == "mla"
            and (a.kv_lora_rank, a.qk_rope_head_dim) == CUDA_FP8_DIMS and rows <= CUDA_FP8_MAX_ROWS
            and cuda_fp8_buildable()):
        return None
    from mlacalc.kernels.cuda_mla_fp8 import cuda_fp8_splits as plan

    return plan(batch, context, sms, cuda_fp8_ctas_per_sm(rows))[0]


def kernel_launches(kernel: str, phase: str, num_splits: int) -> int | None:
    """Kernels one layer's attention launches in the profiled implementation: the Triton decode kernels launch the
    split-KV kernel and, with more than one split, the combine kernel (kernels/triton_*_decode.py); None for the
    others (eager and SDPA: the roofline's generic count; their latency is shown, not judged)."""
    if kernel in ("triton", "auto", "gluon") and phase == "decode":
        return 2 if num_splits > 1 else 1
    return None


def spec_layers(spec: ModelSpec, layers: int) -> ModelSpec:
    """The same model cut to its first ``layers`` layers (for N-layer runs that are scaled up)."""
    ffn = spec.ffn
    if ffn is None:               # no FFN (ffn null): nothing to cut
        return replace(spec, num_layers=layers)
    if ffn.kind == "moe" and ffn.first_dense_layers > layers:
        ffn = replace(ffn, first_dense_layers=layers)
    if ffn.kind == "moe":
        # the trailing dense layers (Step-3's last) are in the cut only where it reaches them
        ffn = replace(ffn, last_dense_layers=max(0, layers - (spec.num_layers - ffn.last_dense_layers)))
    return replace(spec, num_layers=layers, ffn=ffn)


def kv_dtype_bits(spec: ModelSpec, kv_dtype: str) -> float:
    """Bits per cache element of a profiled ``kv_dtype``: a plain dtype's width, or a packed layout's average
    (fp8-ds: 656 bytes for 576 values, 9.11 bits; :func:`mlacalc.kv.format_bits`)."""
    return format_bits(spec, kv_dtype) if kv_dtype == FP8_DS else dtype_bits(kv_dtype)


def kv_format_of(kv_dtype: str) -> str | None:
    """The packed layout a profiled ``kv_dtype`` names (fp8-ds), else None."""
    return kv_dtype if kv_dtype == FP8_DS else None


def kv_bytes(spec: ModelSpec, batch: int, context: int, *, tp: int = 1, kv_bits: float = 16,
             block_size: int | None = None, layers: int | None = None, kv_format: str | None = None) -> int:
    """Per-GPU KV-cache bytes of the first ``layers`` layers, from ``mlacalc.kv.kv_report`` (``kv_format``: a
    packed layout such as fp8-ds, in place of ``kv_bits``)."""
    s = spec if layers is None else spec_layers(spec, layers)
    r = kv_report(s, context, batch, kv_bits=kv_bits, block_size=block_size, parallel=Parallelism(tp=tp),
                  kv_format=kv_format)
    return int(round(r.per_gpu.total))


def _round512(n: float) -> int:
    """The caching allocator's size of one tensor: rounded up to 512 bytes (c10/cuda/CUDACachingAllocator)."""
    return int(math.ceil(n / 512) * 512) if n else 0


MIB = 2**20
LARGE_ALLOC = 10 * MIB   # c10 kMinLargeAlloc: requests at least this large get a segment of their own ...
ROUND_LARGE = 2 * MIB    # ... rounded up to kRoundLarge
SMALL_SIZE = 1 * MIB     # c10 kSmallSize: a large block's remainder is split off only when larger than this


def allocator_block_bytes(n: float) -> int:
    """Bytes the caching allocator counts as allocated for one fresh tensor of ``n`` bytes
    (c10/cuda/CUDACachingAllocator.cpp): 512-byte rounding, and a request of 10 MiB or more gets a new segment
    rounded up to a multiple of 2 MiB whose remainder stays in the block when it is 1 MiB or less
    (``should_split``). A 2048 x 5456 bf16 weight (21.31 MiB) thus counts 22 MiB, a [2, 4096, 5456] bf16
    activation (85.25 MiB) 86 MiB. Blocks reused from the cache can differ; this is the fresh-segment case."""
    r = _round512(n)
    if r < LARGE_ALLOC:
        return r
    padded = int(math.ceil(r / ROUND_LARGE) * ROUND_LARGE)
    return padded if padded - r <= SMALL_SIZE else r


def decode_workspace(spec: ModelSpec, kernel: str, batch: int, context: int, *, q_tokens: int = 1, tp: int = 1,
                     num_splits: int = 1, paged_block: int | None = None, sms: int = 132,
                     partials_always: bool = False) -> dict:
    """Bytes live during one layer's decode step besides the cache, by tensor (allocator-rounded).

    - all kernels: the query [B, q, Hq, d_q] and output [B, q, Hq, d_v] in bf16;
    - triton with ``num_splits`` > 1: float32 partial outputs [B, splits, q·Hq, d_v] and log-sum-exps
      [B, splits, q·Hq] (the split-KV second stage, kernels/triton_split_kv.py); at one split too where
      ``partials_always`` (the CUDA fp8 kernel under auto: cuda_fp8_splits);
    - triton: the int32 ``cache_seqlens`` [B] the profiler passes (as an engine would);
    - eager MLA: the score matrix [B, q·Hq, C] at its widest point in ``mla_decode_eager``: float32 scores
      and float32 softmax and its bf16 copy alive at once (4 + 4 + 2 = 10 bytes per score), plus the contiguous
      copy of the value slice ``kv[..., :r]`` that ``bmm`` makes (B·C·r bf16; measured on the H100, 2026-11-23);
    - sdpa: the fused kernel's float32 log-sum-exp [B, Hq, q];
    - eager and sdpa over a paged cache: the contiguous copy ``from_paged`` gathers (one layer's cache, whole
      blocks), which a real engine avoids and the Triton kernels never make."""
    a = spec.attention
    fam = family(a)
    h = heads_per_rank(spec, tp)
    B, q, C = batch, q_tokens, context
    rows = q * h.q
    d_q, d_v = fam.core_dims(a, fam.default_form("decode"))
    latent = fam.cache_parts(a).latent          # a shared latent cache: values are a slice of it
    parts = {"query": _round512(B * rows * d_q * ACT_BYTES), "output": _round512(B * rows * d_v * ACT_BYTES)}
    if kernel in ("triton", "auto", "gluon", "flashmla"):
        parts["cache_seqlens"] = _round512(B * 4)
    topk = sparse_topk(spec)
    if topk is not None:  # DSA: the indexer's selection, int32 [B, q, topk] (-1 where fewer keys are visible)
        parts["indices"] = _round512(B * q * topk * 4)
    if kernel == "flashmla":
        # FlashMLA's dense decode (csrc/api/dense_decode.h, commit 9241ae3): per call an fp32 LSE [B, rows] and,
        # for its split-KV pass, fp32 partial outputs and LSEs for batch + num_sm_parts splits, where
        # num_sm_parts = max(SMs / ceil(rows / 64), 1); its scheduler metadata (32 B per part) and split counts
        # [B + 1] int32 are built on the first call and kept.
        parts_sm = max(sms // math.ceil(rows / 64), 1)
        parts["lse"] = _round512(B * rows * 4)
        parts["split_partials"] = _round512((B + parts_sm) * rows * d_v * 4)
        parts["split_lse"] = _round512((B + parts_sm) * rows * 4)
        parts["sched_meta"] = _round512(parts_sm * 32) + _round512((B + 1) * 4)
    elif kernel in ("triton", "auto", "gluon") and (num_splits > 1 or partials_always):
        parts["split_partials"] = _round512(B * num_splits * rows * d_v * 4)
        parts["split_lse"] = _round512(B * num_splits * rows * 4)
    elif kernel == "eager":
        parts["scores"] = 2 * _round512(B * rows * C * 4) + _round512(B * rows * C * 2)
        if latent:
            held = math.ceil(C / paged_block) * paged_block if paged_block else C
            parts["value_copy"] = _round512(B * held * a.kv_lora_rank * ACT_BYTES)
    elif kernel == "sdpa":
        parts["lse"] = _round512(B * h.q * q * 4)
    if paged_block and kernel in ("eager", "sdpa"):
        held = math.ceil(C / paged_block) * paged_block
        if latent:
            parts["gathered_cache"] = _round512(B * held * d_q * ACT_BYTES)
        else:
            parts["gathered_k"] = _round512(B * held * h.kv * a.qk_head_dim * ACT_BYTES)
            parts["gathered_v"] = _round512(B * held * h.kv * a.v_head_dim * ACT_BYTES)
    return parts


def prefill_workspace(spec: ModelSpec, batch: int, seq: int, *, tp: int = 1) -> dict:
    """Bytes live during one layer's prefill besides the cache: q, k, v (MLA: decompressed per head), the output,
    and the fused kernel's float32 log-sum-exp [B, H, S]."""
    a = spec.attention
    h = heads_per_rank(spec, tp)
    hkv = family(a).attended_kv_heads(a, tp)
    B, S = batch, seq
    return {"query": _round512(B * S * h.q * a.qk_head_dim * ACT_BYTES),
            "key": _round512(B * S * hkv * a.qk_head_dim * ACT_BYTES),
            "value": _round512(B * S * hkv * a.v_head_dim * ACT_BYTES),
            "output": _round512(B * S * h.q * a.v_head_dim * ACT_BYTES),
            "lse": _round512(B * h.q * S * 4)}


def gluon_dense_splits(spec: ModelSpec, kernel: str, batch: int, context: int, *, q_tokens: int, tp: int, sms: int,
                       kv_element_size: int, paged: bool, sm90: bool, block_size: int | None = None) -> int | None:
    """The Gluon dense MLA kernel's split count where it runs (kernels/decode.py: auto or gluon on sm_90, 512 + 64
    dims, 64+ query rows a sequence, paged blocks of ``block_size`` tokens (None: 64, the profiler's for MLA) a
    multiple of 32; its default tile for them), else None. E.g. DeepSeek-V3 at tp 1, 12 sequences of 1,536 keys:
    24 programs of 128 rows in pairs of 64-key tiles, 4 splits of 384 keys; in blocks of 32 the 32-key tile, 5."""
    a = spec.attention
    rows = q_tokens * heads_per_rank(spec, tp).q
    if not (sm90 and kernel in ("auto", "gluon") and a.kv_lora_rank == 512 and a.qk_rope_head_dim == 64
            and rows >= 64):
        return None
    try:
        from mlacalc.kernels.gluon_mla_decode import (DEFAULT_GLUON_CONFIG, default_gluon_config, gluon_splits,
                                                      split_keys)
    except ImportError:     # a Triton without Gluon's Hopper API: the Gluon kernel cannot run here
        return None
    page = (block_size or 64) if paged else None
    if page is not None and page % DEFAULT_GLUON_CONFIG.block_n:    # blocks of 16: gluon_supported says no (the
        return None                                                 # Triton kernel runs them under auto)
    cfg = default_gluon_config(rows, fp8=kv_element_size == 1, page_size=page)
    return gluon_splits(batch, rows, context, sms=sms, block_n=split_keys(cfg),
                        token_bytes=(a.kv_lora_rank + a.qk_rope_head_dim) * kv_element_size)[0]


def kernel_num_splits(spec: ModelSpec, kernel: str, batch: int, context: int, *, q_tokens: int = 1, tp: int = 1,
                      sms: int = 132, kv_element_size: int = 2, paged: bool = False, sm90: bool = False,
                      kv_format: str | None = None, arch: str = "", block_size: int | None = None) -> int:
    """The split count the project's decode kernels will choose (their own planners, imported), 1 otherwise. A
    sparse (DSA) model splits its index lists: the planner of the sparse kernel :func:`sparse_impl` names, over rows
    of ``kv_element_size``-byte values or of the packed ``kv_format`` (fp8-ds: 656 bytes at DeepSeek's dims). The
    GQA kernel plans with the programs that fit an SM of ``arch``, the MLA kernel's 16-bit tiles again over them once
    a plan outgrows the SMs (the card's shared memory: mlacalc.expected.SMEM_BY_ARCH, Hopper's where the arch is not
    listed). Dense MLA on an sm_90 card (``sm90``) at DeepSeek's dims and 64+ query rows a sequence runs the Gluon
    kernel under auto and gluon (kernels/decode.py), whose planner is the Triton kernel's in units of its tile
    (kernels/gluon_mla_decode.split_keys: pairs of 64-key tiles above 64 rows over a 16-bit cache in blocks of
    ``block_size`` tokens a multiple of 64; None: 64)."""
    if kernel not in ("triton", "auto", "gluon"):
        return 1
    h = heads_per_rank(spec, tp)
    try:
        import triton  # noqa: F401  (the kernels' planners need it)
    except Exception:
        return 1
    topk = sparse_topk(spec)
    if topk is not None:
        a = spec.attention
        row_bytes = (a.kv_lora_rank + a.qk_rope_head_dim) * kv_element_size
        if kv_format is not None:   # the packed row, as the kernels lay it out (cache.pack_fp8_ds)
            from mlacalc.kernels.cache import fp8_ds_row_bytes

            row_bytes = fp8_ds_row_bytes(a.kv_lora_rank, a.qk_rope_head_dim)
        if sparse_impl(spec, kernel, tp, sm90=sm90) == "gluon":
            from mlacalc.kernels.gluon_mla_sparse import sparse_gluon_splits

            return sparse_gluon_splits(batch * q_tokens, h.q, topk, sms=sms, row_bytes=row_bytes)[0]
        from mlacalc.kernels.triton_mla_sparse import sparse_splits

        return sparse_splits(batch * q_tokens, h.q, topk, sms=sms, row_bytes=row_bytes, r=a.kv_lora_rank)[0]
    from mlacalc.expected import HOPPER_SMEM, REGS_PER_SM, SMEM_BY_ARCH
    from mlacalc.kernels.launch import SMLimits

    # the card's shared memory and registers: both kernels' planners count the programs an SM holds
    limits = SMLimits(*SMEM_BY_ARCH.get(arch, HOPPER_SMEM), REGS_PER_SM)
    if family(spec.attention).kernel == "mla":
        own = cuda_fp8_splits(spec, kernel, batch, context, q_tokens=q_tokens, tp=tp, sms=sms,
                              kv_element_size=kv_element_size, sm90=sm90)
        if own is not None:
            return own
        gluon = gluon_dense_splits(spec, kernel, batch, context, q_tokens=q_tokens, tp=tp, sms=sms,
                                   kv_element_size=kv_element_size, paged=paged, sm90=sm90, block_size=block_size)
        if gluon is not None:
            return gluon
        from mlacalc.kernels.triton_mla_decode import mla_num_splits

        # The kernel's own plan, so value-split programs (split_v) count as work items exactly as it launches.
        return mla_num_splits(batch, q_tokens, h.q, context, sms=sms, kv_element_size=kv_element_size,
                              kv_lora_rank=spec.attention.kv_lora_rank, rope_dim=spec.attention.qk_rope_head_dim,
                              paged=paged, limits=limits)
    from mlacalc.kernels.triton_gqa_decode import gqa_num_splits

    a = spec.attention
    return gqa_num_splits(batch, q_tokens, h.q, h.kv, context, a.qk_head_dim, sms=sms, kv_element_size=kv_element_size,
                          limits=limits)
