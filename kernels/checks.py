"""Input checks of the decode wrappers: bad input raises one `KernelInputError` (a ValueError naming the argument),
never a CUDA fault.

Two kinds:
  * Shape checks (dtype, rank, sizes, last-dim stride, device): cheap, no device work. A wrapper runs them when it
    builds a launch plan; the plan is cached under a key of exactly these properties (launch.py), so a cache hit
    means they passed before.
  * Value checks (indices and block-table entries in range, lengths within the cache): device reductions and one
    host sync for all (check_lengths_and_table), so they run only when `launch.checks_enabled(check, device)` says
    so (default: on for CPU tensors and the interpreter; off for dense and sparse decode on CUDA, whose eager calls
    must not sync the host; always off during CUDA graph capture; `check=` or
    MLACALC_KERNEL_CHECKS=0/1 decide otherwise). With them off every kernel clamps what it reads by value: lengths
    to the cache's capacity, block-table entries to [0, num_blocks), sparse indices masked to the sequence
    (triton_flash.valid_length, valid_page, selected_rows; the Gluon kernels' TMA copies zero-fill rows past the
    cache; cache.from_paged for the PyTorch paths), so a bad value gives a wrong result, not a fault.
"""

from __future__ import annotations

import math

import torch

__all__ = ["KernelInputError", "require", "check_tensor", "check_scale", "check_mla_inputs", "check_gqa_inputs",
           "check_prefill_inputs", "check_lengths_and_table"]

FLOAT_DTYPES = (torch.bfloat16, torch.float16, torch.float32)
FP8_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)


class KernelInputError(ValueError):
    """Bad input to a kernel wrapper: `arg` names the argument, the message says what was expected."""

    def __init__(self, arg: str, message: str):
        self.arg = arg
        super().__init__(f"{arg}: {message}")


def require(ok: bool, arg: str, message: str) -> None:
    if not ok:
        raise KernelInputError(arg, message)


def check_tensor(t, arg: str, *, dim: int | None = None, dtypes=None, device=None, last_contiguous: bool = True,
                 shape: tuple | None = None) -> None:
    """t is a tensor of rank `dim`, one of `dtypes`, on `device`, with unit stride in its last dim, of `shape`
    (None entries: any size)."""
    require(isinstance(t, torch.Tensor), arg, f"expected a torch.Tensor, got {type(t).__name__}")
    if dim is not None:
        require(t.dim() == dim, arg, f"expected {dim} dims, got shape {tuple(t.shape)}")
    if dtypes is not None:
        require(t.dtype in dtypes, arg, f"dtype {t.dtype} not supported (expected one of "
                                        f"{', '.join(str(d) for d in dtypes)})")
    if device is not None:
        require(t.device == device, arg, f"on {t.device}, expected {device} (the query's device)")
    if shape is not None:
        require(all(w is None or w == g for w, g in zip(shape, t.shape)) and len(shape) == t.dim(), arg,
                f"shape {tuple(t.shape)}, expected {tuple('*' if w is None else w for w in shape)}")
    if last_contiguous and t.numel() > 0:
        require(t.stride(-1) == 1 or t.shape[-1] == 1, arg, f"last dim must be contiguous (stride 1), got strides "
                                                            f"{t.stride()}")


def check_scale(softmax_scale, optional: bool = False) -> None:
    """softmax_scale is a positive finite number (None too when `optional`: the wrapper's default 1/sqrt(d)): a NaN,
    zero, negative or infinite scale gave NaN or uniform attention without a word (a few hundred ns a call)."""
    if optional and softmax_scale is None:
        return
    if not (isinstance(softmax_scale, (int, float)) and not isinstance(softmax_scale, bool)
            and 0.0 < softmax_scale < math.inf):
        raise KernelInputError("softmax_scale", f"must be a positive finite number, got {softmax_scale!r}")


def check_prefill_inputs(q, k, v, *, grouped: bool, causal: bool = True) -> None:
    """Shape checks of the SDPA prefill wrappers: q, k, v [B, S, H, d] of one float dtype on q's device, one batch,
    and one length when `causal` (SDPA's causal mask is aligned to the top left, so a query block over a longer key
    range would see the wrong keys); q and k one head dim; k and v one head count and length, the count dividing q's
    when `grouped` (GQA) and equal to it otherwise (MLA's decompressed heads); v's head dim may differ (MLA's 128
    against 192)."""
    floats = FLOAT_DTYPES + (torch.float64,)
    check_tensor(q, "q", dim=4, dtypes=floats, last_contiguous=False)
    B, S, Hq, D = q.shape
    check_tensor(k, "k", dim=4, dtypes=(q.dtype,), device=q.device, shape=(B, S if causal else None, None, D),
                 last_contiguous=False)
    check_tensor(v, "v", dim=4, dtypes=(q.dtype,), device=q.device, shape=(B, k.shape[1], k.shape[2], None),
                 last_contiguous=False)
    Hkv = k.shape[2]
    if grouped:
        require(Hkv > 0 and Hq % Hkv == 0, "k", f"{Hkv} kv heads do not divide the {Hq} query heads")
    else:
        require(Hkv == Hq, "k", f"{Hkv} heads, expected q's {Hq} (decompressed MLA: one k and v a head)")


def check_mla_inputs(q, kv_cache, cache_seqlens, block_table, *, kv_lora_rank, kv_scale, out, max_seqlen,
                     kv_dtypes=FLOAT_DTYPES + FP8_DTYPES, row_dim: int | None = None, pool: bool = False,
                     strict: bool = True) -> None:
    """Shape checks shared by the MLA decode wrappers (dense and sparse). q [B, s_q, H, r+dr]; kv_cache [B, S, r+dr]
    or paged [num_blocks, block_size, r+dr] with block_table [B, nblk] int32 (row_dim: the cache's last dim when it
    is a packed byte layout; pool: a paged cache addressed without a table, as sparse indices may be); cache_seqlens
    [B] int32; out [B, s_q, H, r] in q.dtype, contiguous. strict (the kernels): latent and RoPE widths powers of
    two, unit stride in every last dim; the eager path (not strict) takes any widths (the latent may be all of q's
    last dim), int64 lengths and tables, float64 and strided tensors."""
    floats = FLOAT_DTYPES if strict else FLOAT_DTYPES + (torch.float64,)
    ints = (torch.int32,) if strict else (torch.int32, torch.int64)
    check_tensor(q, "q", dim=4, dtypes=floats, last_contiguous=strict)
    B, s_q, H, Dk = q.shape
    dev = q.device
    require(isinstance(kv_lora_rank, int) and 0 < kv_lora_rank <= Dk - strict, "kv_lora_rank",
            f"{kv_lora_rank!r} must be an int {'below' if strict else 'at most'} q's last dim {Dk}")
    dr = Dk - kv_lora_rank
    require(not strict or (kv_lora_rank & (kv_lora_rank - 1) == 0 and dr & (dr - 1) == 0), "kv_lora_rank",
            f"latent ({kv_lora_rank}) and RoPE ({dr}) dims must be powers of two")
    check_tensor(kv_cache, "kv_cache", dim=3, dtypes=kv_dtypes if strict else floats + FP8_DTYPES, device=dev,
                 last_contiguous=strict)
    require(kv_cache.shape[-1] == (row_dim or Dk), "kv_cache",
            f"last dim {kv_cache.shape[-1]}, expected {row_dim or Dk} (q's last dim is {Dk})")
    if block_table is None and not pool:
        require(kv_cache.shape[0] == B, "kv_cache", f"contiguous cache has {kv_cache.shape[0]} sequences, q has {B} "
                                                    "(a paged cache needs block_table)")
    elif block_table is not None:
        check_tensor(block_table, "block_table", dim=2, dtypes=ints, device=dev, shape=(B, None),
                     last_contiguous=strict)
    if cache_seqlens is not None:
        check_tensor(cache_seqlens, "cache_seqlens", dim=1, dtypes=ints, device=dev, shape=(B,),
                     last_contiguous=strict)
    if max_seqlen is not None:
        require(isinstance(max_seqlen, int) and max_seqlen >= 1, "max_seqlen", f"{max_seqlen!r}: expected an int >= 1")
    if kv_cache.dtype in FP8_DTYPES:
        require(kv_scale is not None, "kv_scale", "an fp8 cache needs kv_scale (float or a 1-element tensor)")
    if torch.is_tensor(kv_scale):
        check_tensor(kv_scale, "kv_scale", dtypes=(torch.float32,), device=dev)
        require(kv_scale.numel() == 1, "kv_scale", f"expected one element, got shape {tuple(kv_scale.shape)}")
    elif kv_scale is not None:
        require(isinstance(kv_scale, (int, float)), "kv_scale", f"expected a float or tensor, got {type(kv_scale)}")
        require(kv_scale > 0, "kv_scale", f"must be positive (a per-tensor scale: amax / 448), got {kv_scale}")
    if out is not None:
        check_tensor(out, "out", dtypes=(q.dtype,), device=dev, shape=(B, s_q, H, kv_lora_rank))
        require(out.is_contiguous(), "out", "must be contiguous")


def check_gqa_inputs(q, k_cache, v_cache, cache_seqlens, block_table, *, out=None, max_seqlen=None,
                     strict: bool = True) -> None:
    """Shape checks of the GQA/MHA decode wrappers. q [B, s_q, Hq, D]; k_cache, v_cache [B, S, Hkv, D] or paged
    [num_blocks, block_size, Hkv, D] with block_table [B, nblk]; Hkv divides Hq; cache_seqlens [B]. strict (the
    Triton kernel, whose tiles pad D to its power of two): int32 lengths and table, unit stride in every last dim;
    the SDPA path takes int64 lengths, float64 and strided tensors."""
    lens_dtypes = (torch.int32,) if strict else (torch.int32, torch.int64)
    floats = FLOAT_DTYPES if strict else FLOAT_DTYPES + (torch.float64,)
    check_tensor(q, "q", dim=4, dtypes=floats, last_contiguous=strict)
    B, s_q, Hq, D = q.shape
    for name, t in (("k_cache", k_cache), ("v_cache", v_cache)):
        check_tensor(t, name, dim=4, dtypes=floats, device=q.device, shape=(None, None, None, D),
                     last_contiguous=strict)
    require(k_cache.shape == v_cache.shape, "v_cache", f"shape {tuple(v_cache.shape)} differs from k_cache's "
                                                       f"{tuple(k_cache.shape)}")
    Hkv = k_cache.shape[2]
    require(Hkv > 0 and Hq % Hkv == 0, "k_cache", f"{Hkv} kv heads do not divide the {Hq} query heads")
    if block_table is None:
        require(k_cache.shape[0] == B, "k_cache", f"contiguous cache has {k_cache.shape[0]} sequences, q has {B} "
                                                  "(a paged cache needs block_table)")
    else:
        check_tensor(block_table, "block_table", dim=2, dtypes=lens_dtypes, device=q.device, shape=(B, None),
                     last_contiguous=strict)
    if cache_seqlens is not None:
        check_tensor(cache_seqlens, "cache_seqlens", dim=1, dtypes=lens_dtypes, device=q.device, shape=(B,),
                     last_contiguous=strict)
    if max_seqlen is not None:
        require(isinstance(max_seqlen, int) and max_seqlen >= 1, "max_seqlen", f"{max_seqlen!r}: expected an int >= 1")
    if out is not None:
        check_tensor(out, "out", dtypes=(q.dtype,), device=q.device, shape=tuple(q.shape))
        require(out.is_contiguous(), "out", "must be contiguous")


def check_lengths_and_table(cache_seqlens, block_table, *, num_blocks: int, page_size: int, capacity: int,
                            indices=None, max_seqlen: int | None = None) -> None:
    """Value checks in one host sync: every sparse index (when given) is -1 (unused) or a token position in
    [0, len_b) of its sequence (in [0, capacity) without cache_seqlens); 0 <= cache_seqlens <= capacity, and <=
    max_seqlen when the caller gives one (the dense kernels plan their splits from it and read no key past it: a
    longer sequence would lose its last keys without a word); the block-table entries a sequence uses lie in
    [0, num_blocks). The first that fails is one KernelInputError, in that order. Why one sync: the four the checks
    took before (a flag each for indices and the table, two for the lengths' min and max) made them ~250 us of each
    eager sparse call's host time on the H100 machine's CPU (310-410 us against 60-120 without them:
    reports/h100/tuning/session_bi_kernels.json, host_call_us)."""
    flags = []  # int64 device scalars: [index bad, min length, max length, table bad], those that apply
    if indices is not None and indices.numel():
        limit = cache_seqlens.to(torch.int64)[:, None, None] if cache_seqlens is not None else capacity
        flags.append(((indices < -1) | (indices >= limit)).any())
    has_lens = cache_seqlens is not None and cache_seqlens.numel() > 0
    if has_lens:
        flags.extend(torch.aminmax(cache_seqlens))
    if block_table is not None and block_table.numel():
        bad = (block_table < 0) | (block_table >= num_blocks)
        if cache_seqlens is not None:  # only the entries a sequence uses
            bad &= torch.arange(block_table.shape[1], device=block_table.device)[None, :] * page_size \
                < cache_seqlens[:, None]
        flags.append(bad.any())
    if not flags:
        return
    values = torch.stack([f.to(torch.int64) for f in flags]).tolist()  # the one host sync
    if indices is not None and indices.numel():
        require(not values.pop(0), "indices", "entries must be -1 (unused) or a token position below the sequence's "
                                              f"length ({'cache_seqlens' if cache_seqlens is not None else capacity})")
    if has_lens:
        lo, hi = values.pop(0), values.pop(0)
        bound = capacity if max_seqlen is None else min(capacity, max_seqlen)
        require(lo >= 0 and hi <= bound, "cache_seqlens", f"values in [{lo}, {hi}], expected within [0, {bound}]"
                + (" (max_seqlen)" if bound < capacity else ""))
    if values:
        require(not values[0], "block_table", f"entries out of range [0, {num_blocks}) where sequences use them")
