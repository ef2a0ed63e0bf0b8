"""Flash-decoding for absorbed MLA in Triton: many query heads share one latent cache.

What it computes (per sequence b, query token t, head h; r = 512 latent dims, dr = 64 RoPE dims):
    s_j   = scale * (q[b,t,h,:r] . kv[b,j,:r] + q[b,t,h,r:] . kv[b,j,r:])     for j <= len_b - s_q + t
    out   = sum_j softmax(s)_j * kv[b,j,:r]                                     -> [B, s_q, H, r]
i.e. MQA with one 576-dim key per token whose first 512 dims are also the value. The cache is bf16/fp16, or
float8 e4m3 with one scale (scores and outputs are multiplied by it; fp8 tiles are widened to fp16, and the query
and probabilities cast to fp16, for the tensor-core dots: fp8 -> fp16 is a single conversion, fp8 -> bf16 is not;
absorbed queries must then stay under fp16's 65504). An fp8 latent tile is read as 4 slices of 128 columns
(MLADecodeConfig.fp8_mode, triton_flash.load_slices), each widened next to its own dots into its own accumulator:
widening the whole [BLOCK_N, 512] tile at once spilled and stopped the loads' pipelining (issue 14).

Algorithm:
  * Rows = (query token, head) pairs of one sequence, flattened t * H + h; a program owns BLOCK_H rows, so all
    heads (up to BLOCK_H) read each cache tile once; with more rows, neighbouring programs (grid axis 0) read the
    same tile and the second read hits L2.
  * Keys are split into `num_splits` chunks (grid axis 1) so that small batches still fill the GPU; each program
    streams its chunk in BLOCK_N-token tiles (software-pipelined loads, num_stages deep), with the online softmax
    in base 2 (triton_flash.online_softmax_step). One load of the [BLOCK_N, 512] latent tile feeds both dots (as
    K^T for the scores, as V for P @ V).
  * Stage 2 (triton_split_kv.combine_splits) merges the chunks by their log-sum-exp; with one split stage 1
    writes the output directly.
  * Paged caches: the block table is read per tile (triton_flash.tile_pages: block = n // PAGE_SIZE), so any
    block size works; each iteration reads the next tile's entries (loop-carried), so that the kv loads pipeline as
    for a contiguous cache.
  * Many heads (>= 128 rows, the default there): split_v = 2 splits the value dims over two programs, and an L2
    prefetch of the next tile stands in for a second pipeline stage (docs/kernels-notes.md, follow-up 1).
  * Scheduled mode (`schedule=`, SCHEDULED): instead of `num_splits` equal chunks a sequence (planned from the
    largest length), grid axis 1 is G parts of a balanced schedule computed on the device from the lengths
    (schedule.py, triton_schedule.py); a program loops over its part's sequence segments, each through the same
    query load and tile loop (the @jit helpers `_attend` and `_store`), writing a whole sequence's output directly
    and a piece's as a partial to its slot; triton_split_kv.combine_slots merges the pieces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from .triton_flash import LOG2E, finish, finish_rows, key_rows, latent_pv, latent_scores, load_q_slices, load_slices, \
    online_softmax_alpha, online_softmax_step, store_slices, tile_pages, tile_rows, valid_length, valid_page
from .checks import KernelInputError, check_lengths_and_table, check_mla_inputs
from .launch import (HOPPER_LIMITS, FastLauncher, SMLimits, cached_plan, checks_enabled, layout_key, new_launch_key,
                     num_sms, resident_programs, sm_limits)
from .schedule import schedule_parts, segment_overhead_tiles, slot_capacity
from .triton_schedule import MAX_CELLS, MLADecodeSchedule
from .triton_split_kv import combine_slots, combine_splits, plan_splits

__all__ = ["MLADecodeConfig", "mla_decode_triton", "default_mla_config", "mla_num_splits", "FP8_MODES", "fp8_slices"]


@triton.jit
def _attend(Q, KV, BLOCK_TABLE, b, t, h, row_ok, last_key, start, end, vh,
            stride_q_b, stride_q_t, stride_q_h, stride_kv_page, stride_kv_tok, stride_bt_b, num_blocks, qk_scale,
            PAGE_SIZE: tl.constexpr, PAGED: tl.constexpr, D_LAT: tl.constexpr, D_ROPE: tl.constexpr,
            BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr, SPLIT_V: tl.constexpr, PREFETCH: tl.constexpr,
            NS: tl.constexpr, DUAL: tl.constexpr):
    """One program's rows (query token t, head h) over keys [start, end) of sequence b (start a multiple of
    BLOCK_N): the query rows loaded, then the pipelined tile loop. Returns (a0, a1, a2, a3, m_i, l_i): the
    unnormalised output (NS == 0: a0 = [BLOCK_H, D_LAT / SPLIT_V], a1-a3 repeat it; else the NS latent slices'
    accumulators) and the online softmax's running max and sum (base 2)."""
    D_V: tl.constexpr = D_LAT // SPLIT_V
    offs_v = tl.arange(0, D_V)
    offs_r = tl.arange(0, D_ROPE)
    v_own = vh * D_V
    q_off = b * stride_q_b + t * stride_q_t + h * stride_q_h
    if NS == 0:  # one [BLOCK_N, D_V] tile feeds both dots
        q_own = tl.load(Q + q_off[:, None] + v_own + offs_v[None, :], mask=row_ok[:, None], other=0.0)
    q_rope = tl.load(Q + q_off[:, None] + D_LAT + offs_r[None, :], mask=row_ok[:, None], other=0.0)
    if NS == 0:
        if SPLIT_V == 2:
            v_oth = (1 - vh) * D_V
            q_oth = tl.load(Q + q_off[:, None] + v_oth + offs_v[None, :], mask=row_ok[:, None], other=0.0)
        if KV.dtype.element_ty == tl.float8e4nv:  # fp8 tiles widen to fp16 in one cvt per pair; dot in fp16
            q_own = q_own.to(tl.float16)
            q_rope = q_rope.to(tl.float16)
            if SPLIT_V == 2:
                q_oth = q_oth.to(tl.float16)
    else:  # fp8 latent slices (triton_flash.load_slices), dots in fp16
        SLICE: tl.constexpr = D_LAT // NS
        q0, q1, q2, q3 = load_q_slices(Q + q_off[:, None], row_ok[:, None], tl.float16, SLICE, NS)
        q_rope = q_rope.to(tl.float16)

    m_i = tl.full([BLOCK_H], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_H], dtype=tl.float32)
    if NS == 0:
        acc = tl.zeros([BLOCK_H, D_V], dtype=tl.float32)
    else:
        a0 = tl.zeros([BLOCK_H, SLICE], dtype=tl.float32)
        a1 = tl.zeros([BLOCK_H, SLICE], dtype=tl.float32)
        a2 = tl.zeros([BLOCK_H, SLICE], dtype=tl.float32)
        a3 = tl.zeros([BLOCK_H, SLICE], dtype=tl.float32)
    if PAGED:  # the first tile's table entries; each iteration loads the next tile's (loop-carried)
        bt_row = BLOCK_TABLE + b * stride_bt_b
        pages_nxt = tile_pages(bt_row, start, end, PAGE_SIZE, BLOCK_N)
    for n0 in range(start, end, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        n_ok = offs_n < end
        if PAGED:
            tok = tile_rows(pages_nxt, n0, num_blocks, stride_kv_page, stride_kv_tok, PAGE_SIZE, BLOCK_N)
            pages_nxt = tile_pages(bt_row, n0 + BLOCK_N, end, PAGE_SIZE, BLOCK_N)
        else:
            tok = b.to(tl.int64) * stride_kv_page + offs_n * stride_kv_tok
        if NS == 0:
            kv = tl.load(KV + tok[:, None] + v_own + offs_v[None, :], mask=n_ok[:, None],
                         other=0.0).to(q_own.dtype)
        else:
            k0, k1, k2, k3 = load_slices(KV + tok[:, None], n_ok[:, None], SLICE, NS, "")
            if DUAL:  # the value view loaded again into its own buffer (an L2 hit): see MLADecodeConfig.fp8_mode
                v0, v1, v2, v3 = load_slices(KV + tok[:, None], n_ok[:, None], SLICE, NS, "evict_first")
            else:
                v0, v1, v2, v3 = k0, k1, k2, k3
        k_rope = tl.load(KV + tok[:, None] + D_LAT + offs_r[None, :], mask=n_ok[:, None],
                         other=0.0).to(q_rope.dtype)
        if PREFETCH:  # next tile's rows, clamped to the last valid key (a prefetch of a bad address could fault)
            nxt = tl.minimum(offs_n + BLOCK_N, end - 1)
            if PAGED and PAGE_SIZE % BLOCK_N == 0:  # the next tile's block, loaded above
                ntok = (valid_page(pages_nxt, num_blocks).to(tl.int64) * stride_kv_page
                        + (nxt % PAGE_SIZE) * stride_kv_tok)
            elif PAGED:
                ntok = key_rows(bt_row, nxt, num_blocks, stride_kv_page, stride_kv_tok, PAGE_SIZE)
            else:
                ntok = b.to(tl.int64) * stride_kv_page + nxt * stride_kv_tok
            lines = tl.minimum(tl.arange(0, 16) * (128 // KV.dtype.element_ty.primitive_bitwidth * 8),
                               D_LAT + D_ROPE - 1)
            tl.inline_asm_elementwise(
                "prefetch.global.L2 [$1]; mov.u32 $0, 0;", "=r,l", [KV + ntok[:, None] + lines[None, :]],
                dtype=tl.int32, is_pure=False, pack=1,
            )
        if NS == 0:
            s = tl.dot(q_own, tl.trans(kv))
            if SPLIT_V == 2:
                k_oth = tl.load(KV + tok[:, None] + v_oth + offs_v[None, :], mask=n_ok[:, None],
                                other=0.0).to(q_own.dtype)
                s = tl.dot(q_oth, tl.trans(k_oth), s)
            s = tl.dot(q_rope, tl.trans(k_rope), s)
            p, m_i, l_i, acc = online_softmax_step(s * qk_scale, m_i, l_i, acc, offs_n, last_key, end)
            acc = tl.dot(p.to(kv.dtype), kv, acc)
        else:
            s = tl.dot(q_rope, tl.trans(k_rope))
            s = latent_scores(s, q0, q1, q2, q3, k0, k1, k2, k3, qk_scale, qk_scale, qk_scale, qk_scale, NS, False)
            visible = (offs_n[None, :] <= last_key[:, None]) & (offs_n[None, :] < end)
            p, m_i, l_i, alpha = online_softmax_alpha(s * qk_scale, m_i, l_i, visible)
            a0, a1, a2, a3 = latent_pv(a0, a1, a2, a3, alpha, p, v0, v1, v2, v3, 1.0, 1.0, 1.0, 1.0, NS, False, 1.0,
                                       tl.float16)
    if NS == 0:
        a0 = acc
        a1 = acc
        a2 = acc
        a3 = acc
    return a0, a1, a2, a3, m_i, l_i


@triton.jit
def _store(OUT, O_PART, LSE_PART, a0, a1, a2, a3, m_i, l_i, out_scale, b, t, h, rows, row_ok, vh, slot, direct,
           stride_op_b, stride_op_s, stride_op_r, stride_lse_b, stride_lse_s, stride_o_b, stride_o_t, stride_o_h,
           D_LAT: tl.constexpr, SPLIT_V: tl.constexpr, NS: tl.constexpr):
    """_attend's result normalised and stored: to OUT [b, t, h] when `direct` (a constexpr, or a runtime flag in
    the scheduled mode), else as a partial (fp32 output and base-2 log-sum-exp) to slot `slot` of O_PART/LSE_PART
    for the combine."""
    D_V: tl.constexpr = D_LAT // SPLIT_V
    offs_v = tl.arange(0, D_V)
    v_own = vh * D_V
    if NS == 0:
        o, lse = finish(a0, m_i, l_i, out_scale)
        if direct:
            o_off = b * stride_o_b + t * stride_o_t + h * stride_o_h + v_own
            tl.store(OUT + o_off[:, None] + offs_v[None, :], o.to(OUT.dtype.element_ty), mask=row_ok[:, None])
        else:
            op = O_PART + b * stride_op_b + slot * stride_op_s + rows[:, None] * stride_op_r + v_own + offs_v[None, :]
            tl.store(op, o, mask=row_ok[:, None])
            lse_mask = row_ok & ((rows * 0 + vh) == 0)  # one value half writes the lse
            tl.store(LSE_PART + b * stride_lse_b + slot * stride_lse_s + rows, lse, mask=lse_mask)
    else:
        SLICE: tl.constexpr = D_LAT // NS
        fac, lse = finish_rows(m_i, l_i, out_scale)
        fac = fac[:, None]
        if direct:  # (each branch names its own pointer: a runtime `if` cannot merge a bf16 and an fp32 pointer)
            out_ptr = OUT + (b * stride_o_b + t * stride_o_t + h * stride_o_h)[:, None]
            store_slices(out_ptr, a0 * fac, a1 * fac, a2 * fac, a3 * fac, row_ok[:, None], SLICE, NS)
        else:
            part_ptr = O_PART + b * stride_op_b + slot * stride_op_s + rows[:, None] * stride_op_r
            tl.store(LSE_PART + b * stride_lse_b + slot * stride_lse_s + rows, lse, mask=row_ok)
            store_slices(part_ptr, a0 * fac, a1 * fac, a2 * fac, a3 * fac, row_ok[:, None], SLICE, NS)


@triton.jit
def _mla_decode_kernel(
    Q, KV, BLOCK_TABLE, SEQLENS, O_PART, LSE_PART, OUT, KV_SCALE,
    stride_q_b, stride_q_t, stride_q_h,
    stride_kv_page, stride_kv_tok,
    stride_bt_b,
    stride_op_b, stride_op_s, stride_op_r,
    stride_lse_b, stride_lse_s,
    stride_o_b, stride_o_t, stride_o_h,
    num_heads, q_len, tokens_per_split,
    capacity,  # keys a sequence's cache row (contiguous) or table row (paged) holds: lengths are clamped to it
    num_blocks,  # paged: blocks in the cache (table entries are clamped below it); contiguous: unused
    qk_scale,  # softmax_scale * log2(e) * kv_scale (kv_scale from KV_SCALE when SCALE_PTR)
    out_scale,  # kv_scale (likewise)
    PAGE_SIZE: tl.constexpr,
    PAGED: tl.constexpr,
    D_LAT: tl.constexpr,
    D_ROPE: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_N: tl.constexpr,
    SINGLE_SPLIT: tl.constexpr,
    SPLIT_V: tl.constexpr,
    PREFETCH: tl.constexpr,
    SCALE_PTR: tl.constexpr,
    NS: tl.constexpr,
    DUAL: tl.constexpr,
    SCHED,  # SCHEDULED: the schedule's parts [5, G] and sequences [B, 2] int32 (triton_schedule.py); else unused
    SEQ_INFO,
    SCHEDULED: tl.constexpr,
):
    """Grid (head_blocks * SPLIT_V, splits, B). With SPLIT_V = 2 the 512 value dims are split over two programs:
    each recomputes the full 576-dim scores (QK^T costs twice) and keeps only a [BLOCK_H, D_LAT / 2] accumulator,
    so BLOCK_H = 128 fits at 8 warps (one 64-row wgmma tile per warp group, no replicated QK^T: with 64 rows and 8
    warps Triton's chained-dot layout puts both warp groups on the same 64 rows and computes the scores twice). The
    program's own value slice is loaded once and feeds both dots; the other slice only feeds the scores.
    PREFETCH (GPU only: inline PTX) asks L2 for the next tile (prefetch.global.L2, one per 128-byte line) before the
    dots on the current one: with num_stages = 1 (a 147 KB kv tile leaves no room for a second buffer) the next
    load then comes from L2 instead of HBM.
    SCHEDULED: grid (head_blocks * SPLIT_V, G); program (., p) runs part p's range of the schedule (schedule.py):
    for each sequence b in it, the segment's key tiles [t0, t1) through the same loop, its output stored directly
    when the part holds the whole sequence, else as a partial in the sequence's slot first_slot + piece (O_PART
    [slots, rows, D_LAT], stride_op_b = stride_lse_b = 0); tokens_per_split and SINGLE_SPLIT are unused."""
    pid_hv = tl.program_id(0)
    if not SCHEDULED:
        pid_s = tl.program_id(1)
        b = tl.program_id(2)
    pid_h = pid_hv // SPLIT_V
    vh = pid_hv % SPLIT_V
    if SCALE_PTR:  # a tensor kv_scale is read here, not with a host sync in the wrapper
        ks = tl.load(KV_SCALE)
        qk_scale = qk_scale * ks
        out_scale = out_scale * ks
    if not SCHEDULED:
        seqlen = valid_length(SEQLENS, b, capacity)
        start = pid_s * tokens_per_split
        end = tl.minimum(start + tokens_per_split, seqlen)

    rows = pid_h * BLOCK_H + tl.arange(0, BLOCK_H)
    row_ok = rows < q_len * num_heads
    t = rows // num_heads
    h = rows % num_heads
    if not SCHEDULED:
        last_key = seqlen - q_len + t  # causal limit of each row (inclusive)
        a0, a1, a2, a3, m_i, l_i = _attend(
            Q, KV, BLOCK_TABLE, b, t, h, row_ok, last_key, start, end, vh, stride_q_b, stride_q_t, stride_q_h,
            stride_kv_page, stride_kv_tok, stride_bt_b, num_blocks, qk_scale,
            PAGE_SIZE, PAGED, D_LAT, D_ROPE, BLOCK_H, BLOCK_N, SPLIT_V, PREFETCH, NS, DUAL)
        _store(OUT, O_PART, LSE_PART, a0, a1, a2, a3, m_i, l_i, out_scale, b, t, h, rows, row_ok, vh, pid_s,
               SINGLE_SPLIT, stride_op_b, stride_op_s, stride_op_r, stride_lse_b, stride_lse_s, stride_o_b,
               stride_o_t, stride_o_h, D_LAT, SPLIT_V, NS)
    else:
        part = tl.program_id(1)
        parts = tl.num_programs(1)
        begin_b = tl.load(SCHED + part)
        begin_tile = tl.load(SCHED + parts + part)
        end_b = tl.load(SCHED + 2 * parts + part)
        end_tile = tl.load(SCHED + 3 * parts + part)
        begin_piece = tl.load(SCHED + 4 * parts + part)
        for i in range(0, end_b + 1 - begin_b):  # the part's segments, one sequence each
            b = begin_b + i  # a tensor under the interpreter too (a range's index is a Python int there)
            seqlen = valid_length(SEQLENS, b, capacity)
            first = i == 0
            start = tl.where(first, begin_tile, 0) * BLOCK_N
            end = tl.minimum(tl.where(b == end_b, end_tile, tl.cdiv(seqlen, BLOCK_N)) * BLOCK_N, seqlen)
            a0, a1, a2, a3, m_i, l_i = _attend(
                Q, KV, BLOCK_TABLE, b, t, h, row_ok, seqlen - q_len + t, start, end, vh, stride_q_b, stride_q_t,
                stride_q_h, stride_kv_page, stride_kv_tok, stride_bt_b, num_blocks, qk_scale,
                PAGE_SIZE, PAGED, D_LAT, D_ROPE, BLOCK_H, BLOCK_N, SPLIT_V, PREFETCH, NS, DUAL)
            slot = tl.load(SEQ_INFO + 2 * b) + tl.where(first, begin_piece, 0)
            direct = tl.load(SEQ_INFO + 2 * b + 1) == 0  # the sequence is whole in this part
            _store(OUT, O_PART, LSE_PART, a0, a1, a2, a3, m_i, l_i, out_scale, b, t, h, rows, row_ok, vh, slot,
                   direct, stride_op_b, stride_op_s, stride_op_r, stride_lse_b, stride_lse_s, stride_o_b, stride_o_t,
                   stride_o_h, D_LAT, SPLIT_V, NS)


@dataclass(frozen=True)
class MLADecodeConfig:
    """Tile sizes and launch shape. block_h: (token, head) rows per program; block_n: keys per tile; split_v 2: the
    value dims over two programs; prefetch_l2: L2 prefetch of the next tile (GPU only, inline PTX).

    fp8_mode (float8 caches only; bf16/fp16/fp32 ignore it):
      "slices": the latent tile as 4 loads of 128 columns (triton_flash.load_slices), each widened to fp16 next to
        its own dots, one accumulator per slice: no [block_n, 512] converted tile is live at once, so the fp8 loads
        stay software-pipelined and nothing spills (wgmma tiles, >= 64 rows);
      "dual": "slices", with the value slices loaded a second time into their own shared-memory buffers (the second
        read hits L2): the scores' K^T and P @ V's V want different layouts of the same bytes, and with one buffer
        Triton 3.6 routes the tile through registers for the mma v2 dots of <= 32 rows (spills, loads not pipelined);
      "widen": the whole tile widened at once (the kernel before issue 14; 5-6x the floor on the H200: the control).
    split_v = 2 always runs "widen" for fp8 (the slices keep the whole value width)."""

    block_h: int = 64
    block_n: int = 32
    num_warps: int = 8
    num_stages: int = 2
    programs_per_sm: int | None = None  # the split planner's programs an SM (None: one, then what an SM holds: _plan)
    min_tokens_per_split: int = 256
    split_v: int = 1
    prefetch_l2: bool = False
    fp8_mode: str = "slices"


FP8_MODES = ("slices", "dual", "widen")


# (major, minor) of the Triton that compiles the kernels: a tile's speed depends on its compiler (default_mla_config)
TRITON_VERSION = tuple(int(x) for x in re.findall(r"\d+", triton.__version__)[:2])


def default_mla_config(rows: int, device: torch.device | None, *, s_q: int = 1, fp8: bool = False,
                       paged: bool = False, d_k: int = 576,
                       triton_version: tuple[int, int] | None = None) -> MLADecodeConfig:
    """Config for `rows` = s_q * heads query rows per sequence, chosen from measurements (docs/kernels-notes.md);
    `paged`: for a paged cache (block table).
      bf16, s_q = 1: the H100 measurements of follow-ups 1-3 (reports/h100/kernels.md).
      bf16, s_q > 1 (bench/tune_q2.py on the H200, reports/h200/tuning/tune_q2.json, 16 heads x 2 tokens): 32/64/8 warps/3 stages 0.118 ms vs the old
        32/32/4/3's 0.137 at B = 32 x 8k (0.118 vs 0.136 at 8 x 32k, 0.031 vs 0.032 at 3 x 6k; 0.126 vs 0.118 at
        80 x 3k, the one loss); >= 128 rows (64 heads x 2 tokens, B = 24 x 6k): the s_q = 1 128-row split_v tile,
        0.180 ms vs 64/64/8/2's 0.191.
      fp8 (bench/tune_fp8_sparse.py on the H200, B = 32/128 x 4k/32k): the per-head-class best of the slice tiles,
        3.6-4.8x the floor (the whole-tile "widen" 5.2-6.6x). <= 16 rows: two programs an SM (bench/ab_seesaw.py on
        the H200: 0.373 vs 0.520 ms at B = 32 x 32k, 0.196 vs 0.269 at 128 x 4k, 0.110 vs 0.144 at 8 x 32k; Nsight
        Compute had the one-program tile latency-bound, 4 warps an SM at 1.15 instructions a cycle).
      bf16, <= 16 rows, contiguous, DeepSeek's d_k = 576, Triton >= 3.9 (``triton_version``, default the installed
        one; what torch 2.13 installs): the 8-bit path's 16/32/4/3 tile with two programs an SM. Triton 3.9 compiles
        the 16/64/4/3 tile to a loop that ran 1.00-1.21x its Triton 3.6 time on contiguous caches (geomean 1.10; paged
        0.96-1.01x); the two-program tile ran 0.97-1.04x the 3.6 default's time, so the expected-time model, calibrated
        under 3.6, holds under both (bench/ab_mla_tiles16.py under each Triton on the H200,
        reports/h200/tuning/ab_tiles16_t39.json and _t36.json). Under 3.6 that tile is 0.97-1.04x its default: not
        taken there."""
    if fp8:
        if rows <= 16:
            return MLADecodeConfig(block_h=16, block_n=32, num_warps=4, num_stages=2, programs_per_sm=2,
                                   fp8_mode="dual")
        if rows <= 32:  # not timed: 32 rows are in no tuned head class
            return MLADecodeConfig(block_h=32, block_n=32, num_warps=8, num_stages=3, programs_per_sm=1,
                                   fp8_mode="dual")
        return MLADecodeConfig(block_h=64, block_n=32, num_warps=8, num_stages=3, programs_per_sm=1,
                               fp8_mode="slices")
    if rows <= 16:
        if not paged and d_k == 576 and (triton_version or TRITON_VERSION) >= (3, 9):
            return MLADecodeConfig(block_h=16, block_n=32, num_warps=4, num_stages=3, programs_per_sm=2)
        return MLADecodeConfig(block_h=16, block_n=64, num_warps=4, num_stages=3)
    if rows <= 32:  # follow-up 3 (s_q = 1, paged and contiguous) and tune_q2 (s_q = 2)
        return MLADecodeConfig(block_h=32, block_n=64, num_warps=8, num_stages=3)
    if rows >= 128:  # follow-up 1 (128 heads): the best variant; follow-up 2's lost to it; tune_q2 at s_q = 2
        return MLADecodeConfig(block_h=128, block_n=64, num_warps=8, num_stages=1, split_v=2, prefetch_l2=True)
    return MLADecodeConfig(block_h=64, block_n=64, num_warps=8, num_stages=2)


def fp8_slices(kv_lora_rank: int, split_v: int = 1, mode: str = "slices") -> int:
    """The kernel's NS: latent slices for an fp8 cache (4 of 128 for r = 512; fewer when r / 4 would be under 16
    columns, tl.dot's least K, or not a power of two); 0 = the whole-tile ("widen") path."""
    if mode == "widen" or split_v != 1:
        return 0
    for ns in (4, 2, 1):
        w = kv_lora_rank // ns
        if kv_lora_rank % ns == 0 and w >= 16 and w & (w - 1) == 0:
            return ns
    return 0


# Registers a thread of the 16-bit tiles (default_mla_config) by (d_k, block_h), the larger of Triton 3.6's and 3.9's
# sm_90 compiles, contiguous or paged (cuobjdump -res-usage of compile_sm90; restated in mlacalc.expected.MLA_REGS)
MLA_REGS = {(576, 16): 255, (576, 32): 248, (576, 64): 255, (288, 16): 170, (288, 32): 138, (288, 64): 221}


def mla_smem_bytes(d_k: int, block_h: int, block_n: int, num_stages: int) -> int:
    """Shared memory of one 16-bit program, bytes: ``num_stages - 1`` tiles of ``block_n`` keys in flight, the query
    tile, and layout-conversion scratch of 128 B a row up to 32 rows, a [rows, d_k] 16-bit tile at 64 (exact for
    Triton 3.6 and 3.9 at d_k 576 and 288: tests/test_kernels_mla_compile.py)."""
    scratch = 128 * block_h if block_h <= 32 else 2 * block_h * d_k
    return (num_stages - 1) * block_n * d_k * 2 + block_h * d_k * 2 + scratch


def mla_resident_programs(d_k: int, block_h: int, cfg: MLADecodeConfig, limits: SMLimits = HOPPER_LIMITS) -> int:
    """16-bit programs of this tile that stay on one SM at once: the fewest that shared memory (with the per-block
    reserve), registers (MLA_REGS, 255 for dims not compiled) and threads allow; 1 for a tile over 64 rows or split
    over the value dims. DeepSeek's 576-dim keys: 1; MiniCPM3's 288 at 16 rows: 2 (at 32 rows shared memory would
    hold two, Triton 3.9's 138 registers a thread one)."""
    if block_h > 64 or cfg.split_v != 1:
        return 1
    smem = mla_smem_bytes(d_k, block_h, cfg.block_n, cfg.num_stages)
    return max(1, resident_programs(smem, MLA_REGS.get((d_k, block_h), 255), cfg.num_warps, limits))


def _plan(B: int, s_q: int, H: int, max_len: int, *, sms: int, token_bytes: int, kv_lora_rank: int, fp8: bool,
          config: MLADecodeConfig | None, num_splits: int | None, paged: bool = False, kv_bytes: int = 2,
          limits: SMLimits = HOPPER_LIMITS):
    """(config, block_h, head_blocks, num_splits, tokens_per_split) exactly as mla_decode_triton launches.

    The planner's programs an SM (``programs_per_sm`` None, the 16-bit default): one, as long as the plan keeps to
    one program an SM; a plan of more programs than SMs is planned again over the programs an SM holds
    (mla_resident_programs). On the H200 with MiniCPM3's 288-dim keys (bench/ab_mla_resident.py,
    reports/h200/tuning/ab_mla_resident.json) counting the two an SM holds took 0.85-0.93x the time where the plan
    ran several waves (batch 48-192), but 1.07-1.10x at batch 8 x 8k, where 128 programs already filled the SMs and
    twice the splits only added partials."""
    rows = s_q * H
    if config is None:
        cfg = default_mla_config(rows, None, s_q=s_q, fp8=fp8, paged=paged, d_k=token_bytes // kv_bytes)
        block_h = max(16, min(cfg.block_h, triton.next_power_of_2(rows)))
    else:  # explicit configs are taken as given (a padded block_h may still win: wgmma needs 64 rows)
        cfg, block_h = config, max(16, config.block_h)
    head_blocks = triton.cdiv(rows, block_h)
    assert cfg.split_v in (1, 2) and kv_lora_rank % cfg.split_v == 0
    if cfg.fp8_mode not in FP8_MODES:
        raise KernelInputError("config", f"fp8_mode {cfg.fp8_mode!r}: one of {', '.join(FP8_MODES)}")
    work = B * head_blocks * cfg.split_v

    def plan(per_sm: int) -> tuple[int, int]:
        return plan_splits(work, max_len, cfg.block_n, sms=sms, num_splits=num_splits, programs_per_sm=per_sm,
                           min_tokens=cfg.min_tokens_per_split, token_bytes=token_bytes,
                           partial_bytes_per_split=B * rows * kv_lora_rank * 8)

    planned = plan(cfg.programs_per_sm or 1)
    if cfg.programs_per_sm is None and kv_bytes == 2 and work * planned[0] > sms:
        resident = mla_resident_programs(token_bytes // kv_bytes, block_h, cfg, limits)
        if resident > 1:
            planned = plan(resident)
    return (cfg, block_h, head_blocks) + planned


def mla_num_splits(batch: int, s_q: int, heads: int, max_len: int, *, sms: int = 132, kv_element_size: int = 2,
                   kv_lora_rank: int = 512, rope_dim: int = 64, config: MLADecodeConfig | None = None,
                   paged: bool = False, limits: SMLimits = HOPPER_LIMITS) -> int:
    """The split count mla_decode_triton launches with (for predictions on a machine without a GPU): includes the
    default config's split_v (value halves are separate programs, so they count as work items). paged: a block-table
    cache (its default tile can differ: default_mla_config)."""
    return _plan(batch, s_q, heads, max_len, sms=sms, token_bytes=(kv_lora_rank + rope_dim) * kv_element_size,
                 kv_lora_rank=kv_lora_rank, fp8=kv_element_size == 1, config=config, num_splits=None, paged=paged,
                 kv_bytes=kv_element_size, limits=limits)[3]


def compile_sm90(d_lat: int, d_rope: int, block_h: int, block_n: int, num_warps: int, num_stages: int, *,
                 paged: bool = False, scheduled: bool = False):
    """Compile _mla_decode_kernel's 16-bit path for sm_90 without a GPU (Triton ships ptxas), pointers and strides
    marked 16-divisible as at run time: the CPU check of the shared memory and registers a program holds (restated in
    mlacalc.expected.mla_smem_b and MLA_REGS, which count the programs resident on an SM). `scheduled`: the
    scheduled mode (triton_schedule.py). Returns Triton's CompiledKernel (.metadata.shared, .asm["cubin"])."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    names = _mla_decode_kernel.arg_names
    pointers = dict(zip(names[:8], ["*bf16", "*bf16", "*i32", "*i32", "*fp32", "*fp32", "*bf16", "*fp32"]))
    pointers |= {"SCHED": "*i32", "SEQ_INFO": "*i32"}
    sig = pointers | {n: "i32" for n in names[8:names.index("qk_scale")]} | {"qk_scale": "fp32", "out_scale": "fp32"}
    consts = dict(PAGE_SIZE=64 if paged else 1, PAGED=paged, D_LAT=d_lat, D_ROPE=d_rope, BLOCK_H=block_h,
                  BLOCK_N=block_n, SINGLE_SPLIT=False, SPLIT_V=1, PREFETCH=False, SCALE_PTR=False, NS=0, DUAL=False,
                  SCHEDULED=scheduled)
    sig |= {k: "constexpr" for k in consts}
    attrs = {(i,): [["tt.divisibility", 16]] for i, n in enumerate(names) if n in pointers or n.startswith("stride")}
    src = ASTSource(_mla_decode_kernel, sig, constexprs={(names.index(k),): v for k, v in consts.items()},
                    attrs=attrs)
    return triton.compile(src, target=GPUTarget("cuda", 90, 32), options=dict(num_warps=num_warps,
                                                                            num_stages=num_stages))


def mla_decode_triton(
    q: torch.Tensor,
    kv_cache: torch.Tensor,
    cache_seqlens: torch.Tensor | None = None,
    block_table: torch.Tensor | None = None,
    *,
    softmax_scale: float,
    kv_lora_rank: int = 512,
    kv_scale: torch.Tensor | float | None = None,
    max_seqlen: int | None = None,
    num_splits: int | None = None,
    config: MLADecodeConfig | None = None,
    out: torch.Tensor | None = None,
    check: bool | None = None,
    schedule: MLADecodeSchedule | None = None,
) -> torch.Tensor:
    """Absorbed MLA decode. q [B, s_q, H, r+dr] (bf16/fp16/fp32), kv_cache contiguous [B, S, r+dr] or paged
    [num_blocks, block_size, r+dr] with block_table [B, nblk] int32; bf16/fp16/fp32 or float8_e4m3fn with kv_scale
    (a float, or a 1-element float32 tensor read by the kernel: no host sync). cache_seqlens [B] int32 (None: all
    S). max_seqlen bounds the lengths for the split heuristic without a host sync (default: the cache's capacity).
    Returns [B, s_q, H, r] in q.dtype. Bad input: one KernelInputError (ValueError) naming the argument; `check`:
    value checks of lengths and table entries (checks.py; default on for CPU tensors, off on CUDA, where the kernel
    clamps lengths to the capacity and table entries to the cache: no fault).

    schedule: a triton_schedule.mla_decode_schedule() object: the work is then cut by the lengths themselves
    (schedule.py: G parts of about equal load, crossing sequence boundaries) instead of into num_splits chunks a
    sequence planned from max_seqlen. The first call given an empty schedule fills it on the device (one extra
    one-program launch, no host sync); later calls reuse it, so make a new one whenever cache_seqlens change (once
    a decode step, shared by every layer). Not with num_splits (one KernelInputError). Without it nothing changes.

    Host cost: the launch plan (tile config, splits, grid, scratch buffers) is cached per shape (launch.py), so a
    repeated call costs the key, the output allocation and two direct launches."""
    scale_t = kv_scale if torch.is_tensor(kv_scale) else None
    if schedule is not None and type(schedule) is not MLADecodeSchedule:
        raise KernelInputError("schedule", f"expected an MLADecodeSchedule (mla_decode_schedule()), got "
                                           f"{type(schedule).__name__}")
    key = (layout_key(q), q.device, layout_key(kv_cache), layout_key(block_table), layout_key(cache_seqlens),
           layout_key(out), None if scale_t is None else (scale_t.shape, scale_t.dtype, scale_t.device),
           kv_scale is None, kv_lora_rank, max_seqlen, num_splits, config, schedule is not None)

    def make():
        check_mla_inputs(q, kv_cache, cache_seqlens, block_table, kv_lora_rank=kv_lora_rank, kv_scale=kv_scale,
                         out=out, max_seqlen=max_seqlen)
        if schedule is not None and num_splits is not None:
            raise KernelInputError("num_splits", "not with a schedule (the schedule cuts the work itself)")
        return _MLAPlan(q, kv_cache, block_table, kv_lora_rank=kv_lora_rank, max_seqlen=max_seqlen,
                        num_splits=num_splits, config=config, has_scale=kv_scale is not None,
                        scheduled=schedule is not None)

    plan = cached_plan("mla_decode_triton", key, make, q.device)
    if checks_enabled(check, q.device):
        check_lengths_and_table(cache_seqlens, block_table, num_blocks=kv_cache.shape[0], page_size=plan.page_size,
                                capacity=plan.capacity, max_seqlen=None if schedule is not None else max_seqlen)
    return plan.launch(q, kv_cache, cache_seqlens, block_table, softmax_scale, kv_scale, scale_t, out, schedule)


class _MLAPlan:
    """Everything mla_decode_triton launches with that depends only on shapes, strides, dtypes and options."""

    def __init__(self, q, kv_cache, block_table, *, kv_lora_rank, max_seqlen, num_splits, config, has_scale,
                 scheduled=False):
        self.launch_key = new_launch_key()
        B, s_q, H, Dk = q.shape
        r = kv_lora_rank
        dev = q.device
        self.B, self.s_q, self.H, self.r = B, s_q, H, r
        self.paged = paged = block_table is not None
        if paged:
            self.page_size = kv_cache.shape[1]
            self.capacity = block_table.shape[1] * self.page_size
            self.stride_bt = block_table.stride(0)
        else:
            self.page_size, self.capacity, self.stride_bt = 1, kv_cache.shape[1], 0
        max_len = min(max_seqlen or self.capacity, self.capacity)
        is_fp8 = kv_cache.dtype in (torch.float8_e4m3fn, torch.float8_e5m2)
        self.rows = rows = s_q * H
        sms = num_sms(dev)
        cfg, block_h, head_blocks, self.num_splits, tokens_per_split = _plan(
            B, s_q, H, max_len, sms=sms, token_bytes=Dk * kv_cache.element_size(), kv_lora_rank=r,
            fp8=is_fp8, config=config, num_splits=num_splits, paged=paged, kv_bytes=kv_cache.element_size(),
            limits=sm_limits(dev))
        self.full_lens = torch.full((B,), self.capacity, dtype=torch.int32, device=dev)  # for cache_seqlens=None
        self.out_strides = (s_q * H * r, H * r, r)  # a fresh contiguous output
        self.sched_shape = None
        if scheduled:  # grid (head programs, G parts); partials by slot (schedule.py), at most slot_capacity
            # the tile's own programs an SM (16 rows under Triton 3.9: 2), else one; not the resident count the
            # fixed grid replans with (_plan): one wave of parts, each as long as the work allows
            G = schedule_parts(head_blocks * cfg.split_v, sms, cfg.programs_per_sm or 1)
            overhead = segment_overhead_tiles(min(block_h, rows), cfg.block_n, Dk, r // cfg.split_v,
                                              q_bytes=q.element_size(), kv_bytes=kv_cache.element_size())
            cells = B * (triton.cdiv(self.capacity, cfg.block_n) + overhead)
            if cells > MAX_CELLS:
                raise KernelInputError("schedule", f"{B} sequences of up to {self.capacity} keys are {cells} "
                                                   f"schedule cells, above its {MAX_CELLS}")
            self.sched_shape = (B, G, cfg.block_n, overhead, dev)
            self.num_splits, tokens_per_split = G, 0
            self.grid = (head_blocks * cfg.split_v, G, 1)
            self.single = False
            slots = slot_capacity(G, B)
            self.o_part = torch.empty((slots, rows, r), dtype=torch.float32, device=dev)
            self.lse_part = torch.empty((slots, rows), dtype=torch.float32, device=dev)
            sp = (0, self.o_part.stride(0), self.o_part.stride(1), 0, self.lse_part.stride(0))
        else:
            self.grid = (head_blocks * cfg.split_v, self.num_splits, B)
            self.single = self.num_splits == 1
            if self.single:
                self.o_part = self.lse_part = None
                sp = (0, 0, 0, 0, 0)
            else:
                self.o_part = torch.empty((B, self.num_splits, rows, r), dtype=torch.float32, device=dev)
                self.lse_part = torch.empty((B, self.num_splits, rows), dtype=torch.float32, device=dev)
                sp = (*self.o_part.stride()[:3], *self.lse_part.stride()[:2])
        self.ints = (q.stride(0), q.stride(1), q.stride(2), kv_cache.stride(0), kv_cache.stride(1), self.stride_bt,
                     *sp)
        self.tail = (H, s_q, tokens_per_split, self.capacity, kv_cache.shape[0])
        prefetch = cfg.prefetch_l2 and dev.type == "cuda"  # inline PTX: not under the CPU interpreter
        ns = fp8_slices(r, cfg.split_v, cfg.fp8_mode) if is_fp8 else 0
        self.consts = (self.page_size, paged, r, Dk - r, block_h, cfg.block_n, self.single, cfg.split_v, prefetch)
        self.consts_tail = (ns, ns > 0 and cfg.fp8_mode == "dual")
        self.options = dict(num_warps=cfg.num_warps, num_stages=cfg.num_stages)
        self.has_scale = has_scale

    def launch(self, q, kv_cache, cache_seqlens, block_table, softmax_scale, kv_scale, scale_t, out, schedule=None):
        B, s_q, H, r = self.B, self.s_q, self.H, self.r
        if out is None:
            out = torch.empty((B, s_q, H, r), dtype=q.dtype, device=q.device)
            o_strides = self.out_strides
        else:
            o_strides = out.stride()[:3]
        lens = cache_seqlens if cache_seqlens is not None else self.full_lens
        kv_scale_f = 1.0 if kv_scale is None or scale_t is not None else float(kv_scale)
        o_part = self.o_part if self.o_part is not None else out  # unused pointers with one split
        lse_part = self.lse_part if self.lse_part is not None else out
        bt = block_table if block_table is not None else lens  # unused pointer
        if self.sched_shape is not None:
            sched, seqs = schedule.tensors(self.sched_shape, lens, self.capacity)
        else:
            sched = seqs = lens  # unused pointers
        args = (q, kv_cache, bt, lens, o_part, lse_part, out, scale_t if scale_t is not None else lens,
                *self.ints, *o_strides, *self.tail, softmax_scale * LOG2E * kv_scale_f, kv_scale_f,
                *self.consts, scale_t is not None, *self.consts_tail, sched, seqs, self.sched_shape is not None)
        _LAUNCH_MLA(self.launch_key, self.grid, args, **self.options)
        if self.sched_shape is not None:
            combine_slots(self.o_part, self.lse_part, out.view(B, self.rows, r), seqs, max_partials=self.num_splits,
                          key=self.launch_key)
        elif not self.single:
            combine_splits(self.o_part, self.lse_part, out.view(B, self.rows, r), key=self.launch_key)
        return out


_LAUNCH_MLA = FastLauncher(_mla_decode_kernel)
