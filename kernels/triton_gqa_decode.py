"""Flash-decoding for GQA / MQA / MHA in Triton, over the contiguous and paged layouts of cache.py.

What it computes: for sequence b, query token t (of s_q, causal among themselves), query head h reading kv head
j = h // G (G = Hq / Hkv):  out[b,t,h] = softmax_k(scale * q[b,t,h] . k[b,k,j]) @ v[b,:,j],  keys k <= len_b-s_q+t.

Algorithm: one program per (kv head, key chunk, sequence). Its rows are the G * s_q query rows that read that kv
head (padded to BLOCK_H >= 16 for the tensor cores), so each K/V tile is read once for the whole group. Keys are
streamed in BLOCK_N tiles with the online softmax (base 2, triton_flash.online_softmax_step); split-KV chunks are
merged by triton_split_kv.combine_splits, or written directly with one split. Paged caches: each iteration loads
the next tile's block-table entries (triton_flash.tile_pages, loop-carried), as the MLA kernel does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from .triton_flash import LOG2E, finish, online_softmax_step, tile_pages, tile_rows
from .triton_split_kv import combine_splits, num_sms, plan_splits

__all__ = ["GQADecodeConfig", "gqa_decode_triton"]


@triton.jit
def _gqa_decode_kernel(
    Q, K, V, BLOCK_TABLE, SEQLENS, O_PART, LSE_PART, OUT,
    stride_q_b, stride_q_t, stride_q_h,
    stride_k_page, stride_k_tok, stride_k_h,
    stride_v_page, stride_v_tok, stride_v_h,
    stride_bt_b,
    stride_op_b, stride_op_s, stride_op_r,
    stride_lse_b, stride_lse_s,
    stride_o_b, stride_o_t, stride_o_h,
    num_q_heads, group, q_len, tokens_per_split,
    qk_scale,  # softmax_scale * log2(e)
    PAGE_SIZE: tl.constexpr,
    PAGED: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_N: tl.constexpr,
    SINGLE_SPLIT: tl.constexpr,
):
    kvh = tl.program_id(0)
    pid_s = tl.program_id(1)
    b = tl.program_id(2)
    seqlen = tl.load(SEQLENS + b)
    start = pid_s * tokens_per_split
    end = tl.minimum(start + tokens_per_split, seqlen)

    local = tl.arange(0, BLOCK_H)
    row_ok = local < q_len * group
    t = local // group
    h = kvh * group + local % group
    rows = t * num_q_heads + h  # row in the flattened [s_q * Hq] output
    last_key = seqlen - q_len + t

    offs_d = tl.arange(0, HEAD_DIM)
    q_off = b * stride_q_b + t * stride_q_t + h * stride_q_h
    q = tl.load(Q + q_off[:, None] + offs_d[None, :], mask=row_ok[:, None], other=0.0)

    m_i = tl.full([BLOCK_H], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_H], dtype=tl.float32)
    acc = tl.zeros([BLOCK_H, HEAD_DIM], dtype=tl.float32)
    if PAGED:  # the first tile's table entries; each iteration loads the next tile's (loop-carried)
        bt_row = BLOCK_TABLE + b * stride_bt_b
        pages_nxt = tile_pages(bt_row, start, end, PAGE_SIZE, BLOCK_N)
    for n0 in range(start, end, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        n_ok = offs_n < end
        if PAGED:
            k_tok = tile_rows(pages_nxt, n0, stride_k_page, stride_k_tok, PAGE_SIZE, BLOCK_N)
            v_tok = tile_rows(pages_nxt, n0, stride_v_page, stride_v_tok, PAGE_SIZE, BLOCK_N)
            pages_nxt = tile_pages(bt_row, n0 + BLOCK_N, end, PAGE_SIZE, BLOCK_N)
        else:
            k_tok = b.to(tl.int64) * stride_k_page + offs_n * stride_k_tok
            v_tok = b.to(tl.int64) * stride_v_page + offs_n * stride_v_tok
        k = tl.load(K + (k_tok + kvh * stride_k_h)[:, None] + offs_d[None, :], mask=n_ok[:, None], other=0.0)
        v = tl.load(V + (v_tok + kvh * stride_v_h)[:, None] + offs_d[None, :], mask=n_ok[:, None], other=0.0)
        s = tl.dot(q, tl.trans(k)) * qk_scale
        p, m_i, l_i, acc = online_softmax_step(s, m_i, l_i, acc, offs_n, last_key, end)
        acc = tl.dot(p.to(v.dtype), v, acc)

    o, lse = finish(acc, m_i, l_i, 1.0)
    if SINGLE_SPLIT:
        o_off = b * stride_o_b + t * stride_o_t + h * stride_o_h
        tl.store(OUT + o_off[:, None] + offs_d[None, :], o.to(OUT.dtype.element_ty), mask=row_ok[:, None])
    else:
        op = O_PART + b * stride_op_b + pid_s * stride_op_s + rows[:, None] * stride_op_r + offs_d[None, :]
        tl.store(op, o, mask=row_ok[:, None])
        tl.store(LSE_PART + b * stride_lse_b + pid_s * stride_lse_s + rows, lse, mask=row_ok)


@dataclass(frozen=True)
class GQADecodeConfig:
    block_n: int = 64
    num_warps: int = 4
    num_stages: int = 3
    programs_per_sm: int = 4
    min_tokens_per_split: int = 256


def gqa_decode_triton(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    cache_seqlens: torch.Tensor | None = None,
    block_table: torch.Tensor | None = None,
    *,
    softmax_scale: float | None = None,
    max_seqlen: int | None = None,
    num_splits: int | None = None,
    config: GQADecodeConfig | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """GQA/MHA decode. q [B, s_q, Hq, D]; k_cache/v_cache contiguous [B, S, Hkv, D] or paged
    [num_blocks, block_size, Hkv, D] with block_table [B, nblk] int32; cache_seqlens [B] int32 (None: all S).
    D a power of two (64, 128, 256). Returns [B, s_q, Hq, D] in q.dtype."""
    B, s_q, Hq, D = q.shape
    Hkv = k_cache.shape[2]
    assert Hq % Hkv == 0 and D & (D - 1) == 0
    assert k_cache.stride(-1) == 1 and v_cache.stride(-1) == 1 and q.stride(-1) == 1
    group = Hq // Hkv
    paged = block_table is not None
    if paged:
        page_size = k_cache.shape[1]
        capacity = block_table.shape[1] * page_size
        stride_bt = block_table.stride(0)
    else:
        assert k_cache.shape[0] == B
        page_size = 1
        capacity = k_cache.shape[1]
        block_table = q
        stride_bt = 0
    if cache_seqlens is None:
        cache_seqlens = torch.full((B,), capacity, dtype=torch.int32, device=q.device)
    max_len = min(max_seqlen or capacity, capacity)
    scale = D**-0.5 if softmax_scale is None else softmax_scale
    cfg = config or GQADecodeConfig()
    rows_per_prog = s_q * group
    block_h = max(16, triton.next_power_of_2(rows_per_prog))
    num_splits, tokens_per_split = plan_splits(
        B * Hkv, max_len, cfg.block_n, sms=num_sms(q.device), num_splits=num_splits,
        programs_per_sm=cfg.programs_per_sm, min_tokens=cfg.min_tokens_per_split,
        token_bytes=2 * D * k_cache.element_size(), partial_bytes_per_split=B * s_q * Hq * D * 8)
    if out is None:
        out = torch.empty((B, s_q, Hq, D), dtype=q.dtype, device=q.device)
    rows = s_q * Hq
    single = num_splits == 1
    if single:
        o_part = lse_part = out
        sp = (0, 0, 0, 0, 0)
    else:
        o_part = torch.empty((B, num_splits, rows, D), dtype=torch.float32, device=q.device)
        lse_part = torch.empty((B, num_splits, rows), dtype=torch.float32, device=q.device)
        sp = (o_part.stride(0), o_part.stride(1), o_part.stride(2), lse_part.stride(0), lse_part.stride(1))
    _gqa_decode_kernel[(Hkv, num_splits, B)](
        q, k_cache, v_cache, block_table, cache_seqlens, o_part, lse_part, out,
        q.stride(0), q.stride(1), q.stride(2),
        k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
        v_cache.stride(0), v_cache.stride(1), v_cache.stride(2),
        stride_bt,
        sp[0], sp[1], sp[2], sp[3], sp[4],
        out.stride(0), out.stride(1), out.stride(2),
        Hq, group, s_q, tokens_per_split,
        scale * LOG2E,
        PAGE_SIZE=page_size, PAGED=paged, HEAD_DIM=D, BLOCK_H=block_h, BLOCK_N=cfg.block_n,
        SINGLE_SPLIT=single, num_warps=cfg.num_warps, num_stages=cfg.num_stages,
    )
    if not single:
        assert out.is_contiguous()
        combine_splits(o_part, lse_part, out.view(B, rows, D))
    return out
