"""The Gluon seesaw kernel's scheduled mode as a protocol, checked on the CPU (no GPU has run it yet).

kernels/gluon_mla_seesaw.py's `_wg_sched` runs a part's sequence segments one after another in one program: the two
compute groups carry the mbarrier phases across segments (ready barriers: `par` from `_loads_parity`; handovers:
`pbase` pairs; q_bar and the row sums: the segment index) and WG0 loads the next segment's Q and first tiles after
`seg_done`. A phase counted wrong either hangs or, worse, lets a wait pass one completion early and the wgmma read a
tile still in flight. Neither shows on a CPU compile, so this file restates the barrier protocol of `_wg_sched`,
`_issue_segment`, `_scores`, `_wg0_pair`, `_wg1_pair` and `_hand_back` (the 16-bit cache: FED and SPARSE off) op
for op, in the kernel's order, and runs it under many interleavings of the two groups and of the TMA copies'
completions:
  * an mbarrier as PTX defines it: `count` arrivals plus the expected transactions complete a phase, and
    `try_wait.parity(p)` passes while the current phase's parity differs from p (so a wait one phase early passes);
  * every shared-memory region (each buffer's V_L, V_R and RoPE part, Q, the handover vectors) holds a tag of what
    was last written to it; a copy is in flight from its issue to its completion, when it writes the tag;
  * a read (a wgmma operand from its issue to its wait, a vector load) must find the tag the kernel means to read
    and no copy in flight into that region; a copy or a generic store must not land in a region a copy is already
    filling; all groups blocked with no copy left in flight is a deadlock.
The model must follow the kernel: a change to the order of those functions' waits, arrivals, copies and operand
reads belongs here too. It leaves out the proxy fences (every generic store to a buffer in the kernel is followed by
fence_async_shared before the arrive that publishes it; not modelled) and the numbers themselves (GPU tests).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.kernels.schedule import loads_parity, part_record, part_segments, plan_schedule, ready_phase


class ProtocolError(AssertionError):
    pass


class Bar:
    """An mbarrier (count arrivals; a TMA copy adds one transaction to the phase its expect arrived in)."""

    def __init__(self, name: str, count: int = 1):
        self.name, self.count, self.pending, self.tx, self.phase = name, count, count, 0, 0

    def arrive(self, tx: int = 0) -> None:
        self.pending -= 1
        self.tx += tx
        self._complete()

    def tx_done(self) -> None:
        self.tx -= 1
        self._complete()

    def _complete(self) -> None:
        if self.pending == 0 and self.tx == 0:
            self.phase += 1
            self.pending = self.count

    def passes(self, parity: int) -> bool:
        return (self.phase & 1) != parity


MUTANTS = {
    "handover phase from the pair index alone": "no_pbase",
    "ready phase without the earlier segments' parity": "no_par",
    "q_bar waited at phase 0": "q_phase0",
    "row sums waited at phase 0": "l_phase0",
    "next segment issued without waiting for seg_done": "no_seg_done",
    "next segment issued before the epilogue (a prefetch with no handover)": "early_issue",
}


class Program:
    """One program (one head block) of the scheduled kernel running segments [(n_tiles, n_main), ...] with
    num_buf buffers (2: 64-key tiles, 4: 32-key tiles). `mutant`: one deliberate error (MUTANTS) to show the model
    catches it."""

    def __init__(self, segments, num_buf: int, mutant: str | None = None):
        assert all(0 <= m <= n // 2 for n, m in segments)
        self.segs, self.nb, self.mut = list(segments), num_buf, mutant
        self.q_bar = Bar("q_bar")
        self.ready_lo = [Bar(f"ready_lo[{k}]") for k in range(num_buf)]
        self.ready_hi = [Bar(f"ready_hi[{k}]") for k in range(num_buf)]
        self.bar_s = [Bar("bar_s0"), Bar("bar_s1")]
        self.bar_p = [Bar("bar_p0"), Bar("bar_p1")]
        self.bar_l = [Bar("bar_l0"), Bar("bar_l1")]
        self.seg_done = Bar("seg_done", count=2)
        names = ["q", "s0", "s1", "l0", "l1"] + [(p, k) for p in ("lo", "hi", "rope") for k in range(num_buf)]
        self.tag = {r: None for r in names}
        self.filling = {r: False for r in names}
        self.copies: list = []  # (regions, barrier, tag) in flight

    # --- shared memory and TMA ------------------------------------------------------------------------------------
    def tma(self, who, regions, bar, tag):
        for r in regions:
            if self.filling[r]:
                raise ProtocolError(f"{who}: TMA into {r} while another copy fills it")
        for r in regions:
            self.filling[r] = True
        bar.arrive(tx=1)  # mbarrier.expect (the arrival) with the copy's bytes
        self.copies.append((regions, bar, tag))

    def land(self, idx):
        regions, bar, tag = self.copies.pop(idx)
        for r in regions:
            self.tag[r], self.filling[r] = tag, False
        bar.tx_done()

    def read(self, who, region, tag):
        if self.filling[region]:
            raise ProtocolError(f"{who}: reads {region} while a TMA copy fills it")
        if self.tag[region] != tag:
            raise ProtocolError(f"{who}: reads {region} holding {self.tag[region]}, expected {tag}")

    def store(self, who, region, tag):
        if self.filling[region]:
            raise ProtocolError(f"{who}: stores to {region} while a TMA copy fills it")
        self.tag[region] = tag

    def mma(self, who, operands):
        """A wgmma and its wait: the operands must hold their tags from the issue to the wait."""
        for r, tag in operands:
            self.read(who, r, tag)
        yield
        for r, tag in operands:
            self.read(who, r, tag)

    # --- the kernel -----------------------------------------------------------------------------------------------
    def issue_segment(self, who, j):
        """_issue_segment: Q, then tiles k < min(n, NUM_BUF); an even tile's parts V_L | V_R + RoPE, an odd one's
        V_L + RoPE | V_R (a copy with pred false issues nothing, its expect too)."""
        n = self.segs[j][0]
        yield
        self.tma(who, ["q"], self.q_bar, ("q", j))
        for k in range(self.nb):
            if k < n:
                lo = [("lo", k)] if k % 2 == 0 else [("lo", k), ("rope", k)]
                hi = [("hi", k), ("rope", k)] if k % 2 == 0 else [("hi", k)]
                yield
                self.tma(who, lo, self.ready_lo[k], ("kv", j, k))
                yield
                self.tma(who, hi, self.ready_hi[k], ("kv", j, k))

    def hand_back(self, who, j, t, regions, bar):
        """_hand_back: reload a buffer part with tile t of the segment when it exists."""
        if t < self.segs[j][0]:
            yield
            self.tma(who, regions, bar, ("kv", j, t))

    def scores(self, who, j, t, par):
        """_scores (SCHED): tile t's parts, the one issued first first; -inf without touching memory past n."""
        if t >= self.segs[j][0]:
            return
        buf, odd = t % self.nb, t % 2 == 1
        phase = ready_phase(t, self.nb, 0 if self.mut == "no_par" else par)
        first, second = (self.ready_hi, self.ready_lo) if odd else (self.ready_lo, self.ready_hi)
        p1, p2 = ("hi", "lo") if odd else ("lo", "hi")
        yield ("wait", first[buf], phase)
        self.read(who, "q", ("q", j))
        self.read(who, (p1, buf), ("kv", j, t))
        yield ("wait", second[buf], phase)
        yield from self.mma(who, [("q", ("q", j)), ((p1, buf), ("kv", j, t)), ((p2, buf), ("kv", j, t)),
                                  (("rope", buf), ("kv", j, t))])

    def pair0(self, j, i, ph, mask, par):
        """_wg0_pair."""
        who, n = f"WG0 segment {j} pair {i}", self.segs[j][0]
        t0, t1 = 2 * i, 2 * i + 1
        b0, b1 = t0 % self.nb, t0 % self.nb + 1
        yield
        self.store(who, "s0", ("s", j, i))          # sm0, sa0
        self.bar_s[0].arrive()
        if mask:                                      # _zero_tail (conservatively: whatever the tile's length)
            yield from self.zero_tail(who, ("lo", b0), ("kv", j, t0))
        yield from self.mma(who, [(("lo", b0), ("kv", j, t0))])
        yield from self.hand_back(who, j, t0 + self.nb, [("lo", b0)], self.ready_lo[b0])
        yield ("wait", self.bar_s[1], ph)
        self.read(who, "s1", ("s", j, i))            # sm1, sa1
        yield
        self.store(who, ("rope", b0), ("P", j, t0))  # P0 * a1, then fence_async_shared
        self.bar_p[0].arrive()
        yield ("wait", self.bar_p[1], ph)
        if not mask or t1 < n:
            if mask:
                yield from self.zero_tail(who, ("lo", b1), ("kv", j, t1))
            yield from self.mma(who, [(("rope", b1), ("P", j, t1)), (("lo", b1), ("kv", j, t1))])
        yield from self.hand_back(who, j, t1 + self.nb, [("lo", b1), ("rope", b1)], self.ready_lo[b1])
        yield from self.scores(who, j, t0 + 2, par)

    def pair1(self, j, i, ph, mask, par):
        """_wg1_pair."""
        who, n = f"WG1 segment {j} pair {i}", self.segs[j][0]
        t0, t1 = 2 * i, 2 * i + 1
        b0, b1 = t0 % self.nb, t0 % self.nb + 1
        yield ("wait", self.bar_s[0], ph)
        self.read(who, "s0", ("s", j, i))
        yield
        self.store(who, "s1", ("s", j, i))
        self.bar_s[1].arrive()
        yield
        self.store(who, ("rope", b1), ("P", j, t1))  # P1 (zeros when t1 does not exist), then the fence
        self.bar_p[1].arrive()
        if not mask or t1 < n:
            if mask:
                yield from self.zero_tail(who, ("hi", b1), ("kv", j, t1))
            yield from self.mma(who, [(("hi", b1), ("kv", j, t1))])
        yield from self.hand_back(who, j, t1 + self.nb, [("hi", b1)], self.ready_hi[b1])
        yield ("wait", self.bar_p[0], ph)
        if mask:
            yield from self.zero_tail(who, ("hi", b0), ("kv", j, t0))
        yield from self.mma(who, [(("rope", b0), ("P", j, t0)), (("hi", b0), ("kv", j, t0))])
        yield from self.hand_back(who, j, t0 + self.nb, [("hi", b0), ("rope", b0)], self.ready_hi[b0])
        yield from self.scores(who, j, t1 + 2, par)

    def zero_tail(self, who, region, tag):
        yield
        self.read(who, region, tag)
        self.store(who, region, tag)

    def group(self, wg):
        """_wg_sched for compute group wg."""
        par = pbase = 0
        for j, (n, n_main) in enumerate(self.segs):
            who = f"WG{wg} segment {j}"
            yield ("wait", self.q_bar, 0 if self.mut == "q_phase0" else j & 1)
            yield from self.scores(who, j, wg, par)
            for i in range((n + 1) // 2):
                ph = (i if self.mut == "no_pbase" else i + pbase) & 1
                yield from (self.pair1 if wg else self.pair0)(j, i, ph, i >= n_main, par)
            if wg == 0 and self.mut == "early_issue" and j + 1 < len(self.segs):
                yield from self.issue_segment(who, j + 1)
            yield
            self.store(who, f"l{wg}", ("l", j))
            self.bar_l[wg].arrive()
            yield ("wait", self.bar_l[1 - wg], 0 if self.mut == "l_phase0" else j & 1)
            self.read(who, f"l{1 - wg}", ("l", j))
            yield
            self.seg_done.arrive()
            par ^= loads_parity(n, self.nb)
            pbase += (n + 1) // 2
            if wg == 0 and self.mut != "early_issue":
                if self.mut != "no_seg_done":
                    yield ("wait", self.seg_done, j & 1)
                if j + 1 < len(self.segs):
                    yield from self.issue_segment(who, j + 1)

    def run(self, rng: random.Random) -> int:
        """Run to the end under the interleaving rng draws (a per-run bias between the groups and the copies).
        Returns the steps taken; raises ProtocolError on a race, a stale read or a deadlock."""
        if self.segs:  # the kernel entry: the first segment's loads, before warp_specialize
            for _ in self.issue_segment("entry", 0):
                pass
        groups = {0: self.group(0), 1: self.group(1)}
        at = {w: next(g, "done") for w, g in groups.items()}  # what each waits for (None: ready to run)
        groups = {w: g for w, g in groups.items() if at[w] != "done"}  # an empty part: no segment
        p_land, p_wg0 = rng.choice([0.05, 0.3, 0.7, 0.95]), rng.choice([0.1, 0.5, 0.9])
        steps = 0
        while groups or self.copies:
            steps += 1
            ready = [w for w in groups if at[w] is None or at[w][1].passes(at[w][2])]
            if not ready and not self.copies:
                raise ProtocolError("deadlock: " + ", ".join(f"WG{w} waits {at[w][1].name} at phase {at[w][2]} "
                                                              f"(completed {at[w][1].phase})" for w in groups))
            if self.copies and (not ready or rng.random() < p_land):
                self.land(rng.randrange(len(self.copies)))
                continue
            w = ready[0] if len(ready) == 1 else (0 if rng.random() < p_wg0 else 1)
            try:
                at[w] = next(groups[w])
            except StopIteration:
                del groups[w]
        for bar in [self.q_bar, *self.ready_lo, *self.ready_hi, *self.bar_s, *self.bar_p, *self.bar_l,
                    self.seg_done]:
            assert bar.pending == bar.count and bar.tx == 0, f"{bar.name} left mid-phase"
        return steps


def _check(segments, num_buf, seeds, mutant=None):
    for seed in seeds:
        Program(segments, num_buf, mutant).run(random.Random(seed))


def _segments(lengths_and_mains):
    return [(n, m % (n // 2 + 1)) for n, m in lengths_and_mains]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 4)), min_size=1, max_size=5), st.sampled_from([2, 4]),
       st.integers(0, 2**16))
def test_the_scheduled_protocol_has_no_race_stale_read_or_deadlock(segs, num_buf, seed):
    """Drawn parts (segments of 0-9 tiles, any of their whole pairs unmasked), both buffer counts, 20 interleavings
    each: every wait passes only on the completion it means, no copy lands under a read, nothing hangs."""
    _check(_segments(segs), num_buf, range(seed, seed + 20))


@pytest.mark.parametrize("num_buf", [2, 4])
@pytest.mark.parametrize("segments", [
    [(0, 0)],                                   # a sequence of no keys: Q loaded, no tile, zeros written
    [(1, 0)] * 6,                               # one-tile segments: buffer 0's parity flips every segment
    [(0, 0), (3, 1), (0, 0), (0, 0), (2, 1)],   # empty segments between others (the row sums' phase still turns)
    [(7, 3), (1, 0), (5, 0), (2, 1)],           # odd and even, longer than the buffers, unmasked pairs first
    [(9, 4), (9, 4), (9, 4)],
])
def test_the_edge_segment_lists_run_clean(segments, num_buf):
    _check(segments, num_buf, range(300))


@pytest.mark.parametrize("mutant", list(MUTANTS.values()), ids=list(MUTANTS))
def test_each_broken_variant_of_the_protocol_is_caught(mutant):
    """The model has teeth: each deliberate error (a phase not carried across segments, the next segment's loads
    issued without the handover or before the other group is done) fails under some interleaving of these parts."""
    caught = []
    for num_buf in (2, 4):
        for segments in ([(1, 0), (2, 1), (0, 0), (3, 0)], [(2, 0), (0, 0), (1, 0), (5, 2)]):
            for seed in range(200):
                try:
                    Program(segments, num_buf, mutant).run(random.Random(seed))
                except ProtocolError as e:
                    caught.append(str(e))
    assert caught, f"{mutant}: never caught"


# --- the parts a real schedule hands the kernel ----------------------------------------------------------------------

def kernel_segments(lengths, sched, p, *, unit, block_n, q_len):
    """Part p's segments as _wg_sched computes them from its record: (b, first key, end key) by `_segment` (the
    schedule counts units of `unit` keys: split_keys), (n_tiles, n_main) by `_segment` and `_unmasked_pairs`."""
    segs = []
    for b, u0, u1, _ in part_segments(sched, p):
        start = u0 * unit
        end = min(u1 * unit, lengths[b])
        n = max(-(-(end - start) // block_n), 0)
        n_main = max(min(end, lengths[b] - q_len + 1) - start, 0) // (2 * block_n)
        segs.append((b, start, end, n, n_main))
    return segs


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 3), st.integers(0, 700)), min_size=1, max_size=12),
       st.sampled_from([(128, 64), (32, 32)]), st.sampled_from([1, 3, 10]), st.integers(1, 9), st.sampled_from([1, 2]),
       st.integers(0, 2**16))
def test_the_parts_of_drawn_schedules_cover_each_key_once_and_run_clean(lengths, tile, overhead, parts, q_len, seed):
    """Schedules of drawn lengths (plan_schedule, the device program's mirror) in the wrapper's units (split_keys: a
    pair of 64-key tiles, or one 32-key tile): the segments `_segment` makes of the records cover every key of every
    sequence exactly once, tiles start on tile boundaries (so a 64-key piece has whole pairs except at its
    sequence's end), and every part runs clean through the protocol model."""
    unit, block_n = tile
    sched = plan_schedule(lengths, block_n=unit, overhead=overhead, parts=parts)
    covered = [[] for _ in lengths]
    for p in range(parts):
        segs = kernel_segments(lengths, sched, p, unit=unit, block_n=block_n, q_len=q_len)
        for b, start, end, n, _ in segs:
            covered[b].append((start, end))
            assert start % (2 * block_n if unit == 2 * block_n else block_n) == 0
            assert n % 2 == 0 or end == lengths[b] or unit == block_n
        _check([(n, m) for *_, n, m in segs], 2 if block_n == 64 else 4, range(seed, seed + 3))
    for b, ranges in enumerate(covered):
        keys = sorted(ranges)
        assert keys[0][0] == 0 and keys[-1][1] == lengths[b]
        assert all(e == s for (_, e), (s, _) in zip(keys, keys[1:]))


def kernel_outputs(lengths, p, *, unit, overhead, parts):
    """Where _wg_sched sends each segment of part p, from the nine numbers of its record (schedule.part_record: what
    a program computes for itself or reads of a given schedule), as the kernel writes it: (b, slot or None for the
    output written directly, the SEQ_INFO entry WG0 of head block 0 writes in the own mode, or None)."""
    bb, bt, eb, et, bp, slot_first, partials_first, slot_last, partials_last = part_record(
        lengths, p, block_n=unit, overhead=overhead, parts=parts)
    out = []
    for b in range(bb, eb + 1):
        first = int(b == bb)
        partials = first * partials_first + (1 - first) * int(b == eb) * partials_last
        first_slot = slot_first + (1 - first) * partials_first
        entry = (first_slot, partials) if (b > bb or bp == 0) else None
        out.append((b, None if partials == 0 else first_slot + bp * first, entry))
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 3), st.integers(0, 700), st.integers(5_000, 40_000)), min_size=1,
                max_size=40), st.sampled_from([32, 128]), st.integers(1, 9), st.integers(1, 140))
def test_each_piece_goes_to_its_slot_and_the_own_mode_writes_every_slot_record_once(lengths, unit, overhead, parts):
    """The segments' epilogue in the scheduled mode (gluon_mla_seesaw._wg_sched) from a part's four slot numbers: a
    sequence of no partials is written directly by the one part that holds it, each piece of a split one goes to
    first_slot + piece of the schedule's (plan_schedule), and the SEQ_INFO entries the own mode writes (a part
    writes those of the sequences whose piece 0 it runs) are the schedule's seqs, each written exactly once."""
    sched = plan_schedule(lengths, block_n=unit, overhead=overhead, parts=parts)
    written = {}
    for p in range(parts):
        for (b, slot, entry), (b2, _, _, piece) in zip(
                kernel_outputs(lengths, p, unit=unit, overhead=overhead, parts=parts), part_segments(sched, p),
                strict=True):
            first_slot, partials = sched.seqs[b]
            assert b == b2
            assert slot == (None if partials == 0 else first_slot + piece)
            if entry is not None:
                assert b not in written
                written[b] = entry
    assert [written[b] for b in range(len(lengths))] == list(sched.seqs)
