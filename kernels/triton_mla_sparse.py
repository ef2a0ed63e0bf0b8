"""Sparse top-k MLA decode (DeepSeek Sparse Attention, DeepSeek-V3.2) in Triton: each query token attends only the
`topk` cache rows its indexer selected.

What it computes (per sequence b, query token t, head h; r latent dims, dr RoPE dims):
    J     = { i in indices[b, t, :] : 0 <= i < len_b }                      (-1 marks an unused slot)
    s_i   = scale * (q[b,t,h,:r] . c[i] + q[b,t,h,r:] . k_pe[i])              for i in J
    out   = sum_{i in J} softmax(s)_i * c[i]                                  -> [B, s_q, H, r]
where row i of sequence b is found through the block table (block_table[b, i // block_size], row i % block_size), as
for the dense kernels; without a block table an index is a row of the flattened pool (FlashMLA's convention:
page * block_size + offset). No causal mask: the indices decide what each token sees.

Cache formats:
  * bf16 / fp16 / fp32 rows [num_blocks, block_size, r + dr];
  * fp8-ds (cache.pack_fp8_ds): uint8 rows of r e4m3 values, r/128 float32 scales and dr bf16 RoPE values (656 bytes
    for 512 + 64). The kernel reads three typed views of the same bytes (cache.fp8_ds_views) and the latent as one
    slice per scale group (triton_flash.load_slices; SparseMLAConfig.fp8_mode), so no scale touches the big tile:
        s_i  = scale * (sum_g c_g[i] (q_g . k8_g[i]) + q_rope . k_pe[i])     (4 dots of 128 dims, c_g per key)
        out  = sum_g  (p * c_g) @ k8_g                                        (p's columns scaled, then the dot)
    with the fp8 slices widened to fp16 next to their dots (fp32 for fp32 queries). "widen" (r > 512 too):
    the whole tile dequantised in fp32 on load, dots in the query's dtype.

Algorithm (the dense kernel's, with a gather in place of a contiguous tile):
  * One program = BLOCK_H heads of one query token x one split of its index list (grid: head blocks, splits,
    B * s_q). Each tile of BLOCK_N slots loads the indices, maps them to rows (triton_flash.selected_rows: clamp and
    mask, so no index or table entry can address outside the cache), gathers the [BLOCK_N, r] latent and
    [BLOCK_N, dr] RoPE rows once, and feeds the latent tile to both dots (K^T for the scores, V for P @ V).
  * The next tile's rows are computed at the end of each iteration (loop-carried), so no row address depends on a
    load of its own iteration and Triton's pipeliner can keep a gather in flight (the dense paged kernel's trick,
    docs/kernels-notes.md, follow-up 3).
  * Online softmax in base 2 (triton_flash.online_softmax_masked); splits merged by triton_split_kv.combine_splits.

Out-of-range indices: clamped and masked in the kernel (never a fault). With `check` on (checks.py: the default on
CPU tensors; on CUDA `check=True` or MLACALC_KERNEL_CHECKS=1, at the cost of a host sync a call) the wrapper raises a
ValueError for them first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from .cache import FP8_DS_GROUP, fp8_ds_row_bytes, fp8_ds_views
from .checks import FLOAT_DTYPES, check_lengths_and_table, check_mla_inputs, check_tensor, require
from .launch import FastLauncher, cached_plan, checks_enabled, layout_key, num_sms, new_launch_key
from .triton_flash import LOG2E, finish, finish_rows, latent_pv, latent_scores, load_q_slices, load_slices, \
    online_softmax_alpha, online_softmax_masked, selected_rows, store_slices, valid_length
from .triton_mla_decode import FP8_MODES
from .triton_split_kv import combine_splits, plan_splits

__all__ = ["SparseMLAConfig", "mla_decode_sparse", "default_sparse_config", "sparse_slices"]


@triton.jit
def _mla_sparse_kernel(
    Q, KV_LAT, KV_SCALES, KV_ROPE, BLOCK_TABLE, SEQLENS, INDICES, O_PART, LSE_PART, OUT,
    stride_q_b, stride_q_t, stride_q_h,
    stride_lat_page, stride_lat_tok,
    stride_sc_page, stride_sc_tok,
    stride_rope_page, stride_rope_tok,
    stride_bt_b,
    stride_i_b, stride_i_t,
    stride_op_b, stride_op_s, stride_op_r,
    stride_lse_b, stride_lse_s,
    stride_o_b, stride_o_t, stride_o_h,
    num_heads, q_len, topk, tokens_per_split, num_blocks, capacity,
    qk_scale,  # softmax_scale * log2(e)
    PAGE_SIZE: tl.constexpr,
    PAGED: tl.constexpr,
    HAS_LENS: tl.constexpr,
    FP8_DS: tl.constexpr,
    GROUP: tl.constexpr,
    D_LAT: tl.constexpr,
    D_ROPE: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_N: tl.constexpr,
    SINGLE_SPLIT: tl.constexpr,
    NS: tl.constexpr,
    DUAL: tl.constexpr,
    P_SHIFT: tl.constexpr,
):
    """Grid (head blocks, splits, B * s_q). NS = 0: one [BLOCK_N, r] latent tile feeds both dots (dequantised on
    load for fp8-ds); NS > 0 (fp8-ds): latent slices of GROUP columns (triton_flash.load_slices), each with its own
    per-key scale folded into the [BLOCK_H, BLOCK_N] tiles, dots in fp16 (fp32 for fp32 queries); DUAL loads the
    value slices again into their own buffers (SparseMLAConfig.fp8_mode)."""
    pid_h = tl.program_id(0)
    pid_s = tl.program_id(1)
    bt_id = tl.program_id(2)  # b * q_len + t
    b = bt_id // q_len
    t = bt_id % q_len
    limit = valid_length(SEQLENS, b, capacity) if HAS_LENS else capacity  # past the pool: past the table row
    start = pid_s * tokens_per_split
    end = tl.minimum(start + tokens_per_split, topk)

    heads = pid_h * BLOCK_H + tl.arange(0, BLOCK_H)
    row_ok = heads < num_heads
    offs_v = tl.arange(0, D_LAT)
    offs_r = tl.arange(0, D_ROPE)
    q_off = b * stride_q_b + t * stride_q_t + heads * stride_q_h
    if NS == 0:
        q_lat = tl.load(Q + q_off[:, None] + offs_v[None, :], mask=row_ok[:, None], other=0.0)
    q_rope = tl.load(Q + q_off[:, None] + D_LAT + offs_r[None, :], mask=row_ok[:, None], other=0.0)
    if NS > 0:
        DT: tl.constexpr = tl.float32 if Q.dtype.element_ty == tl.float32 else tl.float16
        SLICE: tl.constexpr = D_LAT // NS
        q0, q1, q2, q3 = load_q_slices(Q + q_off[:, None], row_ok[:, None], DT, SLICE, NS)
        q_rope = q_rope.to(DT)

    m_i = tl.full([BLOCK_H], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_H], dtype=tl.float32)
    if NS == 0:
        acc = tl.zeros([BLOCK_H, D_LAT], dtype=tl.float32)
    else:
        a0 = tl.zeros([BLOCK_H, SLICE], dtype=tl.float32)
        a1 = tl.zeros([BLOCK_H, SLICE], dtype=tl.float32)
        a2 = tl.zeros([BLOCK_H, SLICE], dtype=tl.float32)
        a3 = tl.zeros([BLOCK_H, SLICE], dtype=tl.float32)
    idx_row = INDICES + b * stride_i_b + t * stride_i_t
    bt_row = BLOCK_TABLE + b * stride_bt_b
    # the first tile's rows; each iteration computes the next tile's (loop-carried)
    valid_n, page_n, off_n = selected_rows(idx_row, bt_row, start + tl.arange(0, BLOCK_N), end, limit, num_blocks,
                                           PAGE_SIZE, PAGED)
    for n0 in range(start, end, BLOCK_N):
        valid, page, off = valid_n, page_n, off_n
        valid_n, page_n, off_n = selected_rows(idx_row, bt_row, n0 + BLOCK_N + tl.arange(0, BLOCK_N), end, limit,
                                               num_blocks, PAGE_SIZE, PAGED)
        lat_row = KV_LAT + (page * stride_lat_page + off * stride_lat_tok)[:, None]
        if NS == 0:
            lat = tl.load(lat_row + offs_v[None, :], mask=valid[:, None], other=0.0)
            if FP8_DS:  # dequantise on load: each group of GROUP latent values times its float32 scale
                sc = tl.load(KV_SCALES + (page * stride_sc_page + off * stride_sc_tok)[:, None]
                             + tl.arange(0, D_LAT // GROUP)[None, :], mask=valid[:, None], other=0.0)
                lat = tl.reshape(tl.reshape(lat.to(tl.float32), (BLOCK_N, D_LAT // GROUP, GROUP)) * sc[:, :, None],
                                 (BLOCK_N, D_LAT))
            lat = lat.to(q_lat.dtype)
        else:
            k0, k1, k2, k3 = load_slices(lat_row, valid[:, None], SLICE, NS, "")
            if DUAL:  # the value view loaded again into its own buffer (an L2 hit)
                v0, v1, v2, v3 = load_slices(lat_row, valid[:, None], SLICE, NS, "evict_first")
            else:
                v0, v1, v2, v3 = k0, k1, k2, k3
            sc_row = KV_SCALES + page * stride_sc_page + off * stride_sc_tok  # one scale per slice (GROUP columns)
            c0 = tl.load(sc_row, mask=valid, other=0.0)
            c1 = c0
            c2 = c0
            c3 = c0
            if NS > 1:
                c1 = tl.load(sc_row + 1, mask=valid, other=0.0)
            if NS > 2:
                c2 = tl.load(sc_row + 2, mask=valid, other=0.0)
                c3 = tl.load(sc_row + 3, mask=valid, other=0.0)
        rope = tl.load(KV_ROPE + (page * stride_rope_page + off * stride_rope_tok)[:, None] + offs_r[None, :],
                       mask=valid[:, None], other=0.0).to(q_rope.dtype)
        if NS == 0:
            s = tl.dot(q_lat, tl.trans(lat))
            s = tl.dot(q_rope, tl.trans(rope), s)
            p, m_i, l_i, acc = online_softmax_masked(s * qk_scale, m_i, l_i, acc, valid[None, :])
            acc = tl.dot(p.to(lat.dtype), lat, acc)
        else:
            s = tl.dot(q_rope, tl.trans(rope))
            s = latent_scores(s, q0, q1, q2, q3, k0, k1, k2, k3, c0, c1, c2, c3, NS, True)
            p, m_i, l_i, alpha = online_softmax_alpha(s * qk_scale, m_i, l_i, valid[None, :])
            a0, a1, a2, a3 = latent_pv(a0, a1, a2, a3, alpha, p, v0, v1, v2, v3, c0, c1, c2, c3, NS, True, P_SHIFT, DT)

    if NS == 0:
        o, lse = finish(acc, m_i, l_i, 1.0)
        if SINGLE_SPLIT:
            o_off = b * stride_o_b + t * stride_o_t + heads * stride_o_h
            tl.store(OUT + o_off[:, None] + offs_v[None, :], o.to(OUT.dtype.element_ty), mask=row_ok[:, None])
        else:
            op = O_PART + bt_id * stride_op_b + pid_s * stride_op_s + heads[:, None] * stride_op_r + offs_v[None, :]
            tl.store(op, o, mask=row_ok[:, None])
    else:
        fac, lse = finish_rows(m_i, l_i, 1.0 / P_SHIFT)
        fac = fac[:, None]
        if SINGLE_SPLIT:
            o_ptr = OUT + (b * stride_o_b + t * stride_o_t + heads * stride_o_h)[:, None]
        else:
            o_ptr = O_PART + bt_id * stride_op_b + pid_s * stride_op_s + heads[:, None] * stride_op_r
        store_slices(o_ptr, a0 * fac, a1 * fac, a2 * fac, a3 * fac, row_ok[:, None], SLICE, NS)
    if not SINGLE_SPLIT:
        tl.store(LSE_PART + bt_id * stride_lse_b + pid_s * stride_lse_s + heads, lse, mask=row_ok)


@dataclass(frozen=True)
class SparseMLAConfig:
    """block_h: heads per program; block_n: selected rows per tile; min_tokens_per_split: shortest index chunk.
    fp8_mode (fp8-ds rows only), as MLADecodeConfig.fp8_mode: "slices" (one slice per 128-value scale group, the
    scales folded into the small tiles), "dual" (slices, value slices loaded again into their own buffers) or
    "widen" (the whole tile dequantised in fp32 on load: the kernel before issue 14, 10-26x the floor on the H200;
    also what r > 512 runs)."""

    block_h: int = 64
    block_n: int = 64
    num_warps: int = 8
    num_stages: int = 2
    min_tokens_per_split: int = 128
    fp8_mode: str = "slices"
    programs_per_sm: int = 1  # used by the split heuristic (2: a tile small enough for two programs per SM)


P_SHIFT = 256.0  # fp8-ds: p * scale * 2^8 in fp16 (triton_flash.slice_pv); group scales amax / 448 of ~0.01 stay normal


def default_sparse_config(heads: int, fp8_ds: bool) -> SparseMLAConfig:
    """Tiles by head count, the best geomean x floor per head class of bench/tune_fp8_sparse.py on the H200
    (reports/h200/tuning/tune_fp8_sparse.json, B = 8 and 64, topk 2048 of a 32k context; docs/kernels-notes.md,
    "Issue 14, round 2"). x floor at B = 8 / 64:
      bf16 16 heads: 16/64/8 warps/3 stages 5.21 / 2.29 (the old 16/64/4/3: 6.67 / 3.27; a two-per-SM 16/32 tile,
        6.05 / 2.00, is as good in geomean but worse at B = 8, so not taken);
      bf16 17-64 heads: 32/64/8/3 7.34 / 4.19 at 64 heads (old 64/64/8/2: 9.41 / 3.66); 32 heads were not timed;
      bf16 > 64 heads: 64/64/8/2 planned as two per SM (about twice the splits) 8.10 / 5.48 (old: 9.14 / 5.28);
      fp8-ds <= 32 heads: "dual" 16/32/8/3 (14.92 / 8.66 at 16 heads; the whole-tile "widen": 19.71 / 12.77);
      fp8-ds > 32 heads: "widen" 64/32/8/2 (64 heads 26.36 / 11.40, 128 heads 16.80 / 10.57; the slices'
        best: 24.78 / 17.63 and 18.41 / 17.13): the folded scales' four [64, BLOCK_N] products and scaled copies of
        p spill at 64 rows."""
    if fp8_ds:
        if heads <= 16:
            return SparseMLAConfig(block_h=16, block_n=32, num_warps=8, num_stages=3, fp8_mode="dual")
        if heads <= 32:
            return SparseMLAConfig(block_h=32, block_n=32, num_warps=8, num_stages=3, fp8_mode="dual")
        return SparseMLAConfig(block_h=64, block_n=32, num_warps=8, num_stages=2, fp8_mode="widen")
    if heads <= 16:
        return SparseMLAConfig(block_h=16, block_n=64, num_warps=8, num_stages=3)
    if heads <= 64:
        return SparseMLAConfig(block_h=32, block_n=64, num_warps=8, num_stages=3)
    return SparseMLAConfig(block_h=64, block_n=64, num_warps=8, num_stages=2, min_tokens_per_split=64,
                           programs_per_sm=2)


def sparse_block_h(heads: int, config: SparseMLAConfig) -> int:
    """Heads a program computes: the config's tile, shrunk to the heads' power of two, 16 at least (tl.dot)."""
    return max(16, min(config.block_h, triton.next_power_of_2(heads)))


def sparse_splits(batch_tokens: int, heads: int, topk: int, *, sms: int, row_bytes: int, r: int = 512,
                  fp8_ds: bool = False, config: SparseMLAConfig | None = None,
                  num_splits: int | None = None) -> tuple[int, int]:
    """(num_splits, tokens_per_split) mla_decode_sparse launches with for `batch_tokens` = B * s_q query tokens of
    `heads` heads over `topk` slots of `row_bytes` (bf16 rows 2 (r + 64), fp8-ds 656): the split planner over the
    token's head blocks (the profiler's prediction calls this rather than restating it)."""
    cfg = config or default_sparse_config(heads, fp8_ds)
    return plan_splits(batch_tokens * triton.cdiv(heads, sparse_block_h(heads, cfg)), topk, cfg.block_n, sms=sms,
                       num_splits=num_splits, min_tokens=cfg.min_tokens_per_split,
                       programs_per_sm=cfg.programs_per_sm, token_bytes=row_bytes,
                       partial_bytes_per_split=batch_tokens * heads * r * 8)


def sparse_slices(kv_lora_rank: int, fp8_ds: bool, mode: str = "slices") -> int:
    """The sparse kernel's NS: one slice per fp8-ds scale group (r / 128, at most 4); 0 = the whole-tile path (bf16 /
    fp16 / fp32 rows, "widen", or r > 512)."""
    ns = kv_lora_rank // FP8_DS_GROUP
    return ns if fp8_ds and mode != "widen" and ns in (1, 2, 4) else 0


def mla_decode_sparse(
    q: torch.Tensor,
    kv_cache: torch.Tensor,
    indices: torch.Tensor,
    block_table: torch.Tensor | None = None,
    cache_seqlens: torch.Tensor | None = None,
    *,
    softmax_scale: float,
    kv_lora_rank: int = 512,
    num_splits: int | None = None,
    config: SparseMLAConfig | None = None,
    out: torch.Tensor | None = None,
    check: bool | None = None,
) -> torch.Tensor:
    """Sparse absorbed MLA decode. q [B, s_q, H, r+dr] (bf16/fp16/fp32); kv_cache paged [num_blocks, block_size,
    r+dr] (bf16/fp16/fp32) or fp8-ds uint8 [num_blocks, block_size, fp8_ds_row_bytes(r, dr)] (656 for 512 + 64);
    indices [B, s_q, topk] int32 token positions through block_table [B, nblk] int32 (or, without a table, rows of
    the flattened pool); -1 = unused slot; cache_seqlens [B] int32 (optional: indices at or past a sequence's
    length are unused). Returns [B, s_q, H, r] in q.dtype. Bad input: one KernelInputError (ValueError) naming the
    argument; `check`: the value checks of indices, lengths and table (see the module docstring)."""
    key = (layout_key(q), q.device, layout_key(kv_cache), layout_key(indices), layout_key(block_table),
           layout_key(cache_seqlens), layout_key(out), kv_lora_rank, num_splits, config)

    def make():
        _check_sparse(q, kv_cache, indices, block_table, cache_seqlens, kv_lora_rank, out)
        return _SparsePlan(q, kv_cache, indices, block_table, kv_lora_rank=kv_lora_rank, num_splits=num_splits,
                           config=config)

    plan = cached_plan("mla_decode_sparse", key, make, q.device)
    if checks_enabled(check, q.device):
        check_lengths_and_table(cache_seqlens, block_table, num_blocks=kv_cache.shape[0], page_size=plan.page_size,
                                capacity=plan.capacity, indices=indices)
    return plan.launch(q, kv_cache, indices, block_table, cache_seqlens, softmax_scale, out)


def _check_sparse(q, kv_cache, indices, block_table, cache_seqlens, kv_lora_rank, out) -> None:
    check_tensor(q, "q", dim=4, dtypes=FLOAT_DTYPES)
    B, s_q, H, Dk = q.shape
    fp8_ds = isinstance(kv_cache, torch.Tensor) and kv_cache.dtype == torch.uint8
    row = None
    if fp8_ds:
        require(kv_lora_rank % FP8_DS_GROUP == 0, "kv_lora_rank", f"{kv_lora_rank}: the fp8-ds layout needs whole "
                                                                 f"groups of {FP8_DS_GROUP}")
        row = fp8_ds_row_bytes(kv_lora_rank, Dk - kv_lora_rank)
    check_mla_inputs(q, kv_cache, cache_seqlens, block_table, kv_lora_rank=kv_lora_rank, kv_scale=None, out=out,
                     max_seqlen=None, kv_dtypes=FLOAT_DTYPES + (torch.uint8,), row_dim=row, pool=True)
    if fp8_ds:
        require(kv_cache.stride(0) % 4 == 0 and kv_cache.stride(1) % 4 == 0, "kv_cache",
                "fp8-ds rows must start on 4-byte boundaries (float32 scales)")
    check_tensor(indices, "indices", dim=3, dtypes=(torch.int32,), device=q.device, shape=(B, s_q, None))
    require(indices.shape[2] >= 1, "indices", "topk must be at least 1")
    # without a table the indices are rows of the flattened pool (FlashMLA's convention), where a sequence's length
    # cannot mask them: a contiguous [B, S, D] cache with per-sequence positions and lengths then read sequence 0's
    # rows for every sequence, silently (the profiler did, until the thirty-second session)
    require(block_table is not None or cache_seqlens is None or B == 1, "cache_seqlens",
            "without block_table the indices are rows of the flattened pool (b x S + position for a contiguous "
            "[B, S, D] cache), which lengths cannot mask: pass block_table with token positions, or rows and no "
            "cache_seqlens")


class _SparsePlan:
    def __init__(self, q, kv_cache, indices, block_table, *, kv_lora_rank, num_splits, config):
        self.launch_key = new_launch_key()
        B, s_q, H, Dk = q.shape
        r, dr = kv_lora_rank, Dk - kv_lora_rank
        dev = q.device
        topk = indices.shape[2]
        self.B, self.s_q, self.H, self.r = B, s_q, H, r
        self.fp8_ds = kv_cache.dtype == torch.uint8
        self.page_size = kv_cache.shape[1]
        self.num_blocks = kv_cache.shape[0]
        self.paged = block_table is not None
        self.capacity = (block_table.shape[1] if self.paged else self.num_blocks) * self.page_size
        cfg = config or default_sparse_config(H, self.fp8_ds)
        require(cfg.fp8_mode in FP8_MODES, "config", f"fp8_mode {cfg.fp8_mode!r}: one of {', '.join(FP8_MODES)}")
        ns = sparse_slices(r, self.fp8_ds, cfg.fp8_mode)
        block_h = sparse_block_h(H, cfg)
        head_blocks = triton.cdiv(H, block_h)
        self.num_splits, tokens_per_split = sparse_splits(
            B * s_q, H, topk, sms=num_sms(dev), row_bytes=kv_cache.shape[-1] * kv_cache.element_size(), r=r,
            config=cfg, num_splits=num_splits)
        self.grid = (head_blocks, self.num_splits, B * s_q)
        self.single = self.num_splits == 1
        if self.single:
            self.o_part = self.lse_part = None
            sp = (0, 0, 0, 0, 0)
        else:
            self.o_part = torch.empty((B * s_q, self.num_splits, H, r), dtype=torch.float32, device=dev)
            self.lse_part = torch.empty((B * s_q, self.num_splits, H), dtype=torch.float32, device=dev)
            sp = (*self.o_part.stride()[:3], *self.lse_part.stride()[:2])
        lat, sc, rope = self._views(kv_cache)
        self.view_strides = (lat.stride(0), lat.stride(1), sc.stride(0), sc.stride(1), rope.stride(0), rope.stride(1))
        self.q_strides = (q.stride(0), q.stride(1), q.stride(2))
        self.stride_bt = block_table.stride(0) if self.paged else 0
        self.idx_strides = (indices.stride(0), indices.stride(1))
        self.sp = sp
        self.tail = (H, s_q, topk, tokens_per_split, self.num_blocks, self.capacity)
        self.consts = (self.page_size, self.paged, None, self.fp8_ds, FP8_DS_GROUP, r, dr, block_h, cfg.block_n,
                       self.single, ns, ns > 0 and cfg.fp8_mode == "dual", P_SHIFT if ns else 1.0)
        self.options = dict(num_warps=cfg.num_warps, num_stages=cfg.num_stages)

    def _views(self, kv_cache):
        if self.fp8_ds:
            return fp8_ds_views(kv_cache, self.r)
        return kv_cache, kv_cache, kv_cache[..., self.r:]

    def launch(self, q, kv_cache, indices, block_table, cache_seqlens, softmax_scale, out):
        B, s_q, H, r = self.B, self.s_q, self.H, self.r
        if out is None:
            out = torch.empty((B, s_q, H, r), dtype=q.dtype, device=q.device)
        lat, sc, rope = self._views(kv_cache)
        o_part = self.o_part if self.o_part is not None else out  # unused pointers with one split
        lse_part = self.lse_part if self.lse_part is not None else out
        has_lens = cache_seqlens is not None
        lens = cache_seqlens if has_lens else indices  # unused pointer
        bt = block_table if block_table is not None else indices  # unused pointer
        consts = list(self.consts)
        consts[2] = has_lens
        args = (q, lat, sc, rope, bt, lens, indices, o_part, lse_part, out, *self.q_strides, *self.view_strides,
                self.stride_bt, *self.idx_strides, *self.sp, *out.stride()[:3], *self.tail,
                softmax_scale * LOG2E, *consts)
        _LAUNCH_SPARSE((self.launch_key, has_lens), self.grid, args, **self.options)
        if not self.single:
            combine_splits(self.o_part, self.lse_part, out.view(B * s_q, H, r), key=self.launch_key)
        return out


_LAUNCH_SPARSE = FastLauncher(_mla_sparse_kernel)
