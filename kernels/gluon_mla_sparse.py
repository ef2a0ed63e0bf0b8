"""Sparse top-k MLA decode (DeepSeek Sparse Attention) for sm_90 in Gluon: any head count (auto: 8+), bf16/fp16 or
fp8-ds rows.

Same maths and arguments as triton_mla_sparse.mla_decode_sparse (each query token attends the `topk` cache rows its
indexer selected; -1 and indices at or past the sequence's length are unused slots). The Triton kernel stays 4-11x
its floor at 64-128 heads (reports/h200/kernels.md): it holds one 8-warp program an SM and cannot keep a gather in
flight beside its dots. This kernel is faster from 8 heads up (at 8-32 heads a program's 64-row tile also computes
the next tokens' rows, unstored: the gather, not the dots, bounds it).

Design: the dense seesaw kernel's two compute warp groups (gluon_mla_seesaw._wg0 / _wg1: scores of whole 32-slot
tiles, softmax handed between the groups, each group owning half of O; here with FED and SPARSE), fed by a third
warp group that gathers (_wg_gather) instead of TMA: a TMA box is a rectangle of the cache, a top-k tile is 32
scattered rows.
  * First the gather group resolves every slot of the split to its cache row (block table, clamped; -1 for an
    unused slot) into shared memory, all index and table loads at once; the compute groups mask scores from it.
    Per tile it issues cp.async copies of 16 bytes straight into the tile's buffer (an unused slot copies nothing:
    cp.async zero-fills it). Four buffers of 32 rows; a buffer is refilled with the tile four ahead once both
    compute groups hand it back (`free`, as in the fp8 kernel). A sequence shorter than the split's slots ends
    the split at its last used slot (_live_tiles: an indexer pads with -1 at the end), so a short context costs
    the tiles it uses, not the whole top-k.
  * 16-bit rows: each gather thread arrives on the tile's `ready` barriers when its own copies land
    (cp.async.mbarrier.arrive.noinc; the barriers count 128 arrivals), so the group never waits for a copy. cp.async
    writes through the generic proxy and wgmma reads through the async proxy, so each compute group fences
    (fence.proxy.async) after the wait that shows it a gathered tile, before its first wgmma on it.
  * fp8-ds rows (cache.pack_fp8_ds: 512 e4m3 values, 4 fp32 scales, 64 bf16 RoPE values; bf16 q): the e4m3 bytes
    land in the upper half of the 16-bit buffer they will occupy (the dense fp8 kernel's trick) and the scales at
    the start of its lower half (_scale_row), free until the dequantisation; once a tile's copies have landed
    (cp.async.wait_group) the group dequantises it in place to fp16 (e4m3 -> fp16, x the group's scale in fp16:
    _dequant_half) and recasts its RoPE part, fences and signals `ready`, while the next tile's copies fly. The
    compute groups are the 16-bit kernel's, multiplying in fp16; Q is recast to fp16 in place once (the dense fp8
    kernel's rule: absorbed queries and RoPE keys must stay under fp16's 65504). fp16 rather than bf16 because the
    gather group's dequantisation is on the kernel's critical path, and a bf16 result costs twice its conversions
    (e4m3 -> bf16 goes through fp16 and fp32 on sm_90).
Rows: one program = up to 64 heads of one query token x one split of its index list (grid: head blocks, splits,
B * s_q); splits are whole tiles, merged by triton_split_kv.combine_splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.ampere import async_copy
from triton.experimental.gluon.language.nvidia.hopper import fence_async_shared, mbarrier
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

from .cache import fp8_ds_row_bytes, fp8_ds_views
from .checks import check_lengths_and_table, check_scale, require
from .gluon_mla_seesaw import RESCALE_SLACK, WG_WARPS, _cta_sync, _fp8_upper, _handover_barriers, _handover_vectors, \
    _load_q, _recast_q, _stack_q, _valid_length, _wg0, _wg1
from .launch import FastLauncher, cached_plan, checks_enabled, device_capability, layout_key, num_sms, new_launch_key
from .triton_flash import LOG2E
from .triton_mla_sparse import _check_sparse
from .triton_split_kv import combine_splits, plan_splits

__all__ = ["GluonSparseConfig", "mla_decode_sparse_gluon", "gluon_sparse_supported", "compile_sparse_sm90"]

# cp.async global -> shared: `async_copy_global_to_shared` in Triton 3.6 (the GPU machine), `async_load` later (CI's
# 3.9, where the old name raises); same leading arguments
_cp_async = getattr(async_copy, "async_load", None) or async_copy.async_copy_global_to_shared

BLOCK_H = 64  # heads a program: one wgmma M tile (fewer heads: the rest of the tile is the next query tokens' rows,
# computed and not stored)
# impl="auto" (decode.py) picks this kernel from this many heads (below it: the Triton sparse kernel). Measured on
# the H200 at 16 and 32 heads (reports/h200/tuning/ab_sparse_gluon_heads.json): 0.44-0.96x the Triton kernel's time
# (bf16 rows 0.64-0.96, fp8-ds 0.44-0.69; batch 8-128, top-2048 of 32k); at 8 heads, 4 layers of GLM-5 at tp 8 and
# DeepSeek-V3.2 at tp 16 through the profiler (reports/h200/dsa_profile_more.jsonl): 0.72-0.93x; fewer not timed
AUTO_MIN_HEADS = 8
# Slots a split holds resolved in shared memory (4 bytes each, beside Q and the four buffers: 227 KB in all; a power
# of two: the resolving tensor's length); the planner splits longer index lists. fp8-ds rows too, since their scales
# land in free bytes of the buffers (_scale_row): 231,712 bytes of shared memory under triton 3.6, 227,616 at 1,024
MAX_SLOTS = 2048
BLOCK_N = 32  # index slots a tile
NUM_BUF = 4
# Registers a thread (64 K a CTA: <= 512 a lane over the three groups, Triton keeping 8): the gather group holds
# row offsets and copy addresses only. At 56 its loop keeps 2 spill instructions a tile with 16-bit rows and 7 in
# the fp8-ds loop body (both parity branches; 40: ~30 a tile; sm_90 compiles with triton 3.6, counted as
# bench/sass_loops.py counts); the compute groups get 224 each (the fp8 kernel's 232 less 8: WG0's loop keeps 7-10
# spill instructions)
COMPUTE_REGS = gl.constexpr(224)
GATHER_REGS = gl.constexpr(56)


@dataclass(frozen=True)
class GluonSparseConfig:
    """min_tokens_per_split: the shortest chunk of an index list a program takes (splits fill the SMs at small
    batches; each costs a partial output and its merge). rescale_slack: as GluonMLAConfig's (the compute groups are
    the dense kernel's). fp8_wave_chunk: for fp8-ds rows, when the planned grid is under one wave of programs, the
    most splits that keep one wave with chunks of at least this many slots (0: the byte planner alone; see
    sparse_gluon_splits). stack_q: as GluonMLAConfig's (gluon_mla_seesaw._stack_q; False: Q's loop-invariant view,
    for A/B runs)."""

    min_tokens_per_split: int = 128
    rescale_slack: float = RESCALE_SLACK.value
    fp8_wave_chunk: int = 128
    stack_q: bool = True


DEFAULT_SPARSE_CONFIG = GluonSparseConfig()


@gluon.constexpr_function
def _copy_layout(cols, vec):
    """Registers-to-rows layout of a [rows, cols] copy in 16-byte pieces of `vec` values, over one warp group."""
    tpr = cols // vec  # threads a row
    return gl.BlockedLayout([1, vec], [32 // tpr, tpr], [WG_WARPS.value, 1], [1, 0])


@gluon.jit
def _load_slots(IDX, start, end, limit, MAX_SLOTS: gl.constexpr):
    """(slot numbers, indices, used) of the split's slots start .. end of the index list IDX, MAX_SLOTS at once over
    one warp group (-1 past end): an index is used when 0 <= idx < limit."""
    layout: gl.constexpr = gl.BlockedLayout([MAX_SLOTS // (32 * WG_WARPS)], [32], [WG_WARPS], [0])
    slots = start + gl.arange(0, MAX_SLOTS, layout=layout)
    slot_ok = slots < end
    idx = gl.load(IDX + slots, mask=slot_ok, other=-1)
    return slots, idx, slot_ok & (idx >= 0) & (idx < limit)


@gluon.jit
def _translate_slots(srow, rows_done, IDX, BT_ROW, start, end, limit, num_blocks, MAX_SLOTS: gl.constexpr,
                     PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr):
    """Once per program: every slot of the split (start .. end of the query token's index list IDX, at most
    MAX_SLOTS) -> its cache row (page * PAGE_SIZE + row in page), or -1 for an unused slot, into srow ([tiles, 32]
    int32 shared memory), then one arrival on rows_done. An index is a token position of the sequence (through the
    block table row BT_ROW when PAGED, else a row of the flattened pool: FlashMLA's convention); it is used when
    0 <= idx < limit. Table entries are clamped to [0, num_blocks), so nothing addresses outside the cache
    (triton_flash.selected_rows, in Gluon). All of a split's index and table loads are in flight at once: done per
    tile they were a chain of two dependent loads for every 32 rows (Nsight Compute: long-scoreboard stalls)."""
    _, idx, ok = _load_slots(IDX, start, end, limit, MAX_SLOTS)
    idx = gl.where(ok, idx, 0)
    if PAGED:
        page = gl.load(BT_ROW + idx // PAGE_SIZE, mask=ok, other=0)
        page = gl.minimum(gl.maximum(page, 0), num_blocks - 1)
    else:
        page = idx // PAGE_SIZE
    flat = srow._reinterpret(gl.int32, [MAX_SLOTS], srow.type.layout)
    flat.store(gl.where(ok, page * PAGE_SIZE + idx % PAGE_SIZE, -1))
    _cta_sync()
    mbarrier.arrive(rows_done)


@gluon.jit
def _live_tiles(IDX, start, end, limit, MAX_SLOTS: gl.constexpr, BLOCK_N: gl.constexpr):
    """Tiles of the split's slots (start .. end of IDX) up to its last used one (0 <= idx < limit): an indexer pads
    a sequence shorter than its top-k with -1 at the end of the list (DeepSeek-V3.2's top-k, vLLM's sparse MLA
    indexer), so the tiles past it hold no used slot and need neither copies nor dots. Exact for any slot order
    (unused slots before the last used one are masked as before)."""
    slots, _, used = _load_slots(IDX, start, end, limit, MAX_SLOTS)
    last = gl.max(gl.where(used, slots, start - 1), axis=0)
    return gl.cdiv(last + 1 - start, BLOCK_N)


@gluon.jit
def _tile_rows(srow, t, row_layout: gl.constexpr, PAGE_SIZE: gl.constexpr):
    """(valid, page, row in page) of tile t's slots (row t of srow, from _translate_slots), in row_layout; unused
    slots point at row 0 of page 0 and are not copied."""
    row = srow.index(t).load(row_layout)
    ok = row >= 0
    row = gl.maximum(row, 0)
    return ok, (row // PAGE_SIZE).to(gl.int64), row % PAGE_SIZE


@gluon.jit
def _copy_rows(dst, BASE, rows, stride_page, stride_tok, col0, COLS: gl.constexpr):
    """cp.async of columns [col0, col0 + COLS) of the selected rows (rows = (valid, page, row in page) from
    _tile_rows in the row layout of _copy_layout(COLS, 16-byte pieces of BASE's dtype); BASE: a view of the cache
    with its own element strides) into dst ([BLOCK_N, COLS] shared memory), 16 bytes a copy; unused slots are
    zero-filled."""
    VEC: gl.constexpr = 16 // BASE.dtype.element_ty.primitive_bitwidth * 8
    layout: gl.constexpr = _copy_layout(COLS, VEC)
    ok, page, off = rows
    row = gl.multiple_of(page * stride_page + off * stride_tok, VEC)  # rows start on 16 bytes (the wrapper checks)
    cols = col0 + gl.arange(0, COLS, layout=gl.SliceLayout(0, layout))
    _cp_async(dst, BASE + gl.expand_dims(row, 1) + gl.expand_dims(cols, 0),
              gl.expand_dims(ok, 1) & gl.expand_dims(cols >= 0, 0))


@gluon.jit
def _scale_row(kv_half, buf, g, BLOCK_N: gl.constexpr):
    """Where the gather group lands scale group g of one latent half of an fp8-ds tile ([BLOCK_N] fp32, one value a
    slot): the g-th 4 * BLOCK_N bytes of 16-bit buffer buf of kv_half. Those bytes are in the lower half of the
    buffer, free while its e4m3 bytes wait in the upper half (_fp8_upper), and _dequant_half reads the scales before
    it overwrites them. Why there: a separate scale array (2 KB) left no room for 2,048 resolved slots beside Q and
    the four buffers (233,776 bytes of 232,448 under triton 3.6), so top-2048 took two splits and a merge."""
    NUM_BUF: gl.constexpr = kv_half.shape[0]
    ROWS: gl.constexpr = kv_half.shape[1] * kv_half.shape[2] * 2 // (4 * BLOCK_N)  # fp32 rows a 16-bit buffer
    flat_l: gl.constexpr = gl.SwizzledSharedLayout(1, 1, 1, [0])
    return kv_half._reinterpret(gl.float32, [NUM_BUF * ROWS, BLOCK_N], flat_l).index(buf * ROWS + g)


@gluon.jit
def _copy_scales(kv_lo, kv_hi, buf, BASE, rows, stride_page, stride_tok, GROUPS: gl.constexpr,
                 BLOCK_N: gl.constexpr):
    """cp.async of the GROUPS fp8-ds scales of each selected row (rows from _tile_rows in a 1-D layout): the first
    half's groups into buffer buf of kv_lo, the second half's into kv_hi (_scale_row)."""
    ok, page, off = rows
    src = BASE + page * stride_page + off * stride_tok
    HALF: gl.constexpr = GROUPS // 2
    for g in gl.static_range(HALF):
        _cp_async(_scale_row(kv_lo, buf, g, BLOCK_N), src + g, ok)
        _cp_async(_scale_row(kv_hi, buf, g, BLOCK_N), src + HALF + g, ok)


@gluon.jit
def _issue_tile(t, kv_lo, kv_hi, kv_rope, srow, free_lo, free_hi, KV_LAT, KV_SC, KV_ROPE,
                stride_lat_page, stride_lat_tok, stride_sc_page, stride_sc_tok, stride_rope_page, stride_rope_tok,
                FP8_DS: gl.constexpr, D_LAT: gl.constexpr, D_ROPE: gl.constexpr, BLOCK_N: gl.constexpr,
                NUM_BUF: gl.constexpr, PAGE_SIZE: gl.constexpr):
    """Once the tile that held buffer t % NUM_BUF (t - NUM_BUF) is handed back by both compute groups, issue tile t's
    copies: the latent halves (FP8_DS: the e4m3 bytes into the upper half of each 16-bit buffer, kept for
    _dequant_half, and each half's two group scales at the start of its buffer: _scale_row), the RoPE part."""
    D_HALF: gl.constexpr = D_LAT // 2
    buf = t % NUM_BUF
    if t >= NUM_BUF:
        fph = (t // NUM_BUF - 1) & 1
        mbarrier.wait(free_lo.index(buf), fph)
        mbarrier.wait(free_hi.index(buf), fph)
    if FP8_DS:
        raw_l: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_N, D_HALF], gl.float8e4nv)
        raw_lo = kv_lo._reinterpret(gl.float8e4nv, [2 * NUM_BUF, BLOCK_N, D_HALF], raw_l)
        raw_hi = kv_hi._reinterpret(gl.float8e4nv, [2 * NUM_BUF, BLOCK_N, D_HALF], raw_l)
        dst_lo = _fp8_upper(raw_lo, buf)
        dst_hi = _fp8_upper(raw_hi, buf)
        rows = _tile_rows(srow, t, gl.BlockedLayout([1], [32], [WG_WARPS], [0]), PAGE_SIZE)
        _copy_scales(kv_lo, kv_hi, buf, KV_SC, rows, stride_sc_page, stride_sc_tok, D_LAT // 128, BLOCK_N)
    else:
        dst_lo = kv_lo.index(buf)
        dst_hi = kv_hi.index(buf)
    lat_l: gl.constexpr = _copy_layout(D_HALF, 16 // KV_LAT.dtype.element_ty.primitive_bitwidth * 8)
    rows = _tile_rows(srow, t, gl.SliceLayout(1, lat_l), PAGE_SIZE)
    _copy_rows(dst_lo, KV_LAT, rows, stride_lat_page, stride_lat_tok, 0, D_HALF)
    _copy_rows(dst_hi, KV_LAT, rows, stride_lat_page, stride_lat_tok, D_HALF, D_HALF)
    rope = kv_rope.index(buf)
    if FP8_DS:  # bf16 RoPE values into the fp16 buffer, recast in place by _finish_tile
        rope = rope._reinterpret(KV_ROPE.dtype.element_ty, rope.shape, rope.type.layout)
    rows = _tile_rows(srow, t, gl.SliceLayout(1, _copy_layout(D_ROPE, 8)), PAGE_SIZE)
    _copy_rows(rope, KV_ROPE, rows, stride_rope_page, stride_rope_tok, 0, D_ROPE)


@gluon.jit
def _dequant_half(raw, dst, sc0, sc1, BLOCK_N: gl.constexpr, COLS: gl.constexpr):
    """dst = raw (e4m3, the upper half of dst's bytes) x its group's scale, in fp16 (dst's dtype), in place: scale
    groups 0 (columns 0-127) and 1 (128-255) in sc0 and sc1 ([BLOCK_N] fp32: _scale_row, the first bytes of dst).
    In fp16 throughout: e4m3 -> fp16
    is one cvt for two values and the scale one fp16 multiply for two, where a bf16 result cost four conversions
    for two values (e4m3 -> fp16 -> two fp32 -> packed bf16) and two fp32 multiplies. The scale (amax / 448 of its
    group) rounds to fp16 within 2^-11 from amax 0.027 up and within 1.3% at amax 1e-3 (fp16 subnormals), against the
    ~6% of e4m3's own rounding. The whole tile half is one chunk (32 rows, four swizzle atoms: each thread converts
    four 16-value pieces), loaded with its scales by the whole group before any thread stores it, as
    gluon_mla_seesaw._widen: the stores overwrite the e4m3 bytes and the scales' bytes (a 16-bit row's 512 bytes lie
    in four 4 KB column blocks; the upper two hold the e4m3 rows, the first row pair of the first the scales)."""
    layout: gl.constexpr = _copy_layout(COLS, 16)
    ROWS: gl.constexpr = 4 * 32 // (COLS // 16) * WG_WARPS
    gl.static_assert(ROWS == BLOCK_N, "one chunk a tile half: the scales' bytes are overwritten by its stores")
    first = gl.expand_dims(gl.arange(0, COLS, layout=gl.SliceLayout(0, layout)) < 128, 0)
    x = raw.load(layout)
    s0 = sc0.load(gl.SliceLayout(1, layout)).to(gl.float16)
    s1 = sc1.load(gl.SliceLayout(1, layout)).to(gl.float16)
    _cta_sync()
    scale = gl.where(first, gl.expand_dims(s0, 1), gl.expand_dims(s1, 1))
    dst.store(x.to(gl.float16) * scale)


@gluon.jit
def _rope_to_f16(rope):
    """The tile's RoPE part ([BLOCK_N, D_ROPE] shared memory: bf16 as copied from the cache) to fp16 in place: each
    thread stores the very elements it loaded."""
    layout: gl.constexpr = _copy_layout(rope.shape[1], 8)
    raw = rope._reinterpret(gl.bfloat16, rope.shape, rope.type.layout)
    rope.store(raw.load(layout).to(gl.float16))


@gluon.jit
def _finish_tile(t, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, OUTSTANDING: gl.constexpr,
                 D_LAT: gl.constexpr, BLOCK_N: gl.constexpr, NUM_BUF: gl.constexpr):
    """FP8_DS: once tile t's copies have landed (all but the OUTSTANDING newest copy groups of each thread, then the
    whole group), dequantise its latent and recast its RoPE part to fp16 in place and signal its `ready` barriers
    (fence first: the wgmmas read through the async proxy)."""
    D_HALF: gl.constexpr = D_LAT // 2
    buf = t % NUM_BUF
    async_copy.wait_group(OUTSTANDING)
    _cta_sync()
    raw_l: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_N, D_HALF], gl.float8e4nv)
    raw_lo = kv_lo._reinterpret(gl.float8e4nv, [2 * NUM_BUF, BLOCK_N, D_HALF], raw_l)
    raw_hi = kv_hi._reinterpret(gl.float8e4nv, [2 * NUM_BUF, BLOCK_N, D_HALF], raw_l)
    _dequant_half(_fp8_upper(raw_lo, buf), kv_lo.index(buf), _scale_row(kv_lo, buf, 0, BLOCK_N),
                  _scale_row(kv_lo, buf, 1, BLOCK_N), BLOCK_N, D_HALF)
    _dequant_half(_fp8_upper(raw_hi, buf), kv_hi.index(buf), _scale_row(kv_hi, buf, 0, BLOCK_N),
                  _scale_row(kv_hi, buf, 1, BLOCK_N), BLOCK_N, D_HALF)
    _rope_to_f16(kv_rope.index(buf))
    fence_async_shared()
    _cta_sync()
    mbarrier.arrive(ready_lo.index(buf))
    mbarrier.arrive(ready_hi.index(buf))


@gluon.jit
def _wg_gather(kv_lo, kv_hi, kv_rope, srow, rows_done, ready_lo, ready_hi, free_lo, free_hi, q_lo, q_hi, q_rope,
               q_lo_c, q_hi_c, q_rope_c, q_bar, KV_LAT, KV_SC,
               KV_ROPE, IDX, BT_ROW, start, end, n_tiles, limit, num_blocks, stride_lat_page, stride_lat_tok,
               stride_sc_page, stride_sc_tok, stride_rope_page, stride_rope_tok,
               PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr, FP8_DS: gl.constexpr, D_LAT: gl.constexpr,
               D_ROPE: gl.constexpr, BLOCK_H: gl.constexpr, BLOCK_N: gl.constexpr, NUM_BUF: gl.constexpr,
               MAX_SLOTS: gl.constexpr):
    """Warp group 2: tile t goes to buffer t % NUM_BUF once the compute groups have handed back both halves of the
    tile that held it (t - NUM_BUF).
    16-bit rows: every thread arrives on the tile's two `ready` barriers as its own copies land
    (cp.async.mbarrier.arrive.noinc), so the group only ever waits for buffers.
    fp8-ds rows: tile t - 1 is dequantised while tile t's copies fly. For an odd t - 1 that happens before the wait
    for tile t - 4's buffer: the group that hands that buffer back (WG1, after P0 V0_R) needs tile t - 1 next.
    First every slot of the split is resolved to its cache row (_translate_slots); fp8-ds: then Q is recast to fp16
    in place (q_lo_c ...: the fp16 views the compute groups read); rows_done counts both."""
    _translate_slots(srow, rows_done, IDX, BT_ROW, start, end, limit, num_blocks, MAX_SLOTS, PAGED, PAGE_SIZE)
    if FP8_DS:
        _recast_q(q_lo, q_hi, q_rope, q_lo_c, q_hi_c, q_rope_c, q_bar, rows_done, D_LAT, BLOCK_H)
        for t in range(n_tiles + 1):
            if t % 2 == 0:
                if t >= 1:
                    _finish_tile(t - 1, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, 0, D_LAT, BLOCK_N, NUM_BUF)
                if t < n_tiles:
                    _issue_tile(t, kv_lo, kv_hi, kv_rope, srow, free_lo, free_hi, KV_LAT, KV_SC, KV_ROPE,
                                stride_lat_page, stride_lat_tok, stride_sc_page, stride_sc_tok, stride_rope_page,
                                stride_rope_tok, FP8_DS, D_LAT, D_ROPE, BLOCK_N, NUM_BUF, PAGE_SIZE)
                    async_copy.commit_group()
            else:
                if t < n_tiles:
                    _issue_tile(t, kv_lo, kv_hi, kv_rope, srow, free_lo, free_hi, KV_LAT, KV_SC, KV_ROPE,
                                stride_lat_page, stride_lat_tok, stride_sc_page, stride_sc_tok, stride_rope_page,
                                stride_rope_tok, FP8_DS, D_LAT, D_ROPE, BLOCK_N, NUM_BUF, PAGE_SIZE)
                    async_copy.commit_group()
                    _finish_tile(t - 1, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, 1, D_LAT, BLOCK_N, NUM_BUF)
                else:
                    _finish_tile(t - 1, kv_lo, kv_hi, kv_rope, ready_lo, ready_hi, 0, D_LAT, BLOCK_N, NUM_BUF)
    else:
        for t in range(n_tiles):
            _issue_tile(t, kv_lo, kv_hi, kv_rope, srow, free_lo, free_hi, KV_LAT, KV_SC, KV_ROPE,
                        stride_lat_page, stride_lat_tok, stride_sc_page, stride_sc_tok, stride_rope_page,
                        stride_rope_tok, FP8_DS, D_LAT, D_ROPE, BLOCK_N, NUM_BUF, PAGE_SIZE)
            async_copy.mbarrier_arrive(ready_lo.index(t % NUM_BUF), increment_count=False)
            async_copy.mbarrier_arrive(ready_hi.index(t % NUM_BUF), increment_count=False)


@gluon.jit
def _mla_sparse_seesaw_kernel(
    q_half_desc, q_rope_desc,
    KV_LAT, KV_SC, KV_ROPE, INDICES, BLOCK_TABLE, SEQLENS, O_PART, LSE_PART, OUT,
    stride_lat_page, stride_lat_tok, stride_sc_page, stride_sc_tok, stride_rope_page, stride_rope_tok,
    stride_bt_b, stride_i_b, stride_i_t,
    num_heads, q_len, topk, tokens_per_split, num_blocks, capacity,
    stride_op_b, stride_op_s, stride_lse_b, stride_lse_s,
    qk_scale,
    PAGED: gl.constexpr, PAGE_SIZE: gl.constexpr, HAS_LENS: gl.constexpr, FP8_DS: gl.constexpr,
    D_LAT: gl.constexpr, D_ROPE: gl.constexpr, BLOCK_H: gl.constexpr, BLOCK_N: gl.constexpr,
    NUM_BUF: gl.constexpr, SINGLE_SPLIT: gl.constexpr, MAX_SLOTS: gl.constexpr,
    SLACK: gl.constexpr = RESCALE_SLACK, STACK_Q: gl.constexpr = True,
):
    """Grid (head blocks, splits, B * s_q). Q comes by TMA ([B * s_q * H, 576] view), the cache rows by the gather
    group through three views of the cache (latent, scales, RoPE; 16-bit rows: the latent view for the scales too,
    unused); the compute groups are the dense kernel's with FED (hand buffers back on `free`) and SPARSE (mask from
    the resolved rows, no causal limit, proxy fences)."""
    pid_h = gl.program_id(0)
    pid_s = gl.program_id(1)
    bt = gl.program_id(2)  # b * q_len + t
    b = bt // q_len
    t_q = bt % q_len
    if HAS_LENS:
        limit = _valid_length(SEQLENS, b, capacity)  # a length past the pool would read past the table row
    else:
        limit = capacity
    start = pid_s * tokens_per_split
    end = gl.minimum(start + tokens_per_split, topk)
    n_tiles = gl.maximum(gl.cdiv(end - start, BLOCK_N), 0)
    D_HALF: gl.constexpr = D_LAT // 2
    IDX = INDICES + b.to(gl.int64) * stride_i_b + t_q * stride_i_t
    # a sequence shorter than the split's slots: no tile past its last used slot (_live_tiles). Without lengths (rows
    # of the pool, FlashMLA's convention) only the list tells, so the split always looks: a context under the top-k
    # (a -1 tail) measured 166 us a layer at 97 x 884 keys x 128 heads, what the whole top-2048 takes (session_cx)
    if HAS_LENS:
        if limit < end:
            n_tiles = _live_tiles(IDX, start, end, limit, MAX_SLOTS, BLOCK_N)
    else:
        n_tiles = _live_tiles(IDX, start, end, limit, MAX_SLOTS, BLOCK_N)
    BT_ROW = BLOCK_TABLE + b * stride_bt_b

    dtype: gl.constexpr = q_half_desc.dtype
    half_l: gl.constexpr = q_half_desc.layout
    rope_l: gl.constexpr = q_rope_desc.layout
    cdt: gl.constexpr = gl.float16 if FP8_DS else dtype  # what the wgmmas multiply (fp8-ds: _dequant_half)
    q_lo = gl.allocate_shared_memory(dtype, [BLOCK_H, D_HALF], half_l)
    q_hi = gl.allocate_shared_memory(dtype, [BLOCK_H, D_HALF], half_l)
    q_rope = gl.allocate_shared_memory(dtype, [BLOCK_H, D_ROPE], rope_l)
    kv_lo = gl.allocate_shared_memory(cdt, [NUM_BUF, BLOCK_N, D_HALF], half_l)
    kv_hi = gl.allocate_shared_memory(cdt, [NUM_BUF, BLOCK_N, D_HALF], half_l)
    kv_rope = gl.allocate_shared_memory(cdt, [NUM_BUF, BLOCK_N, D_ROPE], rope_l)  # also carries P
    vec_l: gl.constexpr = gl.SwizzledSharedLayout(1, 1, 1, [0])
    # the split's slots resolved to cache rows (_translate_slots), a row of 32 a tile (a 1-D layout: .index(t) is
    # one row)
    srow = gl.allocate_shared_memory(gl.int32, [MAX_SLOTS // BLOCK_N, BLOCK_N], vec_l)
    sm0, sa0, sm1, sa1, sl0, sl1 = _handover_vectors(BLOCK_H)
    bar_l: gl.constexpr = mbarrier.MBarrierLayout()
    q_bar = gl.allocate_shared_memory(gl.int64, [1], bar_l)
    ready_lo = gl.allocate_shared_memory(gl.int64, [NUM_BUF, 1], bar_l)
    ready_hi = gl.allocate_shared_memory(gl.int64, [NUM_BUF, 1], bar_l)
    free_lo = gl.allocate_shared_memory(gl.int64, [NUM_BUF, 1], bar_l)
    free_hi = gl.allocate_shared_memory(gl.int64, [NUM_BUF, 1], bar_l)
    # 16-bit rows: one cp.async arrive a gather thread; fp8-ds: one arrive after the dequantisation
    READY_COUNT: gl.constexpr = 1 if FP8_DS else 32 * WG_WARPS
    if FP8_DS:  # Q's TMA on q_bar; the compute groups wait for the resolved rows and Q recast to fp16 (q_ready)
        q_ready = gl.allocate_shared_memory(gl.int64, [1], bar_l)
        mbarrier.init(q_bar, count=1)
        mbarrier.init(q_ready, count=2)
        q_lo_c = q_lo._reinterpret(cdt, [BLOCK_H, D_HALF], half_l)
        q_hi_c = q_hi._reinterpret(cdt, [BLOCK_H, D_HALF], half_l)
        q_rope_c = q_rope._reinterpret(cdt, [BLOCK_H, D_ROPE], rope_l)
    else:  # Q's TMA and the gather group's resolved rows (the compute groups wait for both)
        q_ready = q_bar
        mbarrier.init(q_bar, count=2)
        q_lo_c = q_lo
        q_hi_c = q_hi
        q_rope_c = q_rope
    for k in gl.static_range(NUM_BUF):
        mbarrier.init(ready_lo.index(k), count=READY_COUNT)
        mbarrier.init(ready_hi.index(k), count=READY_COUNT)
        mbarrier.init(free_lo.index(k), count=1)
        mbarrier.init(free_hi.index(k), count=1)
    bar_s0, bar_s1, bar_p0, bar_p1, bar_l0, bar_l1 = _handover_barriers()
    fence_async_shared()

    _load_q(q_half_desc, q_rope_desc, q_bar, q_lo, q_hi, q_rope, bt * num_heads + pid_h * BLOCK_H, D_LAT)

    # the compute groups' arguments, written out (a tuple held in a variable loses its constexprs under Triton 3.6):
    # sequence = query token (bt), rows_per_seq = heads, q_len 1 (no causal limit: SPARSE), seqlen = the index limit;
    # the TMA descriptors of the cache are unused (FED), Q's stand in; seq_rows (unused: FED) is num_blocks, a
    # run-time value >= 0 whose sign is the opaque zero that indexes Q's stacked views (_stack_q)
    qs_lo = _stack_q(q_lo_c, cdt, STACK_Q)
    qs_hi = _stack_q(q_hi_c, cdt, STACK_Q)
    qs_rope = _stack_q(q_rope_c, cdt, STACK_Q)
    gl.warp_specialize([
        (_wg0, (qs_lo, qs_hi, qs_rope, kv_lo, kv_hi, kv_rope, q_ready, ready_lo, ready_hi, free_lo, free_hi, bar_s0,
                bar_s1, bar_p0, bar_p1, bar_l0, bar_l1, sm0, sa0, sm1, sa1, sl0, sl1, srow,
                q_half_desc, q_rope_desc, BLOCK_TABLE, O_PART, LSE_PART, OUT,
                bt, pid_h, pid_s, start, end, n_tiles, limit, stride_bt_b, num_blocks, num_heads, num_heads,
                1, stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, qk_scale, 1.0,
                PAGED, PAGE_SIZE, D_LAT, BLOCK_H, BLOCK_N, NUM_BUF, SINGLE_SPLIT, True, True, SLACK)),
        (_wg1, (qs_lo, qs_hi, qs_rope, kv_lo, kv_hi, kv_rope, q_ready, ready_lo, ready_hi, free_lo, free_hi, bar_s0,
                bar_s1, bar_p0, bar_p1, bar_l0, bar_l1, sm0, sa0, sm1, sa1, sl0, sl1, srow,
                q_half_desc, q_rope_desc, BLOCK_TABLE, O_PART, LSE_PART, OUT,
                bt, pid_h, pid_s, start, end, n_tiles, limit, stride_bt_b, num_blocks, num_heads, num_heads,
                1, stride_op_b, stride_op_s, stride_lse_b, stride_lse_s, qk_scale, 1.0,
                PAGED, PAGE_SIZE, D_LAT, BLOCK_H, BLOCK_N, NUM_BUF, SINGLE_SPLIT, True, True, SLACK)),
        (_wg_gather, (kv_lo, kv_hi, kv_rope, srow, q_ready, ready_lo, ready_hi, free_lo, free_hi, q_lo, q_hi,
                      q_rope, q_lo_c, q_hi_c, q_rope_c, q_bar, KV_LAT, KV_SC,
                      KV_ROPE, IDX, BT_ROW, start, end, n_tiles, limit, num_blocks, stride_lat_page, stride_lat_tok,
                      stride_sc_page, stride_sc_tok, stride_rope_page, stride_rope_tok,
                      PAGED, PAGE_SIZE, FP8_DS, D_LAT, D_ROPE, BLOCK_H, BLOCK_N, NUM_BUF, MAX_SLOTS)),
    ], [WG_WARPS, WG_WARPS], [COMPUTE_REGS, GATHER_REGS])


def gluon_sparse_supported(q: torch.Tensor, kv_cache: torch.Tensor, *, kv_lora_rank: int = 512) -> bool:
    """Whether mla_decode_sparse_gluon handles this call: an sm_90 GPU, 512 + 64 dims, any head count (a program
    computes 64 query rows and stores the token's own: BLOCK_H), q contiguous; bf16/fp16 q with rows of its dtype,
    or bf16 q with fp8-ds rows (cache.pack_fp8_ds: 656 bytes; multiplied in fp16, so q and the RoPE keys must stay
    under 65504 in magnitude); rows starting on 16 bytes (cp.async copies 16 bytes)."""
    if not (q.is_cuda and device_capability(q.device)[0] == 9) or kv_cache.dim() != 3 or q.dim() != 4:
        return False
    B, s_q, H, Dk = q.shape
    if kv_lora_rank != 512 or Dk != 576:  # before the row size: fp8_ds_row_bytes asserts whole scale groups
        return False
    fp8_ds = kv_cache.dtype == torch.uint8
    row_bytes = fp8_ds_row_bytes(512, 64) if fp8_ds else Dk * q.element_size()
    dtype_ok = (q.dtype == torch.bfloat16 and fp8_ds) or (q.dtype in (torch.bfloat16, torch.float16)
                                                           and kv_cache.dtype == q.dtype)
    return (dtype_ok and q.is_contiguous()
            and kv_cache.shape[-1] * kv_cache.element_size() == row_bytes and kv_cache.stride(-1) == 1
            and all(st * kv_cache.element_size() % 16 == 0 for st in kv_cache.stride()[:2])
            and kv_cache.data_ptr() % 16 == 0)


def mla_decode_sparse_gluon(
    q: torch.Tensor,
    kv_cache: torch.Tensor,
    indices: torch.Tensor,
    block_table: torch.Tensor | None = None,
    cache_seqlens: torch.Tensor | None = None,
    *,
    softmax_scale: float,
    kv_lora_rank: int = 512,
    num_splits: int | None = None,
    config: GluonSparseConfig = DEFAULT_SPARSE_CONFIG,
    out: torch.Tensor | None = None,
    check: bool | None = None,
) -> torch.Tensor:
    """Sparse absorbed MLA decode on sm_90 (see gluon_sparse_supported). Arguments and result as
    triton_mla_sparse.mla_decode_sparse: q [B, s_q, H, 576], kv_cache paged [num_blocks, block_size, 576] (bf16/fp16)
    or uint8 [num_blocks, block_size, 656] (fp8-ds), indices [B, s_q, topk] int32 (through block_table [B, nblk]
    int32, or rows of the flattened pool), -1 unused, cache_seqlens [B] int32 optional -> [B, s_q, H, 512] in
    q.dtype. Bad input: one KernelInputError (ValueError). Host cost: the plan (splits, scratch, the cache's views,
    Q's TMA descriptors while q's address stays) is cached per shape."""
    key = (layout_key(q), q.device, layout_key(kv_cache), layout_key(indices), layout_key(block_table),
           layout_key(cache_seqlens), layout_key(out), kv_lora_rank, num_splits, config)

    def make():
        _check_sparse(q, kv_cache, indices, block_table, cache_seqlens, kv_lora_rank, out)
        require(gluon_sparse_supported(q, kv_cache, kv_lora_rank=kv_lora_rank), "q",
                "this call is outside the Gluon sparse kernel's domain (gluon_sparse_supported): use "
                "mla_decode_sparse")
        return _GluonSparsePlan(q, kv_cache, indices, block_table, num_splits=num_splits, config=config)

    plan = cached_plan("mla_decode_sparse_gluon", key, make, q.device)
    check_scale(softmax_scale)  # the kernel folds it into the exponent
    if checks_enabled(check, q.device):
        check_lengths_and_table(cache_seqlens, block_table, num_blocks=kv_cache.shape[0], page_size=plan.page_size,
                                capacity=plan.capacity, indices=indices)
    return plan.launch(q, kv_cache, indices, block_table, cache_seqlens, softmax_scale, out)


def sparse_gluon_splits(batch_tokens: int, heads: int, topk: int, *, sms: int, row_bytes: int = 1152,
                        config: GluonSparseConfig = DEFAULT_SPARSE_CONFIG,
                        num_splits: int | None = None) -> tuple[int, int]:
    """(num_splits, tokens_per_split) mla_decode_sparse_gluon launches with for `batch_tokens` = B * s_q query
    tokens of `heads` heads over `topk` slots of `row_bytes` (1152 bf16, 656 fp8-ds): the Triton planner over
    batch_tokens x ceil(heads / 64) programs, one an SM, whole tiles of 32 slots; then at least enough splits that
    none holds more than the kernel resolves in shared memory (MAX_SLOTS).

    fp8-ds rows (8-bit latents: row_bytes < 2 x 576), then, where that grid is under one wave: the most splits that
    keep one wave with chunks of config.fp8_wave_chunk slots or more. The byte planner prices an fp8-ds slot at its
    656 bytes, but a slot's time is its widening and chain of dependent loads, longer than a bf16 slot's (at batch
    1-32 the fitted time a slot of a chunk was 1.47x bf16's: bench/sparse_splits_fit.py), so it kept fp8-ds chunks
    too long. Measured
    (bench/ab_sparse_splits.py, graph-timed, best of two rounds): on an H100 (reports/h100/tuning/
    ab_sparse_splits_session_bn.json, then _bo.json as the default) this rule / the byte plan took 0.92-0.95 at the
    6 fp8-ds points where it changes the plan (batch 1-16 x 64/128 heads), 0.99-1.00 elsewhere; applied to bf16 rows
    it was mixed (0.98-1.05), so they keep the byte plan.
    On the H200 (ab_sparse_splits_session_bm.json) forced counts within one wave gave fp8-ds 0.89-0.93, and past one
    wave lost 1.2-4x for both formats: the partials are then real traffic."""
    splits, tokens = plan_splits(batch_tokens * triton.cdiv(heads, BLOCK_H), topk, BLOCK_N, sms=sms,
                                 num_splits=num_splits, min_tokens=config.min_tokens_per_split, token_bytes=row_bytes,
                                 partial_bytes_per_split=batch_tokens * heads * 512 * 8)
    if tokens > MAX_SLOTS:
        splits, tokens = plan_splits(0, topk, BLOCK_N, sms=sms, num_splits=triton.cdiv(topk, MAX_SLOTS))
    if num_splits is None and config.fp8_wave_chunk and row_bytes < 2 * 576:
        programs = max(batch_tokens * triton.cdiv(heads, BLOCK_H), 1)
        wave = min(sms // programs, topk // config.fp8_wave_chunk)  # chunks of fp8_wave_chunk or more
        if wave > splits:
            splits, tokens = plan_splits(0, topk, BLOCK_N, sms=sms, num_splits=wave)
    return splits, tokens


def _cache_views(kv_cache: torch.Tensor, r: int):
    """(latent, scales, rope) views of the cache, each with its own element strides: fp8-ds rows through
    cache.fp8_ds_views; 16-bit rows are their own latent view (and stand in for the unused scales)."""
    if kv_cache.dtype == torch.uint8:
        return fp8_ds_views(kv_cache, r)
    return kv_cache, kv_cache, kv_cache[..., r:]


class _GluonSparsePlan:
    def __init__(self, q, kv_cache, indices, block_table, *, num_splits, config):
        self.launch_key = new_launch_key()
        B, s_q, H, Dk = q.shape
        dev = q.device
        self.B, self.s_q, self.H, self.Dk, self.r = B, s_q, H, Dk, 512
        topk = indices.shape[2]
        self.fp8_ds = kv_cache.dtype == torch.uint8
        self.page_size = kv_cache.shape[1]
        self.num_blocks = kv_cache.shape[0]
        self.paged = block_table is not None
        self.capacity = (block_table.shape[1] if self.paged else self.num_blocks) * self.page_size
        self.splits, tokens_per_split = sparse_gluon_splits(
            B * s_q, H, topk, sms=num_sms(dev), row_bytes=kv_cache.shape[-1] * kv_cache.element_size(),
            config=config, num_splits=num_splits)
        self.grid = (triton.cdiv(H, BLOCK_H), self.splits, B * s_q)
        self.single = self.splits == 1
        self.slack = config.rescale_slack
        self.stack_q = config.stack_q
        if self.single:
            self.o_part = self.lse_part = None
            sp = (0, 0, 0, 0)
        else:
            self.o_part = torch.empty((B * s_q, self.splits, H, self.r), dtype=torch.float32, device=dev)
            self.lse_part = torch.empty((B * s_q, self.splits, H), dtype=torch.float32, device=dev)
            sp = (self.o_part.stride(0), self.o_part.stride(1), self.lse_part.stride(0), self.lse_part.stride(1))
        gdt = gl.bfloat16 if q.dtype == torch.bfloat16 else gl.float16
        self.layout = gl.NVMMASharedLayout.get_default_for([BLOCK_H, self.r], gdt)  # as the dense kernel's buffers
        views = _cache_views(kv_cache, self.r)
        self.ints = (*(st for v in views for st in v.stride()[:2]), block_table.stride(0) if self.paged else 0,
                     indices.stride(0), indices.stride(1), H, s_q, topk, tokens_per_split, self.num_blocks,
                     self.capacity, *sp)
        self._q_key = self._kv_key = None
        self._q_descs = self._views = None

    def q_descriptors(self, q):
        if q.data_ptr() != self._q_key:
            q2d = q.view(-1, self.Dk)
            self._q_descs = (
                TensorDescriptor(q2d, list(q2d.shape), list(q2d.stride()), [BLOCK_H, self.r // 2], self.layout),
                TensorDescriptor(q2d, list(q2d.shape), list(q2d.stride()), [BLOCK_H, self.Dk - self.r], self.layout),
            )
            self._q_key = q.data_ptr()
        return self._q_descs

    def cache_views(self, kv_cache):
        """The cache's three views, rebuilt only when its address changes (the plan's key fixes shape, strides
        and dtype): 2-6 tensor views a call were host time of every eager call."""
        if kv_cache.data_ptr() != self._kv_key:
            self._views = _cache_views(kv_cache, self.r)
            self._kv_key = kv_cache.data_ptr()
        return self._views

    def launch(self, q, kv_cache, indices, block_table, cache_seqlens, softmax_scale, out):
        B, s_q, H, r = self.B, self.s_q, self.H, self.r
        if out is None:
            out = torch.empty((B, s_q, H, r), dtype=q.dtype, device=q.device)
        o_part = self.o_part if self.o_part is not None else out  # unused pointers with one split
        lse_part = self.lse_part if self.lse_part is not None else out
        has_lens = cache_seqlens is not None
        lens = cache_seqlens if has_lens else indices  # unused pointer
        bt = block_table if block_table is not None else indices  # unused pointer
        args = (*self.q_descriptors(q), *self.cache_views(kv_cache), indices, bt, lens, o_part, lse_part, out,
                *self.ints, softmax_scale * LOG2E, self.paged, self.page_size, has_lens, self.fp8_ds, r,
                self.Dk - r, BLOCK_H, BLOCK_N, NUM_BUF, self.single, MAX_SLOTS, self.slack, self.stack_q)
        _LAUNCH_SPARSE_SEESAW((self.launch_key, has_lens), self.grid, args, num_warps=4)
        if not self.single:
            combine_splits(self.o_part, self.lse_part, out.view(B * s_q, H, r), key=self.launch_key)
        return out


_LAUNCH_SPARSE_SEESAW = FastLauncher(_mla_sparse_seesaw_kernel)


def compile_sparse_sm90(*, fp8_ds: bool = False, paged: bool = True, has_lens: bool = True,
                        single_split: bool = False, rescale_slack: float = RESCALE_SLACK.value, stack_q: bool = True):
    """Compile the kernel for sm_90 without a GPU (Triton ships ptxas): the CPU check that it builds, fits in shared
    memory and uses cp.async with zero-fill and the intended register split; fp8_ds: the 656-byte rows (bf16 q).
    Returns triton's CompiledKernel."""
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon._runtime import GluonASTSource

    lay = repr(gl.NVMMASharedLayout.get_default_for([BLOCK_H, 512], gl.bfloat16))
    q_desc = lambda rows, cols: f"tensordesc<bf16[{rows},{cols}],{lay}>"
    views = ["*fp8e4nv", "*fp32", "*bf16"] if fp8_ds else ["*bf16"] * 3
    arg_types = [q_desc(BLOCK_H, 256), q_desc(BLOCK_H, 64), *views, "*i32", "*i32", "*i32", "*fp32", "*fp32",
                 "*bf16"] + ["i32"] * 19 + ["fp32"]
    consts = dict(PAGED=paged, PAGE_SIZE=64, HAS_LENS=has_lens, FP8_DS=fp8_ds, D_LAT=512, D_ROPE=64,
                  BLOCK_H=BLOCK_H, BLOCK_N=BLOCK_N, NUM_BUF=NUM_BUF, SINGLE_SPLIT=single_split,
                  MAX_SLOTS=MAX_SLOTS, SLACK=rescale_slack, STACK_Q=stack_q)
    kernel = _mla_sparse_seesaw_kernel
    names = kernel.arg_names
    signature = dict(zip(names, arg_types)) | {k: "constexpr" for k in consts}
    # pointers and 16-divisible strides marked as the launcher specialises them at run time (fp8-ds: 656-byte rows;
    # its scale view's strides, 164 floats, are not)
    marked = ["KV_LAT", "KV_SC", "KV_ROPE", "INDICES", "BLOCK_TABLE", "stride_lat_page", "stride_lat_tok",
              "stride_rope_page", "stride_rope_tok"]
    if fp8_ds:
        marked = [n for n in marked if n not in ("stride_rope_page", "stride_rope_tok")]  # 328 bf16: 8-divisible
        marked.append("stride_sc_page")
    else:
        marked += ["stride_sc_page", "stride_sc_tok"]
    attrs = {(names.index(n),): [["tt.divisibility", 16]] for n in marked}
    src = GluonASTSource(kernel, signature, constexprs={(names.index(k),): v for k, v in consts.items()}, attrs=attrs)
    return triton.compile(src, target=GPUTarget("cuda", 90, 32), options=dict(num_warps=4))
