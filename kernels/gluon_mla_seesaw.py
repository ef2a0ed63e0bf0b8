"""Absorbed-MLA decode for sm_90 in Gluon with a "seesaw" schedule of two warp groups (the many-heads case).

Why: follow-up 4's first Gluon kernel ran both warp groups in lock step (scores, softmax, P @ V, with CTA barriers
between), so the tensor cores idled while the softmax ran, and its score wgmma, split by keys (N = 32 per warp
group), was bound by shared-memory reads; this schedule replaced it (docs/kernels-notes.md, follow-ups 4-5; the
lock-step kernel is in git history). FlashMLA's answer (its sm90 dense decode kernel and write-up, 2025) is this
schedule; the code below is our own, in Gluon.

One program = 64 query rows x one split of one sequence. Two warp groups, each its own partition
(gl.warp_specialize), each owning half of the [64, 512] fp32 output: WG0 the value columns 0-255 (O_L), WG1
256-511 (O_R). Tiles of 64 tokens go in pairs: tile t0 = 2i in buffer 0, t1 = 2i+1 in buffer 1.
  * WG0 computes the full scores of t0 (N = 64: one warp group, no shared-memory bound), WG1 those of t1, at the
    end of the previous pair, so one group's scores overlap the other's softmax and P @ V.
  * The running max passes between the groups: WG0's softmax of t0 starts from the max after t1 of the last pair;
    WG1's softmax of t1 starts from WG0's new max. Each publishes its row max and rescale factor in shared memory
    and signals an mbarrier.
  * WG0: O_L = O_L * a0 + P0 V0_L (P0 from registers), then O_L = O_L * a1 + P1 V1_L (P1 from shared memory).
    WG1: O_R = O_R * a0 * a1 + P1 V1_R + (P0 * a1) V0_R: WG0 rescales its P0 by a1 before handing it over.
  * P_b is handed over in the RoPE part of buffer b (64 x 64 bf16, free once that tile's scores are done), so the
    plan fits in shared memory: Q 72 KB + 2 buffers x 72 KB.
  * Each buffer is loaded in two parts with their own mbarriers, issued by the group that uses that part last:
    WG0 reloads the V_L half (and, for buffer 1, the RoPE part that carried P1) right after its own P @ V on it;
    WG1 reloads the V_R half (and, for buffer 0, the RoPE part that carried P0). A half can be on its way while
    the other half is still in use.
  * Rows past a sequence's end in its last, partial tile are zeroed in shared memory by the group that multiplies
    them (0 * NaN would poison O); their scores are masked to -inf.
  * Each group's loop runs in two parts: first the pairs whose keys every query row sees whole (_unmasked_pairs),
    compiled without the score mask, the zeroed tail rows and the tile-exists test (MASK=False), then the rest with
    them, as FlashMLA specialises its last blocks at compile time. On the H200 the split loop took 0.90-0.98x the
    time of one masked loop (geomean 0.94, 9 points; reports/h200/tuning/ab_unmasked.json). A sparse list (unused
    slots in any tile) and an fp8 cache keep the one masked loop.
An fp8 e4m3 cache (FP8) adds a third warp group, _wg_widen: each fp8 tile lands by TMA in the upper half of the
16-bit buffer it will occupy and is widened there to fp16 (the compute groups then multiply in fp16; Q is recast
once), signalling the `ready` barriers a TMA would; the compute groups hand buffer parts back on `free` barriers
instead of reloading them.
The wrapper is gluon_mla_decode.mla_decode_gluon; splits and their merge are the Triton kernel's (triton_split_kv).
"""

from __future__ import annotations

from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    mbarrier,
    tma,
    warpgroup_mma,
    warpgroup_mma_wait,
)

# TMA global -> shared copy: `async_copy_global_to_shared` in Triton 3.6 (the GPU machine), renamed `async_load` in
# later releases (CI's 3.9, where the old name raises); same arguments.
_tma_load = getattr(tma, "async_load", None) or tma.async_copy_global_to_shared
# CTA-wide barrier (bar.sync): `thread_barrier` in 3.6, `barrier` later.
_cta_sync = getattr(gl, "thread_barrier", None) or gl.barrier

WG_WARPS = gl.constexpr(4)  # one warp group per partition
# Base-2 slack before a row's reference max moves (_softmax_step): 8 bounds P by 2^8; 0 rescales every tile (the
# measured kernel). Default 0: measured on an H100 (Triton 3.6, bench/session_bd_gpu.sh), slack 8 / slack 0 was 1.016
# dense (24 points) and 1.020 fp8/sparse (14), the warp-group min and branch costing more than the skipped FMULs
# (docs/kernels-notes.md, "The lazy rescale measured"); opt in with GluonMLAConfig(rescale_slack=8.0).
RESCALE_SLACK = gl.constexpr(0.0)

# Shared-memory views of other shape/layout over the same bytes: `_reinterpret` in Triton 3.6 (the GPU machine),
# `reinterpret` in later releases (CI's 3.9).
if not hasattr(gl.shared_memory_descriptor, "_reinterpret"):
    gl.shared_memory_descriptor._reinterpret = gl.shared_memory_descriptor.reinterpret


def seesaw_buffers(block_n: int, fp8: bool = False) -> int:
    """KV buffers (16-bit, what the wgmmas read) for a tile size: as many as fit beside Q (64 x 576 bf16) in 227 KB,
    an even number (tiles go in pairs): 2 of 64 tokens, or 4 of 32 tokens (a whole pair in flight while another is
    computed). An fp8 cache (32-token tiles only) lands in the upper half of its 16-bit buffer and is widened in
    place, so it keeps the 4 buffers (separate 8-bit staging tiles left room for 2, and measured 22-33% slower:
    reports/h200/tuning/ab_fp8_gluon_in_place.json)."""
    assert block_n in (32, 64), "the seesaw schedule uses 32- or 64-token tiles"
    assert not fp8 or block_n == 32, "an fp8 cache uses 32-token tiles"
    return 128 // block_n


# fp8 caches: the compute groups multiply in fp16 (e4m3 -> fp16 is one cvt for two values; Triton's e4m3 -> bf16 goes
# through fp16 with an F2F a value, and an integer-op bf16 widening measured slower: reports/h200/tuning/
# ab_fp8_gluon.json); Q is recast to fp16 in shared memory once, P is fp16: absorbed queries must stay under fp16's
# 65504, as in the Triton fp8 kernel.
# Registers a thread while the three fp8 warp groups run (64 K a CTA: <= 512 a lane over the groups; Triton gives
# the default group 512 - the workers' - 8): the widening group holds no accumulators; 56 keep its loop free of
# spills with 32-row chunks (_widen; 48 sufficed for 16-row chunks, 40 for 8-row ones); the compute groups 224 each,
# against the bf16 kernel's 256 (their loops kept 6 and 12 spill instructions under triton 3.6, 6 and 11 at 232, 15
# and 12 at 216, until Q's stacked view (_stack_q) left them none: `python bench/sass_loops.py --gluon`). Measured on
# the H200: 16-row chunks with 48 / 224 took 0.92-0.93x the time of 8-row chunks with 40 / 232
# (reports/h200/tuning/ab_fp8_chunks.json), 32-row chunks with 56 / 224 0.94-0.95x that of 16-row ones
# (ab_fp8_chunks32.json)
WIDEN_REGS = gl.constexpr(56)
COMPUTE_REGS_FP8 = gl.constexpr(224)


@gluon.constexpr_function
def _wgmma_layout(n):
    """The register layout of a compute warp group's wgmma accumulator of N = n columns (64 rows over 4 warps)."""
    return gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[WG_WARPS, 1], instr_shape=[16, n, 16])


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
def _visible(keys, last_key, end, srow, t, SPARSE: gl.constexpr):
    """Which scores of tile t count. Dense: keys (positions) up to each row's causal limit and before the split's
    end. SPARSE: keys are slots of the query token's index list; a slot counts when it is before the split's end and
    the gather group resolved it to a cache row (row t of srow: >= 0; -1 for an unused slot)."""
    if SPARSE:
        row = srow.index(gl.minimum(t, srow.shape[0] - 1)).load(keys.type.layout)  # t past the last tile: masked
        ok = (keys < end) & (row >= 0)
        visible = gl.expand_dims(ok, 0) & gl.expand_dims(last_key == last_key, 1)  # an all-true row column: the
        # slot mask broadcast to every row of the tile, in the layout the dense branch's mask has
    else:
        visible = (gl.expand_dims(keys, 0) <= gl.expand_dims(last_key, 1)) & (gl.expand_dims(keys, 0) < end)
    return visible


@gluon.jit
def _softmax_step(s, m_i, l_i, visible, qk_scale, MASK: gl.constexpr, SLACK: gl.constexpr):
    """One online-softmax step in base 2 (qk_scale includes log2 e) over the scores `visible` keeps. Returns m, l,
    P (fp32) and the rescale. Without MASK every score counts (a tile every row sees whole: `visible` is ignored),
    so the new max is finite and needs no guard.
    SLACK > 0 (base-2 units): a row's reference max m moves only when the tile's max passes it by more than SLACK,
    so P = 2^(s - m) <= 2^SLACK and the rescale is exactly 1 otherwise (:func:`_rescaled` then skips the
    accumulator's multiply). Any reference m gives the same O / l and LSE = m + log2 l; the bound keeps P within
    the 16-bit P @ V operand's range (2^8 = 256 for the default) and l within fp32's. FlashAttention-4 (Dao et al.,
    2025) rescales only past such a threshold too; FlashMLA's seesaw rescales every tile. With SLACK the scale also
    moves into the exponent, P = 2^(raw x qk_scale - m), one FFMA a score where a multiply and a subtraction were
    (FlashMLA's form) on the unmasked tiles: 32 instructions a thread a 64-key tile. SLACK 0 keeps the previous kernel
    exactly."""
    # unmasked tiles with a slack fold the scale into the exponent's FFMA (qk_scale > 0, checked by the wrappers:
    # the row max commutes with it); masked ones scale first, so that a zero scale never meets a masked -inf
    FOLD: gl.constexpr = SLACK > 0 and not MASK
    if not FOLD:
        s = s * qk_scale
    if MASK:
        s = gl.where(visible, s, float("-inf"))
    if FOLD:
        m_new = gl.maximum(m_i, gl.max(s, axis=1) * qk_scale)
    else:
        m_new = gl.maximum(m_i, gl.max(s, axis=1))
    if SLACK > 0:
        m_new = gl.where(m_new > m_i + SLACK, m_new, m_i)
    if MASK:
        m_use = gl.where(m_new == float("-inf"), 0.0, m_new)
    else:
        m_use = m_new
    alpha = gl.exp2(m_i - m_use)
    if FOLD:
        p = gl.exp2(s * qk_scale - gl.expand_dims(m_use, 1))
    else:
        p = gl.exp2(s - gl.expand_dims(m_use, 1))
    l_new = l_i * alpha + gl.sum(p, axis=1)
    return m_new, l_new, p, alpha


@gluon.jit
def _rescaled(a, SLACK: gl.constexpr):
    """Whether any row's rescale factor `a` differs from 1: with SLACK the common case is none, and the group skips
    multiplying its 128-register accumulator (a warp-group-wide reduction and a branch, against 128 FMULs a thread);
    without SLACK, always (the compiler drops the test)."""
    if SLACK > 0:
        return gl.min(a, axis=0) < 1.0
    else:
        return True


@gluon.jit
def _part_row(t, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, BLOCK_N: gl.constexpr, PAGED: gl.constexpr,
              PAGE_SIZE: gl.constexpr):
    """Row of tile t's first token in the [rows, 576] view of the cache (clamped to a valid table entry for a tile past
    the split: its copy is skipped). Paged, a block-table load: the compute groups load the next pair's rows at the top
    of a pair, so the load's latency passes under the softmax instead of stalling the copy issue."""
    n0 = gl.minimum(start + t * BLOCK_N, gl.maximum(end - 1, 0))
    return _kv_row(BLOCK_TABLE, b, stride_bt_b, n0, seq_rows, PAGED, PAGE_SIZE)


@gluon.jit
def _next_rows(t, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, BLOCK_N: gl.constexpr, PAGED: gl.constexpr,
               PAGE_SIZE: gl.constexpr, FED: gl.constexpr):
    """Rows of tiles t and t + 1 (:func:`_part_row`): the tiles a pair's two buffers take next, which a compute group
    of a 16-bit cache reloads itself; 0 when FED (a producer group loads them)."""
    row0 = 0
    row1 = 0
    if not FED:
        row0 = _part_row(t, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, BLOCK_N, PAGED, PAGE_SIZE)
        row1 = _part_row(t + 1, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, BLOCK_N, PAGED, PAGE_SIZE)
    return row0, row1


@gluon.jit
def _issue_part_at(row, ok, desc_a, smem_a, col_a, desc_b, smem_b, col_b, bar, TWO: gl.constexpr):
    """TMA copy of one part of the tile starting at cache row `row` (one box, or two when TWO) onto mbarrier `bar`,
    when `ok`."""
    if TWO:
        mbarrier.expect(bar, desc_a.block_type.nbytes + desc_b.block_type.nbytes, pred=ok)
        _tma_load(desc_a, [row, col_a], bar, smem_a, pred=ok)
        _tma_load(desc_b, [row, col_b], bar, smem_b, pred=ok)
    else:
        mbarrier.expect(bar, desc_a.block_type.nbytes, pred=ok)
        _tma_load(desc_a, [row, col_a], bar, smem_a, pred=ok)


@gluon.jit
def _issue_part(desc_a, smem_a, col_a, desc_b, smem_b, col_b, bar, t, n_tiles, start, end, b,
                BLOCK_TABLE, stride_bt_b, seq_rows, TWO: gl.constexpr,
                BLOCK_N: gl.constexpr, PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr):
    """TMA copy of one part of tile t (one box, or two when TWO) onto mbarrier `bar`; skipped when t >= n_tiles."""
    row = _part_row(t, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, BLOCK_N, PAGED, PAGE_SIZE)
    _issue_part_at(row, t < n_tiles, desc_a, smem_a, col_a, desc_b, smem_b, col_b, bar, TWO)


@gluon.jit
def _scores(q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, t, n_tiles, s_zero,
            NUM_BUF: gl.constexpr, ODD: gl.constexpr, SPARSE: gl.constexpr, par=0, SCHED: gl.constexpr = False,
            opaque=0):
    """S = Q K_t^T for tile t (in buffer t % NUM_BUF; fp32 [BLOCK_H, BLOCK_N]), each part multiplied as soon as it
    lands, the part issued first first: for even tiles the V_L half (reloaded by WG0 right after its P @ V), for odd
    tiles the V_R half (reloaded by WG1 right after its). A tile past n_tiles gives -inf scores without touching
    shared memory (it was never loaded). SPARSE: the tile was written by cp.async (generic proxy), so a proxy fence
    orders it before the wgmma (async proxy) reads it. SCHED (the scheduled mode, several segments a program): the
    buffers' ready barriers have completed loads of earlier segments too; bit `buf` of `par` is the parity of those
    (:func:`_loads_parity`), which offsets the phase.

    Q's views may come stacked ([1, rows, cols]: :func:`_stack_q`); then the wgmmas read view `t & opaque`, 0 at run
    time (`opaque`: a sign, 0) but not provably so, so Q's descriptors are computed in the loop from the shared-memory
    base, on the uniform datapath, as the cache's are, instead of hoisted out of it into registers the accumulator
    needs."""
    s = gl.full(s_zero.shape, float("-inf"), gl.float32, layout=s_zero.type.layout)
    if t < n_tiles:
        if len(q_lo.shape) == 3:
            zq = t & opaque
            qa = q_lo.index(zq)
            qb = q_hi.index(zq)
            qr = q_rope.index(zq)
        else:
            qa = q_lo
            qb = q_hi
            qr = q_rope
        buf = t % NUM_BUF
        phase = (t // NUM_BUF) & 1
        if SCHED:
            phase = phase ^ ((par >> buf) & 1)
        if ODD:
            mbarrier.wait(ready_hi.index(buf), phase)
            if SPARSE:
                mbarrier.wait(ready_lo.index(buf), phase)
                fence_async_shared()
            s = warpgroup_mma(qb, kv_hi.index(buf).permute((1, 0)), s_zero, use_acc=False, is_async=True)
            mbarrier.wait(ready_lo.index(buf), phase)
            s = warpgroup_mma(qa, kv_lo.index(buf).permute((1, 0)), s, is_async=True)
        else:
            mbarrier.wait(ready_lo.index(buf), phase)
            if SPARSE:
                mbarrier.wait(ready_hi.index(buf), phase)
                fence_async_shared()
            s = warpgroup_mma(qa, kv_lo.index(buf).permute((1, 0)), s_zero, use_acc=False, is_async=True)
            mbarrier.wait(ready_hi.index(buf), phase)
            s = warpgroup_mma(qb, kv_hi.index(buf).permute((1, 0)), s, is_async=True)
        s = warpgroup_mma(qr, kv_rope.index(buf).permute((1, 0)), s, is_async=True)
        s = warpgroup_mma_wait(0, deps=(s,))
    return s


@gluon.jit
def _p_tile(kv_rope, buf, BLOCK_H: gl.constexpr, BLOCK_N: gl.constexpr):
    """Buffer buf's RoPE part ([BLOCK_N, 64] bf16) seen as P ([BLOCK_H, BLOCK_N] bf16, a wgmma A operand): the
    same bytes, free once that tile's scores are done."""
    p_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_H, BLOCK_N], kv_rope.dtype)
    return kv_rope.index(buf)._reinterpret(kv_rope.dtype, [BLOCK_H, BLOCK_N], p_layout)


@gluon.jit
def _zero_tail(tile, t, n_tiles, start, end, BLOCK_N: gl.constexpr, COLS: gl.constexpr, SPARSE: gl.constexpr):
    """If tile t is the last tile and partial, zero its rows past `end` in `tile` ([BLOCK_N, COLS] shared memory)
    before a wgmma reads it as V. Runs in one warp group. Not for SPARSE: the gather group's cp.async zero-fills
    every row it does not copy."""
    valid = end - (start + t * BLOCK_N)
    if (not SPARSE) and (t < n_tiles) & (valid < BLOCK_N):
        # 16 rows at a time: the caller holds the [64, 256] fp32 accumulator (128 registers a thread)
        layout: gl.constexpr = gl.BlockedLayout([1, 8], [4, 8], [WG_WARPS, 1], [1, 0])
        for r0 in gl.static_range(0, BLOCK_N, 16):
            part = tile.slice(r0, 16)
            r = r0 + gl.arange(0, 16, layout=gl.SliceLayout(1, layout))
            x = part.load(layout)
            keep = gl.expand_dims(r < valid, 1) & (gl.zeros_like(x) == 0)
            part.store(gl.where(keep, x, gl.zeros_like(x)))
        fence_async_shared()
        _cta_sync()


@gluon.jit
def _write_out(acc, l_i, l_other, m_i, pid_h, b, pid_s, rows_per_seq, out_scale, O_PART, LSE_PART, OUT,
               stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, o_layout: gl.constexpr,
               COL0: gl.constexpr, D_LAT: gl.constexpr, D_HALF: gl.constexpr, BLOCK_H: gl.constexpr,
               SINGLE_SPLIT: gl.constexpr, WRITE_LSE: gl.constexpr):
    """Normalise this group's half of O by l = l_WG0 + l_WG1 and store it (and, from one group, the base-2 LSE)."""
    row_o: gl.constexpr = gl.SliceLayout(1, o_layout)
    l_tot = l_i + l_other
    l_safe = gl.where(l_tot == 0.0, 1.0, l_tot)
    o = acc * gl.expand_dims(out_scale / l_safe, 1)
    rows_o = pid_h * BLOCK_H + gl.arange(0, BLOCK_H, layout=row_o)
    cols_o = COL0 + gl.arange(0, D_HALF, layout=gl.SliceLayout(0, o_layout))
    mask = gl.expand_dims(rows_o < rows_per_seq, 1) & gl.expand_dims(cols_o < D_LAT, 0)
    if SINGLE_SPLIT:
        out_rows = (b * rows_per_seq + rows_o).to(gl.int64) * D_LAT
        gl.store(OUT + gl.expand_dims(out_rows, 1) + gl.expand_dims(cols_o, 0), o.to(OUT.dtype.element_ty),
                 mask=mask)
    else:
        part = O_PART + b.to(gl.int64) * stride_op_b + pid_s * stride_op_s
        gl.store(part + gl.expand_dims(rows_o * D_LAT, 1) + gl.expand_dims(cols_o, 0), o, mask=mask)
        if WRITE_LSE:
            lse = gl.where(l_tot == 0.0, float("-inf"), m_i + gl.log2(l_safe))
            gl.store(LSE_PART + b * stride_lse_b + pid_s * stride_lse_s + rows_o, lse, mask=rows_o < rows_per_seq)


@gluon.jit
def _widen(src, dst, COLS: gl.constexpr, BLOCK_N: gl.constexpr, IN_PLACE: gl.constexpr):
    """dst = src in dst's dtype ([BLOCK_N, COLS] shared memory: fp8 -> fp16, exact; bf16 -> fp16 for Q), 16 values
    a thread at a time so the widening group needs few registers. IN_PLACE: src is the upper half of dst's bytes
    (an fp8 tile in its 16-bit buffer); rows go in chunks, each loaded by the whole group before any thread stores
    it, and the stores of rows [r0, r0 + ROWS) overwrite only source rows below r0 + ROWS (the 16-bit row r ends
    at twice the fp8 row's offset), so no row is overwritten before it is read. A chunk is up to four layout tiles of
    rows (32 rows of a 256-column tile half: four 16-value pieces a thread between barriers, one barrier a tile half
    instead of four)."""
    TPR: gl.constexpr = COLS // 16  # threads a row
    layout: gl.constexpr = gl.BlockedLayout([1, 16], [32 // TPR, TPR], [WG_WARPS, 1], [1, 0])
    ROWS: gl.constexpr = min(4 * (32 // TPR) * WG_WARPS, BLOCK_N)
    for r0 in gl.static_range(0, BLOCK_N, ROWS):
        x = src.slice(r0, ROWS).load(layout)
        if IN_PLACE:
            _cta_sync()
        dst.slice(r0, ROWS).store(x.to(dst.dtype))


@gluon.jit
def _widen_done(bar):
    """Publish a widened part to the wgmma (async proxy) readers: every thread's fence, the group's barrier, one
    arrive."""
    fence_async_shared()
    _cta_sync()
    mbarrier.arrive(bar)


@gluon.jit
def _recast_q(q_lo, q_hi, q_rope, q_lo_c, q_hi_c, q_rope_c, q_bar, q_ready, D_LAT: gl.constexpr,
              BLOCK_H: gl.constexpr):
    """Q (bf16 from TMA) recast to fp16 in place, then q_ready (the compute groups wait for it, not for the TMA)."""
    mbarrier.wait(q_bar, 0)
    _widen(q_lo, q_lo_c, D_LAT // 2, BLOCK_H, False)  # each thread stores the very elements it loaded
    _widen(q_hi, q_hi_c, D_LAT // 2, BLOCK_H, False)
    _widen(q_rope, q_rope_c, D_LAT // 8, BLOCK_H, False)
    _widen_done(q_ready)


@gluon.jit
def _fp8_upper(raw, buf):
    """The fp8 landing slot of 16-bit buffer `buf`: its upper half (raw holds two fp8 tiles a buffer)."""
    return raw.index(2 * buf + 1)


@gluon.jit
def _load_fp8_part(desc_half, raw_half, col, desc_rope, raw_rope, staged, free, buf, free_phase, t, n_tiles, start,
                   end, b, BLOCK_TABLE, stride_bt_b, seq_rows, D_LAT: gl.constexpr, ROPE: gl.constexpr,
                   WAIT: gl.constexpr, BLOCK_N: gl.constexpr, PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr):
    """TMA copy of one part of fp8 tile t (its value half at column `col`, with the RoPE part when ROPE) into buffer
    buf's landing slot, on `staged`; WAIT: first wait until the compute groups free that part (free, free_phase)."""
    if WAIT:
        mbarrier.wait(free.index(buf), free_phase)
    _issue_part(desc_half, _fp8_upper(raw_half, buf), col, desc_rope, _fp8_upper(raw_rope, buf), D_LAT,
                staged.index(buf), t, n_tiles, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, ROPE,
                BLOCK_N, PAGED, PAGE_SIZE)


@gluon.jit
def _prefetch_tile(KV_RAW, stride_kv_row, row, t, n_tiles, start, end, BLOCK_N: gl.constexpr):
    """Ask L2 for fp8 tile t's bytes (its keys' rows from cache row `row`: one contiguous range, a tile never crosses
    a block) before its TMA copy is issued: `prefetch.global.L2` a 128-byte line a lane, 256 lanes a tile (a 32-key
    tile of 576-byte rows is 144 lines), lanes past the tile's valid keys predicated off (no address past them is
    touched), none for a tile past the split. Why: the widening group issues a pair's copy only when the compute
    groups free the pair before it, so at most one pair of fp8 tiles (36 KB) is in flight an SM, and the copy's DRAM
    latency plus the widening would bound the loop; with the lines already in L2 the copy waits for L2 only. Measured
    on the H200: 0.990x the time (geomean, 20 points), so that latency is not the fp8 kernel's bound
    (docs/kernels-notes.md, "Issue 14: an L2 prefetch for the fp8 widening group")."""
    layout: gl.constexpr = gl.BlockedLayout([2], [32], [WG_WARPS], [0])
    off = gl.arange(0, 256, layout=layout) * 128
    keys = gl.minimum(end - (start + t * BLOCK_N), BLOCK_N)
    nbytes = gl.where(t < n_tiles, keys * stride_kv_row, 0)
    ok = (off < nbytes).to(gl.int32)
    ptrs = KV_RAW + row.to(gl.int64) * stride_kv_row + gl.minimum(off, gl.maximum(nbytes - 1, 0))
    gl.inline_asm_elementwise(
        "{ .reg .pred p; setp.ne.s32 p, $2, 0; @p prefetch.global.L2 [$1]; mov.u32 $0, 0; }", "=r,l,r", [ptrs, ok],
        dtype=gl.int32, is_pure=False, pack=1)


@gluon.jit
def _prefetch_pair(KV_RAW, stride_kv_row, t, n_tiles, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows,
                   BLOCK_N: gl.constexpr, PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr):
    """L2 prefetch of tiles t and t + 1 (:func:`_prefetch_tile`), tile t's row looked up here (:func:`_odd_tile`)."""
    row0 = _part_row(t, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, BLOCK_N, PAGED, PAGE_SIZE)
    _prefetch_tile(KV_RAW, stride_kv_row, row0, t, n_tiles, start, end, BLOCK_N)
    _prefetch_tile(KV_RAW, stride_kv_row, row0 + BLOCK_N, _odd_tile(t, start, n_tiles, BLOCK_N, PAGED, PAGE_SIZE),
                   n_tiles, start, end, BLOCK_N)


@gluon.jit
def _odd_tile(t, start, n_tiles, BLOCK_N: gl.constexpr, PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr):
    """Tile t + 1 as _prefetch_tile is to take it at row row0 + BLOCK_N (tile t's row plus its keys): itself where
    that row is its own (a contiguous cache; a paged one where tile t + 1 is inside tile t's block), else n_tiles,
    which prefetches nothing (32-key splits start at any multiple of 32 keys, so a pair may straddle two 64-token
    blocks; a second block-table lookup there made the compute loops spill more under Triton 3.6)."""
    t1 = t + 1
    if PAGED:
        if (start + t1 * BLOCK_N) % PAGE_SIZE == 0:
            t1 = n_tiles
    return t1


@gluon.jit
def _widen_part(raw_half, kv_half, raw_rope, kv_rope, staged, ready, buf, phase, D_LAT: gl.constexpr,
                ROPE: gl.constexpr, BLOCK_N: gl.constexpr):
    """Once one part of buffer buf has landed (staged, phase): widen it in place (its value half, and the RoPE part
    when ROPE) and signal `ready`, as its TMA would for a 16-bit cache."""
    mbarrier.wait(staged.index(buf), phase)
    _widen(_fp8_upper(raw_half, buf), kv_half.index(buf), D_LAT // 2, BLOCK_N, True)
    if ROPE:
        _widen(_fp8_upper(raw_rope, buf), kv_rope.index(buf), D_LAT // 8, BLOCK_N, True)
    _widen_done(ready.index(buf))


@gluon.jit
def _wg_widen(raw_lo, raw_hi, raw_rope, staged_lo, staged_hi, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi,
              free_lo, free_hi, q_lo, q_hi, q_rope, q_lo_c, q_hi_c, q_rope_c, q_bar, q_ready,
              kv_half_desc, kv_rope_desc, BLOCK_TABLE, b, start, end, n_tiles, stride_bt_b, seq_rows,
              KV_RAW, stride_kv_row, PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr, D_LAT: gl.constexpr,
              BLOCK_H: gl.constexpr, BLOCK_N: gl.constexpr, NUM_BUF: gl.constexpr, PF_PAIRS: gl.constexpr):
    """Warp group 2 of the fp8 kernel: each fp8 tile is loaded by TMA into the upper half of the 16-bit buffer it
    will occupy and widened there, so four buffers fit (two pairs: one computed while the next is loaded and
    widened), as in the bf16 kernel. Per pair of tiles: widen the pair (parts in the order the compute groups read
    them, signalling the `ready` barriers a TMA would), then refill the previous pair's buffers with the next pair
    once the compute groups free them (free_*, part by part: the bf16 kernel's reload points). An even tile's parts
    are V_L | V_R + RoPE, an odd tile's V_R | V_L + RoPE. PF_PAIRS > 0: each pair's copy is preceded by an L2
    prefetch PF_PAIRS pairs earlier (:func:`_prefetch_tile`), its row looked up just before (one block-table load:
    the pair's second tile is not prefetched where it opens a block of its own, :func:`_odd_tile`)."""
    D_HALF: gl.constexpr = D_LAT // 2
    for k in gl.static_range(NUM_BUF):  # the first two pairs into the empty buffers
        _load_fp8_part(kv_half_desc, raw_lo, 0, kv_rope_desc, raw_rope, staged_lo, free_lo, k, 0, k, n_tiles, start,
                       end, b, BLOCK_TABLE, stride_bt_b, seq_rows, D_LAT, k % 2 == 1, False, BLOCK_N, PAGED, PAGE_SIZE)
        _load_fp8_part(kv_half_desc, raw_hi, D_HALF, kv_rope_desc, raw_rope, staged_hi, free_hi, k, 0, k, n_tiles,
                       start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, D_LAT, k % 2 == 0, False, BLOCK_N, PAGED,
                       PAGE_SIZE)
    for p in gl.static_range(2, 2 + PF_PAIRS):  # the pairs whose copies the first PF_PAIRS iterations issue
        _prefetch_pair(KV_RAW, stride_kv_row, 2 * p, n_tiles, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows,
                       BLOCK_N, PAGED, PAGE_SIZE)
    _recast_q(q_lo, q_hi, q_rope, q_lo_c, q_hi_c, q_rope_c, q_bar, q_ready, D_LAT, BLOCK_H)
    for i in range(gl.cdiv(n_tiles, 2)):
        t0 = 2 * i
        t1 = t0 + 1
        b0 = t0 % NUM_BUF
        b1 = b0 + 1
        ph = (t0 // NUM_BUF) & 1
        tp = t0 + 2 + 2 * PF_PAIRS  # the pair this iteration prefetches (when it issues a copy: i >= 1)
        _widen_part(raw_lo, kv_lo, raw_rope, kv_rope, staged_lo, ready_lo, b0, ph, D_LAT, False, BLOCK_N)
        _widen_part(raw_hi, kv_hi, raw_rope, kv_rope, staged_hi, ready_hi, b0, ph, D_LAT, True, BLOCK_N)
        if t1 < n_tiles:
            _widen_part(raw_hi, kv_hi, raw_rope, kv_rope, staged_hi, ready_hi, b1, ph, D_LAT, False, BLOCK_N)
            _widen_part(raw_lo, kv_lo, raw_rope, kv_rope, staged_lo, ready_lo, b1, ph, D_LAT, True, BLOCK_N)
        # the previous pair's buffers (tiles t0 - 2, t1 - 2) take tiles t0 + 2, t1 + 2 as the compute groups free
        # them (tiles below NUM_BUF were issued above)
        if t0 >= 2:
            c0 = (t0 + 2) % NUM_BUF
            fph = ((t0 - 2) // NUM_BUF) & 1
            _load_fp8_part(kv_half_desc, raw_lo, 0, kv_rope_desc, raw_rope, staged_lo, free_lo, c0, fph, t0 + 2,
                           n_tiles, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, D_LAT, False, True, BLOCK_N,
                           PAGED, PAGE_SIZE)
            _load_fp8_part(kv_half_desc, raw_hi, D_HALF, kv_rope_desc, raw_rope, staged_hi, free_hi, c0, fph, t0 + 2,
                           n_tiles, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, D_LAT, True, True, BLOCK_N,
                           PAGED, PAGE_SIZE)
            _load_fp8_part(kv_half_desc, raw_hi, D_HALF, kv_rope_desc, raw_rope, staged_hi, free_hi, c0 + 1, fph,
                           t1 + 2, n_tiles, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, D_LAT, False, True,
                           BLOCK_N, PAGED, PAGE_SIZE)
            _load_fp8_part(kv_half_desc, raw_lo, 0, kv_rope_desc, raw_rope, staged_lo, free_lo, c0 + 1, fph, t1 + 2,
                           n_tiles, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, D_LAT, True, True, BLOCK_N,
                           PAGED, PAGE_SIZE)
            if PF_PAIRS > 0:
                _prefetch_pair(KV_RAW, stride_kv_row, tp, n_tiles, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows,
                               BLOCK_N, PAGED, PAGE_SIZE)


@gluon.jit
def _hand_back(free, ready, buf, kv_half, col, kv_rope, kv_half_desc, kv_rope_desc, row, ok,
               D_LAT: gl.constexpr, ROPE: gl.constexpr, FED: gl.constexpr):
    """A compute group is done with one part of buffer buf (a value half, with the RoPE part when ROPE): a 16-bit
    cache reloads it by TMA with the tile at cache row `row` (when `ok`: the tile exists; the value half from column
    `col`); FED (a producer group fills the buffers: the fp8 widening group, the sparse gather group) tells that group
    (`free`), which loads the next tile into it."""
    if FED:
        mbarrier.arrive(free.index(buf))
    else:
        _issue_part_at(row, ok, kv_half_desc, kv_half.index(buf), col, kv_rope_desc, kv_rope.index(buf), D_LAT,
                       ready.index(buf), ROPE)


@gluon.jit
def _stack_q(q, dtype: gl.constexpr, STACK: gl.constexpr):
    """Q's shared-memory view as the compute groups take it: STACK, a [1, rows, cols] view of the same bytes, which
    :func:`_scores` indexes by an opaque zero, else q itself (its descriptors loop-invariant).

    Why: a loop-invariant wgmma descriptor is hoisted out of the pair loops (by LLVM or ptxas), into ordinary
    registers unless ptxas keeps the shared-memory base on the uniform datapath, and the 64 x 256 fp32 accumulator
    leaves none: under Triton 3.6 the 64-key tile's loops spilled 13-18 (WG0) and 6-9 (WG1) instructions a pair and
    moved each of Q's hoisted descriptors back to a uniform register (R2UR) at every wgmma. Stacked, none of the
    16-bit, fp8 or sparse kernels' compute loops spills, and the 64-key tile's loops are 706 and 871 instructions
    instead of 804 and 972 (`python bench/sass_loops.py --gluon-sched`, docs/kernels-notes.md, "Q's descriptors"),
    as the cache's descriptors stay in the loop (:func:`_pair_tiles`)."""
    if STACK:
        return q._reinterpret(dtype, [1] + q.shape, q.layout)
    else:
        return q


@gluon.jit
def _unstack(q):
    """The [rows, cols] view of Q a TMA load fills, from a view :func:`_stack_q` may have stacked."""
    if len(q.shape) == 3:
        return q.index(0)
    else:
        return q


@gluon.jit
def _unmasked_pairs(start, end, seqlen, q_len, BLOCK_N: gl.constexpr, SPARSE: gl.constexpr, FED: gl.constexpr):
    """Pairs of tiles at the start of a split that every query row sees whole: keys before the split's end and at
    or before the first query token's causal limit (seqlen - q_len; later tokens see more). 0 for a sparse list
    (its unused slots are masked in every tile), and 0 for a fed (fp8) cache: there the second loop body raised
    the spills from 18 to 55 (Triton 3.9: `python bench/sass_loops.py --gluon`) and the time 1-3% on the H200
    (reports/h200/tuning/ab_unmasked_fp8.json, where old32 is the split loop), so the fp8 kernel keeps its one
    masked loop."""
    if SPARSE or FED:
        n = 0
    else:
        n = gl.maximum(gl.minimum(end, seqlen - q_len + 1) - start, 0) // (2 * BLOCK_N)
    return n


@gluon.jit
def _pair_tiles(i, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, BLOCK_N: gl.constexpr, NUM_BUF: gl.constexpr,
                PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr, FED: gl.constexpr, pbase=0, SCHED: gl.constexpr = False):
    """Pair i's tiles t0 = 2i and t1 = 2i + 1, their buffers b0 and b1, the mbarrier phase, and the cache rows of the
    tiles NUM_BUF ahead that will reload those buffers (:func:`_next_rows`).

    With two buffers (64-key tiles) b0 = 2i % 2 is 0 at compile time, so every wgmma's shared-memory descriptor is
    loop-invariant, and the compiler hoisted all of them out of the loop into registers (two 64-bit values per
    k-step), which the accumulator leaves no room for: 427 spill instructions under Triton 3.6, 155 under 3.9. t0
    gets `i & sign(seq_rows)` added, 0 at run time (a row count is never negative) but not provably so, which keeps
    the descriptors in the loop as the four-buffer tile has them: 57 and 3 spills (`python bench/sass_loops.py
    --gluon`); Q's descriptors, loop-invariant too, had the rest of those 57: :func:`_stack_q` (none now).

    SCHED: the handover barriers have also completed the `pbase` pairs of the program's earlier segments."""
    t0 = 2 * i
    if NUM_BUF == 2:
        t0 += i & (seq_rows >> 31)
    t1 = t0 + 1
    b0 = t0 % NUM_BUF
    b1 = b0 + 1
    ph = i & 1
    if SCHED:
        ph = (i + pbase) & 1
    row0, row1 = _next_rows(t0 + NUM_BUF, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, BLOCK_N, PAGED,
                            PAGE_SIZE, FED)
    return t0, t1, b0, b1, ph, row0, row1


@gluon.jit
def _pass_range(MASKED: gl.constexpr, n_main, n_tiles):
    """The pairs a compute group's loop runs in its unmasked pass (MASKED 0: [0, n_main)) or its masked one
    (MASKED 1: [n_main, the split's pairs))."""
    if MASKED == 0:
        lo, hi = 0, n_main
    else:
        lo, hi = n_main, gl.cdiv(n_tiles, 2)
    return lo, hi


@gluon.jit
def _wg0_pair(i, s, m_i, l_i, acc, q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, free_lo,
              free_hi, bar_s0, bar_s1, bar_p0, bar_p1, sm0, sa0, sm1, sa1, srow, kv_half_desc, kv_rope_desc,
              BLOCK_TABLE, b, start, end, n_tiles, stride_bt_b, seq_rows, last_key, offs_n, s_zero, qk_scale,
              PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr, D_LAT: gl.constexpr, BLOCK_H: gl.constexpr,
              BLOCK_N: gl.constexpr, NUM_BUF: gl.constexpr, FED: gl.constexpr, SPARSE: gl.constexpr,
              MASK: gl.constexpr, par=0, pbase=0, SCHED: gl.constexpr = False, SLACK: gl.constexpr = RESCALE_SLACK):
    """WG0's part of pair i (tiles 2i and 2i + 1; `s`: tile 2i's scores). Returns the next pair's scores and the
    running m, l and O_L. Without MASK both tiles exist and every row sees all their keys: no score mask, no zeroed
    tail rows, no existence test (FlashMLA specialises its last blocks at compile time the same way)."""
    D_HALF: gl.constexpr = D_LAT // 2
    row_s: gl.constexpr = m_i.type.layout
    row_o: gl.constexpr = gl.SliceLayout(1, acc.type.layout)
    p_op: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=acc.type.layout, k_width=2)
    dtype: gl.constexpr = q_lo.dtype
    t0, t1, b0, b1, ph, row0, row1 = _pair_tiles(i, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, BLOCK_N,
                                                 NUM_BUF, PAGED, PAGE_SIZE, FED, pbase, SCHED)
    # softmax of t0 from the max after the previous pair; publish the new max and the rescale factor
    visible = _visible(start + t0 * BLOCK_N + offs_n, last_key, end, srow, t0, SPARSE) if MASK else s
    m_i, l_i, p, a0 = _softmax_step(s, m_i, l_i, visible, qk_scale, MASK, SLACK)
    sm0.store(m_i)
    sa0.store(a0)
    mbarrier.arrive(bar_s0)
    # O_L = O_L * a0 + P0 V0_L, P0 from registers
    if MASK:
        _zero_tail(kv_lo.index(b0), t0, n_tiles, start, end, BLOCK_N, D_HALF, SPARSE)
    if _rescaled(a0, SLACK):
        acc = acc * gl.expand_dims(gl.convert_layout(a0, row_o), 1)
    acc = warpgroup_mma(gl.convert_layout(p.to(dtype), p_op), kv_lo.index(b0), acc, is_async=True)
    acc = warpgroup_mma_wait(0, deps=(acc,))
    # V0_L is done with: load tile t0 + NUM_BUF's left half into its buffer (fp8: tell the widening group)
    _hand_back(free_lo, ready_lo, b0, kv_lo, 0, kv_rope, kv_half_desc, kv_rope_desc, row0,
               t0 + NUM_BUF < n_tiles, D_LAT, False, FED)
    # WG1's softmax of t1: its max is now the running max; hand over P0 * a1 through buffer 0's RoPE part
    mbarrier.wait(bar_s1, ph)
    m_i = sm1.load(row_s)
    a1 = sa1.load(row_s)
    scale1 = _rescaled(a1, SLACK)
    if scale1:
        p = p * gl.expand_dims(a1, 1)
    _p_tile(kv_rope, b0, BLOCK_H, BLOCK_N).store(p.to(dtype))
    fence_async_shared()
    mbarrier.arrive(bar_p0)
    # O_L = O_L * a1 + P1 V1_L, P1 from buffer 1's RoPE part
    l_i = l_i * a1
    if scale1:
        acc = acc * gl.expand_dims(gl.convert_layout(a1, row_o), 1)
    mbarrier.wait(bar_p1, ph)
    if SPARSE:  # buffer 1 came from cp.async (seen through WG1's wait): order it before the wgmma
        fence_async_shared()
    if MASK:
        if t1 < n_tiles:
            _zero_tail(kv_lo.index(b1), t1, n_tiles, start, end, BLOCK_N, D_HALF, SPARSE)
            acc = warpgroup_mma(_p_tile(kv_rope, b1, BLOCK_H, BLOCK_N), kv_lo.index(b1), acc, is_async=True)
            acc = warpgroup_mma_wait(0, deps=(acc,))
    else:
        acc = warpgroup_mma(_p_tile(kv_rope, b1, BLOCK_H, BLOCK_N), kv_lo.index(b1), acc, is_async=True)
        acc = warpgroup_mma_wait(0, deps=(acc,))
    # V1_L and P1 are done with: load tile t1 + NUM_BUF's left half and RoPE part into its buffer
    _hand_back(free_lo, ready_lo, b1, kv_lo, 0, kv_rope, kv_half_desc, kv_rope_desc, row1,
               t1 + NUM_BUF < n_tiles, D_LAT, True, FED)
    s = _scores(q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, t0 + 2, n_tiles, s_zero, NUM_BUF,
                False, SPARSE, par, SCHED, seq_rows >> 31)
    return s, m_i, l_i, acc


@gluon.jit
def _wg1_pair(i, s, m_i, l_i, acc, q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, free_lo,
              free_hi, bar_s0, bar_s1, bar_p0, bar_p1, sm0, sa0, sm1, sa1, srow, kv_half_desc, kv_rope_desc,
              BLOCK_TABLE, b, start, end, n_tiles, stride_bt_b, seq_rows, last_key, offs_n, s_zero, qk_scale,
              PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr, D_LAT: gl.constexpr, BLOCK_H: gl.constexpr,
              BLOCK_N: gl.constexpr, NUM_BUF: gl.constexpr, FED: gl.constexpr, SPARSE: gl.constexpr,
              MASK: gl.constexpr, par=0, pbase=0, SCHED: gl.constexpr = False, SLACK: gl.constexpr = RESCALE_SLACK):
    """WG1's part of pair i (`s`: tile 2i + 1's scores); MASK as in :func:`_wg0_pair`."""
    D_HALF: gl.constexpr = D_LAT // 2
    row_s: gl.constexpr = m_i.type.layout
    row_o: gl.constexpr = gl.SliceLayout(1, acc.type.layout)
    p_op: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=acc.type.layout, k_width=2)
    dtype: gl.constexpr = q_lo.dtype
    t0, t1, b0, b1, ph, row0, row1 = _pair_tiles(i, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, BLOCK_N,
                                                 NUM_BUF, PAGED, PAGE_SIZE, FED, pbase, SCHED)
    # softmax of t1 from WG0's new max (all -inf scores when t1 does not exist: p = 0, a1 = 1)
    mbarrier.wait(bar_s0, ph)
    m0 = sm0.load(row_s)
    a0 = sa0.load(row_s)
    visible = _visible(start + t1 * BLOCK_N + offs_n, last_key, end, srow, t1, SPARSE) if MASK else s
    m_i, l_i, p, a1 = _softmax_step(s, m0, l_i * a0, visible, qk_scale, MASK, SLACK)
    sm1.store(m_i)
    sa1.store(a1)
    mbarrier.arrive(bar_s1)
    # hand P1 to WG0 through buffer 1's RoPE part (its scores are done)
    _p_tile(kv_rope, b1, BLOCK_H, BLOCK_N).store(p.to(dtype))
    fence_async_shared()
    mbarrier.arrive(bar_p1)
    # O_R = O_R * a0 * a1 + P1 V1_R (P1 from registers) + (P0 * a1) V0_R
    a01 = a0 * a1
    if _rescaled(a01, SLACK):
        acc = acc * gl.expand_dims(gl.convert_layout(a01, row_o), 1)
    if MASK:
        if t1 < n_tiles:
            _zero_tail(kv_hi.index(b1), t1, n_tiles, start, end, BLOCK_N, D_HALF, SPARSE)
            acc = warpgroup_mma(gl.convert_layout(p.to(dtype), p_op), kv_hi.index(b1), acc, is_async=True)
            acc = warpgroup_mma_wait(0, deps=(acc,))
    else:
        acc = warpgroup_mma(gl.convert_layout(p.to(dtype), p_op), kv_hi.index(b1), acc, is_async=True)
        acc = warpgroup_mma_wait(0, deps=(acc,))
    # V1_R is done with: load tile t1 + NUM_BUF's right half into its buffer
    _hand_back(free_hi, ready_hi, b1, kv_hi, D_HALF, kv_rope, kv_half_desc, kv_rope_desc, row1,
               t1 + NUM_BUF < n_tiles, D_LAT, False, FED)
    mbarrier.wait(bar_p0, ph)
    if SPARSE:  # buffer 0 came from cp.async (seen through WG0's wait): order it before the wgmma
        fence_async_shared()
    if MASK:
        _zero_tail(kv_hi.index(b0), t0, n_tiles, start, end, BLOCK_N, D_HALF, SPARSE)
    acc = warpgroup_mma(_p_tile(kv_rope, b0, BLOCK_H, BLOCK_N), kv_hi.index(b0), acc, is_async=True)
    acc = warpgroup_mma_wait(0, deps=(acc,))
    # V0_R and P0 are done with: load tile t0 + NUM_BUF's right half and RoPE part into its buffer
    _hand_back(free_hi, ready_hi, b0, kv_hi, D_HALF, kv_rope, kv_half_desc, kv_rope_desc, row0,
               t0 + NUM_BUF < n_tiles, D_LAT, True, FED)
    s = _scores(q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, t1 + 2, n_tiles, s_zero, NUM_BUF,
                True, SPARSE, par, SCHED, seq_rows >> 31)
    return s, m_i, l_i, acc


@gluon.jit
def _wg0(q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, q_bar, ready_lo, ready_hi, free_lo, free_hi, bar_s0, bar_s1,
         bar_p0, bar_p1, bar_l0, bar_l1, sm0, sa0, sm1, sa1, sl0, sl1, srow,
         kv_half_desc, kv_rope_desc, BLOCK_TABLE, O_PART, LSE_PART, OUT,
         b, pid_h, pid_s, start, end, n_tiles, seqlen, stride_bt_b, seq_rows, rows_per_seq, num_heads, q_len,
         stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, qk_scale, out_scale,
         PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr, D_LAT: gl.constexpr, BLOCK_H: gl.constexpr,
         BLOCK_N: gl.constexpr, NUM_BUF: gl.constexpr, SINGLE_SPLIT: gl.constexpr, FED: gl.constexpr,
         SPARSE: gl.constexpr, SLACK: gl.constexpr = RESCALE_SLACK):
    """Warp group 0: scores and softmax of even tiles, O_L (value columns 0-255)."""
    D_HALF: gl.constexpr = D_LAT // 2
    s_layout: gl.constexpr = _wgmma_layout(BLOCK_N)  # the scores' accumulator
    o_layout: gl.constexpr = _wgmma_layout(D_HALF)   # the group's half of O
    row_s: gl.constexpr = gl.SliceLayout(1, s_layout)
    row_o: gl.constexpr = gl.SliceLayout(1, o_layout)
    p_op: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)
    dtype: gl.constexpr = q_lo.dtype
    rows = pid_h * BLOCK_H + gl.arange(0, BLOCK_H, layout=row_s)
    last_key = seqlen - q_len + rows // num_heads
    offs_n = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, s_layout))
    s_zero = gl.zeros([BLOCK_H, BLOCK_N], gl.float32, layout=s_layout)
    m_i = gl.full([BLOCK_H], float("-inf"), gl.float32, layout=row_s)
    l_i = gl.zeros([BLOCK_H], gl.float32, layout=row_s)
    acc = gl.zeros([BLOCK_H, D_HALF], gl.float32, layout=o_layout)

    mbarrier.wait(q_bar, 0)
    s = _scores(q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, 0, n_tiles, s_zero, NUM_BUF,
                False, SPARSE)
    # pairs of whole tiles every row sees in full first, then the rest with masks (a split's partial last tile,
    # the causal band of a multi-token query, every pair of a sparse list)
    n_main = _unmasked_pairs(start, end, seqlen, q_len, BLOCK_N, SPARSE, FED)
    for MASKED in gl.static_range(2):      # pass 0: pairs [0, n_main) unmasked; pass 1: the rest, masked
        lo, hi = _pass_range(MASKED, n_main, n_tiles)
        for i in range(lo, hi):
            s, m_i, l_i, acc = _wg0_pair(i, s, m_i, l_i, acc, q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, ready_lo,
                                    ready_hi, free_lo, free_hi, bar_s0, bar_s1, bar_p0, bar_p1, sm0, sa0, sm1, sa1,
                                    srow, kv_half_desc, kv_rope_desc, BLOCK_TABLE, b, start, end, n_tiles,
                                    stride_bt_b, seq_rows, last_key, offs_n, s_zero, qk_scale, PAGED, PAGE_SIZE,
                                    D_LAT, BLOCK_H, BLOCK_N, NUM_BUF, FED, SPARSE, MASKED == 1, 0, 0, False,
                                    SLACK)

    sl0.store(l_i)
    mbarrier.arrive(bar_l0)
    mbarrier.wait(bar_l1, 0)
    l_other = sl1.load(row_s)
    _write_out(acc, gl.convert_layout(l_i, row_o), gl.convert_layout(l_other, row_o), gl.convert_layout(m_i, row_o),
               pid_h, b, pid_s, rows_per_seq, out_scale, O_PART, LSE_PART, OUT,
               stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, o_layout, 0, D_LAT, D_HALF, BLOCK_H,
               SINGLE_SPLIT, False)


@gluon.jit
def _wg1(q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, q_bar, ready_lo, ready_hi, free_lo, free_hi, bar_s0, bar_s1,
         bar_p0, bar_p1, bar_l0, bar_l1, sm0, sa0, sm1, sa1, sl0, sl1, srow,
         kv_half_desc, kv_rope_desc, BLOCK_TABLE, O_PART, LSE_PART, OUT,
         b, pid_h, pid_s, start, end, n_tiles, seqlen, stride_bt_b, seq_rows, rows_per_seq, num_heads, q_len,
         stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, qk_scale, out_scale,
         PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr, D_LAT: gl.constexpr, BLOCK_H: gl.constexpr,
         BLOCK_N: gl.constexpr, NUM_BUF: gl.constexpr, SINGLE_SPLIT: gl.constexpr, FED: gl.constexpr,
         SPARSE: gl.constexpr, SLACK: gl.constexpr = RESCALE_SLACK):
    """Warp group 1: scores and softmax of odd tiles, O_R (value columns 256-511)."""
    D_HALF: gl.constexpr = D_LAT // 2
    s_layout: gl.constexpr = _wgmma_layout(BLOCK_N)  # the scores' accumulator
    o_layout: gl.constexpr = _wgmma_layout(D_HALF)   # the group's half of O
    row_s: gl.constexpr = gl.SliceLayout(1, s_layout)
    row_o: gl.constexpr = gl.SliceLayout(1, o_layout)
    p_op: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)
    dtype: gl.constexpr = q_lo.dtype
    rows = pid_h * BLOCK_H + gl.arange(0, BLOCK_H, layout=row_s)
    last_key = seqlen - q_len + rows // num_heads
    offs_n = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, s_layout))
    s_zero = gl.zeros([BLOCK_H, BLOCK_N], gl.float32, layout=s_layout)
    m_i = gl.full([BLOCK_H], float("-inf"), gl.float32, layout=row_s)
    l_i = gl.zeros([BLOCK_H], gl.float32, layout=row_s)
    acc = gl.zeros([BLOCK_H, D_HALF], gl.float32, layout=o_layout)

    mbarrier.wait(q_bar, 0)
    s = _scores(q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, 1, n_tiles, s_zero, NUM_BUF,
                True, SPARSE)
    # pairs of whole tiles every row sees in full first, then the rest with masks (a split's partial last tile,
    # the causal band of a multi-token query, every pair of a sparse list)
    n_main = _unmasked_pairs(start, end, seqlen, q_len, BLOCK_N, SPARSE, FED)
    for MASKED in gl.static_range(2):      # pass 0: pairs [0, n_main) unmasked; pass 1: the rest, masked
        lo, hi = _pass_range(MASKED, n_main, n_tiles)
        for i in range(lo, hi):
            s, m_i, l_i, acc = _wg1_pair(i, s, m_i, l_i, acc, q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, ready_lo,
                                    ready_hi, free_lo, free_hi, bar_s0, bar_s1, bar_p0, bar_p1, sm0, sa0, sm1, sa1,
                                    srow, kv_half_desc, kv_rope_desc, BLOCK_TABLE, b, start, end, n_tiles,
                                    stride_bt_b, seq_rows, last_key, offs_n, s_zero, qk_scale, PAGED, PAGE_SIZE,
                                    D_LAT, BLOCK_H, BLOCK_N, NUM_BUF, FED, SPARSE, MASKED == 1, 0, 0, False,
                                    SLACK)

    sl1.store(l_i)
    mbarrier.arrive(bar_l1)
    mbarrier.wait(bar_l0, 0)
    l_other = sl0.load(row_s)
    _write_out(acc, gl.convert_layout(l_i, row_o), gl.convert_layout(l_other, row_o), gl.convert_layout(m_i, row_o),
               pid_h, b, pid_s, rows_per_seq, out_scale, O_PART, LSE_PART, OUT,
               stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, o_layout, D_HALF, D_LAT, D_HALF, BLOCK_H,
               SINGLE_SPLIT, True)


@gluon.jit
def _part_record(SCHED, part, parts):
    """Part `part`'s record of the balanced schedule (kernels/schedule.py; SCHED [5, parts] int32): its first
    sequence, first tile there, last sequence, end tile there, and the piece index of its first segment."""
    return (gl.load(SCHED + part), gl.load(SCHED + parts + part), gl.load(SCHED + 2 * parts + part),
            gl.load(SCHED + 3 * parts + part), gl.load(SCHED + 4 * parts + part))


@gluon.jit
def _add(a, b):
    return a + b


@gluon.jit
def _place(gone_a, upto_a, slots_gone_a, slots_upto_a, cells_a, s_first_a, e_first_a, last_a, e_last_a,
           gone_b, upto_b, slots_gone_b, slots_upto_b, cells_b, s_first_b, e_first_b, last_b, e_last_b):
    """The combine of :func:`_own_record`'s one reduction over a chunk: five sums, two minima, two maxima."""
    return (gone_a + gone_b, upto_a + upto_b, slots_gone_a + slots_gone_b, slots_upto_a + slots_upto_b,
            cells_a + cells_b, gl.minimum(s_first_a, s_first_b), gl.minimum(e_first_a, e_first_b),
            gl.maximum(last_a, last_b), gl.maximum(e_last_a, e_last_b))


@gluon.jit
def _own_record(SEQLENS, batch, part, parts, overhead, capacity, UNIT: gl.constexpr, CHUNK: gl.constexpr):
    """Part `part`'s record and the slots of its first and last sequences, computed from the lengths by the program
    itself (schedule.part_record is the mirror, with the closed forms): two passes over the `batch` lengths in chunks
    of CHUNK, the first summing the cells (P = ceil(total / parts)), the second a prefix-sum scan and one reduction
    of nine values (the counts, sums and extremes that place the part: each reduction across the warp group is a
    round through shared memory and a barrier, so they go in one). The last sequence that starts before the part's
    end is found by its first cell with its partials packed below it (s x 2^16 + partials, int64: cells < 2^28 and
    partials <= parts < 2^16). No schedule kernel before the decode kernel: with one, a call took 17-23 us more
    than with a schedule filled earlier, with this 2.6-10.8 us more (median 6; H100, docs/kernels-notes.md,
    thirty-first session)."""
    lay: gl.constexpr = gl.BlockedLayout([1], [32], [WG_WARPS], [0])
    offs = gl.arange(0, CHUNK, layout=lay)
    zero = batch * 0
    total = zero
    for c0 in range(0, batch, CHUNK):
        b = c0 + offs
        ok = b < batch
        L = gl.minimum(gl.maximum(gl.load(SEQLENS + b, mask=ok, other=0), 0), capacity)
        total += gl.sum(gl.where(ok, gl.maximum(gl.cdiv(L, UNIT), 1) + overhead, 0), 0)
    P = gl.maximum(gl.cdiv(total, parts), 1)
    lo = part * P
    hi = lo + P
    before = zero
    upto = zero
    slots_before = zero
    slots_upto = zero
    s_first = zero + (1 << 30)
    e_first = zero + (1 << 30)
    last = zero.to(gl.int64) - 1  # s_last x 2^16 + its partials
    e_last = zero - 1
    cells = zero
    for c0 in range(0, batch, CHUNK):
        b = c0 + offs
        ok = b < batch
        L = gl.minimum(gl.maximum(gl.load(SEQLENS + b, mask=ok, other=0), 0), capacity)
        n = gl.maximum(gl.cdiv(L, UNIT), 1)
        cost = gl.where(ok, n + overhead, 0)
        s = cells + gl.associative_scan(cost, 0, _add) - cost + overhead
        e = s + n - 1
        k = e // P - s // P + 1
        partials = gl.where(ok & (k > 1), k, 0)
        gone = ok & (e < lo)    # sequences wholly before the part
        reach = ok & (e >= lo)
        start = ok & (s < hi)   # sequences that begin before the part's end
        c_gone, c_upto, c_slots_gone, c_slots_upto, c_cells, c_s_first, c_e_first, c_last, c_e_last = gl.reduce(
            (gone.to(gl.int32), start.to(gl.int32), gl.where(gone, partials, 0), gl.where(start, partials, 0), cost,
             gl.where(reach, s, 1 << 30), gl.where(reach, e, 1 << 30),
             gl.where(start, s.to(gl.int64) * 65536 + partials, -1), gl.where(start, e, -1)), 0, _place)
        before += c_gone
        upto += c_upto
        slots_before += c_slots_gone
        slots_upto += c_slots_upto
        cells += c_cells
        s_first = gl.minimum(s_first, c_s_first)
        e_first = gl.minimum(e_first, c_e_first)
        last = gl.maximum(last, c_last)
        e_last = gl.maximum(e_last, c_e_last)
    s_last = (last >> 16).to(gl.int32)
    partials_last = (last & 65535).to(gl.int32)
    live = before <= upto - 1
    k_first = e_first // P - s_first // P + 1
    begin_b = gl.where(live, before, 0)
    end_b = gl.where(live, upto - 1, -1)
    begin_tile = gl.where(live, gl.maximum(lo - s_first, 0), 0)
    end_tile = gl.where(live, gl.minimum(hi, e_last + 1) - s_last, 0)
    begin_piece = gl.where(live, part - s_first // P, 0)
    slot_first = gl.where(live, slots_before, 0)
    partials_first = gl.where(live & (k_first > 1), k_first, 0)
    slot_last = gl.where(live, slots_upto - partials_last, 0)
    partials_last = gl.where(live, partials_last, 0)
    return begin_b, begin_tile, end_b, end_tile, begin_piece, slot_first, partials_first, slot_last, partials_last


@gluon.jit
def _given_record(SCHED, SEQ_INFO, part, parts):
    """Part `part`'s record from a filled schedule (SCHED, SEQ_INFO: triton_schedule's), with the first slot and
    partials of its first and last sequences (the only ones of its segments that can have partials)."""
    begin_b, begin_tile, end_b, end_tile, begin_piece = _part_record(SCHED, part, parts)
    last = gl.maximum(end_b, 0)  # an empty part's end_b is -1
    return (begin_b, begin_tile, end_b, end_tile, begin_piece, gl.load(SEQ_INFO + 2 * begin_b),
            gl.load(SEQ_INFO + 2 * begin_b + 1), gl.load(SEQ_INFO + 2 * last), gl.load(SEQ_INFO + 2 * last + 1))


@gluon.jit
def _valid_length(SEQLENS, b, capacity):
    """Sequence b's key count clamped to [0, capacity] (the keys its cache or table row holds): on CUDA the wrapper
    skips the host-synced value check, and a length past the capacity would read table entries past the row
    (triton_flash.valid_length says why; TMA already zero-fills rows past the cache)."""
    return gl.minimum(gl.maximum(gl.load(SEQLENS + b), 0), capacity)


@gluon.jit
def _segment(SEQLENS, j, begin_b, begin_tile, end_b, end_tile, capacity, UNIT: gl.constexpr, BLOCK_N: gl.constexpr):
    """Segment j of a part: (sequence b, its length, first key, end key, tiles of BLOCK_N keys). The schedule counts
    in units of UNIT keys (a pair of 64-key tiles, or one 32-key tile: gluon_mla_decode.split_keys); the part's first
    segment starts at unit begin_tile of begin_b, its last ends at unit end_tile of end_b, the others are whole."""
    b = begin_b + j
    seqlen = _valid_length(SEQLENS, b, capacity)
    start = begin_tile * UNIT * (b == begin_b).to(gl.int32)
    last_unit = gl.where(b == end_b, end_tile, gl.cdiv(seqlen, UNIT))
    end = gl.minimum(last_unit * UNIT, seqlen)
    n_tiles = gl.maximum(gl.cdiv(end - start, BLOCK_N), 0)
    return b, seqlen, start, end, n_tiles


@gluon.jit
def _loads_parity(n_tiles, NUM_BUF: gl.constexpr):
    """Bit k: whether a segment of n_tiles tiles completed an odd number of loads on buffer k's ready barriers (tiles
    k, k + NUM_BUF, ... below n_tiles each load once): the parity the next segment's waits start from."""
    bits = n_tiles * 0
    for k in gl.static_range(NUM_BUF):
        loads = (n_tiles - k + NUM_BUF - 1) // NUM_BUF  # tiles of buffer k (0 when n_tiles <= k)
        bits = bits | ((loads & 1) << k)
    return bits


@gluon.jit
def _issue_segment(q_half_desc, q_rope_desc, q_bar, q_lo, q_hi, q_rope, kv_half_desc, kv_rope_desc, kv_lo, kv_hi,
                   kv_rope, ready_lo, ready_hi, b, pid_h, rows_per_seq, start, end, n_tiles, BLOCK_TABLE, stride_bt_b,
                   seq_rows, D_LAT: gl.constexpr, BLOCK_H: gl.constexpr, BLOCK_N: gl.constexpr,
                   NUM_BUF: gl.constexpr, PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr):
    """Issue a segment's loads that no compute group issues itself: its sequence's query rows (q_bar) and its first
    NUM_BUF tiles (an even tile's parts V_L | V_R + RoPE, an odd tile's V_L + RoPE | V_R; later tiles are reloaded by
    the groups as they free buffers). The 16-bit kernel's opening, for any segment."""
    D_HALF: gl.constexpr = D_LAT // 2
    _load_q(q_half_desc, q_rope_desc, q_bar, q_lo, q_hi, q_rope, b * rows_per_seq + pid_h * BLOCK_H, D_LAT)
    for k in gl.static_range(NUM_BUF):
        if k % 2 == 0:
            _issue_part(kv_half_desc, kv_lo.index(k), 0, kv_half_desc, kv_lo.index(k), 0, ready_lo.index(k),
                        k, n_tiles, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, False, BLOCK_N, PAGED,
                        PAGE_SIZE)
            _issue_part(kv_half_desc, kv_hi.index(k), D_HALF, kv_rope_desc, kv_rope.index(k), D_LAT,
                        ready_hi.index(k), k, n_tiles, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, True,
                        BLOCK_N, PAGED, PAGE_SIZE)
        else:
            _issue_part(kv_half_desc, kv_lo.index(k), 0, kv_rope_desc, kv_rope.index(k), D_LAT,
                        ready_lo.index(k), k, n_tiles, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, True,
                        BLOCK_N, PAGED, PAGE_SIZE)
            _issue_part(kv_half_desc, kv_hi.index(k), D_HALF, kv_half_desc, kv_hi.index(k), D_HALF,
                        ready_hi.index(k), k, n_tiles, start, end, b, BLOCK_TABLE, stride_bt_b, seq_rows, False,
                        BLOCK_N, PAGED, PAGE_SIZE)


@gluon.jit
def _wg_sched(q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, q_bar, ready_lo, ready_hi, bar_s0, bar_s1, bar_p0, bar_p1,
              bar_l0, bar_l1, seg_done, sm0, sa0, sm1, sa1, sl0, sl1,
              q_half_desc, q_rope_desc, kv_half_desc, kv_rope_desc, BLOCK_TABLE, SEQLENS, SEQ_INFO,
              O_PART, LSE_PART, OUT, pid_h, begin_b, begin_tile, end_b, end_tile, begin_piece, slot_first,
              partials_first, slot_last, partials_last, stride_bt_b, seq_rows, rows_per_seq, num_heads, q_len,
              capacity, stride_op_s, stride_lse_s, qk_scale, out_scale,
              PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr, D_LAT: gl.constexpr, BLOCK_H: gl.constexpr,
              BLOCK_N: gl.constexpr, NUM_BUF: gl.constexpr, UNIT: gl.constexpr, WG: gl.constexpr,
              SLACK: gl.constexpr, OWN: gl.constexpr):
    """Compute group WG (0: even tiles, O_L; 1: odd tiles, O_R) of the scheduled mode: the 16-bit kernel's
    per-split body (:func:`_wg0` / :func:`_wg1`) run once for each segment of this program's part, one sequence
    each. Across segments the barriers keep counting: the ready barriers' phases from `par` (:func:`_loads_parity`),
    the handover barriers' from the pairs run before (`pbase`), q_bar's and the row sums' from the segment index.
    A segment's output goes to OUT when the part holds its whole sequence, else as a partial to the sequence's slot
    (first_slot + piece: schedule.py); triton_split_kv.combine_slots merges them. Only the part's first and last
    sequences can have partials (slot_first, partials_first, slot_last, partials_last: the record's). OWN (a schedule
    the programs computed themselves, :func:`_own_record`): WG0 of head block 0 writes SEQ_INFO's entry (first slot,
    partials) of each sequence whose piece 0 it runs, for the merge. Between segments both groups
    arrive on seg_done once their epilogue has read the other's row sums; WG0 waits for both, then loads the next
    segment's query rows and first tiles (every buffer and Q are free: each group's last wgmma was waited for)."""
    D_HALF: gl.constexpr = D_LAT // 2
    s_layout: gl.constexpr = _wgmma_layout(BLOCK_N)  # the scores' accumulator
    o_layout: gl.constexpr = _wgmma_layout(D_HALF)   # the group's half of O
    row_s: gl.constexpr = gl.SliceLayout(1, s_layout)
    row_o: gl.constexpr = gl.SliceLayout(1, o_layout)
    rows = pid_h * BLOCK_H + gl.arange(0, BLOCK_H, layout=row_s)
    offs_n = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, s_layout))
    s_zero = gl.zeros([BLOCK_H, BLOCK_N], gl.float32, layout=s_layout)
    n_seg = end_b + 1 - begin_b
    par = n_seg * 0    # bit k: parity of the loads buffer k's ready barriers completed in earlier segments
    pbase = n_seg * 0  # pairs run in earlier segments
    for j in range(0, n_seg):
        b, seqlen, start, end, n_tiles = _segment(SEQLENS, j, begin_b, begin_tile, end_b, end_tile, capacity, UNIT,
                                                  BLOCK_N)
        last_key = seqlen - q_len + rows // num_heads
        m_i = gl.full([BLOCK_H], float("-inf"), gl.float32, layout=row_s)
        l_i = gl.zeros([BLOCK_H], gl.float32, layout=row_s)
        acc = gl.zeros([BLOCK_H, D_HALF], gl.float32, layout=o_layout)
        mbarrier.wait(q_bar, j & 1)
        s = _scores(q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, WG, n_tiles, s_zero, NUM_BUF,
                    WG == 1, False, par, True)
        n_main = _unmasked_pairs(start, end, seqlen, q_len, BLOCK_N, False, False)
        for MASKED in gl.static_range(2):  # pass 0: pairs [0, n_main) unmasked; pass 1: the rest, masked
            lo, hi = _pass_range(MASKED, n_main, n_tiles)
            for i in range(lo, hi):
                if WG == 0:
                    s, m_i, l_i, acc = _wg0_pair(
                        i, s, m_i, l_i, acc, q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, ready_lo,
                        ready_hi, bar_s0, bar_s1, bar_p0, bar_p1, sm0, sa0, sm1, sa1, sl0, kv_half_desc,
                        kv_rope_desc, BLOCK_TABLE, b, start, end, n_tiles, stride_bt_b, seq_rows, last_key, offs_n,
                        s_zero, qk_scale, PAGED, PAGE_SIZE, D_LAT, BLOCK_H, BLOCK_N, NUM_BUF, False, False,
                        MASKED == 1, par, pbase, True, SLACK)
                else:
                    s, m_i, l_i, acc = _wg1_pair(
                        i, s, m_i, l_i, acc, q_lo, q_hi, q_rope, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, ready_lo,
                        ready_hi, bar_s0, bar_s1, bar_p0, bar_p1, sm0, sa0, sm1, sa1, sl0, kv_half_desc,
                        kv_rope_desc, BLOCK_TABLE, b, start, end, n_tiles, stride_bt_b, seq_rows, last_key, offs_n,
                        s_zero, qk_scale, PAGED, PAGE_SIZE, D_LAT, BLOCK_H, BLOCK_N, NUM_BUF, False, False,
                        MASKED == 1, par, pbase, True, SLACK)
        # the row sums: each group publishes its own and reads the other's (phase: the segment's parity)
        if WG == 0:
            sl0.store(l_i)
            mbarrier.arrive(bar_l0)
            mbarrier.wait(bar_l1, j & 1)
            l_other = sl1.load(row_s)
        else:
            sl1.store(l_i)
            mbarrier.arrive(bar_l1)
            mbarrier.wait(bar_l0, j & 1)
            l_other = sl0.load(row_s)
        l_o = gl.convert_layout(l_i, row_o)
        l_x = gl.convert_layout(l_other, row_o)
        m_o = gl.convert_layout(m_i, row_o)
        first = (b == begin_b).to(gl.int32)
        partials = first * partials_first + (1 - first) * (b == end_b).to(gl.int32) * partials_last
        first_slot = slot_first + (1 - first) * partials_first  # the middle sequences' partials are 0
        if OWN and WG == 0:
            if (pid_h == 0) & ((b > begin_b) | (begin_piece == 0)):  # this part runs the sequence's piece 0
                gl.store(SEQ_INFO + 2 * b, first_slot)
                gl.store(SEQ_INFO + 2 * b + 1, partials)
        if partials == 0:  # the part holds the whole sequence: its output, directly
            _write_out(acc, l_o, l_x, m_o, pid_h, b, 0, rows_per_seq, out_scale, O_PART, LSE_PART, OUT,
                       0, 0, 0, 0, o_layout, WG * D_HALF, D_LAT, D_HALF, BLOCK_H, True, WG == 1)
        else:  # a piece: a partial (fp32 output, base-2 LSE from WG1) in the sequence's slot
            slot = first_slot + begin_piece * first
            _write_out(acc, l_o, l_x, m_o, pid_h, b, slot, rows_per_seq, out_scale, O_PART, LSE_PART, OUT,
                       0, stride_op_s, 0, stride_lse_s, o_layout, WG * D_HALF, D_LAT, D_HALF, BLOCK_H, False,
                       WG == 1)
        mbarrier.arrive(seg_done)
        par = par ^ _loads_parity(n_tiles, NUM_BUF)
        pbase += gl.cdiv(n_tiles, 2)
        if WG == 0:
            mbarrier.wait(seg_done, j & 1)
            if j + 1 < n_seg:
                nb, nlen, nstart, nend, nn = _segment(SEQLENS, j + 1, begin_b, begin_tile, end_b, end_tile, capacity,
                                                      UNIT, BLOCK_N)
                _issue_segment(q_half_desc, q_rope_desc, q_bar, _unstack(q_lo), _unstack(q_hi), _unstack(q_rope),
                               kv_half_desc, kv_rope_desc, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, nb, pid_h,
                               rows_per_seq, nstart, nend, nn, BLOCK_TABLE, stride_bt_b, seq_rows, D_LAT, BLOCK_H,
                               BLOCK_N, NUM_BUF, PAGED, PAGE_SIZE)


@gluon.jit
def _load_q(q_half_desc, q_rope_desc, q_bar, q_lo, q_hi, q_rope, q_row, D_LAT: gl.constexpr):
    """TMA copy of the program's query rows (from row q_row of the [rows, 576] view: both latent halves and the RoPE
    part) onto q_bar."""
    mbarrier.expect(q_bar, 2 * q_half_desc.block_type.nbytes + q_rope_desc.block_type.nbytes)
    _tma_load(q_half_desc, [q_row, 0], q_bar, q_lo)
    _tma_load(q_half_desc, [q_row, D_LAT // 2], q_bar, q_hi)
    _tma_load(q_rope_desc, [q_row, D_LAT], q_bar, q_rope)


@gluon.jit
def _handover_vectors(BLOCK_H: gl.constexpr):
    """The per-row values the two compute groups pass each other in shared memory: running max and rescale factor of
    each group's softmax (sm0, sa0, sm1, sa1) and, at the end, each group's row sums (sl0, sl1)."""
    vec_l: gl.constexpr = gl.SwizzledSharedLayout(1, 1, 1, [0])
    return (gl.allocate_shared_memory(gl.float32, [BLOCK_H], vec_l),
            gl.allocate_shared_memory(gl.float32, [BLOCK_H], vec_l),
            gl.allocate_shared_memory(gl.float32, [BLOCK_H], vec_l),
            gl.allocate_shared_memory(gl.float32, [BLOCK_H], vec_l),
            gl.allocate_shared_memory(gl.float32, [BLOCK_H], vec_l),
            gl.allocate_shared_memory(gl.float32, [BLOCK_H], vec_l))


@gluon.jit
def _handover_barriers():
    """The compute groups' handover mbarriers, initialised (one arrival each): softmax state published (bar_s0,
    bar_s1), P handed over (bar_p0, bar_p1), row sums published (bar_l0, bar_l1)."""
    bar_l: gl.constexpr = mbarrier.MBarrierLayout()
    bars = (gl.allocate_shared_memory(gl.int64, [1], bar_l), gl.allocate_shared_memory(gl.int64, [1], bar_l),
            gl.allocate_shared_memory(gl.int64, [1], bar_l), gl.allocate_shared_memory(gl.int64, [1], bar_l),
            gl.allocate_shared_memory(gl.int64, [1], bar_l), gl.allocate_shared_memory(gl.int64, [1], bar_l))
    for k in gl.static_range(6):
        mbarrier.init(bars[k], count=1)
    return bars


@gluon.jit
def _mla_decode_seesaw_kernel(
    q_half_desc, q_rope_desc, kv_half_desc, kv_rope_desc,
    BLOCK_TABLE, SEQLENS, O_PART, LSE_PART, OUT, KV_SCALE,
    stride_bt_b, seq_rows, rows_per_seq, num_heads, q_len, tokens_per_split, capacity,
    stride_op_b, stride_op_s, stride_lse_b, stride_lse_s,
    qk_scale, out_scale,
    PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr, D_LAT: gl.constexpr, D_ROPE: gl.constexpr,
    BLOCK_H: gl.constexpr, BLOCK_N: gl.constexpr, NUM_BUF: gl.constexpr, SINGLE_SPLIT: gl.constexpr,
    FP8: gl.constexpr, SCALE_PTR: gl.constexpr, SCHED=None, SEQ_INFO=None, SCHEDULED: gl.constexpr = False,
    UNIT: gl.constexpr = 1, SLACK: gl.constexpr = RESCALE_SLACK, KV_RAW=None, stride_kv_row=0,
    PF_PAIRS: gl.constexpr = 0, STACK_Q: gl.constexpr = True, OWN_SCHED: gl.constexpr = False, batch=0,
    sched_overhead=0,
):
    """FP8: the cache descriptors are fp8 (kv_half_desc, kv_rope_desc), a third warp group widens their tiles in
    place in the 16-bit buffers (_wg_widen) and the compute groups multiply in fp16; qk_scale and out_scale carry
    the per-tensor scale (SCALE_PTR: read from KV_SCALE here, no host sync).
    SCHEDULED (16-bit caches): grid (head blocks, G parts); program (., p) runs part p of the balanced schedule
    (kernels/schedule.py: SCHED [5, G], SEQ_INFO [B, 2] int32, in units of UNIT keys), segment after segment
    (:func:`_wg_sched`); partials by slot (O_PART [slots, rows, D_LAT]: stride_op_s, stride_lse_s); tokens_per_split,
    SINGLE_SPLIT and the batch strides are unused. OWN_SCHED: no SCHED; each program computes its part's record from
    the `batch` lengths (:func:`_own_record`, `sched_overhead` tiles a segment) and SEQ_INFO is written here."""
    pid_h = gl.program_id(0)
    if SCHEDULED:
        part = gl.program_id(1)
        parts = gl.num_programs(1)
        if OWN_SCHED:
            (begin_b, begin_tile, end_b, end_tile, begin_piece, slot_first, partials_first, slot_last,
             partials_last) = _own_record(SEQLENS, batch, part, parts, sched_overhead, capacity, UNIT, 32 * WG_WARPS)
        else:
            (begin_b, begin_tile, end_b, end_tile, begin_piece, slot_first, partials_first, slot_last,
             partials_last) = _given_record(SCHED, SEQ_INFO, part, parts)
        b, seqlen, start, end, n_tiles = _segment(SEQLENS, 0, begin_b, begin_tile, end_b, end_tile, capacity, UNIT,
                                                  BLOCK_N)
    else:
        pid_s = gl.program_id(1)
        b = gl.program_id(2)
        seqlen = _valid_length(SEQLENS, b, capacity)
        start = pid_s * tokens_per_split
        end = gl.minimum(start + tokens_per_split, seqlen)
        n_tiles = gl.maximum(gl.cdiv(end - start, BLOCK_N), 0)
    D_HALF: gl.constexpr = D_LAT // 2
    if SCALE_PTR:
        kv_scale = gl.load(KV_SCALE).to(gl.float32)
        qk_scale = qk_scale * kv_scale
        out_scale = out_scale * kv_scale

    dtype: gl.constexpr = q_half_desc.dtype
    half_l: gl.constexpr = q_half_desc.layout
    rope_l: gl.constexpr = q_rope_desc.layout
    cdt: gl.constexpr = gl.float16 if FP8 else dtype  # what the wgmmas multiply
    q_lo = gl.allocate_shared_memory(dtype, [BLOCK_H, D_HALF], half_l)
    q_hi = gl.allocate_shared_memory(dtype, [BLOCK_H, D_HALF], half_l)
    q_rope = gl.allocate_shared_memory(dtype, [BLOCK_H, D_ROPE], rope_l)
    if FP8:  # two fp8 tiles' bytes a 16-bit buffer: TMA lands in the upper one (_fp8_upper)
        raw_lo = gl.allocate_shared_memory(kv_half_desc.dtype, [2 * NUM_BUF, BLOCK_N, D_HALF], kv_half_desc.layout)
        raw_hi = gl.allocate_shared_memory(kv_half_desc.dtype, [2 * NUM_BUF, BLOCK_N, D_HALF], kv_half_desc.layout)
        raw_rope = gl.allocate_shared_memory(kv_rope_desc.dtype, [2 * NUM_BUF, BLOCK_N, D_ROPE], kv_rope_desc.layout)
        kv_lo = raw_lo._reinterpret(cdt, [NUM_BUF, BLOCK_N, D_HALF], half_l)
        kv_hi = raw_hi._reinterpret(cdt, [NUM_BUF, BLOCK_N, D_HALF], half_l)
        kv_rope = raw_rope._reinterpret(cdt, [NUM_BUF, BLOCK_N, D_ROPE], rope_l)  # also carries P
    else:
        kv_lo = gl.allocate_shared_memory(cdt, [NUM_BUF, BLOCK_N, D_HALF], half_l)
        kv_hi = gl.allocate_shared_memory(cdt, [NUM_BUF, BLOCK_N, D_HALF], half_l)
        kv_rope = gl.allocate_shared_memory(cdt, [NUM_BUF, BLOCK_N, D_ROPE], rope_l)  # also carries P
    sm0, sa0, sm1, sa1, sl0, sl1 = _handover_vectors(BLOCK_H)
    bar_l: gl.constexpr = mbarrier.MBarrierLayout()
    q_bar = gl.allocate_shared_memory(gl.int64, [1], bar_l)
    ready_lo = gl.allocate_shared_memory(gl.int64, [NUM_BUF, 1], bar_l)
    ready_hi = gl.allocate_shared_memory(gl.int64, [NUM_BUF, 1], bar_l)
    mbarrier.init(q_bar, count=1)
    for k in gl.static_range(NUM_BUF):
        mbarrier.init(ready_lo.index(k), count=1)
        mbarrier.init(ready_hi.index(k), count=1)
    bar_s0, bar_s1, bar_p0, bar_p1, bar_l0, bar_l1 = _handover_barriers()
    if FP8:  # the widening group's barriers; fp16 views of Q's bytes
        free_lo = gl.allocate_shared_memory(gl.int64, [NUM_BUF, 1], bar_l)
        free_hi = gl.allocate_shared_memory(gl.int64, [NUM_BUF, 1], bar_l)
        for k in gl.static_range(NUM_BUF):
            mbarrier.init(free_lo.index(k), count=1)
            mbarrier.init(free_hi.index(k), count=1)
        staged_lo = gl.allocate_shared_memory(gl.int64, [NUM_BUF, 1], bar_l)
        staged_hi = gl.allocate_shared_memory(gl.int64, [NUM_BUF, 1], bar_l)
        for k in gl.static_range(NUM_BUF):
            mbarrier.init(staged_lo.index(k), count=1)
            mbarrier.init(staged_hi.index(k), count=1)
        q_lo_c = q_lo._reinterpret(cdt, [BLOCK_H, D_HALF], half_l)  # recast by the widening group: q_ready
        q_hi_c = q_hi._reinterpret(cdt, [BLOCK_H, D_HALF], half_l)
        q_rope_c = q_rope._reinterpret(cdt, [BLOCK_H, D_ROPE], rope_l)
        q_ready = gl.allocate_shared_memory(gl.int64, [1], bar_l)
        mbarrier.init(q_ready, count=1)
    else:
        free_lo = ready_lo  # unused: the compute groups reload their buffers by TMA themselves
        free_hi = ready_hi
    qs_lo = _stack_q(q_lo_c if FP8 else q_lo, cdt, STACK_Q)  # the compute groups' views of Q
    qs_hi = _stack_q(q_hi_c if FP8 else q_hi, cdt, STACK_Q)
    qs_rope = _stack_q(q_rope_c if FP8 else q_rope, cdt, STACK_Q)
    if SCHEDULED:  # both compute groups arrive once a segment (_wg_sched)
        seg_done = gl.allocate_shared_memory(gl.int64, [1], bar_l)
        mbarrier.init(seg_done, count=2)
    fence_async_shared()

    # Q once; then (16-bit cache) the first NUM_BUF tiles, later tiles loaded by the groups, part by part; (fp8) the
    # widening group loads and widens every tile. Scheduled: the part's first segment's (none for a part without)
    if SCHEDULED:
        if begin_b <= end_b:
            _issue_segment(q_half_desc, q_rope_desc, q_bar, q_lo, q_hi, q_rope, kv_half_desc, kv_rope_desc, kv_lo,
                           kv_hi, kv_rope, ready_lo, ready_hi, b, pid_h, rows_per_seq, start, end, n_tiles,
                           BLOCK_TABLE, stride_bt_b, seq_rows, D_LAT, BLOCK_H, BLOCK_N, NUM_BUF, PAGED, PAGE_SIZE)
    elif FP8:
        _load_q(q_half_desc, q_rope_desc, q_bar, q_lo, q_hi, q_rope, b * rows_per_seq + pid_h * BLOCK_H, D_LAT)
    else:
        _issue_segment(q_half_desc, q_rope_desc, q_bar, q_lo, q_hi, q_rope, kv_half_desc, kv_rope_desc, kv_lo, kv_hi,
                       kv_rope, ready_lo, ready_hi, b, pid_h, rows_per_seq, start, end, n_tiles, BLOCK_TABLE,
                       stride_bt_b, seq_rows, D_LAT, BLOCK_H, BLOCK_N, NUM_BUF, PAGED, PAGE_SIZE)

    # the same arguments for both groups, written out: a tuple held in a variable loses its constexprs (Triton 3.6)
    if FP8:
        gl.warp_specialize([
            (_wg0, (qs_lo, qs_hi, qs_rope, kv_lo, kv_hi, kv_rope, q_ready, ready_lo, ready_hi, free_lo, free_hi,
                    bar_s0, bar_s1, bar_p0, bar_p1, bar_l0, bar_l1, sm0, sa0, sm1, sa1, sl0, sl1, sl0,
                    kv_half_desc, kv_rope_desc, BLOCK_TABLE, O_PART, LSE_PART, OUT,
                    b, pid_h, pid_s, start, end, n_tiles, seqlen, stride_bt_b, seq_rows, rows_per_seq, num_heads,
                    q_len, stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, qk_scale, out_scale,
                    PAGED, PAGE_SIZE, D_LAT, BLOCK_H, BLOCK_N, NUM_BUF, SINGLE_SPLIT, FP8, False, SLACK)),
            (_wg1, (qs_lo, qs_hi, qs_rope, kv_lo, kv_hi, kv_rope, q_ready, ready_lo, ready_hi, free_lo, free_hi,
                    bar_s0, bar_s1, bar_p0, bar_p1, bar_l0, bar_l1, sm0, sa0, sm1, sa1, sl0, sl1, sl0,
                    kv_half_desc, kv_rope_desc, BLOCK_TABLE, O_PART, LSE_PART, OUT,
                    b, pid_h, pid_s, start, end, n_tiles, seqlen, stride_bt_b, seq_rows, rows_per_seq, num_heads,
                    q_len, stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, qk_scale, out_scale,
                    PAGED, PAGE_SIZE, D_LAT, BLOCK_H, BLOCK_N, NUM_BUF, SINGLE_SPLIT, FP8, False, SLACK)),
            (_wg_widen, (raw_lo, raw_hi, raw_rope, staged_lo, staged_hi, kv_lo, kv_hi, kv_rope, ready_lo,
                                  ready_hi, free_lo, free_hi, q_lo, q_hi, q_rope, q_lo_c, q_hi_c, q_rope_c, q_bar,
                                  q_ready, kv_half_desc, kv_rope_desc, BLOCK_TABLE, b, start, end, n_tiles,
                                  stride_bt_b, seq_rows, KV_RAW, stride_kv_row, PAGED, PAGE_SIZE, D_LAT, BLOCK_H,
                                  BLOCK_N, NUM_BUF, PF_PAIRS)),
        ], [WG_WARPS, WG_WARPS], [COMPUTE_REGS_FP8, WIDEN_REGS])
    elif SCHEDULED:
        gl.warp_specialize([
            (_wg_sched, (qs_lo, qs_hi, qs_rope, kv_lo, kv_hi, kv_rope, q_bar, ready_lo, ready_hi, bar_s0, bar_s1,
                         bar_p0, bar_p1, bar_l0, bar_l1, seg_done, sm0, sa0, sm1, sa1, sl0, sl1,
                         q_half_desc, q_rope_desc, kv_half_desc, kv_rope_desc, BLOCK_TABLE, SEQLENS, SEQ_INFO,
                         O_PART, LSE_PART, OUT, pid_h, begin_b, begin_tile, end_b, end_tile, begin_piece, slot_first,
                         partials_first, slot_last, partials_last, stride_bt_b, seq_rows, rows_per_seq, num_heads,
                         q_len, capacity, stride_op_s, stride_lse_s, qk_scale, out_scale,
                         PAGED, PAGE_SIZE, D_LAT, BLOCK_H, BLOCK_N, NUM_BUF, UNIT, 0, SLACK, OWN_SCHED)),
            (_wg_sched, (qs_lo, qs_hi, qs_rope, kv_lo, kv_hi, kv_rope, q_bar, ready_lo, ready_hi, bar_s0, bar_s1,
                         bar_p0, bar_p1, bar_l0, bar_l1, seg_done, sm0, sa0, sm1, sa1, sl0, sl1,
                         q_half_desc, q_rope_desc, kv_half_desc, kv_rope_desc, BLOCK_TABLE, SEQLENS, SEQ_INFO,
                         O_PART, LSE_PART, OUT, pid_h, begin_b, begin_tile, end_b, end_tile, begin_piece, slot_first,
                         partials_first, slot_last, partials_last, stride_bt_b, seq_rows, rows_per_seq, num_heads,
                         q_len, capacity, stride_op_s, stride_lse_s, qk_scale, out_scale,
                         PAGED, PAGE_SIZE, D_LAT, BLOCK_H, BLOCK_N, NUM_BUF, UNIT, 1, SLACK, OWN_SCHED)),
        ], [WG_WARPS], [256])
    else:
        gl.warp_specialize([
            (_wg0, (qs_lo, qs_hi, qs_rope, kv_lo, kv_hi, kv_rope, q_bar, ready_lo, ready_hi, free_lo, free_hi, bar_s0,
                    bar_s1, bar_p0, bar_p1, bar_l0, bar_l1, sm0, sa0, sm1, sa1, sl0, sl1, sl0,
                    kv_half_desc, kv_rope_desc, BLOCK_TABLE, O_PART, LSE_PART, OUT,
                    b, pid_h, pid_s, start, end, n_tiles, seqlen, stride_bt_b, seq_rows, rows_per_seq, num_heads,
                    q_len, stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, qk_scale, out_scale,
                    PAGED, PAGE_SIZE, D_LAT, BLOCK_H, BLOCK_N, NUM_BUF, SINGLE_SPLIT, FP8, False, SLACK)),
            (_wg1, (qs_lo, qs_hi, qs_rope, kv_lo, kv_hi, kv_rope, q_bar, ready_lo, ready_hi, free_lo, free_hi, bar_s0,
                    bar_s1, bar_p0, bar_p1, bar_l0, bar_l1, sm0, sa0, sm1, sa1, sl0, sl1, sl0,
                    kv_half_desc, kv_rope_desc, BLOCK_TABLE, O_PART, LSE_PART, OUT,
                    b, pid_h, pid_s, start, end, n_tiles, seqlen, stride_bt_b, seq_rows, rows_per_seq, num_heads,
                    q_len, stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, qk_scale, out_scale,
                    PAGED, PAGE_SIZE, D_LAT, BLOCK_H, BLOCK_N, NUM_BUF, SINGLE_SPLIT, FP8, False, SLACK)),
        ], [WG_WARPS], [256])
