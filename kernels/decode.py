"""Decode attention over a KV cache: eager PyTorch MLA, SDPA GQA, and one entry point per family that picks the
implementation (`impl="triton"` for the kernels in triton_mla_decode.py / triton_gqa_decode.py; for MLA also
`impl="gluon"`, the sm_90 kernel in gluon_mla_decode.py, and `impl="auto"`: Gluon where it applies, else Triton).

Cache layouts and `cache_seqlens` semantics: see cache.py. Query tokens are the last `s_q` tokens of each
sequence (already in the cache); they attend causally among themselves (multi-token prediction / speculative
verification). s_q == 1 is plain decoding.

Eager absorbed MLA is what a user writes by hand: gather (paged) -> bmm(q, kv^T) -> mask -> softmax in float32 ->
bmm(p, kv[..., :r]). It reads the cache twice and writes/reads the [B, s_q*H, S] score matrix several times: the
baseline the Triton kernel is measured against.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .cache import from_paged
from .checks import KernelInputError, check_gqa_inputs, check_lengths_and_table, check_mla_inputs, check_scale
from .launch import checks_enabled

__all__ = ["mla_decode", "mla_decode_eager", "gqa_decode", "gqa_decode_sdpa"]


def _visible(cache_seqlens, s_q: int, S: int, device) -> torch.Tensor:
    """[B, s_q, S] bool: key j visible to query token t of sequence b (j <= len_b - s_q + t)."""
    j = torch.arange(S, device=device)
    t = torch.arange(s_q, device=device)
    last = cache_seqlens.to(device=device, dtype=torch.long)[:, None] - s_q + t[None, :]
    return j[None, None, :] <= last[:, :, None]


def _check_values(check, q, cache, cache_seqlens, block_table, max_seqlen) -> None:
    """The kernels' value checks (checks.check_lengths_and_table) for the PyTorch paths, when launch.checks_enabled
    says so: the capacity of a contiguous cache is its length, of a paged one its table width in blocks."""
    if checks_enabled(check, q.device):
        paged = block_table is not None
        check_lengths_and_table(cache_seqlens, block_table, num_blocks=cache.shape[0],
                                page_size=cache.shape[1] if paged else 1,
                                capacity=block_table.shape[1] * cache.shape[1] if paged else cache.shape[1],
                                max_seqlen=max_seqlen)


def mla_decode_eager(
    q: torch.Tensor,
    kv_cache: torch.Tensor,
    cache_seqlens: torch.Tensor | None = None,
    block_table: torch.Tensor | None = None,
    *,
    softmax_scale: float,
    kv_lora_rank: int = 512,
    kv_scale: torch.Tensor | float | None = None,
    max_seqlen: int | None = None,
    check: bool | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Absorbed MLA decode in plain PyTorch. q [B, s_q, H, r+dr]; kv_cache contiguous [B, S, r+dr] or paged
    [num_blocks, block, r+dr] with block_table; cache_seqlens [B] (None: every sequence fills S, or max_seqlen).
    Returns [B, s_q, H, r] in q.dtype (written into `out` when given, as the kernels do). Bad shapes and dtypes are
    one KernelInputError; `check` as the kernels' (value checks of lengths and table entries: default on CPU, off on
    CUDA, where cache.from_paged clamps table entries and the lengths only mask: a bad value never faults)."""
    check_mla_inputs(q, kv_cache, cache_seqlens, block_table, kv_lora_rank=kv_lora_rank, kv_scale=kv_scale, out=out,
                     max_seqlen=max_seqlen, strict=False)
    _check_values(check, q, kv_cache, cache_seqlens, block_table, max_seqlen)
    B, s_q, H, Dk = q.shape
    kv = from_paged(kv_cache, block_table) if block_table is not None else kv_cache
    S = min(max_seqlen, kv.shape[1]) if max_seqlen is not None else kv.shape[1]  # a bound past the cache: the cache
    kv = kv[:, :S]
    if kv.dtype != q.dtype:  # fp8 cache: dequantise first, as a user would
        kv = kv.to(q.dtype)
        if kv_scale is not None:
            kv = kv * (kv_scale.to(q.dtype) if torch.is_tensor(kv_scale) else kv_scale)
    qf = q.reshape(B, s_q * H, Dk)
    ok = None
    if cache_seqlens is not None or s_q > 1:
        lens = cache_seqlens if cache_seqlens is not None else torch.full((B,), S, device=q.device)
        ok = _visible(lens, s_q, S, q.device)  # [B, s_q, S]
        # rows past a sequence's end may hold anything (NaN in tests): zero them so 0 * garbage stays 0
        kv = torch.where(ok[:, -1, :, None], kv, torch.zeros((), dtype=kv.dtype, device=kv.device))
    scores = torch.bmm(qf, kv.transpose(1, 2)).float() * softmax_scale  # [B, s_q*H, S]
    if ok is not None:
        scores = scores.view(B, s_q, H, S).masked_fill(~ok[:, :, None, :], float("-inf")).view(B, s_q * H, S)
    p = torch.softmax(scores, dim=-1).to(q.dtype)
    o = torch.bmm(p, kv[..., :kv_lora_rank]).view(B, s_q, H, kv_lora_rank)
    return o if out is None else out.copy_(o)


def mla_decode(
    q: torch.Tensor,
    kv_cache: torch.Tensor,
    cache_seqlens: torch.Tensor | None = None,
    block_table: torch.Tensor | None = None,
    *,
    softmax_scale: float,
    kv_lora_rank: int = 512,
    kv_scale: torch.Tensor | float | None = None,
    impl: str = "auto",
    indices: torch.Tensor | None = None,
    **kwargs,
) -> torch.Tensor:
    """Absorbed MLA decode; impl "triton" (flash-decoding kernel), "gluon" (sm_90, bf16/fp16 q, rows padded to its
    64-row tile), "auto" (gluon where gluon_supported says so from gluon_mla_decode.auto_min_rows query rows a
    sequence, more than 16 over a 16-bit cache, 64 over fp8, and no Triton `config` is given; else triton; before
    both, "cuda" where _cuda_applies says so), "cuda" (cuda_mla_fp8: an e4m3 cache, sm_90, 16 or 32 query rows a
    CTA and head groups of them past that; auto takes it up to 32 query rows, tokens x heads; built with nvcc on
    first use: about a minute once, then cached) or "eager". Same arguments as mla_decode_eager.

    Sparse (DeepSeek Sparse Attention): with `indices` [B, s_q, topk] int32 each query token attends only the cache
    rows it selects (token positions through block_table, -1 unused; FlashMLA's style: the same entry point);
    impl "triton" runs triton_mla_sparse.mla_decode_sparse (bf16/fp16 rows or the 656-byte fp8-ds rows of
    cache.pack_fp8_ds), "gluon" gluon_mla_sparse.mla_decode_sparse_gluon (sm_90, bf16/fp16 rows or fp8-ds rows
    with a bf16 q), "cuda" cuda_mla_fp8.mla_decode_sparse_cuda (sm_90, fp8-ds rows, a bf16 q; written in the
    thirty-fifth session, not yet measured, so auto does not take it), "auto" the Gluon kernel where
    gluon_sparse_supported says so, the heads reach its AUTO_MIN_HEADS and no Triton `config` is given.
    Balanced schedule (`schedule=triton_schedule.mla_decode_schedule()`, FlashMLA's metadata in spirit): the
    dense Triton kernel and the Gluon kernel with a 16-bit cache (whichever impl, or auto, picks). Any other kernel
    (the Gluon kernel's fp8 cache, eager, sparse) given a schedule raises one KernelInputError naming `schedule`
    rather than ignoring it: a schedule is asked for to balance mixed lengths, and a caller should learn that this
    call does not (eager has no splits; sparse work is bounded by top-k, not lengths). Without one, the Gluon kernel
    at more than 64 rows fills and runs a schedule of its own where its fixed grid would leave a wave's SMs idle for
    longer than the fill costs (gluon_mla_decode.auto_schedules). A schedule passed in is always used: worth it for
    mixed lengths, which the host cannot see (one a decode step, shared by the layers, also saves auto's fill: 17-22 us
    a call on an H100), not where the lengths are alike and the grid is balanced (there it cost 2-15% on an H100:
    docs/kernels-notes.md, twenty-eighth session).
    Bad input raises one KernelInputError (a ValueError naming the argument)."""
    check_scale(softmax_scale)
    schedule = kwargs.pop("schedule", None)
    if indices is not None:
        _refuse_schedule(schedule, "sparse decode (indices=)")
        return _sparse(q, kv_cache, indices, block_table, cache_seqlens, softmax_scale, kv_lora_rank, kv_scale, impl,
                       kwargs)
    if impl == "eager":
        _refuse_schedule(schedule, "impl 'eager'")
        return mla_decode_eager(
            q, kv_cache, cache_seqlens, block_table, softmax_scale=softmax_scale, kv_lora_rank=kv_lora_rank,
            kv_scale=kv_scale, **kwargs,
        )
    if impl == "auto":
        impl = _auto_impl(q, kv_cache, block_table, kv_lora_rank, kv_scale, kwargs, schedule is not None)
        if impl == "cuda":
            from .cuda_mla_fp8 import CudaBuildError, mla_decode_cuda_fp8

            try:
                return mla_decode_cuda_fp8(q, kv_cache, cache_seqlens, block_table, softmax_scale=softmax_scale,
                                           kv_lora_rank=kv_lora_rank, kv_scale=kv_scale, **kwargs)
            except CudaBuildError:   # no working nvcc here: said once (a warning), then Triton, as before
                _AUTO.clear()
                impl = _auto_impl(q, kv_cache, block_table, kv_lora_rank, kv_scale, kwargs, schedule is not None)
    if impl == "gluon":
        from .gluon_mla_decode import mla_decode_gluon

        if kv_cache.dtype == torch.float8_e4m3fn:
            _refuse_schedule(schedule, "the Gluon kernel with an fp8 cache")
        if schedule is not None:
            kwargs["schedule"] = schedule
        return mla_decode_gluon(
            q, kv_cache, cache_seqlens, block_table, softmax_scale=softmax_scale, kv_lora_rank=kv_lora_rank,
            kv_scale=kv_scale, **kwargs,
        )
    if impl == "cuda":
        from .cuda_mla_fp8 import mla_decode_cuda_fp8

        _refuse_schedule(schedule, "impl 'cuda'")
        return mla_decode_cuda_fp8(
            q, kv_cache, cache_seqlens, block_table, softmax_scale=softmax_scale, kv_lora_rank=kv_lora_rank,
            kv_scale=kv_scale, **kwargs,
        )
    if impl == "triton":
        from .triton_mla_decode import mla_decode_triton

        if schedule is not None:
            kwargs["schedule"] = schedule
        return mla_decode_triton(
            q, kv_cache, cache_seqlens, block_table, softmax_scale=softmax_scale, kv_lora_rank=kv_lora_rank,
            kv_scale=kv_scale, **kwargs,
        )
    raise KernelInputError("impl", f"unknown impl {impl!r}")


def _refuse_schedule(schedule, path: str) -> None:
    if schedule is not None:
        raise KernelInputError("schedule", f"{path} takes no schedule: the dense kernels with a 16-bit cache have "
                                           "the scheduled mode")


def _sparse(q, kv_cache, indices, block_table, cache_seqlens, softmax_scale, kv_lora_rank, kv_scale, impl, kwargs):
    if impl not in ("auto", "triton", "gluon", "cuda"):
        raise KernelInputError("impl", f"{impl!r}: sparse decode (indices=) runs impl 'triton', 'gluon', 'cuda' or "
                                       "'auto'")
    if kv_scale is not None:
        raise KernelInputError("kv_scale", "sparse decode takes fp8 as the fp8-ds layout (per-row scales), "
                                           "not a per-tensor kv_scale")
    kwargs.pop("max_seqlen", None)  # the indices bound the work
    if impl == "auto":
        impl = _sparse_auto_impl(q, kv_cache, kv_lora_rank, kwargs)
    if impl == "gluon":
        from .gluon_mla_sparse import mla_decode_sparse_gluon

        return mla_decode_sparse_gluon(q, kv_cache, indices, block_table, cache_seqlens, softmax_scale=softmax_scale,
                                       kv_lora_rank=kv_lora_rank, **kwargs)
    if impl == "cuda":   # fp8-ds rows, a bf16 query, sm_90 (cuda_mla_fp8.mla_decode_sparse_cuda; not yet in auto)
        from .cuda_mla_fp8 import mla_decode_sparse_cuda

        return mla_decode_sparse_cuda(q, kv_cache, indices, block_table, cache_seqlens, softmax_scale=softmax_scale,
                                      kv_lora_rank=kv_lora_rank, **kwargs)
    from .triton_mla_sparse import mla_decode_sparse

    return mla_decode_sparse(q, kv_cache, indices, block_table, cache_seqlens, softmax_scale=softmax_scale,
                             kv_lora_rank=kv_lora_rank, **kwargs)


def _gluon_sparse_applies(q, kv_cache, kv_lora_rank) -> bool:
    if not (isinstance(q, torch.Tensor) and isinstance(kv_cache, torch.Tensor) and q.is_cuda and q.dim() == 4):
        return False
    try:
        from .gluon_mla_sparse import AUTO_MIN_HEADS, gluon_sparse_supported
    except ImportError:  # a Triton without Gluon's Hopper API
        return False
    return q.shape[2] >= AUTO_MIN_HEADS and gluon_sparse_supported(q, kv_cache, kv_lora_rank=kv_lora_rank)


_AUTO: dict = {}


def _cached_choice(key, choose) -> str:
    """The impl for `key`, `choose()` deciding on a miss (kept: 256 keys at most)."""
    impl = _AUTO.get(key)
    if impl is None:
        impl = _AUTO[key] = choose()
        if len(_AUTO) > 256:
            _AUTO.pop(next(iter(_AUTO)))
    return impl


def _auto_impl(q, kv_cache, block_table, kv_lora_rank, kv_scale, kwargs, scheduled: bool = False) -> str:
    """impl="auto"'s choice, cached per shape (no device query per call: launch.py): the CUDA fp8 kernel where it
    applies (:func:`_cuda_applies`), else Gluon where it applies, else Triton. The cache's 16-byte alignment is part
    of the key (the CUDA kernel's bulk copies need it)."""
    key = (q.shape, q.stride(), q.dtype, q.device, kv_cache.shape, kv_cache.stride(), kv_cache.dtype,
           kv_cache.data_ptr() % 16, block_table is None, kv_lora_rank, kv_scale is None, "config" in kwargs,
           scheduled)

    def choose() -> str:
        if not scheduled and _cuda_applies(q, kv_cache, kv_lora_rank, kv_scale, kwargs):
            return "cuda"
        return "gluon" if _gluon_applies(q, kv_cache, block_table, kv_lora_rank, kv_scale, kwargs) else "triton"

    return _cached_choice(key, choose)


def auto_kernel(q, kv_cache, block_table=None, *, kv_lora_rank: int = 512, kv_scale=None) -> str:
    """The kernel impl="auto" runs for this dense MLA call: "cuda", "gluon" or "triton" (for reports: which kernel a
    benchmark row timed)."""
    return _auto_impl(q, kv_cache, block_table, kv_lora_rank, kv_scale, {})


def _cuda_applies(q, kv_cache, kv_lora_rank, kv_scale, kwargs) -> bool:
    """Whether auto runs the CUDA fp8 kernel (cuda_mla_fp8): an e4m3 cache with its scale at DeepSeek's dims, at most
    32 query rows (query tokens x heads: one CTA's one or two row groups), rows packed and 16-byte aligned, on sm_90,
    no Triton `config`, and a CUDA toolchain to build it with (cuda_mla_fp8.buildable). On an H100 it took 0.56-0.81x
    the Triton kernel's time at 16 heads (reports/h100/tuning/ab_fp8_cuda_session_cq.json) and 0.46-0.72x at 32
    (reports/h100/tuning/session_cs/ab_fp8_cuda_conv_h32_16.json); past 32 rows, its head groups lost to the Gluon
    kernel (1.25-1.96x its time: session_cs/ab_fp8_cuda_h64_128.json)."""
    if kv_scale is None or "config" in kwargs or not isinstance(kv_cache, torch.Tensor):
        return False
    from .cuda_mla_fp8 import AUTO_MAX_ROWS, buildable, cuda_fp8_supported, packed_and_aligned

    return (cuda_fp8_supported(q, kv_cache, kv_lora_rank) and q.shape[1] * q.shape[2] <= AUTO_MAX_ROWS
            and packed_and_aligned(kv_cache) and buildable())


def _sparse_auto_impl(q, kv_cache, kv_lora_rank, kwargs) -> str:
    """impl="auto"'s choice for sparse decode, cached per shape like :func:`_auto_impl` (its checks were ~8 us of
    each eager call's host time on the H200 machine's CPU: bench/host_profile.py); the cache's 16-byte alignment is
    part of the key (gluon_sparse_supported requires it)."""
    if "config" in kwargs or not (isinstance(q, torch.Tensor) and isinstance(kv_cache, torch.Tensor)):
        return "triton"
    key = ("sparse", q.shape, q.stride(), q.dtype, q.device, kv_cache.shape, kv_cache.stride(), kv_cache.dtype,
           kv_cache.data_ptr() % 16, kv_lora_rank)
    return _cached_choice(key, lambda: "gluon" if _gluon_sparse_applies(q, kv_cache, kv_lora_rank) else "triton")


def _gluon_applies(q, kv_cache, block_table, kv_lora_rank, kv_scale, kwargs) -> bool:
    if (kv_scale is not None) != (kv_cache.dtype == torch.float8_e4m3fn) or "config" in kwargs or not q.is_cuda:
        return False
    try:
        from .gluon_mla_decode import auto_min_rows, gluon_supported
    except ImportError:  # a Triton without Gluon's Hopper API
        return False
    page = kv_cache.shape[1] if block_table is not None else None
    return gluon_supported(q, kv_cache, kv_lora_rank=kv_lora_rank, page_size=page,
                           min_rows=auto_min_rows(kv_cache.dtype == torch.float8_e4m3fn))


def gqa_decode_sdpa(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    cache_seqlens: torch.Tensor | None = None,
    block_table: torch.Tensor | None = None,
    *,
    softmax_scale: float | None = None,
    max_seqlen: int | None = None,
    check: bool | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """GQA/MHA decode through F.scaled_dot_product_attention (written into `out` when given, as the Triton kernel
    does). q [B, s_q, Hq, D]; caches as in cache.py.
    With cache_seqlens None and s_q == 1 no mask is passed, so SDPA can take its fused (flash) path; otherwise a
    boolean mask is built (SDPA then uses a masked backend). Paged caches are gathered first. -> [B, s_q, Hq, D].
    Bad shapes and dtypes are one KernelInputError (checks.check_gqa_inputs, not strict); `check`: value checks of
    lengths and table entries as the kernels' (default on CPU, off on CUDA)."""
    check_gqa_inputs(q, k_cache, v_cache, cache_seqlens, block_table, out=out, max_seqlen=max_seqlen, strict=False)
    _check_values(check, q, k_cache, cache_seqlens, block_table, max_seqlen)
    B, s_q, Hq, D = q.shape
    if block_table is not None:
        k_cache, v_cache = from_paged(k_cache, block_table), from_paged(v_cache, block_table)
    if k_cache.dtype != q.dtype:  # SDPA takes one dtype: the cache converted, as the eager MLA path does
        k_cache, v_cache = k_cache.to(q.dtype), v_cache.to(q.dtype)
    S = min(max_seqlen, k_cache.shape[1]) if max_seqlen is not None else k_cache.shape[1]  # as the kernels bound it
    k = k_cache[:, :S].transpose(1, 2)  # [B, Hkv, S, D]
    v = v_cache[:, :S].transpose(1, 2)
    Hkv = k.shape[1]
    mask = None
    if cache_seqlens is not None or s_q > 1:
        lens = cache_seqlens if cache_seqlens is not None else torch.full((B,), S, device=q.device)
        ok = _visible(lens, s_q, S, q.device)  # [B, s_q, S]
        mask = ok[:, None]  # [B, 1, s_q, S]
        keep = ok[:, -1][:, None, :, None]  # rows past the end may hold NaN: zero them
        zero = torch.zeros((), dtype=k.dtype, device=k.device)
        k, v = torch.where(keep, k, zero), torch.where(keep, v, zero)
    o = F.scaled_dot_product_attention(
        q.transpose(1, 2), k, v, attn_mask=mask, scale=softmax_scale, enable_gqa=Hkv != Hq
    )
    o = o.transpose(1, 2)
    return o if out is None else out.copy_(o)


def gqa_decode(
    q, k_cache, v_cache, cache_seqlens=None, block_table=None, *, softmax_scale=None, impl="triton", **kwargs
) -> torch.Tensor:
    """GQA/MHA decode; impl "triton" or "sdpa". Same arguments as gqa_decode_sdpa."""
    check_scale(softmax_scale, optional=True)
    if impl == "sdpa":
        return gqa_decode_sdpa(q, k_cache, v_cache, cache_seqlens, block_table, softmax_scale=softmax_scale, **kwargs)
    if impl == "triton":
        from .triton_gqa_decode import gqa_decode_triton

        return gqa_decode_triton(
            q, k_cache, v_cache, cache_seqlens, block_table, softmax_scale=softmax_scale, **kwargs
        )
    raise KernelInputError("impl", f"unknown impl {impl!r}")
