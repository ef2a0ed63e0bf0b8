"""Split-KV (flash-decoding) second stage, shared by the MLA and GQA decode kernels.

Stage 1 splits every sequence's keys into `num_splits` chunks; each program writes, per query row r, the
normalised partial output o_s [Dv] (float32) and its log-sum-exp lse_s (base 2). Stage 2 merges them:
    m = max_s lse_s,  w_s = 2^(lse_s - m),  out = sum_s w_s o_s / sum_s w_s
Empty chunks carry lse = -inf and weigh nothing. With one split stage 1 writes the final output itself.
The scheduled decode (triton_schedule.py) keeps a variable number of partials a sequence, in slots the schedule
hands out: `combine_slots` merges them by the same rule (one @jit helper, `_merge`).

`choose_num_splits` picks the split count from the grid size: enough programs to fill the SMs, without waves
that are mostly empty, and chunks no shorter than `min_tokens`. `plan_splits` is what every decode wrapper
(Triton MLA and GQA, Gluon MLA) launches with: that count (or the caller's), chunks rounded up to whole tiles.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .launch import PLAN_CACHE_SIZE, FastLauncher, num_sms

__all__ = ["choose_num_splits", "plan_splits", "combine_splits", "combine_slots", "num_sms", "MERGE_CHUNK",
           "SPLITS_MERGE_CHUNK"]


# partials a merge step loads at once ([chunk, Dv] in one load, their reads in flight together; 1: one partial's load
# waited for before the next). Measured on an H100 (bench/ab_combine.py, reports/h100/tuning/ab_combine_session_cc.log,
# 128 rows of 512 values, graph-timed): the scheduled layout's merge (about 2 partials a cut sequence) 0.92-1.00x
# the one-a-step time at 4, the fixed grid's (2-10 splits) 0.99-1.05x: both merges read as fast as the memory
# gives, so the slots take MERGE_CHUNK and the splits one a step (SPLITS_MERGE_CHUNK)
MERGE_CHUNK, SPLITS_MERGE_CHUNK = 4, 1


@triton.jit
def _merge(LSE, O, n, stride_lse_s, stride_o_s, offs, SPLITS_P2: tl.constexpr, CHUNK: tl.constexpr):
    """sum_s 2^(lse_s - m) o_s / sum_s 2^(lse_s - m) over the n partials of one query row: lse_s at LSE + s *
    stride_lse_s (n <= SPLITS_P2), o_s [DV] at O + s * stride_o_s + offs, CHUNK of them a step. No partial weighing
    anything gives 0."""
    offs_s = tl.arange(0, SPLITS_P2)
    lse_all = tl.load(LSE + offs_s * stride_lse_s, mask=offs_s < n, other=float("-inf"))
    m = tl.max(lse_all, 0)
    m = tl.where(m == float("-inf"), 0.0, m)
    l = tl.sum(tl.exp2(lse_all - m), 0)
    acc = tl.zeros(offs.shape, dtype=tl.float32)
    offs_c = tl.arange(0, CHUNK)
    for s0 in range(0, n, CHUNK):
        s = s0 + offs_c
        ok = s < n
        w = tl.exp2(tl.load(LSE + s * stride_lse_s, mask=ok, other=float("-inf")) - m)  # 0 past n
        o = tl.load(O + s[:, None] * stride_o_s + offs[None, :], mask=ok[:, None], other=0.0)
        acc += tl.sum(w[:, None] * o, 0)
    l = tl.where(l == 0.0, 1.0, l)
    return acc / l


@triton.jit
def _combine_splits_kernel(
    O_PART, LSE_PART, OUT,
    num_splits,
    stride_op_b, stride_op_s, stride_op_r,
    stride_lse_b, stride_lse_s,
    stride_out_b, stride_out_r,
    DV: tl.constexpr,
    SPLITS_P2: tl.constexpr,
    CHUNK: tl.constexpr = SPLITS_MERGE_CHUNK,
    D_OUT: tl.constexpr = 0,  # values an output row takes when fewer than the partials' DV (a padded head dim)
):
    r = tl.program_id(0)
    b = tl.program_id(1)
    offs = tl.arange(0, DV)
    o = _merge(LSE_PART + b * stride_lse_b + r, O_PART + b * stride_op_b + r * stride_op_r, num_splits,
               stride_lse_s, stride_op_s, offs, SPLITS_P2, CHUNK)
    if D_OUT:
        tl.store(OUT + b * stride_out_b + r * stride_out_r + offs, o.to(OUT.dtype.element_ty), mask=offs < D_OUT)
    else:
        tl.store(OUT + b * stride_out_b + r * stride_out_r + offs, o.to(OUT.dtype.element_ty))


@triton.jit
def _combine_slots_kernel(
    O_PART, LSE_PART, OUT, SEQS,
    stride_op_s, stride_op_r,
    stride_lse_s,
    stride_out_b, stride_out_r,
    DV: tl.constexpr,
    SLOTS_P2: tl.constexpr,
    CHUNK: tl.constexpr = MERGE_CHUNK,
):
    """The scheduled layout (triton_schedule.py): sequence b's partials sit in slots SEQS[b, 0] .. + SEQS[b, 1] - 1
    of O_PART [slots, R, DV] / LSE_PART [slots, R]; a sequence without partials was written by the decode kernel
    and is left as it is."""
    r = tl.program_id(0)
    b = tl.program_id(1)
    n = tl.load(SEQS + 2 * b + 1)
    if n > 0:
        first = tl.load(SEQS + 2 * b)
        offs = tl.arange(0, DV)
        o = _merge(LSE_PART + first * stride_lse_s + r, O_PART + first * stride_op_s + r * stride_op_r, n,
                   stride_lse_s, stride_op_s, offs, SLOTS_P2, CHUNK)
        tl.store(OUT + b * stride_out_b + r * stride_out_r + offs, o.to(OUT.dtype.element_ty))


def combine_splits(o_part: torch.Tensor, lse_part: torch.Tensor, out_rows: torch.Tensor, *, key=None,
                   merge_chunk: int = SPLITS_MERGE_CHUNK) -> None:
    """o_part [B, splits, R, Dv] fp32, lse_part [B, splits, R] fp32 -> out_rows [B, R, Dv] (written in place); or
    out_rows [B, R, D] with D < Dv: the partials of a head dim padded to the power of two Dv, of which the first D
    values are stored.
    key: the caller's plan key (launch.py), under which the compiled kernel is launched directly on later calls and
    the launch's integers (splits, strides, grid) are kept: the plan owns o_part and lse_part, so per call only
    out_rows is new (and its strides are part of the key). merge_chunk: partials a step (SPLITS_MERGE_CHUNK; for A/B
    runs)."""
    lkey = None if key is None else (key, out_rows.stride(), merge_chunk)
    prep = _COMBINE_ARGS.get(lkey) if lkey is not None else None
    if prep is None:
        B, splits, R, Dv = o_part.shape
        d_out = out_rows.shape[-1]
        assert out_rows.stride(-1) == 1 and o_part.stride(-1) == 1 and lse_part.stride(-1) == 1 and d_out <= Dv
        prep = ((splits, o_part.stride(0), o_part.stride(1), o_part.stride(2), lse_part.stride(0), lse_part.stride(1),
                 out_rows.stride(0), out_rows.stride(1), Dv, triton.next_power_of_2(splits), merge_chunk,
                 0 if d_out == Dv else d_out),
                (R, B, 1), 4 if Dv >= 256 else 2)
        if lkey is not None:
            _COMBINE_ARGS[lkey] = prep
            if len(_COMBINE_ARGS) > 4 * PLAN_CACHE_SIZE:
                _COMBINE_ARGS.pop(next(iter(_COMBINE_ARGS)))
    ints, grid, warps = prep
    _LAUNCH_COMBINE(lkey, grid, (o_part, lse_part, out_rows, *ints), num_warps=warps)


_COMBINE_ARGS: dict = {}  # (plan key, out_rows strides) -> (the launch's integers, grid, warps)
_LAUNCH_COMBINE = FastLauncher(_combine_splits_kernel)


def combine_slots(o_part: torch.Tensor, lse_part: torch.Tensor, out_rows: torch.Tensor, seqs: torch.Tensor, *,
                  max_partials: int, key=None, merge_chunk: int = MERGE_CHUNK) -> None:
    """The scheduled layout's merge: o_part [slots, R, Dv] fp32, lse_part [slots, R] fp32, seqs [B, 2] int32
    (first slot, partials; triton_schedule.py) -> out_rows [B, R, Dv], written in place for the sequences with
    partials (at most `max_partials` each: the schedule's parts), untouched for the others. key: as combine_splits;
    merge_chunk: partials a step (MERGE_CHUNK; for A/B runs)."""
    lkey = None if key is None else (key, out_rows.stride(), merge_chunk)
    prep = _SLOTS_ARGS.get(lkey) if lkey is not None else None
    if prep is None:
        slots, R, Dv = o_part.shape
        assert out_rows.stride(-1) == 1 and o_part.stride(-1) == 1 and lse_part.stride(-1) == 1
        prep = ((o_part.stride(0), o_part.stride(1), lse_part.stride(0), out_rows.stride(0), out_rows.stride(1), Dv,
                 triton.next_power_of_2(max_partials), merge_chunk), (R, out_rows.shape[0], 1),
                4 if Dv >= 256 else 2)
        if lkey is not None:
            _SLOTS_ARGS[lkey] = prep
            if len(_SLOTS_ARGS) > 4 * PLAN_CACHE_SIZE:
                _SLOTS_ARGS.pop(next(iter(_SLOTS_ARGS)))
    ints, grid, warps = prep
    _LAUNCH_SLOTS(lkey, grid, (o_part, lse_part, out_rows, seqs, *ints), num_warps=warps)


_SLOTS_ARGS: dict = {}
_LAUNCH_SLOTS = FastLauncher(_combine_slots_kernel)


def choose_num_splits(
    work_items: int, max_len: int, *, sms: int, programs_per_sm: int = 1, min_tokens: int = 256,
    max_splits: int = 128, token_bytes: int = 1152, partial_bytes_per_split: int = 0,
) -> int:
    """Split count for `work_items` (batch x head blocks) programs over sequences of up to `max_len` keys.

    Modelled time in bytes at full bandwidth: each wave of `slots` programs streams one chunk per program,
        main(s)    = waves(s) * ceil(max_len / s) * token_bytes * slots,  waves(s) = ceil(work_items * s / slots)
        partial(s) = s * partial_bytes_per_split   (fp32 partial outputs written by stage 1, read by stage 2)
    and the smallest s within 3% of the best total is taken. (Before 2026-11-23 a fixed 0.01 * s overhead term
    kept B = 1 at ~10 splits, i.e. 10 busy SMs: see docs/kernels-notes.md.)
    """
    slots = sms * programs_per_sm
    limit = max(1, min(max_splits, max_len // max(min_tokens, 1)))
    costs = []
    for s in range(1, limit + 1):
        waves = -(-work_items * s // slots)
        main = waves * -(-max_len // s) * token_bytes * slots
        costs.append(main + (s * partial_bytes_per_split if s > 1 else 0))
    best = min(costs)
    return next(s for s, c in enumerate(costs, start=1) if c <= 1.03 * best)


def plan_splits(work_items: int, max_len: int, block_n: int, *, sms: int, num_splits: int | None = None,
                **choose) -> tuple[int, int]:
    """(num_splits, tokens_per_split) a kernel launches with: `num_splits` (None: choose_num_splits(work_items,
    max_len, sms=sms, **choose)), each chunk rounded up to whole tiles of `block_n` keys, and the count recomputed
    from the rounded chunk (it can only shrink), so that no split is empty."""
    if num_splits is None:
        num_splits = choose_num_splits(work_items, max_len, sms=sms, **choose)
    tokens_per_split = triton.cdiv(triton.cdiv(max_len, num_splits), block_n) * block_n
    return triton.cdiv(max_len, tokens_per_split), tokens_per_split
