"""The inner pieces every Triton flash-decoding kernel here shares (triton_mla_decode.py, triton_gqa_decode.py).

Online softmax in base 2 (the Triton fused-attention tutorial's loop): per query row keep the running max m, the
running sum l of 2^(s - m) and the unnormalised output acc; for each tile of scores s (already multiplied by
softmax_scale * log2 e)
    m' = max(m, max_j s_j),  alpha = 2^(m - m'),  p_j = 2^(s_j - m'),  l' = l alpha + sum_j p_j,  acc' = acc alpha
and the kernel adds p @ V to acc'. Keys past a row's causal limit or the split's end score -inf; a row that has
seen no key yet keeps m = -inf, and its p and alpha use 0 in place of m' so that no NaN (-inf - -inf) appears.
`finish` divides by l and gives the split's log-sum-exp (base 2) for triton_split_kv.combine_splits.

Paging (cache.py's layouts): token n of sequence b lives in block `block_table[b, n // PAGE_SIZE]` at row
n % PAGE_SIZE. `tile_pages` loads the table entries of one tile of BLOCK_N keys and `tile_rows` turns them into
element offsets. A kernel loads the *next* tile's entries in each iteration (loop-carried), so no kv address
depends on a load of its own iteration and Triton's pipeliner keeps kv tiles in flight as for a contiguous cache
(docs/kernels-notes.md, "Follow-up 3: paged pipelining").
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["LOG2E", "online_softmax_step", "online_softmax_masked", "online_softmax_alpha", "finish", "finish_rows",
           "tile_pages", "valid_page", "valid_length", "tile_rows", "key_rows", "selected_rows", "load_slices",
           "load_q_slices", "latent_scores", "latent_pv", "store_slices"]

LOG2E = 1.4426950408889634


@triton.jit
def online_softmax_step(s, m_i, l_i, acc, keys, last_key, end):
    """One tile: s [rows, BLOCK_N] scaled scores (base 2) of `keys` [BLOCK_N]; a key is visible to a row when
    keys <= last_key (the row's causal limit, inclusive) and keys < end. Returns (p, m, l, acc rescaled); the
    caller adds p @ V to acc."""
    visible = (keys[None, :] <= last_key[:, None]) & (keys[None, :] < end)
    return online_softmax_masked(s, m_i, l_i, acc, visible)


@triton.jit
def online_softmax_masked(s, m_i, l_i, acc, visible):
    """online_softmax_step with the visibility given ([rows, BLOCK_N] or [1, BLOCK_N] booleans): the sparse kernel's
    keys are selected slots, not a causal range."""
    p, m_new, l_new, alpha = online_softmax_alpha(s, m_i, l_i, visible)
    return p, m_new, l_new, acc * alpha[:, None]


@triton.jit
def online_softmax_alpha(s, m_i, l_i, visible):
    """The online softmax step without the accumulator: (p, m, l, alpha [rows]); for kernels that keep their output
    in several accumulators (latent slices), each rescaled by alpha."""
    s = tl.where(visible, s, float("-inf"))
    m_new = tl.maximum(m_i, tl.max(s, 1))
    m_use = tl.where(m_new == float("-inf"), 0.0, m_new)
    alpha = tl.exp2(m_i - m_use)
    p = tl.exp2(s - m_use[:, None])
    l_new = l_i * alpha + tl.sum(p, 1)
    return p, m_new, l_new, alpha


# ---- latent slices (fp8 caches): the [BLOCK_N, r] latent tile as NS loads of [BLOCK_N, r / NS] columns. Each slice
# is widened to the dot dtype next to its own dots, so no [BLOCK_N, r] converted tile is ever live in registers
# (the whole-tile widening spilled: docs/kernels-notes.md, "fp8 and sparse"), and per-group scales (fp8-ds, one per
# 128 values) fold into the small [rows, BLOCK_N] tiles instead of the big one. NS is 1, 2 or 4; unused slots repeat
# slice 0 and are never read.

@triton.jit
def load_slices(row_ptrs, mask, SLICE: tl.constexpr, NS: tl.constexpr, EVICT: tl.constexpr):
    """(x0, x1, x2, x3): NS loads of [BLOCK_N, SLICE] from row_ptrs [BLOCK_N, 1] (column offsets 0, SLICE, ...),
    0 where ~mask. EVICT: the loads' eviction policy ("" for the default)."""
    offs = tl.arange(0, SLICE)[None, :]
    x0 = tl.load(row_ptrs + offs, mask=mask, other=0.0, eviction_policy=EVICT)
    x1 = x0
    x2 = x0
    x3 = x0
    if NS > 1:
        x1 = tl.load(row_ptrs + SLICE + offs, mask=mask, other=0.0, eviction_policy=EVICT)
    if NS > 2:
        x2 = tl.load(row_ptrs + 2 * SLICE + offs, mask=mask, other=0.0, eviction_policy=EVICT)
        x3 = tl.load(row_ptrs + 3 * SLICE + offs, mask=mask, other=0.0, eviction_policy=EVICT)
    return x0, x1, x2, x3


@triton.jit
def load_q_slices(q_ptrs, mask, dtype: tl.constexpr, SLICE: tl.constexpr, NS: tl.constexpr):
    """The query's latent part as NS [rows, SLICE] tiles in `dtype` (q_ptrs [rows, 1]: each row's first latent dim)."""
    q0, q1, q2, q3 = load_slices(q_ptrs, mask, SLICE, NS, "")
    return q0.to(dtype), q1.to(dtype), q2.to(dtype), q3.to(dtype)


@triton.jit
def slice_scores(s, q, k, col_scale, SCALED: tl.constexpr):
    """s + (q @ k^T) for one slice (q [rows, SLICE] in the dot dtype, k [BLOCK_N, SLICE] widened here); SCALED:
    that product times col_scale [BLOCK_N] (the slice's per-key scale, fp8-ds) on the small [rows, BLOCK_N] tile."""
    if SCALED:
        return s + tl.dot(q, tl.trans(k.to(q.dtype))) * col_scale[None, :]
    return tl.dot(q, tl.trans(k.to(q.dtype)), s)


@triton.jit
def latent_scores(s, q0, q1, q2, q3, k0, k1, k2, k3, c0, c1, c2, c3, NS: tl.constexpr, SCALED: tl.constexpr):
    """s + sum over the NS slices of slice_scores."""
    s = slice_scores(s, q0, k0, c0, SCALED)
    if NS > 1:
        s = slice_scores(s, q1, k1, c1, SCALED)
    if NS > 2:
        s = slice_scores(s, q2, k2, c2, SCALED)
        s = slice_scores(s, q3, k3, c3, SCALED)
    return s


@triton.jit
def slice_pv(acc, alpha, p, v, col_scale, SCALED: tl.constexpr, P_SHIFT: tl.constexpr, DT: tl.constexpr):
    """acc * alpha + p @ v for one slice, the dot in DT (v [BLOCK_N, SLICE] widened here); SCALED: p's columns times
    col_scale * P_SHIFT first (the slice's per-key scale; P_SHIFT, a power of two, keeps p * scale inside fp16's
    normal range, and the caller divides the output by it)."""
    if SCALED:
        p = p * (col_scale * P_SHIFT)[None, :]
    return tl.dot(p.to(DT), v.to(DT), acc * alpha[:, None])


@triton.jit
def latent_pv(a0, a1, a2, a3, alpha, p, v0, v1, v2, v3, c0, c1, c2, c3, NS: tl.constexpr, SCALED: tl.constexpr,
              P_SHIFT: tl.constexpr, DT: tl.constexpr):
    """slice_pv over the NS slices' accumulators."""
    a0 = slice_pv(a0, alpha, p, v0, c0, SCALED, P_SHIFT, DT)
    if NS > 1:
        a1 = slice_pv(a1, alpha, p, v1, c1, SCALED, P_SHIFT, DT)
    if NS > 2:
        a2 = slice_pv(a2, alpha, p, v2, c2, SCALED, P_SHIFT, DT)
        a3 = slice_pv(a3, alpha, p, v3, c3, SCALED, P_SHIFT, DT)
    return a0, a1, a2, a3


@triton.jit
def store_slices(ptrs, a0, a1, a2, a3, mask, SLICE: tl.constexpr, NS: tl.constexpr):
    """Store the NS [rows, SLICE] tiles at ptrs [rows, 1] + column offsets 0, SLICE, ... (cast to the pointee)."""
    offs = tl.arange(0, SLICE)[None, :]
    dt = ptrs.dtype.element_ty
    tl.store(ptrs + offs, a0.to(dt), mask=mask)
    if NS > 1:
        tl.store(ptrs + SLICE + offs, a1.to(dt), mask=mask)
    if NS > 2:
        tl.store(ptrs + 2 * SLICE + offs, a2.to(dt), mask=mask)
        tl.store(ptrs + 3 * SLICE + offs, a3.to(dt), mask=mask)


@triton.jit
def finish(acc, m_i, l_i, out_scale):
    """(acc * out_scale / l, log-sum-exp base 2); a row that saw no key gives 0 and -inf (weighs nothing)."""
    l_safe = tl.where(l_i == 0.0, 1.0, l_i)
    o = acc * (out_scale / l_safe)[:, None]
    lse = tl.where(l_i == 0.0, float("-inf"), m_i + tl.log2(l_safe))
    return o, lse


@triton.jit
def finish_rows(m_i, l_i, out_scale):
    """finish's per-row factor out_scale / l and log-sum-exp, for outputs kept in several accumulators."""
    l_safe = tl.where(l_i == 0.0, 1.0, l_i)
    fac = out_scale / l_safe
    lse = tl.where(l_i == 0.0, float("-inf"), m_i + tl.log2(l_safe))
    return fac, lse


@triton.jit
def tile_pages(bt_row, n0, end, PAGE_SIZE: tl.constexpr, BLOCK_N: tl.constexpr):
    """Block-table entries of the tile of keys [n0, n0 + BLOCK_N): a scalar when the tile sits in one block, one
    entry per block ([BLOCK_N // PAGE_SIZE]) when blocks tile it, else one per key. Keys are clamped to end - 1, so
    every index stays inside this sequence's table row (past the end the tile's kv loads are masked anyway). The
    entries are as stored: :func:`tile_rows` clamps them where it uses them."""
    last = tl.maximum(end - 1, 0)
    if PAGE_SIZE % BLOCK_N == 0:
        pages = tl.load(bt_row + tl.minimum(n0, last) // PAGE_SIZE)
    elif BLOCK_N % PAGE_SIZE == 0:
        first = tl.minimum(n0 + tl.arange(0, BLOCK_N // PAGE_SIZE) * PAGE_SIZE, last)
        pages = tl.load(bt_row + first // PAGE_SIZE)
    else:
        pages = tl.load(bt_row + tl.minimum(n0 + tl.arange(0, BLOCK_N), last) // PAGE_SIZE)
    return pages


@triton.jit
def valid_page(page, num_blocks):
    """A block-table entry clamped to [0, num_blocks): the dense kernels read the table without a host-side value
    check on CUDA (checks.py: it costs a host sync), so a bad entry must not address outside the cache (a CUDA
    fault); the tile it names is read from a wrong but existing block instead. Clamped where the entry is used, not
    where it is loaded: the loop-carried next tile's entry clamped at its load made the 16-head paged MLA loop spill
    under Triton 3.6 (895 -> 973 SASS instructions, 2 spill instructions, `python bench/sass_loops.py`); clamped at
    its use, 897 and none."""
    return tl.minimum(tl.maximum(page, 0), num_blocks - 1)


@triton.jit
def valid_length(SEQLENS, b, capacity):
    """Sequence b's key count from cache_seqlens, clamped to [0, capacity] (the keys its cache row or table row
    holds). Why: on CUDA the wrappers skip the host-synced value check (checks.py), and a length past the capacity
    would walk past the table row (paged) or into the next sequence's rows and past the cache (contiguous): a CUDA
    fault for the last sequence. One load and two integer ops a program."""
    return tl.minimum(tl.maximum(tl.load(SEQLENS + b), 0), capacity)


@triton.jit
def tile_rows(pages, n0, num_blocks, stride_page, stride_tok, PAGE_SIZE: tl.constexpr, BLOCK_N: tl.constexpr):
    """Element offsets [BLOCK_N] (int64) of the tile's cache rows from its block-table entries (tile_pages), each
    clamped to [0, num_blocks) (:func:`valid_page`). n0 is a multiple of BLOCK_N (every caller's tiles are: splits
    are whole tiles, triton_split_kv.plan_splits)."""
    pages = valid_page(pages, num_blocks)
    if PAGE_SIZE % BLOCK_N == 0:  # one entry for the whole tile, whose keys are consecutive rows of that block:
        # a scalar base plus an arange, the contiguous cache's form (a per-key `% PAGE_SIZE` cost ~170 SASS
        # instructions a tile and 30% of the time of the 16-head paged decode: docs/kernels-notes.md, issue 14)
        base = pages.to(tl.int64) * stride_page + (n0 % PAGE_SIZE) * stride_tok
        tok = base + tl.arange(0, BLOCK_N) * stride_tok
    elif BLOCK_N % PAGE_SIZE == 0:  # one entry per block, spread over its keys in registers (a load per key, or a
        # reshape of [blocks, PAGE_SIZE], spills and stops the pipelining: docs/kernels-notes.md, follow-up 3)
        per_key = tl.gather(pages, tl.arange(0, BLOCK_N) // PAGE_SIZE, 0)
        tok = per_key.to(tl.int64) * stride_page + ((n0 + tl.arange(0, BLOCK_N)) % PAGE_SIZE) * stride_tok
    else:  # one entry per key
        tok = pages.to(tl.int64) * stride_page + ((n0 + tl.arange(0, BLOCK_N)) % PAGE_SIZE) * stride_tok
    return tok


@triton.jit
def key_rows(bt_row, keys, num_blocks, stride_page, stride_tok, PAGE_SIZE: tl.constexpr):
    """Element offsets (int64) of the cache rows of `keys` (valid keys: the caller clamps), one table load per key,
    entries clamped to [0, num_blocks) (:func:`valid_page`)."""
    page = valid_page(tl.load(bt_row + keys // PAGE_SIZE), num_blocks)
    return page.to(tl.int64) * stride_page + (keys % PAGE_SIZE) * stride_tok


@triton.jit
def selected_rows(IDX_ROW, bt_row, slots, end, limit, num_blocks, PAGE_SIZE: tl.constexpr, PAGED: tl.constexpr):
    """Sparse attention's gather: slots [BLOCK_N] of a query token's index list (IDX_ROW) -> (valid, page, row in
    page). An index is a token position of the sequence (through the block table bt_row when PAGED, else a row of
    the flattened pool: page = idx // PAGE_SIZE, FlashMLA's convention); -1 marks an unused slot. Clamp and mask:
    a slot is valid when slot < end and 0 <= idx < limit; invalid slots read row 0 of page 0 (masked by the caller)
    and table entries are clamped to [0, num_blocks), so no index or table value can address outside the cache."""
    slot_ok = slots < end
    idx = tl.load(IDX_ROW + slots, mask=slot_ok, other=-1)
    valid = slot_ok & (idx >= 0) & (idx < limit)
    idx = tl.where(valid, idx, 0)
    if PAGED:
        page = tl.load(bt_row + idx // PAGE_SIZE, mask=valid, other=0)
        page = valid_page(page, num_blocks)
    else:
        page = idx // PAGE_SIZE
    return valid, page.to(tl.int64), idx % PAGE_SIZE
