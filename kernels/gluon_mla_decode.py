"""Absorbed-MLA decode for Hopper (sm_90) in Gluon: the many-heads case (>= 64 query rows per sequence).

Same maths and arguments as triton_mla_decode.mla_decode_triton (one 576-dim key per token, its first 512 dims are
also the value), written in Gluon, Triton's tile-level dialect in which the kernel states its own layouts, shared
memory, TMA copies, mbarriers and wgmma instructions. Why: at 128 heads the Triton kernel stays far from the
floor (docs/kernels-notes.md, follow-ups 1-2, has the numbers): with 64 query rows and 8 warps Triton either
replicates Q K^T on both warp groups or (split_v) recomputes it in two programs, and its pipeliner cannot overlap
the 74 KB tile loads with the dots.

This file holds the wrapper (mla_decode_gluon: TMA descriptors, splits, merge), the check of which calls it takes
(gluon_supported) and a CPU compile for sm_90 (compile_sm90); the kernel, a two-warp-group "seesaw" schedule, is in
gluon_mla_seesaw.py. Splits and their merge are the Triton kernel's (triton_split_kv). bf16/fp16 caches, contiguous
or paged with a block size that is a multiple of block_n.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

from .gluon_mla_seesaw import _mla_decode_seesaw_kernel, seesaw_buffers
from .triton_flash import LOG2E
from .triton_split_kv import combine_splits, num_sms, plan_splits

__all__ = ["GluonMLAConfig", "mla_decode_gluon", "gluon_supported", "DEFAULT_GLUON_CONFIG"]


@dataclass(frozen=True)
class GluonMLAConfig:
    """block_n: keys per tile, 32 (4 kv buffers) or 64 (2 buffers); the default measured best on the H100
    (docs/kernels-notes.md, follow-up 5; reports/h100/kernels.tune_seesaw.json)."""

    block_n: int = 32


DEFAULT_GLUON_CONFIG = GluonMLAConfig()
BLOCK_H = 64  # one wgmma M tile; both warp groups share its rows


def gluon_supported(q: torch.Tensor, kv_cache: torch.Tensor, *, kv_lora_rank: int = 512, page_size: int | None = None,
                    block_n: int = DEFAULT_GLUON_CONFIG.block_n) -> bool:
    """Whether mla_decode_gluon handles this call: an sm_90 GPU, bf16/fp16 q and cache of the same dtype, 512 + 64
    dims, at least 64 query rows per sequence, TMA-compatible (16-byte aligned) rows, paged block size a multiple of
    block_n."""
    if not (q.is_cuda and torch.cuda.get_device_capability(q.device)[0] == 9):
        return False
    B, s_q, H, Dk = q.shape
    return (q.dtype in (torch.bfloat16, torch.float16) and kv_cache.dtype == q.dtype and kv_lora_rank == 512
            and Dk == 576 and s_q * H >= BLOCK_H and q.is_contiguous() and kv_cache.stride(-1) == 1
            and (page_size is None or page_size % block_n == 0))


def mla_decode_gluon(
    q: torch.Tensor,
    kv_cache: torch.Tensor,
    cache_seqlens: torch.Tensor | None = None,
    block_table: torch.Tensor | None = None,
    *,
    softmax_scale: float,
    kv_lora_rank: int = 512,
    kv_scale: float | None = None,
    max_seqlen: int | None = None,
    num_splits: int | None = None,
    config: GluonMLAConfig = DEFAULT_GLUON_CONFIG,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Absorbed MLA decode on sm_90 (see gluon_supported). Arguments and result as mla_decode_triton:
    q [B, s_q, H, 576], kv_cache [B, S, 576] or paged [num_blocks, block_size, 576] with block_table [B, nblk]
    int32, cache_seqlens [B] int32 -> [B, s_q, H, 512] in q.dtype. kv_scale is accepted for the common signature
    and must be None: fp8 caches go to mla_decode_triton."""
    assert kv_scale is None, "fp8 caches: use mla_decode_triton"
    B, s_q, H, Dk = q.shape
    r, dr = kv_lora_rank, Dk - kv_lora_rank
    paged = block_table is not None
    page_size = kv_cache.shape[1] if paged else 1
    assert gluon_supported(q, kv_cache, kv_lora_rank=r, page_size=page_size if paged else None,
                           block_n=config.block_n), "use mla_decode_triton for this call"
    if paged:
        capacity = block_table.shape[1] * page_size
        stride_bt = block_table.stride(0)
        kv2d = kv_cache.view(-1, Dk) if kv_cache.is_contiguous() else kv_cache.reshape(-1, Dk)
        seq_rows = 0
    else:
        capacity = kv_cache.shape[1]
        assert kv_cache.stride(0) == capacity * kv_cache.stride(1), "contiguous cache rows must be evenly spaced"
        kv2d = torch.as_strided(kv_cache, (B * capacity, Dk), (kv_cache.stride(1), 1))
        block_table = q  # unused pointer
        stride_bt, seq_rows = 0, capacity
    if cache_seqlens is None:
        cache_seqlens = torch.full((B,), capacity, dtype=torch.int32, device=q.device)
    max_len = min(max_seqlen or capacity, capacity)
    rows = s_q * H
    head_blocks = triton.cdiv(rows, BLOCK_H)
    splits, tokens_per_split = plan_splits(
        B * head_blocks, max_len, config.block_n, sms=num_sms(q.device), num_splits=num_splits, min_tokens=256,
        token_bytes=Dk * kv_cache.element_size(), partial_bytes_per_split=B * rows * r * 8)

    gdt = gl.bfloat16 if q.dtype == torch.bfloat16 else gl.float16
    lay = gl.NVMMASharedLayout.get_default_for([BLOCK_H, r], gdt)  # 128-byte swizzle (also for the 64-wide parts)
    q2d = q.view(B * rows, Dk)
    q_desc = TensorDescriptor(q2d, list(q2d.shape), list(q2d.stride()), [BLOCK_H, r // 2], lay)  # half: per group
    kv_desc = TensorDescriptor(kv2d, list(kv2d.shape), list(kv2d.stride()), [config.block_n, r // 2], lay)
    q_rope_desc = TensorDescriptor(q2d, list(q2d.shape), list(q2d.stride()), [BLOCK_H, dr], lay)
    kv_rope_desc = TensorDescriptor(kv2d, list(kv2d.shape), list(kv2d.stride()), [config.block_n, dr], lay)

    if out is None:
        out = torch.empty((B, s_q, H, r), dtype=q.dtype, device=q.device)
    assert out.is_contiguous()
    single = splits == 1
    if single:
        o_part = lse_part = out  # unused
        sp = (0, 0, 0, 0)
    else:
        o_part = torch.empty((B, splits, rows, r), dtype=torch.float32, device=q.device)
        lse_part = torch.empty((B, splits, rows), dtype=torch.float32, device=q.device)
        sp = (o_part.stride(0), o_part.stride(1), lse_part.stride(0), lse_part.stride(1))
    args = (q_desc, q_rope_desc, kv_desc, kv_rope_desc, block_table, cache_seqlens, o_part, lse_part, out,
            stride_bt, seq_rows, rows, H, s_q, tokens_per_split, *sp, softmax_scale * LOG2E, 1.0)
    consts = dict(PAGED=paged, PAGE_SIZE=page_size, D_LAT=r, D_ROPE=dr, BLOCK_H=BLOCK_H, BLOCK_N=config.block_n,
                  SINGLE_SPLIT=single)
    # num_warps is the first warp group's; the second is warp_specialize's worker partition
    _mla_decode_seesaw_kernel[(head_blocks, splits, B)](*args, **consts, NUM_BUF=seesaw_buffers(config.block_n),
                                                       num_warps=4)
    if not single:
        combine_splits(o_part, lse_part, out.view(B, rows, r))
    return out


def compile_sm90(config: GluonMLAConfig = DEFAULT_GLUON_CONFIG, *, paged: bool = False, single_split: bool = False):
    """Compile the kernel for sm_90 without a GPU (Triton ships ptxas): the CPU check that it builds, fits in shared
    memory and uses the intended instructions. Returns triton's CompiledKernel (.metadata.shared, .asm["ptx"])."""
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon._runtime import GluonASTSource

    lay = repr(gl.NVMMASharedLayout.get_default_for([BLOCK_H, 512], gl.bfloat16))
    desc = lambda rows, cols: f"tensordesc<bf16[{rows},{cols}],{lay}>"
    arg_types = [desc(BLOCK_H, 256), desc(BLOCK_H, 64), desc(config.block_n, 256), desc(config.block_n, 64),
                 "*i32", "*i32", "*fp32", "*fp32", "*bf16"] + ["i32"] * 10 + ["fp32", "fp32"]
    consts = dict(PAGED=paged, PAGE_SIZE=64 if paged else 1, D_LAT=512, D_ROPE=64, BLOCK_H=BLOCK_H,
                  BLOCK_N=config.block_n, SINGLE_SPLIT=single_split, NUM_BUF=seesaw_buffers(config.block_n))
    kernel = _mla_decode_seesaw_kernel
    names = kernel.arg_names
    signature = dict(zip(names, arg_types)) | {k: "constexpr" for k in consts}
    src = GluonASTSource(kernel, signature, constexprs={(names.index(k),): v for k, v in consts.items()})
    return triton.compile(src, target=GPUTarget("cuda", 90, 32), options=dict(num_warps=4))
