"""Flash-decoding for GQA / MQA / MHA in Triton, over the contiguous and paged layouts of cache.py.

What it computes: for sequence b, query token t (of s_q, causal among themselves), query head h reading kv head
j = h // G (G = Hq / Hkv):  out[b,t,h] = softmax_k(scale * q[b,t,h] . k[b,k,j]) @ v[b,:,j],  keys k <= len_b-s_q+t.

Algorithm: one program per (kv head, block of query rows, key chunk, sequence). Its rows are the G * s_q query rows
that read that kv head (padded to BLOCK_H >= 16 for the tensor cores; over 64 rows, blocks of 64: gqa_tiling), so each
K/V tile is read once for the whole group (once per row block, the repeats served by L2). Keys are
streamed in BLOCK_N tiles with the online softmax (base 2, triton_flash.online_softmax_step); split-KV chunks are
merged by triton_split_kv.combine_splits, or written directly with one split. Paged caches: each iteration loads
the next tile's block-table entries (triton_flash.tile_pages, loop-carried), as the MLA kernel does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from .triton_flash import LOG2E, finish, online_softmax_step, tile_pages, tile_rows, valid_length
from .checks import check_gqa_inputs, check_lengths_and_table, require
from .launch import (HOPPER_LIMITS, FastLauncher, SMLimits, cached_plan, checks_enabled, layout_key, new_launch_key,
                     num_sms, resident_programs, sm_limits)
from .triton_split_kv import combine_splits, plan_splits

__all__ = ["gqa_num_splits", "GQADecodeConfig", "gqa_decode_triton", "gqa_tiling", "gqa_resident_programs",
           "gqa_smem_bytes", "padded_head_dim"]


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
    capacity,  # keys a sequence's cache row or table row holds: lengths are clamped to it (triton_flash.valid_length)
    num_blocks,  # paged: blocks in the cache (table entries clamped below it, triton_flash.valid_page)
    qk_scale,  # softmax_scale * log2(e)
    PAGE_SIZE: tl.constexpr,
    PAGED: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    HEAD_DIM_PAD: tl.constexpr,  # the tiles' columns: HEAD_DIM's power of two (padded_head_dim); the rest masked
    BLOCK_H: tl.constexpr,
    BLOCK_N: tl.constexpr,
    SINGLE_SPLIT: tl.constexpr,
    ROW_BLOCKS: tl.constexpr,
):
    kvh = tl.program_id(0) // ROW_BLOCKS
    row0 = (tl.program_id(0) % ROW_BLOCKS) * BLOCK_H
    pid_s = tl.program_id(1)
    b = tl.program_id(2)
    seqlen = valid_length(SEQLENS, b, capacity)
    start = pid_s * tokens_per_split
    end = tl.minimum(start + tokens_per_split, seqlen)

    local = row0 + tl.arange(0, BLOCK_H)
    row_ok = local < q_len * group
    t = local // group
    h = kvh * group + local % group
    rows = t * num_q_heads + h  # row in the flattened [s_q * Hq] output
    last_key = seqlen - q_len + t

    offs_d = tl.arange(0, HEAD_DIM_PAD)
    if HEAD_DIM == HEAD_DIM_PAD:  # the column mask only where there are padded columns (compile time)
        d_ok = None
        q_mask = row_ok[:, None]
    else:
        d_ok = offs_d < HEAD_DIM
        q_mask = row_ok[:, None] & d_ok[None, :]
    q_off = b * stride_q_b + t * stride_q_t + h * stride_q_h
    q = tl.load(Q + q_off[:, None] + offs_d[None, :], mask=q_mask, other=0.0)

    m_i = tl.full([BLOCK_H], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_H], dtype=tl.float32)
    acc = tl.zeros([BLOCK_H, HEAD_DIM_PAD], dtype=tl.float32)
    if PAGED:  # the first tile's table entries; each iteration loads the next tile's (loop-carried)
        bt_row = BLOCK_TABLE + b * stride_bt_b
        pages_nxt = tile_pages(bt_row, start, end, PAGE_SIZE, BLOCK_N)
    for n0 in range(start, end, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        n_ok = offs_n < end
        if PAGED:
            k_tok = tile_rows(pages_nxt, n0, num_blocks, stride_k_page, stride_k_tok, PAGE_SIZE, BLOCK_N)
            v_tok = tile_rows(pages_nxt, n0, num_blocks, stride_v_page, stride_v_tok, PAGE_SIZE, BLOCK_N)
            pages_nxt = tile_pages(bt_row, n0 + BLOCK_N, end, PAGE_SIZE, BLOCK_N)
        else:
            k_tok = b.to(tl.int64) * stride_k_page + offs_n * stride_k_tok
            v_tok = b.to(tl.int64) * stride_v_page + offs_n * stride_v_tok
        kv_mask = n_ok[:, None] if HEAD_DIM == HEAD_DIM_PAD else n_ok[:, None] & d_ok[None, :]
        k = tl.load(K + (k_tok + kvh * stride_k_h)[:, None] + offs_d[None, :], mask=kv_mask, other=0.0)
        v = tl.load(V + (v_tok + kvh * stride_v_h)[:, None] + offs_d[None, :], mask=kv_mask, other=0.0)
        s = tl.dot(q, tl.trans(k)) * qk_scale
        p, m_i, l_i, acc = online_softmax_step(s, m_i, l_i, acc, offs_n, last_key, end)
        acc = tl.dot(p.to(v.dtype), v, acc)

    o, lse = finish(acc, m_i, l_i, 1.0)
    if SINGLE_SPLIT:
        o_off = b * stride_o_b + t * stride_o_t + h * stride_o_h
        tl.store(OUT + o_off[:, None] + offs_d[None, :], o.to(OUT.dtype.element_ty), mask=q_mask)
    else:  # partials of the padded width (zeros past HEAD_DIM); the merge stores HEAD_DIM of them
        op = O_PART + b * stride_op_b + pid_s * stride_op_s + rows[:, None] * stride_op_r + offs_d[None, :]
        tl.store(op, o, mask=row_ok[:, None])
        tl.store(LSE_PART + b * stride_lse_b + pid_s * stride_lse_s + rows, lse, mask=row_ok)


@dataclass(frozen=True)
class GQADecodeConfig:
    """Tile and plan of gqa_decode_triton. ``num_stages`` None: 3 where a program fits, else 2 (gqa_tiling);
    ``programs_per_sm`` None: the programs that fit (gqa_resident_programs), which the split planner counts a wave as;
    ``max_block_h``: query rows one program takes at most (more: row blocks)."""

    block_n: int = 64
    num_warps: int = 4
    num_stages: int | None = None
    programs_per_sm: int | None = None
    max_block_h: int = 64
    min_tokens_per_split: int = 256


# Registers a thread of _gqa_decode_kernel holds (4 warps, 64-key tiles) by (head dim, query rows a program), the
# larger of Triton 3.6's and 3.9's sm_90 compiles (cuobjdump -res-usage: `python bench/gqa_resources.py`); an SM's
# 64 K registers are handed out 8 a thread at a time (a warp's in units of 256), so at head dim 128 and 16 rows (108,
# taken as 112) four programs fit by registers.
GQA_REGS = {(32, 16): 62, (32, 32): 127, (32, 64): 122, (64, 16): 68, (64, 32): 96, (64, 64): 121,
            (128, 16): 108, (128, 32): 168, (128, 64): 209, (256, 16): 144, (256, 32): 184, (256, 64): 255}


def padded_head_dim(head_dim: int) -> int:
    """The columns of the kernel's tiles for a head dim: its power of two, 16 at least (tl.arange and tl.dot's least
    K). A head dim of 80 (Phi-2) or 96 (Phi-3, GPT-NeoX-20B) runs 128-column tiles, the padded columns masked on
    load (zeros) and store: the dots do 128 / 96 of the work, the reads stay the cache's bytes."""
    return max(16, triton.next_power_of_2(head_dim))


def gqa_smem_bytes(head_dim: int, block_h: int, num_stages: int, *, kv_bytes: int = 2, q_bytes: int = 2,
                   block_n: int = 64) -> int:
    """Shared memory one program of _gqa_decode_kernel holds, bytes: Triton's pipeliner keeps ``num_stages - 1`` K and
    V tiles of ``block_n`` keys in flight, the query tile sits in shared memory for the dot, and layout conversions
    take scratch: 128 B a row up to 32 rows, a [rows, head_dim] fp32 tile at 64. Exact for Triton 3.6 and 3.9 at
    head dims 64-256 and 16-64 rows in 16-bit (their sm_90 compiles: tests/test_kernels_gqa_compile.py; at head dim
    32 an upper bound); e.g. head dim 128, 16 rows, 3 stages: 2 x 64 x 128 x 2 x 2 + 16 x 128 x 2 + 16 x 128 =
    71,680."""
    head_dim = padded_head_dim(head_dim)
    kv = (num_stages - 1) * 2 * block_n * head_dim * kv_bytes
    scratch = 128 * block_h if block_h <= 32 else 4 * block_h * head_dim
    return kv + block_h * head_dim * q_bytes + scratch


def gqa_resident_programs(head_dim: int, block_h: int, num_stages: int, limits: SMLimits = HOPPER_LIMITS, *,
                          kv_bytes: int = 2, q_bytes: int = 2, block_n: int = 64, num_warps: int = 4) -> int:
    """Programs of _gqa_decode_kernel that stay on one SM at once: the fewest that shared memory (with the per-block
    reserve), registers (GQA_REGS, 255 for shapes it lacks) and threads allow; 0 when one program needs more shared
    memory than a block may have."""
    smem = gqa_smem_bytes(head_dim, block_h, num_stages, kv_bytes=kv_bytes, q_bytes=q_bytes, block_n=block_n)
    return resident_programs(smem, GQA_REGS.get((padded_head_dim(head_dim), block_h), 255), num_warps, limits)


@dataclass(frozen=True)
class GQATiling:
    """How gqa_decode_triton lays out one shape: ``block_h`` query rows a program, ``row_blocks`` programs per KV head
    and split, Triton's ``num_stages``, ``programs_per_sm`` the planner counts a wave as."""

    block_h: int
    row_blocks: int
    num_stages: int
    programs_per_sm: int


def gqa_tiling(rows: int, head_dim: int, cfg: GQADecodeConfig, limits: SMLimits = HOPPER_LIMITS, *,
               kv_bytes: int = 2, q_bytes: int = 2) -> GQATiling:
    """The tile for ``rows`` query rows a KV head (query tokens x group): rows rounded up to a power of two, 16 to
    ``cfg.max_block_h``; 3 stages (two K/V tiles in flight), else 2, else half the rows (down to 16), whichever first
    fits a block's shared memory; the planner counts a wave as the programs that fit an SM. Why 3 stages even where
    2 would keep more programs on an SM: on the H200 (reports/h200/tuning/ab_gqa_plan.json) 3 stages counting the
    programs that fit took 0.96x the old plan's time (geomean of 110 points, 0.80-1.10x), 2 stages 0.98x (0.79-1.21x:
    1.12-1.21x at batch 1, where one program an SM with one tile in flight waits on every load)."""
    block_h = min(cfg.max_block_h, max(16, triton.next_power_of_2(rows)))
    stages = (cfg.num_stages,) if cfg.num_stages else (3, 2)
    while True:
        for st in stages:
            fit = gqa_resident_programs(head_dim, block_h, st, limits, kv_bytes=kv_bytes, q_bytes=q_bytes,
                                        block_n=cfg.block_n, num_warps=cfg.num_warps)
            if fit:
                return GQATiling(block_h, triton.cdiv(rows, block_h), st, cfg.programs_per_sm or fit)
        if block_h <= 16:   # nothing fits (a head dim past 256 on a small-memory card): Triton will say so at launch
            return GQATiling(block_h, triton.cdiv(rows, block_h), stages[-1], cfg.programs_per_sm or 1)
        block_h //= 2


def compile_sm90(head_dim: int, block_h: int, num_stages: int, *, paged: bool = False, block_n: int = 64,
                 num_warps: int = 4):
    """Compile _gqa_decode_kernel for sm_90 without a GPU (Triton ships ptxas), bf16, pointers and strides marked
    16-divisible as at run time: the CPU check of gqa_smem_bytes and GQA_REGS. Returns Triton's CompiledKernel
    (.metadata.shared, .asm["cubin"])."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    names = _gqa_decode_kernel.arg_names
    consts = dict(PAGE_SIZE=16 if paged else 1, PAGED=paged, HEAD_DIM=head_dim, HEAD_DIM_PAD=padded_head_dim(head_dim),
                  BLOCK_H=block_h, BLOCK_N=block_n, SINGLE_SPLIT=False, ROW_BLOCKS=1)
    pointers = ["*bf16", "*bf16", "*bf16", "*i32", "*i32", "*fp32", "*fp32", "*bf16"]
    sig = dict(zip(names, pointers)) | {n: "i32" for n in names[len(pointers):] if n not in consts}
    sig |= {"qk_scale": "fp32"} | {k: "constexpr" for k in consts}
    attrs = {(i,): [["tt.divisibility", 16]] for i, n in enumerate(names)
             if i < len(pointers) or n.startswith("stride")}
    src = ASTSource(_gqa_decode_kernel, sig, constexprs={(names.index(k),): v for k, v in consts.items()}, attrs=attrs)
    return triton.compile(src, target=GPUTarget("cuda", 90, 32), options=dict(num_warps=num_warps,
                                                                            num_stages=num_stages))


def _split_plan(B, s_q, Hq, Hkv, max_len, D, kv_element_size, cfg, *, sms, tiling, num_splits=None) -> tuple[int, int]:
    """(num_splits, tokens_per_split) as gqa_decode_triton launches: one program per (sequence, KV head, row block)
    and split, a wave of SMs x the tiling's programs an SM."""
    return plan_splits(B * Hkv * tiling.row_blocks, max_len, cfg.block_n, sms=sms, num_splits=num_splits,
                       programs_per_sm=tiling.programs_per_sm, min_tokens=cfg.min_tokens_per_split,
                       token_bytes=2 * D * kv_element_size, partial_bytes_per_split=B * s_q * Hq * D * 8)


def gqa_num_splits(batch: int, s_q: int, q_heads: int, kv_heads: int, max_len: int, head_dim: int, *,
                   sms: int = 132, kv_element_size: int = 2, config: GQADecodeConfig | None = None,
                   limits: SMLimits = HOPPER_LIMITS) -> int:
    """The split count gqa_decode_triton launches with (for predictions on a machine without a GPU; ``limits``: the
    card's, Hopper's by default)."""
    cfg = config or GQADecodeConfig()
    tiling = gqa_tiling(s_q * (q_heads // kv_heads), head_dim, cfg, limits, kv_bytes=kv_element_size)
    return _split_plan(batch, s_q, q_heads, kv_heads, max_len, head_dim, kv_element_size, cfg, sms=sms,
                       tiling=tiling)[0]


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
    check: bool | None = None,
) -> torch.Tensor:
    """GQA/MHA decode. q [B, s_q, Hq, D]; k_cache/v_cache contiguous [B, S, Hkv, D] or paged
    [num_blocks, block_size, Hkv, D] with block_table [B, nblk] int32; cache_seqlens [B] int32 (None: all S).
    Any head dim D (tiles of its power of two: padded_head_dim). Returns [B, s_q, Hq, D] in q.dtype. Bad input: one
    KernelInputError (ValueError) naming the argument; the launch plan is cached per shape (launch.py), as in
    mla_decode_triton."""
    key = (layout_key(q), q.device, layout_key(k_cache), layout_key(v_cache), layout_key(block_table),
           layout_key(cache_seqlens), layout_key(out), max_seqlen, num_splits, config)

    def make():
        check_gqa_inputs(q, k_cache, v_cache, cache_seqlens, block_table, out=out, max_seqlen=max_seqlen)
        return _GQAPlan(q, k_cache, v_cache, block_table, max_seqlen=max_seqlen, num_splits=num_splits,
                        config=config)

    plan = cached_plan("gqa_decode_triton", key, make, q.device)
    if checks_enabled(check, q.device):
        check_lengths_and_table(cache_seqlens, block_table, num_blocks=k_cache.shape[0], page_size=plan.page_size,
                                capacity=plan.capacity, max_seqlen=max_seqlen)
    scale = plan.D**-0.5 if softmax_scale is None else softmax_scale
    return plan.launch(q, k_cache, v_cache, cache_seqlens, block_table, scale, out)


class _GQAPlan:
    """What gqa_decode_triton launches with that depends only on shapes, strides, dtypes and options."""

    def __init__(self, q, k_cache, v_cache, block_table, *, max_seqlen, num_splits, config):
        self.launch_key = new_launch_key()
        B, s_q, Hq, D = q.shape
        dev = q.device
        Hkv = k_cache.shape[2]
        group = Hq // Hkv
        self.B, self.s_q, self.Hq, self.D = B, s_q, Hq, D
        paged = block_table is not None
        if paged:
            self.page_size = k_cache.shape[1]
            self.capacity = block_table.shape[1] * self.page_size
            stride_bt = block_table.stride(0)
        else:
            self.page_size, self.capacity, stride_bt = 1, k_cache.shape[1], 0
        max_len = min(max_seqlen or self.capacity, self.capacity)
        cfg = config or GQADecodeConfig()
        limits = sm_limits(dev)
        self.tiling = t = gqa_tiling(s_q * group, D, cfg, limits, kv_bytes=k_cache.element_size(),
                                     q_bytes=q.element_size())
        smem = gqa_smem_bytes(D, t.block_h, t.num_stages, kv_bytes=k_cache.element_size(), q_bytes=q.element_size(),
                              block_n=cfg.block_n)
        require(smem <= limits.smem_per_block, "k_cache",
                f"head dim {D} needs {smem:,} bytes of shared memory a program at the smallest tile ({t.block_h} rows, "
                f"{t.num_stages} stages); this GPU allows {limits.smem_per_block:,} a block")
        self.num_splits, tokens_per_split = _split_plan(B, s_q, Hq, Hkv, max_len, D, k_cache.element_size(), cfg,
                                                        sms=num_sms(dev), tiling=t, num_splits=num_splits)
        self.rows = rows = s_q * Hq
        self.single = self.num_splits == 1
        self.grid = (Hkv * t.row_blocks, self.num_splits, B)
        self.full_lens = torch.full((B,), self.capacity, dtype=torch.int32, device=dev)
        if self.single:
            self.o_part = self.lse_part = None
            sp = (0, 0, 0, 0, 0)
        else:
            self.o_part = torch.empty((B, self.num_splits, rows, padded_head_dim(D)), dtype=torch.float32, device=dev)
            self.lse_part = torch.empty((B, self.num_splits, rows), dtype=torch.float32, device=dev)
            sp = (*self.o_part.stride()[:3], *self.lse_part.stride()[:2])
        self.ints = (q.stride(0), q.stride(1), q.stride(2), *k_cache.stride()[:3], *v_cache.stride()[:3], stride_bt,
                     *sp)
        self.tail = (Hq, group, s_q, tokens_per_split, self.capacity, k_cache.shape[0])
        self.consts = (self.page_size, paged, D, padded_head_dim(D), t.block_h, cfg.block_n, self.single,
                       t.row_blocks)
        self.options = dict(num_warps=cfg.num_warps, num_stages=t.num_stages)

    def launch(self, q, k_cache, v_cache, cache_seqlens, block_table, scale, out):
        if out is None:
            out = torch.empty((self.B, self.s_q, self.Hq, self.D), dtype=q.dtype, device=q.device)
        lens = cache_seqlens if cache_seqlens is not None else self.full_lens
        o_part = self.o_part if self.o_part is not None else out
        lse_part = self.lse_part if self.lse_part is not None else out
        bt = block_table if block_table is not None else lens  # unused pointer
        args = (q, k_cache, v_cache, bt, lens, o_part, lse_part, out, *self.ints, *out.stride()[:3], *self.tail,
                scale * LOG2E, *self.consts)
        _LAUNCH_GQA(self.launch_key, self.grid, args, **self.options)
        if not self.single:
            combine_splits(self.o_part, self.lse_part, out.view(self.B, self.rows, self.D), key=self.launch_key)
        return out


_LAUNCH_GQA = FastLauncher(_gqa_decode_kernel)
