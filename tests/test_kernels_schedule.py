"""The balanced decode schedule's plain-Python side (kernels/schedule.py): the overhead and part counts by hand, a
schedule worked out cell by cell, and its invariants over drawn lengths (every key tile covered exactly once, no
part over its payload, slots consistent). No torch, but for the dry-run test (the lab script's dry run plans with the
kernel's planner); bench/schedule_summary.py over the committed runs of the thirty-first session. The device kernel is checked against this mirror under the Triton interpreter
(test_kernels_triton_interp.py)."""

import json
import math
import statistics
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.kernels.schedule import (EMPTY_PART, grid_loads, loads_parity, makespan, part_loads, part_record,
                                      part_segments, plan_schedule, ready_phase, schedule_parts, segment_overhead_tiles,
                                      slot_capacity)

ROOT = Path(__file__).resolve().parent.parent


def test_segment_overhead_restates_flashmlas_five_blocks_at_its_tile():
    # FlashMLA: 64 rows, 576-dim bf16 keys, 64-key blocks, 512 value dims: query 64 x 576 x 2 = 73,728 B, partial
    # written and read back 2 x 64 x 513 x 4 = 262,656 B, a tile 64 x 576 x 2 = 73,728 B: 4.56 tiles -> 5, the
    # constant of csrc/api/dense_decode.h
    assert math.ceil((73_728 + 262_656) / 73_728) == 5
    assert segment_overhead_tiles(64, 64, 576, 512, q_bytes=2, kv_bytes=2) == 5


def test_segment_overhead_at_our_tiles_by_hand():
    # 16 heads, 32-key bf16 tile: (16 x 576 x 2 + 2 x 16 x 513 x 4) / (32 x 576 x 2) = 84,096 / 36,864 = 2.28 -> 3
    assert segment_overhead_tiles(16, 32, 576, 512, q_bytes=2, kv_bytes=2) == 3
    # 128 heads over two value halves (d_v 256 a program), 64-key tile: (147,456 + 2 x 128 x 257 x 4) / 73,728
    # = 410,624 / 73,728 = 5.57 -> 6
    assert segment_overhead_tiles(128, 64, 576, 256, q_bytes=2, kv_bytes=2) == 6
    # an fp8 cache halves a tile's bytes: 16 rows, 32 keys: 84,096 / 18,432 = 4.56 -> 5
    assert segment_overhead_tiles(16, 32, 576, 512, q_bytes=2, kv_bytes=1) == 5
    # a tiny program still pays one tile
    assert segment_overhead_tiles(1, 64, 576, 512, q_bytes=2, kv_bytes=2) == 1


def test_parts_fill_one_wave_of_program_slots():
    assert schedule_parts(1, 132) == 132        # 16 heads: one 16-row program a part
    assert schedule_parts(2, 132) == 66         # 128 heads: one 128-row block over two value halves
    assert schedule_parts(1, 132, 2) == 264     # two programs an SM
    assert schedule_parts(3, 132) == 44
    assert schedule_parts(200, 132) == 1        # never fewer than one


def test_a_schedule_worked_out_cell_by_cell():
    """Lengths 0, 1, 100, 5000, 64, 3 in 64-key tiles: 1, 1, 2, 79, 1, 1 tiles (a sequence of no keys keeps one
    empty tile). Overhead 5, 8 parts: 6 x 5 + 85 = 115 cells, payload ceil(115 / 8) = 15. Cells: seq 0's tile at
    5, seq 1's at 11 (part 0); seq 2's at 17-18 (part 1); seq 3's at 24-102: part 1 takes 24-29 (tiles 0-5), parts
    2-5 fifteen each (tiles 6-65), part 6 cells 90-102 (tiles 66-78); seq 4's tile at 108, seq 5's at 114 (part 7)."""
    s = plan_schedule([0, 1, 100, 5000, 64, 3], block_n=64, overhead=5, parts=8)
    assert s.units == (1, 1, 2, 79, 1, 1) and s.payload == 15
    assert s.parts == ((0, 0, 1, 1, 0), (2, 0, 3, 6, 0), (3, 6, 3, 21, 1), (3, 21, 3, 36, 2), (3, 36, 3, 51, 3),
                       (3, 51, 3, 66, 4), (3, 66, 3, 79, 5), (4, 0, 5, 1, 0))
    # only seq 3 is split (6 pieces: slots 0-5); the others are written directly
    assert s.seqs == ((0, 0), (0, 0), (0, 0), (0, 6), (6, 0), (6, 0)) and s.slots == 6
    # loads: part 0 two segments of one tile (2 x 6), part 1 2 + 6 tiles and two segments, part 2 15 + 5
    assert part_loads(s) == [12, 18, 20, 20, 20, 20, 18, 12]
    assert part_segments(s, 1) == [(2, 0, 2, 0), (3, 0, 6, 0)]


def test_parts_beyond_the_work_are_empty():
    # one sequence of 2 tiles, overhead 1, 8 parts: 3 cells, payload 1: part 0 holds the overhead cell only,
    # parts 1 and 2 one tile each (two pieces), parts 3-7 nothing
    s = plan_schedule([100], block_n=64, overhead=1, parts=8)
    assert s.parts == (EMPTY_PART, (0, 0, 0, 1, 0), (0, 1, 0, 2, 1)) + (EMPTY_PART,) * 5
    assert s.seqs == ((0, 2),)
    assert part_segments(s, 0) == [] and part_loads(s) == [0, 2, 2, 0, 0, 0, 0, 0]


def test_the_fixed_grids_program_loads_and_makespan_by_hand():
    # lengths 100 and 10 keys, 2 splits of 64 keys, 32-key tiles, overhead 1: seq 0 splits 64 + 36 keys = 2 + 2
    # tiles, seq 1 10 + 0 keys = 1 + 0 tiles; each program + 1
    loads = grid_loads([100, 10], block_n=32, tokens_per_split=64, num_splits=2, overhead=1)
    assert loads == [3, 3, 2, 1]
    # two slots: 3 | 3, then the 2 goes to a slot free at 3 (5), the 1 to the other (4): 5
    assert makespan(loads, 2) == 5
    assert makespan(loads, 4) == 3 and makespan(loads, 1) == 9


lengths = st.lists(st.one_of(st.sampled_from([0, 1, 2, 63, 64, 65]), st.integers(0, 3000),
                             st.integers(30_000, 200_000)), min_size=1, max_size=70)


@settings(max_examples=300, deadline=None)
@given(lens=lengths, parts=st.integers(1, 300), block_n=st.sampled_from([16, 32, 64]), overhead=st.integers(1, 9))
def test_every_key_tile_is_covered_once_no_part_exceeds_its_payload_and_slots_are_consistent(lens, parts, block_n,
                                                                                            overhead):
    s = plan_schedule(lens, block_n=block_n, overhead=overhead, parts=parts)
    B = len(lens)
    units = [max(-(-n // block_n), 1) for n in lens]
    assert list(s.units) == units
    total = sum(n + overhead for n in units)
    assert s.payload == max(-(-total // parts), 1)
    covered = [[0] * n for n in units]
    pieces = [[] for _ in range(B)]  # (part, piece) of each sequence's segments, in part order
    for p, rec in enumerate(s.parts):
        segs = part_segments(s, p)
        assert (rec == EMPTY_PART) == (not segs)
        for b, t0, t1, piece in segs:
            assert 0 <= t0 < t1 <= units[b]  # no empty segment
            for j in range(t0, t1):
                covered[b][j] += 1
            pieces[b].append((p, piece))
    assert all(c == 1 for row in covered for c in row)  # every tile of every sequence exactly once
    loads = part_loads(s)
    assert max(loads) <= s.payload + overhead  # FlashMLA's payload: ceil(total / G) + overhead
    assert sum(loads) >= total  # each sequence pays its overhead at least once
    slot, used = 0, set()
    for b, (first, partials) in enumerate(s.seqs):
        assert first == slot  # slots handed out in sequence order
        if partials == 0:  # written directly: one part holds the whole sequence
            assert [pc for _, pc in pieces[b]] == [0]
        else:
            assert partials == len(pieces[b]) > 1
            assert [pc for _, pc in pieces[b]] == list(range(partials))
            assert [p for p, _ in pieces[b]] == list(range(pieces[b][0][0], pieces[b][0][0] + partials))
            used |= {first + k for k in range(partials)}
        slot += partials
    # at most G - 1 part boundaries inside sequences, and one more piece than boundaries a split sequence
    assert len(used) == s.slots == slot <= (parts - 1) + min(B, parts - 1) < slot_capacity(parts, B)


def test_a_parts_own_record_worked_by_hand():
    # lengths 100 and 300 in 64-key tiles: 2 and 5 units; overhead 1: cells [0, 3) and [3, 9), 9 in all; 2 parts:
    # P = ceil(9 / 2) = 5. Sequence 0: s = 1, e = 2 (one piece); sequence 1: s = 4, e = 8, parts 4 // 5 = 0 to
    # 8 // 5 = 1: 2 pieces, its partials in slots 0-1. Part 0 (cells 0-4) runs sequence 0 whole and tile 0 of
    # sequence 1 (end tile 5 - 4 = 1); part 1 (cells 5-9) tiles 1-4 of sequence 1, its piece 1.
    assert part_record([100, 300], 0, block_n=64, overhead=1, parts=2) == (0, 0, 1, 1, 0, 0, 0, 0, 2)
    assert part_record([100, 300], 1, block_n=64, overhead=1, parts=2) == (1, 1, 1, 5, 1, 0, 2, 0, 2)
    # one sequence of 100 keys (2 units + 1 overhead = 3 cells) over 3 parts: P = 1; part 0 holds only the overhead's
    # cell (EMPTY_PART, no slots), parts 1 and 2 one tile each: pieces 0 and 1 of a sequence of 2 partials
    assert part_record([100], 0, block_n=64, overhead=1, parts=3) == (0, 0, -1, 0, 0, 0, 0, 0, 0)
    assert part_record([100], 1, block_n=64, overhead=1, parts=3) == (0, 0, 0, 1, 0, 0, 2, 0, 2)
    assert part_record([100], 2, block_n=64, overhead=1, parts=3) == (0, 1, 0, 2, 1, 0, 2, 0, 2)


@settings(max_examples=300, deadline=None)
@given(lens=lengths, parts=st.integers(1, 300), block_n=st.sampled_from([16, 32, 64]), overhead=st.integers(1, 9))
def test_each_parts_own_record_is_the_schedules(lens, parts, block_n, overhead):
    """What a program computes for itself from the lengths (the Gluon kernel's own schedule) is the record the fill
    kernel writes for it, and the first slot and partials of its first and last sequences."""
    s = plan_schedule(lens, block_n=block_n, overhead=overhead, parts=parts)
    for p in range(parts):
        rec = part_record(lens, p, block_n=block_n, overhead=overhead, parts=parts)
        assert rec[:5] == s.parts[p]
        if rec[:5] != EMPTY_PART:
            assert rec[5:7] == s.seqs[rec[0]] and rec[7:9] == s.seqs[rec[2]]
            # the middle sequences lie whole in the part: no partials, so four numbers are all it needs of seqs
            assert all(s.seqs[b][1] == 0 for b in range(rec[0] + 1, rec[2]))
        else:
            assert rec[5:] == (0, 0, 0, 0)


def test_the_lab_scripts_dry_run_plans_each_point_and_balances_it(capsys):
    """bench/ab_schedule.py --dry (CPU): one line a point with the fixed grid's and the schedule's imbalance; the
    schedule's is the smaller at every point, and never above payload + overhead over the mean."""
    import pytest

    pytest.importorskip("torch")
    pytest.importorskip("triton")
    from helpers import bench_module

    ab = bench_module("ab_schedule")
    assert ab.main(["--dry", "--n", "6", "--seed", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [ln.split() for ln in lines[2:8]]
    assert len(rows) == 6 and all(len(r) == 11 for r in rows)
    for p, r in zip(ab.draw(4, 6), rows):
        assert [int(x) for x in r[:3]] == [p["B"], p["ctx"], p["heads"]]
        before, after, model = (float(x) for x in r[8:11])
        assert 1.0 <= after < before and model < 1.0
    assert ab.main([]) == 2  # a GPU run without --out (or without a GPU) is refused in one line


# --- the Gluon kernel's barriers across segments (gluon_mla_seesaw._wg_sched) -------------------------------------

def test_loads_parity_by_hand():
    """Two buffers (64-key tiles): 5 tiles load 3 into buffer 0 (tiles 0, 2, 4), 2 into buffer 1: bits 0b01. Four
    buffers (32-key tiles): 6 tiles load 2, 2, 1, 1 into buffers 0-3: 0b1100. No tile: nothing."""
    assert loads_parity(5, 2) == 0b01
    assert loads_parity(6, 4) == 0b1100
    assert loads_parity(0, 4) == 0 and loads_parity(1, 2) == 0b01


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 23), min_size=1, max_size=8), st.sampled_from([2, 4]))
def test_a_segments_waits_match_the_barriers_completions_whatever_came_before(segments, num_buf):
    """Simulate the ready barriers of a program that runs segments of these tile counts, each loading its tiles
    t < n into buffer t % num_buf from buffer 0: the phase the kernel waits on for each tile (ready_phase, with the
    running XOR of loads_parity) is the parity of the completions that buffer had before, and after each segment
    `par` holds exactly those parities."""
    done = [0] * num_buf
    par = 0
    for n in segments:
        for t in range(n):
            k = t % num_buf
            assert ready_phase(t, num_buf, par) == done[k] & 1
            done[k] += 1
        par ^= loads_parity(n, num_buf)
        assert par == sum((d & 1) << k for k, d in enumerate(done))


def test_balanced_over_fixed_worked_by_hand():
    """schedule.balanced_over_fixed, worked in its docstring: in 64-key tiles with 5 tiles of overhead on 4 SMs,
    3 sequences of 4,096 keys in one split (makespan 64 + 5 = 69, one SM idle) against the schedule's 4 parts of
    P = ceil(3 x 69 / 4) = 52 cells, which cost 52, 57, 57, 56: 57 / 69; one sequence in 2 splits of 2,048 run by 2
    head programs on 4 SMs (the grid's 4 programs of 32 + 5 fill the SMs once: 37) against 2 parts of 35 and 39:
    39 / 37, no gain where the grid is balanced."""
    from mlacalc.kernels.schedule import balanced_over_fixed, part_loads, plan_schedule

    assert part_loads(plan_schedule([4096] * 3, block_n=64, overhead=5, parts=4)) == [52, 57, 57, 56]
    assert balanced_over_fixed([4096] * 3, block_n=64, overhead=5, head_programs=1, sms=4, tokens_per_split=4096,
                               num_splits=1) == 57 / 69
    assert balanced_over_fixed([4096], block_n=64, overhead=5, head_programs=2, sms=4, tokens_per_split=2048,
                               num_splits=2) == 39 / 37


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 64), keys=st.integers(1, 40_000), sms=st.sampled_from([4, 16, 132]),
       head_programs=st.sampled_from([1, 2]))
def test_the_schedule_never_costs_more_than_the_grid_and_one_segment(batch, keys, sms, head_programs):
    """One split a sequence: the grid's busiest SM runs at least the average, total x head programs / SMs tiles, and
    the schedule's busiest part at most ceil(total / G) + overhead with G = SMs / head programs, so
    balanced_over_fixed x the grid's makespan <= the makespan + one segment's overhead + 1."""
    from mlacalc.kernels.schedule import balanced_over_fixed

    lengths = [keys] * batch
    fixed = makespan([x for x in grid_loads(lengths, block_n=64, tokens_per_split=keys, num_splits=1, overhead=5)
                      for _ in range(head_programs)], sms)
    busiest = max(part_loads(plan_schedule(lengths, block_n=64, overhead=5, parts=schedule_parts(head_programs, sms))))
    assert busiest <= fixed + 5 + 1
    assert balanced_over_fixed(lengths, block_n=64, overhead=5, head_programs=head_programs, sms=sms,
                               tokens_per_split=keys, num_splits=1) == busiest / fixed


def test_schedule_summary_reads_the_committed_runs_as_the_notes_quote_them(capsys):
    """bench/schedule_summary.py (CPU): own minus the schedule filled once only where own ran a schedule (its
    profile has the slots' merge; 54 x 16,428 kept the fixed grid in session_by), whose median is OWN_RECORD_US;
    by-heads min / median / max of a uniform run. A hand-made trace: own 210 - explicit 203 = 7 us where own
    scheduled, none where it did not; a uniform run of ratios 1.0, 1.2 (128 heads) and 0.9 (16) -> all 0.9 / 1.0 /
    1.2, 128 heads 1.0 / 1.1 / 1.2."""
    from helpers import bench_module

    from mlacalc.kernels.gluon_mla_decode import OWN_RECORD_US

    m = bench_module("schedule_summary")
    slots, grid = {"_combine_slots_kernel": 9.0}, {"_combine_splits_kernel": 9.0}
    rows = [dict(B=2, ctx=8, variant="explicit", graph_ms=0.203, kernels_us=slots),
            dict(B=2, ctx=8, variant="own", graph_ms=0.210, kernels_us=slots),
            dict(B=3, ctx=8, variant="explicit", graph_ms=0.100, kernels_us=slots),
            dict(B=3, ctx=8, variant="own", graph_ms=0.150, kernels_us=grid)]
    assert m.own_over_explicit(rows) == [pytest.approx(7.0)]
    uniform = [dict(heads=128, ratio=1.0), dict(heads=128, ratio=1.2), dict(heads=16, ratio=0.9)]
    assert m.by_heads(uniform) == {0: (0.9, 1.0, 1.2), 16: (0.9, 0.9, 0.9), 128: (1.0, pytest.approx(1.1), 1.2)}
    run = "reports/h100/tuning/auto_schedule_trace_own_session_by.json"
    with open(ROOT / run) as f:
        diffs = m.own_over_explicit(json.load(f)["rows"])
    assert len(diffs) == 7 and statistics.median(diffs) == pytest.approx(OWN_RECORD_US, abs=0.05)
    assert (round(min(diffs), 1), round(max(diffs), 1)) == (2.6, 10.8)
    assert m.main([str(ROOT / run)]) == 0 and "median 6.0 us, range 2.6-10.8" in capsys.readouterr().out
    assert m.main(["/no/such/run.json"]) == 2
