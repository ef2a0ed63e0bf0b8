"""The balanced decode schedule in plain Python: how many parts, what a sequence segment costs, and a mirror of the
schedule the device computes (triton_schedule.py), integer for integer. No torch, no Triton: tests, the dry run of
bench/ab_schedule.py and anyone reading the kernel use it.

Why a schedule. The fixed grid cuts every sequence into `num_splits` chunks of one length chosen from the largest
length (triton_split_kv.plan_splits). With mixed lengths the chunks of short sequences end early and, when the grid
is about one wave, their SMs idle while the longest sequences' chunks run (lengths drawn in [L/2, L] left the
Triton kernel 1.1-1.4x FlashMLA's time on the H200: docs/kernels-notes.md). FlashMLA instead cuts the *sum* of the
work evenly (get_mla_metadata; csrc/smxx/decode/get_decoding_sched_meta/get_decoding_sched_meta.cu): one range of
work a part, crossing sequence boundaries, each part about the same load.

The cut (ours; FlashMLA walks the sequences one by one in a single thread, this is a closed form that a Triton
program computes with prefix sums):
  * A sequence of L keys is n = max(ceil(L / BLOCK_N), 1) units, one per key tile (a sequence of no keys keeps one
    empty unit, so that a part owns it and writes its output: zeros, as the fixed grid does). With s_q > 1 query
    tokens the last one sees all L keys (last_key = L - s_q + t), so the units are the same.
  * Lay the sequences on one line of cells: sequence b first takes `overhead` cells (the fixed cost of a segment:
    segment_overhead_tiles), then its n tiles. C_b = sum over earlier sequences of (overhead + n), its first tile
    at s_b = C_b + overhead, its last at e_b = s_b + n - 1; total = C_B.
  * payload P = ceil(total / G): part p owns the tiles whose cell lies in [p P, (p + 1) P). So tile j of sequence b
    belongs to part (s_b + j) // P; sequence b spans parts s_b // P .. e_b // P, one segment (piece) in each.
  * A part's real cost is its tiles plus `overhead` a segment. The cells of [p P, (p + 1) P) count each segment's
    overhead except that of a piece continued from the previous part, so no part costs more than P + overhead:
    FlashMLA's payload, ceil(total / G) + overhead, by another route.
  * Slots: a sequence in k > 1 pieces writes k partial results (o, lse) to slots first_slot .. first_slot + k - 1
    (first_slot = the partials of the sequences before it); one in one piece is written directly (0 partials).
    At most G - 1 part boundaries fall inside sequences, each adding one piece, and each split sequence has one
    piece more than its boundaries, so the slots are at most (G - 1) + min(B, G - 1) < G + min(B, G).

The records (what the device writes; int32):
  parts [5, G]: begin_b, begin_tile, end_b (inclusive), end_tile (exclusive, in sequence end_b), begin_piece (the
    piece index of the part's first segment within its sequence: > 0 when that sequence began in an earlier part).
    A part without tiles is (0, 0, -1, 0, 0): its loop over begin_b .. end_b is empty.
  seqs [B, 2]: first_slot, partials (0: written directly by the one part that holds the whole sequence).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

__all__ = ["schedule_parts", "segment_overhead_tiles", "Schedule", "plan_schedule", "part_segments", "part_loads",
           "grid_loads", "makespan", "EMPTY_PART", "slot_capacity", "loads_parity", "ready_phase",
           "balanced_over_fixed", "balanced_and_fixed", "part_record"]

EMPTY_PART = (0, 0, -1, 0, 0)  # the record of a part that owns no tile


def schedule_parts(head_programs: int, sms: int, programs_per_sm: int = 1) -> int:
    """G, the parts the work is cut into: one wave of the scheduled grid (head_programs x G programs), i.e. the
    program slots of the GPU (sms x programs_per_sm) over the programs that share a part's range (head blocks x value
    halves), at least 1. FlashMLA's num_sm_parts is the same count for its 64-row tiles: max(SMs / h_k / ceil(rows /
    64), 1) (csrc/api/dense_decode.h). E.g. 132 SMs, 16 heads in one 16-row program: 132 parts; 128 heads in one
    128-row block over two value halves: 66."""
    return max(1, (sms * programs_per_sm) // max(head_programs, 1))


def segment_overhead_tiles(rows: int, block_n: int, d_k: int, d_v: int, *, q_bytes: int, kv_bytes: int) -> int:
    """The fixed cost of one sequence segment a program runs, in key tiles (the schedule's `overhead`): the bytes a
    segment moves besides its keys, over the bytes of one tile of keys, rounded up, at least 1.

    A segment loads its query rows (rows x d_k x q_bytes), writes a partial (rows x (d_v + 1) x 4: fp32 output and
    log-sum-exp) that the combine reads back; a key tile is block_n x d_k x kv_bytes (a split-v program reads whole
    rows: its value half and the other half for the scores). `rows` the program's real rows, `d_v` its value dims.
    Every segment is charged, split or not (as FlashMLA does): an upper bound for those written directly.
    FlashMLA's constant, 5 blocks of 64 keys (csrc/api/dense_decode.h: GetDecodeSchedMetaParams), is this count at
    its tile: 64 rows, bf16: (73,728 + 2 x 131,328) / 73,728 = 4.56 -> 5. What it leaves out: the latency of a
    segment's first tile (the pipeline's fill), not measured yet."""
    moved = rows * d_k * q_bytes + 2 * rows * (d_v + 1) * 4
    return max(1, math.ceil(moved / (block_n * d_k * kv_bytes)))


def slot_capacity(parts: int, batch: int) -> int:
    """Partial-result slots a schedule of `parts` parts over `batch` sequences can use, with room to spare: G +
    min(B, G) (module docstring: at most (G - 1) + min(B, G - 1))."""
    return parts + min(batch, parts)


@dataclass(frozen=True)
class Schedule:
    """The schedule of one set of lengths (module docstring): parts[p] = (begin_b, begin_tile, end_b, end_tile,
    begin_piece); seqs[b] = (first_slot, partials); payload P in cells; overhead in tiles; units[b] tiles of b."""

    parts: tuple[tuple[int, int, int, int, int], ...]
    seqs: tuple[tuple[int, int], ...]
    payload: int
    overhead: int
    units: tuple[int, ...]

    @property
    def slots(self) -> int:
        """Partial-result slots used."""
        return sum(k for _, k in self.seqs)


def units_of(length: int, block_n: int) -> int:
    """Key tiles of a sequence of `length` keys: at least one (an empty one for length 0)."""
    return max(-(-max(length, 0) // block_n), 1)


def plan_schedule(lengths, *, block_n: int, overhead: int, parts: int) -> Schedule:
    """The schedule of `lengths` (cache_seqlens) in tiles of `block_n` keys over `parts` parts, as the device kernel
    computes it, written sequence by sequence (module docstring)."""
    units = tuple(units_of(n, block_n) for n in lengths)
    total = sum(overhead + n for n in units)
    P = max(-(-total // parts), 1)
    pieces: list[list[tuple[int, int, int, int]]] = [[] for _ in range(parts)]  # part -> (b, t0, t1, piece)
    seqs, slot, cell = [], 0, 0
    for b, n in enumerate(units):
        s = cell + overhead                       # the sequence's first tile's cell
        first, last = s // P, (s + n - 1) // P    # the parts it spans
        for p in range(first, last + 1):
            t0 = max(p * P, s) - s
            t1 = min((p + 1) * P, s + n) - s
            pieces[p].append((b, t0, t1, p - first))
        k = last - first + 1
        seqs.append((slot, k if k > 1 else 0))
        slot += k if k > 1 else 0
        cell = s + n
    recs = tuple((segs[0][0], segs[0][1], segs[-1][0], segs[-1][2], segs[0][3]) if segs else EMPTY_PART
                 for segs in pieces)
    return Schedule(recs, tuple(seqs), P, overhead, units)


def part_record(lengths, p: int, *, block_n: int, overhead: int, parts: int) -> tuple[int, ...]:
    """Part p's record computed from the lengths alone, as each program of the Gluon kernel computes its own in its
    prologue (gluon_mla_seesaw._own_record: two passes of sums over the lengths, no schedule kernel before it):
    (begin_b, begin_tile, end_b, end_tile, begin_piece, slot_first, partials_first, slot_last, partials_last), the
    first five plan_schedule's parts[p], the other four seqs[begin_b] and seqs[end_b] (first slot, partials).

    Closed forms (module docstring: sequence b's cells [C_b, C_b + overhead + n_b), first tile s_b, last e_b; part p's
    cells [lo, hi) = [p P, (p + 1) P)): sequences in increasing cell order, so b < begin_b exactly when e_b < lo, and
    b <= end_b exactly when s_b < hi. Then s_first = s of begin_b = the least s_b with e_b >= lo (e_first likewise);
    s_last, e_last = the greatest s_b, e_b with s_b < hi; slot_first = the partials of the sequences with e_b < lo;
    slot_last = those of the sequences with s_b < hi, less end_b's own. The middle sequences, begin_b < b < end_b, lie
    whole inside the part (0 partials), so these four numbers are all a part needs of seqs. E.g. lengths [100, 300]
    in 64-key tiles, overhead 1, 2 parts: units 2 and 5, 9 cells, P = 5; part 0 holds cells 0-4: sequence 0 whole
    (s = 1, e = 2) and tile 0 of sequence 1 (s = 4, e = 8: k = 8 // 5 - 4 // 5 + 1 = 2 pieces) -> (0, 0, 1, 1, 0,
    0, 0, 0, 2); part 1 the rest of sequence 1, its piece 1 -> (1, 1, 1, 5, 1, 0, 2, 0, 2)."""
    units = [units_of(n, block_n) for n in lengths]
    total = sum(overhead + n for n in units)
    P = max(-(-total // parts), 1)
    lo, hi = p * P, (p + 1) * P
    s_first = e_first = None
    s_last = e_last = -1
    before = upto = slots_before = slots_upto = partials_last = 0
    cell = 0
    for n in units:
        s = cell + overhead
        e = s + n - 1
        k = e // P - s // P + 1
        partials = k if k > 1 else 0
        if e < lo:
            before += 1
            slots_before += partials
        elif s_first is None:
            s_first, e_first = s, e
        if s < hi:
            upto += 1
            slots_upto += partials
            s_last, e_last, partials_last = s, e, partials
        cell = s + n
    begin_b, end_b = before, upto - 1
    if begin_b > end_b:
        return (*EMPTY_PART, 0, 0, 0, 0)
    k_first = e_first // P - s_first // P + 1
    return (begin_b, max(lo - s_first, 0), end_b, min(hi, e_last + 1) - s_last, p - s_first // P,
            slots_before, k_first if k_first > 1 else 0, slots_upto - partials_last, partials_last)


def part_segments(sched: Schedule, p: int) -> list[tuple[int, int, int, int]]:
    """The segments part p runs, read from its record as the decode kernel reads it: (b, first tile, end tile,
    piece) for b in begin_b .. end_b; the first starts at begin_tile (piece begin_piece), the last ends at end_tile,
    the others are whole sequences (piece 0)."""
    bb, bt, eb, et, bp = sched.parts[p]
    return [(b, bt if b == bb else 0, et if b == eb else sched.units[b], bp if b == bb else 0)
            for b in range(bb, eb + 1)]


def part_loads(sched: Schedule) -> list[int]:
    """Each part's cost in tiles: its key tiles plus `overhead` for each segment it runs."""
    return [sum(t1 - t0 + sched.overhead for _, t0, t1, _ in part_segments(sched, p))
            for p in range(len(sched.parts))]


def grid_loads(lengths, *, block_n: int, tokens_per_split: int, num_splits: int, overhead: int) -> list[int]:
    """Each program's cost in tiles under the fixed grid (triton_mla_decode without a schedule; one head program):
    split s of sequence b runs the tiles of keys [s x tokens_per_split, min((s + 1) x tokens_per_split, L_b)), plus
    `overhead` (it loads its query rows and writes a partial even when its chunk is empty). In launch order (split
    fastest, then sequence: grid axis 1, then 2)."""
    loads = []
    for n in lengths:
        for s in range(num_splits):
            keys = max(0, min((s + 1) * tokens_per_split, n) - s * tokens_per_split)
            loads.append(-(-keys // block_n) + overhead)
    return loads


def makespan(loads, slots: int) -> int:
    """Time (in the loads' unit) for `slots` program slots to run programs of `loads` handed out in order, each to
    the slot that frees first (the block scheduler's behaviour, idealised)."""
    free = [0] * max(slots, 1)
    for x in loads:
        heapq.heapreplace(free, free[0] + x)
    return max(free)


def balanced_over_fixed(lengths, *, block_n: int, overhead: int, head_programs: int, sms: int,
                        tokens_per_split: int, num_splits: int) -> float:
    """The balanced schedule's modelled time over the fixed grid's for these lengths (one program an SM, as the Gluon
    kernel runs): the busiest part's tiles (schedule_parts parts, `overhead` a segment) over the fixed grid's
    makespan (its `num_splits` chunks of `tokens_per_split` keys a sequence, `overhead` a program, each chunk run by
    `head_programs` programs side by side, handed to the SMs in launch order). Under 1 where the fixed grid leaves SMs
    idle: a batch x head blocks x splits that is no multiple of the SMs, or mixed lengths. E.g. in 64-key tiles with 5
    tiles of overhead on 4 SMs: 3 sequences of 4,096 keys in one split are 3 programs of 64 + 5 tiles (makespan 69,
    one SM idle); the schedule's 4 parts of P = ceil(3 x 69 / 4) = 52 cells cost 52, 57, 57, 56 (a part's cells plus
    the overhead of a piece it continues): 57 / 69 = 0.826. One sequence in 2 splits of 2,048 on 4 SMs with 2 head
    programs: the grid's 4 programs of 32 + 5 fill the SMs once (37); the schedule's 2 parts cost 35 and 39: 39 / 37
    = 1.054, no gain where the grid is balanced."""
    busiest, fixed = balanced_and_fixed(lengths, block_n=block_n, overhead=overhead, head_programs=head_programs,
                                        sms=sms, tokens_per_split=tokens_per_split, num_splits=num_splits)
    return busiest / fixed


def balanced_and_fixed(lengths, *, block_n: int, overhead: int, head_programs: int, sms: int,
                       tokens_per_split: int, num_splits: int) -> tuple[int, int]:
    """(the balanced schedule's busiest part, the fixed grid's makespan), in tiles: :func:`balanced_over_fixed`'s
    two sides."""
    grid = grid_loads(lengths, block_n=block_n, tokens_per_split=tokens_per_split, num_splits=num_splits,
                      overhead=overhead)
    fixed = makespan([x for x in grid for _ in range(head_programs)], sms)
    sched = plan_schedule(lengths, block_n=block_n, overhead=overhead, parts=schedule_parts(head_programs, sms))
    return max(part_loads(sched)), fixed


def loads_parity(n_tiles: int, num_buf: int) -> int:
    """The Gluon kernel's barrier bookkeeping across a part's segments (gluon_mla_seesaw._loads_parity, mirrored):
    bit k is set when a segment of n_tiles tiles loads an odd number of them into buffer k (tiles k, k + num_buf, ...
    below n_tiles, one completion each of buffer k's ready barriers). A program keeps the XOR of these over its
    earlier segments, `par`."""
    return sum((((n_tiles - k + num_buf - 1) // num_buf) & 1) << k for k in range(num_buf))


def ready_phase(t: int, num_buf: int, par: int) -> int:
    """The phase a compute group waits on for tile t of the current segment (gluon_mla_seesaw._scores in the
    scheduled mode): the tile's use of its buffer within the segment, (t // num_buf) & 1, offset by that buffer's
    parity bit in `par`. An mbarrier's k-th completion (from 0) is waited for at phase k & 1."""
    return ((t // num_buf) & 1) ^ ((par >> (t % num_buf)) & 1)
