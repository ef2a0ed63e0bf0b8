"""Absorbed-MLA decode for sm_90 in Gluon: the seesaw schedule on 64-key tiles whose 64-column chunks load on their
own mbarriers (16-bit caches, 64+ query rows).

Why: the seesaw kernel (gluon_mla_seesaw.py) runs 32-key tiles in four buffers, because with two 64-key buffers
loaded in two halves the next pair's load was issued late and its latency exposed (docs/kernels-notes.md,
follow-up 5). But every 32-key tile costs one softmax handover between the warp groups, and those handovers, not
the tensor cores, bound it at 128 heads: Nsight Compute showed the tensor pipe 53% busy against FlashMLA's 78%
(docs/kernels-notes.md, "counters first"). 64-key tiles halve the handovers per key. FlashMLA's sm90 dense decode
(2025) keeps two 64-key buffers fed by giving each 64-column chunk of a tile its own barrier: a chunk is reloaded as
soon as its last reader is done, and the next tile's Q K^T waits chunk by chunk, so it starts on the chunks that came
back first. This file is that pipeline, written in Gluon from the description above; the warp groups' roles, the
handover of the running max and P, and the helpers are the seesaw kernel's.

One program = 64 query rows x one split of one sequence; buffer 0 holds the even tiles, buffer 1 the odd ones. Per
pair of tiles (t0, t1):
  * WG0: softmax of t0 -> O_L = O_L a0 + P0 V0_L -> reload t0 + 2's chunks 0-3 (V0_L was their last reader) ->
    P0 a1 handed over in buffer 0's RoPE chunk -> O_L = O_L a1 + P1 V1_L, with t0 + 2's Q K^T over chunks 0-3
    issued behind it -> once P1 V1_L is done, reload t1 + 2's chunks 0-3 and RoPE chunk (it carried P1) -> Q K^T
    over t0 + 2's chunks 4-7 and RoPE.
  * WG1: softmax of t1 from WG0's max -> P1 handed over in buffer 1's RoPE chunk -> O_R = O_R a0 a1 + P1 V1_R +
    (P0 a1) V0_R -> reload t1 + 2's chunks 4-7 once P1 V1_R is done, and t0 + 2's chunks 4-7 and RoPE chunk once
    P0 V0_R is -> Q K^T of t1 + 2, chunks 4-7 first (the ones it reloaded itself).
A chunk is a [64, 64] box: the TMA lowering lands a [64, 256] box as four 8 KB [64, 64] boxes one after the other in
shared memory (checked in the PTX of an sm_90 compile), so chunk c of a value half is index c of a [4, 64, 64] view of
the same bytes, and the RoPE descriptor's [64, 64] box loads any chunk.
"""

from __future__ import annotations

from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    mbarrier,
    warpgroup_mma,
    warpgroup_mma_wait,
)

from .gluon_mla_seesaw import (
    WG_WARPS,
    _handover_barriers,
    _handover_vectors,
    _kv_row,
    _load_q,
    _p_tile,
    _softmax_step,
    _tma_load,
    _visible,
    _write_out,
    _zero_tail,
)

CHUNKS = gl.constexpr(9)  # 64-column chunks of a 576-dim key: 8 latent (4 a value half) + the RoPE part
BLOCK_N_CHUNKED = 64      # keys per tile


@gluon.jit
def _reload(desc, lat_c, kv_rope, ready, BUF: gl.constexpr, C0: gl.constexpr, C1: gl.constexpr, ROPE: gl.constexpr,
            t, n_tiles, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, D_LAT: gl.constexpr,
            BLOCK_N: gl.constexpr, PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr):
    """TMA copies of latent chunks C0..C1-1 of tile t (and its RoPE chunk when ROPE) into buffer BUF, each onto its
    own mbarrier (ready[BUF * 9 + c]); skipped when t >= n_tiles. lat_c: the buffers' latent chunks, [2 * 8, 64, 64]
    (chunk c of buffer BUF at BUF * 8 + c)."""
    ok = t < n_tiles
    n0 = gl.minimum(start + t * BLOCK_N, gl.maximum(end - 1, 0))  # a valid table entry even when skipped
    row = _kv_row(BLOCK_TABLE, b, stride_bt_b, n0, seq_rows, PAGED, PAGE_SIZE)
    for c in gl.static_range(C0, C1):
        bar = ready.index(BUF * CHUNKS + c)
        mbarrier.expect(bar, desc.block_type.nbytes, pred=ok)
        _tma_load(desc, [row, c * 64], bar, lat_c.index(BUF * 8 + c), pred=ok)
    if ROPE:
        bar = ready.index(BUF * CHUNKS + 8)
        mbarrier.expect(bar, desc.block_type.nbytes, pred=ok)
        _tma_load(desc, [row, D_LAT], bar, kv_rope.index(BUF), pred=ok)


@gluon.jit
def _qk(q_c, q_rope, lat_c, kv_rope, ready, s, phase, BUF: gl.constexpr, C0: gl.constexpr, C1: gl.constexpr,
        ROPE: gl.constexpr, FIRST: gl.constexpr):
    """Issue S += Q_c K_c^T over latent chunks C0..C1-1 of buffer BUF (and the RoPE chunk when ROPE), each as soon
    as its chunk lands; asynchronous (the caller waits). FIRST: the first chunk overwrites s."""
    for c in gl.static_range(C0, C1):
        mbarrier.wait(ready.index(BUF * CHUNKS + c), phase)
        s = warpgroup_mma(q_c.index(c), lat_c.index(BUF * 8 + c).permute((1, 0)), s,
                          use_acc=(c != C0) or (not FIRST), is_async=True)
    if ROPE:
        mbarrier.wait(ready.index(BUF * CHUNKS + 8), phase)
        s = warpgroup_mma(q_rope, kv_rope.index(BUF).permute((1, 0)), s, is_async=True)
    return s


@gluon.jit
def _wg0_chunked(q_c, q_rope, kv_lat, kv_rope, lat_c, q_bar, ready, bar_s0, bar_s1, bar_p0, bar_p1, bar_l0,
                 bar_l1, sm0, sa0, sm1, sa1, sl0, sl1, kv_desc, BLOCK_TABLE, O_PART, LSE_PART, OUT,
                 b, pid_h, pid_s, start, end, n_tiles, seqlen, stride_bt_b, seq_rows, rows_per_seq, num_heads, q_len,
                 stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, qk_scale, out_scale,
                 PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr, D_LAT: gl.constexpr, BLOCK_H: gl.constexpr,
                 BLOCK_N: gl.constexpr, SINGLE_SPLIT: gl.constexpr):
    """Warp group 0: scores and softmax of even tiles (buffer 0), O_L (value columns 0-255)."""
    D_HALF: gl.constexpr = D_LAT // 2
    s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[WG_WARPS, 1],
                                                       instr_shape=[16, BLOCK_N, 16])
    o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[WG_WARPS, 1],
                                                       instr_shape=[16, D_HALF, 16])
    row_s: gl.constexpr = gl.SliceLayout(1, s_layout)
    row_o: gl.constexpr = gl.SliceLayout(1, o_layout)
    p_op: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)
    dtype: gl.constexpr = q_rope.dtype
    rows = pid_h * BLOCK_H + gl.arange(0, BLOCK_H, layout=row_s)
    last_key = seqlen - q_len + rows // num_heads
    offs_n = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, s_layout))
    s_zero = gl.zeros([BLOCK_H, BLOCK_N], gl.float32, layout=s_layout)
    s_none = gl.full([BLOCK_H, BLOCK_N], float("-inf"), gl.float32, layout=s_layout)
    m_i = gl.full([BLOCK_H], float("-inf"), gl.float32, layout=row_s)
    l_i = gl.zeros([BLOCK_H], gl.float32, layout=row_s)
    acc = gl.zeros([BLOCK_H, D_HALF], gl.float32, layout=o_layout)

    mbarrier.wait(q_bar, 0)
    s = s_none
    if n_tiles > 0:
        s = _qk(q_c, q_rope, lat_c, kv_rope, ready, s_zero, 0, 0, 0, 8, True, True)
        s = warpgroup_mma_wait(0, deps=(s,))
    for i in range(gl.cdiv(n_tiles, 2)):
        t0 = 2 * i
        t1 = t0 + 1
        ph = i & 1
        # softmax of t0 from the max after the previous pair; publish the new max and the rescale factor
        visible = _visible(start + t0 * BLOCK_N + offs_n, last_key, end, sl0, t0, False)
        m_i, l_i, p, a0 = _softmax_step(s, m_i, l_i, visible, qk_scale)
        sm0.store(m_i)
        sa0.store(a0)
        mbarrier.arrive(bar_s0)
        # O_L = O_L * a0 + P0 V0_L, P0 from registers; then V0_L's chunks take tile t0 + 2
        _zero_tail(kv_lat.index(0), t0, n_tiles, start, end, BLOCK_N, D_HALF, False)
        acc = acc * gl.expand_dims(gl.convert_layout(a0, row_o), 1)
        acc = warpgroup_mma(gl.convert_layout(p.to(dtype), p_op), kv_lat.index(0), acc, is_async=True)
        acc = warpgroup_mma_wait(0, deps=(acc,))
        _reload(kv_desc, lat_c, kv_rope, ready, 0, 0, 4, False, t0 + 2, n_tiles, start, end, b, BLOCK_TABLE,
                stride_bt_b, seq_rows, D_LAT, BLOCK_N, PAGED, PAGE_SIZE)
        # WG1's softmax of t1: its max is now the running max; hand over P0 * a1 in buffer 0's RoPE chunk
        mbarrier.wait(bar_s1, ph)
        m_i = sm1.load(row_s)
        a1 = sa1.load(row_s)
        _p_tile(kv_rope, 0, BLOCK_H, BLOCK_N).store((p * gl.expand_dims(a1, 1)).to(dtype))
        fence_async_shared()
        mbarrier.arrive(bar_p0)
        l_i = l_i * a1
        acc = acc * gl.expand_dims(gl.convert_layout(a1, row_o), 1)
        mbarrier.wait(bar_p1, ph)
        if t0 + 2 < n_tiles:  # (t1 exists) O_L = O_L * a1 + P1 V1_L with t0 + 2's first scores behind it
            _zero_tail(kv_lat.index(2), t1, n_tiles, start, end, BLOCK_N, D_HALF, False)
            acc = warpgroup_mma(_p_tile(kv_rope, 1, BLOCK_H, BLOCK_N), kv_lat.index(2), acc, is_async=True)
            s = _qk(q_c, q_rope, lat_c, kv_rope, ready, s_zero, ph ^ 1, 0, 0, 4, False, True)
            acc = warpgroup_mma_wait(4, deps=(acc,))  # P1 V1_L done: V1_L and P1's chunk take tile t1 + 2
            _reload(kv_desc, lat_c, kv_rope, ready, 1, 0, 4, True, t1 + 2, n_tiles, start, end, b, BLOCK_TABLE,
                    stride_bt_b, seq_rows, D_LAT, BLOCK_N, PAGED, PAGE_SIZE)
            s = _qk(q_c, q_rope, lat_c, kv_rope, ready, s, ph ^ 1, 0, 4, 8, True, False)
            s = warpgroup_mma_wait(0, deps=(s,))
        else:  # the last pair
            if t1 < n_tiles:
                _zero_tail(kv_lat.index(2), t1, n_tiles, start, end, BLOCK_N, D_HALF, False)
                acc = warpgroup_mma(_p_tile(kv_rope, 1, BLOCK_H, BLOCK_N), kv_lat.index(2), acc, is_async=True)
                acc = warpgroup_mma_wait(0, deps=(acc,))
            s = s_none

    sl0.store(l_i)
    mbarrier.arrive(bar_l0)
    mbarrier.wait(bar_l1, 0)
    l_other = sl1.load(row_s)
    _write_out(acc, gl.convert_layout(l_i, row_o), gl.convert_layout(l_other, row_o), gl.convert_layout(m_i, row_o),
               pid_h, b, pid_s, rows_per_seq, out_scale, O_PART, LSE_PART, OUT,
               stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, o_layout, 0, D_LAT, D_HALF, BLOCK_H,
               SINGLE_SPLIT, False)


@gluon.jit
def _wg1_chunked(q_c, q_rope, kv_lat, kv_rope, lat_c, q_bar, ready, bar_s0, bar_s1, bar_p0, bar_p1, bar_l0,
                 bar_l1, sm0, sa0, sm1, sa1, sl0, sl1, kv_desc, BLOCK_TABLE, O_PART, LSE_PART, OUT,
                 b, pid_h, pid_s, start, end, n_tiles, seqlen, stride_bt_b, seq_rows, rows_per_seq, num_heads, q_len,
                 stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, qk_scale, out_scale,
                 PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr, D_LAT: gl.constexpr, BLOCK_H: gl.constexpr,
                 BLOCK_N: gl.constexpr, SINGLE_SPLIT: gl.constexpr):
    """Warp group 1: scores and softmax of odd tiles (buffer 1), O_R (value columns 256-511)."""
    D_HALF: gl.constexpr = D_LAT // 2
    s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[WG_WARPS, 1],
                                                       instr_shape=[16, BLOCK_N, 16])
    o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[WG_WARPS, 1],
                                                       instr_shape=[16, D_HALF, 16])
    row_s: gl.constexpr = gl.SliceLayout(1, s_layout)
    row_o: gl.constexpr = gl.SliceLayout(1, o_layout)
    p_op: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)
    dtype: gl.constexpr = q_rope.dtype
    rows = pid_h * BLOCK_H + gl.arange(0, BLOCK_H, layout=row_s)
    last_key = seqlen - q_len + rows // num_heads
    offs_n = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, s_layout))
    s_zero = gl.zeros([BLOCK_H, BLOCK_N], gl.float32, layout=s_layout)
    s_none = gl.full([BLOCK_H, BLOCK_N], float("-inf"), gl.float32, layout=s_layout)
    m_i = gl.full([BLOCK_H], float("-inf"), gl.float32, layout=row_s)
    l_i = gl.zeros([BLOCK_H], gl.float32, layout=row_s)
    acc = gl.zeros([BLOCK_H, D_HALF], gl.float32, layout=o_layout)

    mbarrier.wait(q_bar, 0)
    s = s_none
    if n_tiles > 1:
        s = _qk(q_c, q_rope, lat_c, kv_rope, ready, s_zero, 0, 1, 4, 8, False, True)
        s = _qk(q_c, q_rope, lat_c, kv_rope, ready, s, 0, 1, 0, 4, True, False)
        s = warpgroup_mma_wait(0, deps=(s,))
    for i in range(gl.cdiv(n_tiles, 2)):
        t0 = 2 * i
        t1 = t0 + 1
        ph = i & 1
        # softmax of t1 from WG0's new max (all -inf scores when t1 does not exist: p = 0, a1 = 1)
        mbarrier.wait(bar_s0, ph)
        m0 = sm0.load(row_s)
        a0 = sa0.load(row_s)
        visible = _visible(start + t1 * BLOCK_N + offs_n, last_key, end, sl1, t1, False)
        m_i, l_i, p, a1 = _softmax_step(s, m0, l_i * a0, visible, qk_scale)
        sm1.store(m_i)
        sa1.store(a1)
        mbarrier.arrive(bar_s1)
        # hand P1 to WG0 in buffer 1's RoPE chunk (its scores are done)
        _p_tile(kv_rope, 1, BLOCK_H, BLOCK_N).store(p.to(dtype))
        fence_async_shared()
        mbarrier.arrive(bar_p1)
        # O_R = O_R * a0 * a1 + P1 V1_R (P1 from registers) + (P0 * a1) V0_R
        acc = acc * gl.expand_dims(gl.convert_layout(a0 * a1, row_o), 1)
        if t1 < n_tiles:
            _zero_tail(kv_lat.index(3), t1, n_tiles, start, end, BLOCK_N, D_HALF, False)
            p1 = gl.convert_layout(p.to(dtype), p_op)
            acc = warpgroup_mma(p1, kv_lat.index(3), acc, is_async=True)
            mbarrier.wait(bar_p0, ph)
            _zero_tail(kv_lat.index(1), t0, n_tiles, start, end, BLOCK_N, D_HALF, False)
            acc = warpgroup_mma(_p_tile(kv_rope, 0, BLOCK_H, BLOCK_N), kv_lat.index(1), acc, is_async=True)
            warpgroup_mma_wait(1, deps=(p1,))  # P1 V1_R done: V1_R's chunks take tile t1 + 2
            _reload(kv_desc, lat_c, kv_rope, ready, 1, 4, 8, False, t1 + 2, n_tiles, start, end, b, BLOCK_TABLE,
                    stride_bt_b, seq_rows, D_LAT, BLOCK_N, PAGED, PAGE_SIZE)
            acc = warpgroup_mma_wait(0, deps=(acc,))
        else:
            mbarrier.wait(bar_p0, ph)
            _zero_tail(kv_lat.index(1), t0, n_tiles, start, end, BLOCK_N, D_HALF, False)
            acc = warpgroup_mma(_p_tile(kv_rope, 0, BLOCK_H, BLOCK_N), kv_lat.index(1), acc, is_async=True)
            acc = warpgroup_mma_wait(0, deps=(acc,))
        # P0 V0_R done: V0_R's chunks and P0's RoPE chunk take tile t0 + 2
        _reload(kv_desc, lat_c, kv_rope, ready, 0, 4, 8, True, t0 + 2, n_tiles, start, end, b, BLOCK_TABLE,
                stride_bt_b, seq_rows, D_LAT, BLOCK_N, PAGED, PAGE_SIZE)
        if t1 + 2 < n_tiles:  # scores of t1 + 2: the chunks this group reloaded first
            s = _qk(q_c, q_rope, lat_c, kv_rope, ready, s_zero, ph ^ 1, 1, 4, 8, False, True)
            s = _qk(q_c, q_rope, lat_c, kv_rope, ready, s, ph ^ 1, 1, 0, 4, True, False)
            s = warpgroup_mma_wait(0, deps=(s,))
        else:
            s = s_none

    sl1.store(l_i)
    mbarrier.arrive(bar_l1)
    mbarrier.wait(bar_l0, 0)
    l_other = sl0.load(row_s)
    _write_out(acc, gl.convert_layout(l_i, row_o), gl.convert_layout(l_other, row_o), gl.convert_layout(m_i, row_o),
               pid_h, b, pid_s, rows_per_seq, out_scale, O_PART, LSE_PART, OUT,
               stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, o_layout, D_HALF, D_LAT, D_HALF, BLOCK_H,
               SINGLE_SPLIT, True)


@gluon.jit
def _mla_decode_chunked_kernel(
    q_half_desc, q_rope_desc, kv_half_desc, kv_rope_desc,
    BLOCK_TABLE, SEQLENS, O_PART, LSE_PART, OUT, KV_SCALE,
    stride_bt_b, seq_rows, rows_per_seq, num_heads, q_len, tokens_per_split,
    stride_op_b, stride_op_s, stride_lse_b, stride_lse_s,
    qk_scale, out_scale,
    PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr, D_LAT: gl.constexpr, D_ROPE: gl.constexpr,
    BLOCK_H: gl.constexpr, BLOCK_N: gl.constexpr, NUM_BUF: gl.constexpr, SINGLE_SPLIT: gl.constexpr,
    FP8: gl.constexpr, SCALE_PTR: gl.constexpr,
):
    """The seesaw kernel's arguments (one launcher for both); a 16-bit cache only (FP8, SCALE_PTR False), tiles of
    64 keys in two buffers (NUM_BUF 2). kv_rope_desc's [64, 64] box loads every chunk."""
    gl.static_assert(not FP8, "the chunked kernel takes a 16-bit cache")
    gl.static_assert((BLOCK_N == 64) & (NUM_BUF == 2) & (D_ROPE == 64) & (D_LAT == 512),
                     "the chunked kernel runs 64-key tiles in two buffers over 512 + 64 dims")
    pid_h = gl.program_id(0)
    pid_s = gl.program_id(1)
    b = gl.program_id(2)
    seqlen = gl.load(SEQLENS + b)
    start = pid_s * tokens_per_split
    end = gl.minimum(start + tokens_per_split, seqlen)
    n_tiles = gl.maximum(gl.cdiv(end - start, BLOCK_N), 0)
    D_HALF: gl.constexpr = D_LAT // 2

    dtype: gl.constexpr = q_half_desc.dtype
    half_l: gl.constexpr = q_half_desc.layout
    chunk_l: gl.constexpr = kv_rope_desc.layout
    # Q's latent halves and each buffer's value halves side by side, so that chunk views see them in order
    q_lat = gl.allocate_shared_memory(dtype, [2, BLOCK_H, D_HALF], half_l)
    q_rope = gl.allocate_shared_memory(dtype, [BLOCK_H, D_ROPE], q_rope_desc.layout)
    kv_lat = gl.allocate_shared_memory(dtype, [2 * NUM_BUF, BLOCK_N, D_HALF], half_l)  # buffer k: V_L 2k, V_R 2k + 1
    kv_rope = gl.allocate_shared_memory(dtype, [NUM_BUF, BLOCK_N, D_ROPE], chunk_l)   # also carries P
    # chunk views of the same bytes (a [64, 256] half is four [64, 64] chunks one after the other): Q's chunk c at
    # c, buffer k's latent chunk c at 8k + c
    q_c = q_lat._reinterpret(dtype, [8, BLOCK_H, 64], chunk_l)
    lat_c = kv_lat._reinterpret(dtype, [8 * NUM_BUF, BLOCK_N, 64], chunk_l)
    sm0, sa0, sm1, sa1, sl0, sl1 = _handover_vectors(BLOCK_H)
    bar_l: gl.constexpr = mbarrier.MBarrierLayout()
    q_bar = gl.allocate_shared_memory(gl.int64, [1], bar_l)
    ready = gl.allocate_shared_memory(gl.int64, [NUM_BUF * CHUNKS, 1], bar_l)
    mbarrier.init(q_bar, count=1)
    for k in gl.static_range(NUM_BUF * CHUNKS):
        mbarrier.init(ready.index(k), count=1)
    bar_s0, bar_s1, bar_p0, bar_p1, bar_l0, bar_l1 = _handover_barriers()
    fence_async_shared()

    _load_q(q_half_desc, q_rope_desc, q_bar, q_lat.index(0), q_lat.index(1), q_rope, b * rows_per_seq + pid_h * BLOCK_H, D_LAT)
    for k in gl.static_range(NUM_BUF):
        _reload(kv_rope_desc, lat_c, kv_rope, ready, k, 0, 8, True, k, n_tiles, start, end, b, BLOCK_TABLE,
                stride_bt_b, seq_rows, D_LAT, BLOCK_N, PAGED, PAGE_SIZE)
    gl.warp_specialize([
        (_wg0_chunked, (q_c, q_rope, kv_lat, kv_rope, lat_c, q_bar, ready, bar_s0, bar_s1, bar_p0, bar_p1,
                        bar_l0, bar_l1, sm0, sa0, sm1, sa1, sl0, sl1, kv_rope_desc, BLOCK_TABLE, O_PART, LSE_PART,
                        OUT, b, pid_h, pid_s, start, end, n_tiles, seqlen, stride_bt_b, seq_rows, rows_per_seq,
                        num_heads, q_len, stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, qk_scale, out_scale,
                        PAGED, PAGE_SIZE, D_LAT, BLOCK_H, BLOCK_N, SINGLE_SPLIT)),
        (_wg1_chunked, (q_c, q_rope, kv_lat, kv_rope, lat_c, q_bar, ready, bar_s0, bar_s1, bar_p0, bar_p1,
                        bar_l0, bar_l1, sm0, sa0, sm1, sa1, sl0, sl1, kv_rope_desc, BLOCK_TABLE, O_PART, LSE_PART,
                        OUT, b, pid_h, pid_s, start, end, n_tiles, seqlen, stride_bt_b, seq_rows, rows_per_seq,
                        num_heads, q_len, stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, qk_scale, out_scale,
                        PAGED, PAGE_SIZE, D_LAT, BLOCK_H, BLOCK_N, SINGLE_SPLIT)),
    ], [WG_WARPS], [256])
