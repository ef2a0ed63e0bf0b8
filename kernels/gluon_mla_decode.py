"""Absorbed-MLA decode for Hopper (sm_90) in Gluon: the many-heads case.

Same maths and arguments as triton_mla_decode.mla_decode_triton (one 576-dim key per token, its first 512 dims are
also the value), written in Gluon, Triton's tile-level dialect in which the kernel states its own layouts, shared
memory, TMA copies, mbarriers and wgmma instructions. Why: at 128 heads the Triton kernel stays at 2.4-2.7x the
floor (kernels/NOTES.md): with 64 query rows and 8 warps Triton either replicates Q K^T on both warp groups or
(split_v) recomputes it in two programs, and its pipeliner cannot overlap the 74 KB tile loads with the dots.

This file holds the wrapper (mla_decode_gluon: descriptors, splits, merge) and the lock-step kernel below. The
default schedule is the seesaw in gluon_mla_seesaw.py (GluonMLAConfig.seesaw), faster at 128 heads; the lock-step
kernel stays selectable, measured and tested.

Lock-step kernel: one program = 64 query rows (s_q x heads, flattened) x one split of one sequence, 8 warps (two warp groups):
  * Q (64 x 576, 72 KB) is copied once by TMA into shared memory; the kv cache streams through NUM_STAGES
    shared-memory stages of BLOCK_N tokens (latent 512 + RoPE 64 columns, two TMA boxes per tile), each stage
    with an mbarrier; the copy of tile j + NUM_STAGES is issued as soon as tile j has been consumed.
  * Scores S = Q_lat K_lat^T + Q_rope K_rope^T with warps_per_cta [4, 2]: each warp group computes 64 rows x
    BLOCK_N / 2 keys, so nothing is computed twice (the Triton kernel's problem at 64 rows).
  * The online softmax (base 2) needs the row max over both warp groups (a cross-warp reduction); P goes to
    shared memory as bf16, and O += P V runs with each warp group owning 256 of the 512 value columns, so the
    [64, 512] fp32 accumulator is 128 registers per thread.
  * OVERLAP (FlashAttention-3's intra-warpgroup pipelining): the scores of tile j+1 are issued before P_j V_j,
    and the softmax of tile j+1 runs on the CUDA cores while the tensor cores do P_j V_j.
  * Rows past a sequence's end inside its last tile are zeroed in shared memory before use (the TMA box reads
    whatever is there, and 0 * NaN would poison the output); scores past the end are masked to -inf.
Splits and their merge are shared with the Triton kernel (triton_split_kv). bf16/fp16 caches, contiguous or
paged with a block size that is a multiple of BLOCK_N.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    mbarrier,
    tma,
    warpgroup_mma,
    warpgroup_mma_wait,
)
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

from .triton_split_kv import choose_num_splits, combine_splits, num_sms

# TMA global -> shared copy: `async_copy_global_to_shared` in Triton 3.6 (the GPU machine), renamed `async_load` in
# later releases (CI's 3.9, where the old name raises); same arguments.
_tma_load = getattr(tma, "async_load", None) or tma.async_copy_global_to_shared
# CTA-wide barrier (bar.sync): `thread_barrier` in 3.6, `barrier` later.
_cta_sync = getattr(gl, "thread_barrier", None) or gl.barrier

__all__ = ["GluonMLAConfig", "mla_decode_gluon", "gluon_supported", "DEFAULT_GLUON_CONFIG"]

LOG2E = 1.4426950408889634


@gluon.jit
def _kv_row(BLOCK_TABLE, b, stride_bt_b, n0, seq_rows, PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr):
    """Row of token n0 of sequence b in the 2-D [rows, 576] view of the cache."""
    if PAGED:
        page = gl.load(BLOCK_TABLE + b * stride_bt_b + n0 // PAGE_SIZE)
        row = page * PAGE_SIZE + n0 % PAGE_SIZE
    else:
        row = b * seq_rows + n0
    return row


@gluon.jit
def _issue_kv(kv_lat_desc, kv_rope_desc, kv_lat, kv_rope, ready, j, n_tiles, start, end, b,
              BLOCK_TABLE, stride_bt_b, seq_rows,
              D_LAT: gl.constexpr, BLOCK_N: gl.constexpr, NUM_STAGES: gl.constexpr,
              PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr):
    """TMA copy of tile j into stage j % NUM_STAGES (skipped, by predicate, when j >= n_tiles)."""
    stage = j % NUM_STAGES
    ok = j < n_tiles
    n0 = gl.minimum(start + j * BLOCK_N, gl.maximum(end - 1, 0))  # a valid table entry even when skipped
    row = _kv_row(BLOCK_TABLE, b, stride_bt_b, n0, seq_rows, PAGED, PAGE_SIZE)
    bar = ready.index(stage)
    mbarrier.expect(bar, kv_lat_desc.block_type.nbytes + kv_rope_desc.block_type.nbytes, pred=ok)
    _tma_load(kv_lat_desc, [row, 0], bar, kv_lat.index(stage), pred=ok)
    _tma_load(kv_rope_desc, [row, D_LAT], bar, kv_rope.index(stage), pred=ok)


@gluon.jit
def _zero_rows_from(tile, valid, ROWS: gl.constexpr, COLS: gl.constexpr):
    """tile[valid:, :] = 0 in shared memory (threads' stores; the caller fences and syncs before a wgmma)."""
    layout: gl.constexpr = gl.BlockedLayout([1, 8], [4, 8], [8, 1], [1, 0])
    r = gl.arange(0, ROWS, layout=gl.SliceLayout(1, layout))
    x = tile.load(layout)
    keep = gl.expand_dims(r < valid, 1) & (gl.zeros_like(x) == 0)
    tile.store(gl.where(keep, x, gl.zeros_like(x)))


@gluon.jit
def _wait_and_clean(kv_lat, kv_rope, ready, j, start, end,
                    BLOCK_N: gl.constexpr, D_LAT: gl.constexpr, D_ROPE: gl.constexpr, NUM_STAGES: gl.constexpr,
                    pred):
    """Wait for tile j's copy; zero its rows past `end` if it is the last, partial tile."""
    stage = j % NUM_STAGES
    mbarrier.wait(ready.index(stage), (j // NUM_STAGES) & 1, pred=pred)
    valid = end - (start + j * BLOCK_N)
    if pred & (valid < BLOCK_N):
        _zero_rows_from(kv_lat.index(stage), valid, BLOCK_N, D_LAT)
        _zero_rows_from(kv_rope.index(stage), valid, BLOCK_N, D_ROPE)
        fence_async_shared()
        _cta_sync()


@gluon.jit
def _softmax_step(s, m_i, l_i, keys, last_key, end, qk_scale):
    """One online-softmax step in base 2 (qk_scale includes log2 e). Returns m, l, P (fp32) and the rescale."""
    s = s * qk_scale
    visible = (gl.expand_dims(keys, 0) <= gl.expand_dims(last_key, 1)) & (gl.expand_dims(keys, 0) < end)
    s = gl.where(visible, s, float("-inf"))
    m_new = gl.maximum(m_i, gl.max(s, axis=1))
    m_use = gl.where(m_new == float("-inf"), 0.0, m_new)
    alpha = gl.exp2(m_i - m_use)
    p = gl.exp2(s - gl.expand_dims(m_use, 1))
    l_new = l_i * alpha + gl.sum(p, axis=1)
    return m_new, l_new, p, alpha


@gluon.jit
def _mla_decode_gluon_kernel(
    q_lat_desc, q_rope_desc, kv_lat_desc, kv_rope_desc,
    BLOCK_TABLE, SEQLENS, O_PART, LSE_PART, OUT,
    stride_bt_b, seq_rows, rows_per_seq, num_heads, q_len, tokens_per_split,
    stride_op_b, stride_op_s, stride_lse_b, stride_lse_s,
    qk_scale, out_scale,
    PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr, D_LAT: gl.constexpr, D_ROPE: gl.constexpr,
    BLOCK_H: gl.constexpr, BLOCK_N: gl.constexpr, NUM_STAGES: gl.constexpr, SINGLE_SPLIT: gl.constexpr,
    OVERLAP: gl.constexpr,
):
    pid_h = gl.program_id(0)
    pid_s = gl.program_id(1)
    b = gl.program_id(2)
    seqlen = gl.load(SEQLENS + b)
    start = pid_s * tokens_per_split
    end = gl.minimum(start + tokens_per_split, seqlen)
    n_tiles = gl.maximum(gl.cdiv(end - start, BLOCK_N), 0)

    dtype: gl.constexpr = q_lat_desc.dtype
    q_lat = gl.allocate_shared_memory(dtype, [BLOCK_H, D_LAT], q_lat_desc.layout)
    q_rope = gl.allocate_shared_memory(dtype, [BLOCK_H, D_ROPE], q_rope_desc.layout)
    kv_lat = gl.allocate_shared_memory(dtype, [NUM_STAGES, BLOCK_N, D_LAT], kv_lat_desc.layout)
    kv_rope = gl.allocate_shared_memory(dtype, [NUM_STAGES, BLOCK_N, D_ROPE], kv_rope_desc.layout)
    p_smem = gl.allocate_shared_memory(dtype, [BLOCK_H, BLOCK_N],
                                       gl.NVMMASharedLayout.get_default_for([BLOCK_H, BLOCK_N], dtype))
    q_bar = gl.allocate_shared_memory(gl.int64, [1], mbarrier.MBarrierLayout())
    ready = gl.allocate_shared_memory(gl.int64, [NUM_STAGES, 1], mbarrier.MBarrierLayout())
    mbarrier.init(q_bar, count=1)
    for i in gl.static_range(NUM_STAGES):
        mbarrier.init(ready.index(i), count=1)
    fence_async_shared()

    q_row = b * rows_per_seq + pid_h * BLOCK_H
    mbarrier.expect(q_bar, q_lat_desc.block_type.nbytes + q_rope_desc.block_type.nbytes)
    _tma_load(q_lat_desc, [q_row, 0], q_bar, q_lat)
    _tma_load(q_rope_desc, [q_row, D_LAT], q_bar, q_rope)
    for i in gl.static_range(NUM_STAGES):
        _issue_kv(kv_lat_desc, kv_rope_desc, kv_lat, kv_rope, ready, i, n_tiles, start, end, b,
                  BLOCK_TABLE, stride_bt_b, seq_rows, D_LAT, BLOCK_N, NUM_STAGES, PAGED, PAGE_SIZE)

    # Both dots split their N over the two warp groups: scores by keys, the output by value columns.
    s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 2],
                                                       instr_shape=[16, BLOCK_N // 2, 16])
    o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 2],
                                                       instr_shape=[16, D_LAT // 2, 16])
    row_s: gl.constexpr = gl.SliceLayout(1, s_layout)
    row_o: gl.constexpr = gl.SliceLayout(1, o_layout)
    rows = pid_h * BLOCK_H + gl.arange(0, BLOCK_H, layout=row_s)
    last_key = seqlen - q_len + rows // num_heads  # causal limit of each row (inclusive)
    offs_n = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, s_layout))
    m_i = gl.full([BLOCK_H], float("-inf"), gl.float32, layout=row_s)
    l_i = gl.zeros([BLOCK_H], gl.float32, layout=row_s)
    acc = gl.zeros([BLOCK_H, D_LAT], gl.float32, layout=o_layout)
    s_zero = gl.zeros([BLOCK_H, BLOCK_N], gl.float32, layout=s_layout)
    mbarrier.wait(q_bar, 0)

    if OVERLAP:
        # Prologue: scores and P of tile 0 (all masked when the split is empty).
        _wait_and_clean(kv_lat, kv_rope, ready, 0, start, end, BLOCK_N, D_LAT, D_ROPE, NUM_STAGES, n_tiles > 0)
        s = warpgroup_mma(q_lat, kv_lat.index(0).permute((1, 0)), s_zero, use_acc=False, is_async=True)
        s = warpgroup_mma(q_rope, kv_rope.index(0).permute((1, 0)), s, is_async=True)
        s = warpgroup_mma_wait(0, deps=(s,))
        m_i, l_i, p, alpha = _softmax_step(s, m_i, l_i, start + offs_n, last_key, end, qk_scale)
        p_smem.store(p.to(dtype))
        fence_async_shared()
        _cta_sync()
        for j in range(n_tiles):
            stage = j % NUM_STAGES
            nxt = (j + 1) % NUM_STAGES
            has_next = j + 1 < n_tiles
            _wait_and_clean(kv_lat, kv_rope, ready, j + 1, start, end, BLOCK_N, D_LAT, D_ROPE, NUM_STAGES,
                            has_next)
            # scores of tile j+1 first, then P_j V_j; wgmma groups retire in order, so wait(1) = scores done
            s = warpgroup_mma(q_lat, kv_lat.index(nxt).permute((1, 0)), s_zero, use_acc=False, is_async=True)
            s = warpgroup_mma(q_rope, kv_rope.index(nxt).permute((1, 0)), s, is_async=True)
            acc = warpgroup_mma(p_smem, kv_lat.index(stage), acc, is_async=True)
            s = warpgroup_mma_wait(1, deps=(s,))
            # without a next tile every key is past `end`: p = 0, alpha = 1, m and l unchanged
            m_i, l_i, p, alpha = _softmax_step(s, m_i, l_i, start + (j + 1) * BLOCK_N + offs_n, last_key, end,
                                               qk_scale)
            acc = warpgroup_mma_wait(0, deps=(acc,))
            _cta_sync()  # both warp groups are done with P_j and stage j
            _issue_kv(kv_lat_desc, kv_rope_desc, kv_lat, kv_rope, ready, j + NUM_STAGES, n_tiles, start, end, b,
                      BLOCK_TABLE, stride_bt_b, seq_rows, D_LAT, BLOCK_N, NUM_STAGES, PAGED, PAGE_SIZE)
            acc = acc * gl.expand_dims(gl.convert_layout(alpha, row_o), 1)
            p_smem.store(p.to(dtype))
            fence_async_shared()
            _cta_sync()
    else:
        for j in range(n_tiles):
            stage = j % NUM_STAGES
            _wait_and_clean(kv_lat, kv_rope, ready, j, start, end, BLOCK_N, D_LAT, D_ROPE, NUM_STAGES, True)
            s = warpgroup_mma(q_lat, kv_lat.index(stage).permute((1, 0)), s_zero, use_acc=False, is_async=True)
            s = warpgroup_mma(q_rope, kv_rope.index(stage).permute((1, 0)), s, is_async=True)
            s = warpgroup_mma_wait(0, deps=(s,))
            m_i, l_i, p, alpha = _softmax_step(s, m_i, l_i, start + j * BLOCK_N + offs_n, last_key, end, qk_scale)
            acc = acc * gl.expand_dims(gl.convert_layout(alpha, row_o), 1)
            p_smem.store(p.to(dtype))
            fence_async_shared()
            _cta_sync()
            acc = warpgroup_mma(p_smem, kv_lat.index(stage), acc, is_async=True)
            acc = warpgroup_mma_wait(0, deps=(acc,))
            _cta_sync()  # stage j and P are free again
            _issue_kv(kv_lat_desc, kv_rope_desc, kv_lat, kv_rope, ready, j + NUM_STAGES, n_tiles, start, end, b,
                      BLOCK_TABLE, stride_bt_b, seq_rows, D_LAT, BLOCK_N, NUM_STAGES, PAGED, PAGE_SIZE)

    mbarrier.invalidate(q_bar)
    for i in gl.static_range(NUM_STAGES):
        mbarrier.invalidate(ready.index(i))

    l_safe = gl.where(l_i == 0.0, 1.0, l_i)
    o = acc * gl.expand_dims(gl.convert_layout(out_scale / l_safe, row_o), 1)
    rows_o = pid_h * BLOCK_H + gl.arange(0, BLOCK_H, layout=row_o)
    cols_o = gl.arange(0, D_LAT, layout=gl.SliceLayout(0, o_layout))
    mask = gl.expand_dims(rows_o < rows_per_seq, 1) & gl.expand_dims(cols_o < D_LAT, 0)
    if SINGLE_SPLIT:
        out_rows = (b * rows_per_seq + rows_o).to(gl.int64) * D_LAT
        gl.store(OUT + gl.expand_dims(out_rows, 1) + gl.expand_dims(cols_o, 0), o.to(OUT.dtype.element_ty),
                 mask=mask)
    else:
        part = O_PART + b.to(gl.int64) * stride_op_b + pid_s * stride_op_s
        gl.store(part + gl.expand_dims(rows_o * D_LAT, 1) + gl.expand_dims(cols_o, 0), o, mask=mask)
        lse = gl.where(l_i == 0.0, float("-inf"), m_i + gl.log2(l_safe))
        gl.store(LSE_PART + b * stride_lse_b + pid_s * stride_lse_s + rows, lse, mask=rows < rows_per_seq)


@dataclass(frozen=True)
class GluonMLAConfig:
    """block_n: keys per tile. seesaw: the two-warp-group schedule of gluon_mla_seesaw.py (block_n 32 or 64), else
    this file's lock-step kernel, for which num_stages (shared-memory stages) and overlap (FA3-style scores/PV
    overlap) apply.
    Default measured best on the H100 (reports/h100/kernels.md, follow-up 5; reports/h100/kernels.tune_seesaw.json):
    seesaw with 4 buffers of 32 keys, 0.91-0.96x the lock-step kernel's time at 128 heads, B >= 32 contiguous
    (0.93-1.05 paged) and 1.00-1.01x at 64 heads. The lock-step kernel's best was 64 keys, 2 stages, no overlap
    (follow-up 4: with only two 74 KB stages beside Q, overlap waits for tile j+1 right after issuing its copy,
    1.14-1.35x slower); seesaw with 2 buffers of 64 keys leaves the next loads no slack: 1.00-1.14x the lock-step
    time at 128 heads contiguous, 1.14-1.24x at 64 heads."""

    block_n: int = 32
    num_stages: int = 2
    overlap: bool = False
    seesaw: bool = True


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


def _plan(B: int, rows: int, max_len: int, *, sms: int, block_n: int, token_bytes: int, r: int):
    head_blocks = triton.cdiv(rows, BLOCK_H)
    num_splits = choose_num_splits(B * head_blocks, max_len, sms=sms, min_tokens=256, token_bytes=token_bytes,
                                   partial_bytes_per_split=B * rows * r * 8)
    tokens_per_split = triton.cdiv(triton.cdiv(max_len, num_splits), block_n) * block_n
    return triton.cdiv(max_len, tokens_per_split), tokens_per_split, head_blocks


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
    splits, tokens_per_split, head_blocks = _plan(B, rows, max_len, sms=num_sms(q.device), block_n=config.block_n,
                                                  token_bytes=Dk * kv_cache.element_size(), r=r)
    if num_splits is not None:
        tokens_per_split = triton.cdiv(triton.cdiv(max_len, num_splits), config.block_n) * config.block_n
        splits = triton.cdiv(max_len, tokens_per_split)

    gdt = gl.bfloat16 if q.dtype == torch.bfloat16 else gl.float16
    lay = gl.NVMMASharedLayout.get_default_for([BLOCK_H, r], gdt)  # 128-byte swizzle (also for the 64-wide parts)
    q2d = q.view(B * rows, Dk)
    if config.seesaw:
        q_desc = TensorDescriptor(q2d, list(q2d.shape), list(q2d.stride()), [BLOCK_H, r // 2], lay)
        kv_desc = TensorDescriptor(kv2d, list(kv2d.shape), list(kv2d.stride()), [config.block_n, r // 2], lay)
    else:
        q_desc = TensorDescriptor(q2d, list(q2d.shape), list(q2d.stride()), [BLOCK_H, r], lay)
        kv_desc = TensorDescriptor(kv2d, list(kv2d.shape), list(kv2d.stride()), [config.block_n, r], lay)
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
    if config.seesaw:
        from .gluon_mla_seesaw import _mla_decode_seesaw_kernel, seesaw_buffers

        # num_warps is the first warp group's; the second is warp_specialize's worker partition
        _mla_decode_seesaw_kernel[(head_blocks, splits, B)](*args, **consts, NUM_BUF=seesaw_buffers(config.block_n),
                                                           num_warps=4)
    else:
        _mla_decode_gluon_kernel[(head_blocks, splits, B)](
            *args, **consts, NUM_STAGES=config.num_stages, OVERLAP=config.overlap, num_warps=8)
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
    width = 256 if config.seesaw else 512
    arg_types = [desc(BLOCK_H, width), desc(BLOCK_H, 64), desc(config.block_n, width), desc(config.block_n, 64),
                 "*i32", "*i32", "*fp32", "*fp32", "*bf16"] + ["i32"] * 10 + ["fp32", "fp32"]
    consts = dict(PAGED=paged, PAGE_SIZE=64 if paged else 1, D_LAT=512, D_ROPE=64, BLOCK_H=BLOCK_H,
                  BLOCK_N=config.block_n, SINGLE_SPLIT=single_split)
    if config.seesaw:
        from .gluon_mla_seesaw import _mla_decode_seesaw_kernel as kernel, seesaw_buffers
        consts["NUM_BUF"] = seesaw_buffers(config.block_n)
        num_warps = 4
    else:
        kernel = _mla_decode_gluon_kernel
        consts |= dict(NUM_STAGES=config.num_stages, OVERLAP=config.overlap)
        num_warps = 8
    names = kernel.arg_names
    signature = dict(zip(names, arg_types)) | {k: "constexpr" for k in consts}
    src = GluonASTSource(kernel, signature, constexprs={(names.index(k),): v for k, v in consts.items()})
    return triton.compile(src, target=GPUTarget("cuda", 90, 32), options=dict(num_warps=num_warps))
