"""The balanced decode schedule on the device: one Triton program reads cache_seqlens and writes the records of
schedule.py (per part: its range of sequences and key tiles; per sequence: its partial-result slots), with no host
sync. `mla_decode_schedule()` makes the object that holds them, like FlashMLA's `get_mla_metadata()`.

Algorithm (schedule.py has the derivation and a plain-Python mirror, integer for integer): in chunks of CHUNK
sequences, with the running sums carried from chunk to chunk,
  1. total = sum_b (overhead + n_b), n_b = max(ceil(L_b / BLOCK_N), 1); payload P = ceil(total / G);
  2. C_b = exclusive prefix sum of (overhead + n_b); s_b = C_b + overhead, e_b = s_b + n_b - 1; sequence b spans
     parts s_b // P .. e_b // P; its partials (that count when > 1, else 0) and its first slot (the exclusive
     prefix sum of the partials) are written;
  3. per part p (a [PARTS_P2] vector, reduced over each chunk's [PARTS_P2, CHUNK] comparisons, all sequences being
     in increasing cell order): begin_b = #{b: e_b < p P}, end_b = #{b: s_b < (p + 1) P} - 1, begin_tile =
     max(0, p P - s_{begin_b}), end_tile = min((p + 1) P, e_{end_b} + 1) - s_{end_b}, begin_piece = p -
     s_{begin_b} // P, where s_{begin_b} = min over {b: e_b >= p P} of s_b and s_{end_b}, e_{end_b} are maxima over
     {b: s_b < (p + 1) P}.

The contract of a schedule object (as FlashMLA's metadata): it is filled by the first decode call that is given it,
from that call's cache_seqlens and the shape of its launch, and reused as it is by every later call. Make a new one
whenever cache_seqlens change (engines: once a decode step, shared by every layer of that step); a schedule given
to a call of another batch size or tile shape is one ValueError. Inside a CUDA graph: capture a call with a fresh
schedule, and its filling is part of the graph, so each replay recomputes it from the lengths of that replay.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .checks import KernelInputError
from .launch import FastLauncher

__all__ = ["MLADecodeSchedule", "mla_decode_schedule", "fill_schedule", "schedule_chunk", "MAX_CELLS"]

SCHEDULE_WARPS = 8
SCHEDULE_TILE = 8192  # elements of the program's [PARTS_P2, CHUNK] comparisons: 32 a thread of 8 warps (sm_90 compile
# on the CPU: 150-153 registers, no spills at 256 x 32 and 512 x 16; 4 warps at 256 x 32 spilled 64 bytes)
# Cells are int32: with total cells <= MAX_CELLS (the plan checks B x (tiles of a full cache + overhead)), a part's
# first cell p x P < 2 G (total / G + 1) stays far below 2^31, and _BIG above every cell index
MAX_CELLS = 1 << 28
_BIG = tl.constexpr(1 << 30)


@triton.jit
def _schedule_kernel(SEQLENS, PARTS, SEQS, B, num_parts, overhead, capacity, BLOCK_N: tl.constexpr,
                     CHUNK: tl.constexpr, PARTS_P2: tl.constexpr):
    """One program. SEQLENS [B] int32 -> PARTS [5, num_parts], SEQS [B, 2] int32 (schedule.py's records). Lengths
    are clamped to `capacity`, as the decode kernels clamp them (triton_flash.valid_length): a length past it would
    overflow the int32 cells the plan bounded by capacity (MAX_CELLS)."""
    offs = tl.arange(0, CHUNK)
    total = 0
    for c0 in range(0, B, CHUNK):
        b = c0 + offs
        ok = b < B
        L = tl.minimum(tl.load(SEQLENS + b, mask=ok, other=0), capacity)
        n = tl.maximum(tl.cdiv(tl.maximum(L, 0), BLOCK_N), 1)
        total += tl.sum(tl.where(ok, n + overhead, 0), 0)
    P = tl.maximum(tl.cdiv(total, num_parts), 1)
    p = tl.arange(0, PARTS_P2)
    lo = p * P
    hi = lo + P
    before = tl.zeros([PARTS_P2], dtype=tl.int32)   # sequences whose tiles all lie before part p
    upto = tl.zeros([PARTS_P2], dtype=tl.int32)     # sequences whose first tile lies before part p's end
    s_first = tl.full([PARTS_P2], _BIG, dtype=tl.int32)
    s_last = tl.full([PARTS_P2], -1, dtype=tl.int32)
    e_last = tl.full([PARTS_P2], -1, dtype=tl.int32)
    cells = 0
    slots = 0
    for c0 in range(0, B, CHUNK):
        b = c0 + offs
        ok = b < B
        L = tl.minimum(tl.load(SEQLENS + b, mask=ok, other=0), capacity)
        n = tl.maximum(tl.cdiv(tl.maximum(L, 0), BLOCK_N), 1)
        cost = tl.where(ok, n + overhead, 0)
        s = cells + tl.cumsum(cost, 0) - cost + overhead
        e = s + n - 1
        k = e // P - s // P + 1
        partials = tl.where(ok & (k > 1), k, 0)
        first_slot = slots + tl.cumsum(partials, 0) - partials
        tl.store(SEQS + 2 * b, first_slot, mask=ok)
        tl.store(SEQS + 2 * b + 1, partials, mask=ok)
        cells += tl.sum(cost, 0)
        slots += tl.sum(partials, 0)
        reach = ok[None, :] & (e[None, :] >= lo[:, None])       # [PARTS_P2, CHUNK]
        start = ok[None, :] & (s[None, :] < hi[:, None])
        before += tl.sum((ok[None, :] & ~reach).to(tl.int32), 1)
        upto += tl.sum(start.to(tl.int32), 1)
        s_first = tl.minimum(s_first, tl.min(tl.where(reach, s[None, :], _BIG), 1))
        s_last = tl.maximum(s_last, tl.max(tl.where(start, s[None, :], -1), 1))
        e_last = tl.maximum(e_last, tl.max(tl.where(start, e[None, :], -1), 1))
    begin_b = before
    end_b = upto - 1
    live = begin_b <= end_b
    begin_tile = tl.where(live, tl.maximum(lo - s_first, 0), 0)
    end_tile = tl.where(live, tl.minimum(hi, e_last + 1) - s_last, 0)
    piece = tl.where(live, p - s_first // P, 0)
    keep = p < num_parts
    tl.store(PARTS + p, tl.where(live, begin_b, 0), mask=keep)
    tl.store(PARTS + num_parts + p, begin_tile, mask=keep)
    tl.store(PARTS + 2 * num_parts + p, tl.where(live, end_b, -1), mask=keep)
    tl.store(PARTS + 3 * num_parts + p, end_tile, mask=keep)
    tl.store(PARTS + 4 * num_parts + p, piece, mask=keep)


_LAUNCH_SCHEDULE = FastLauncher(_schedule_kernel)


def schedule_chunk(parts_p2: int) -> int:
    """Sequences a step of the schedule program (CHUNK): SCHEDULE_TILE over the parts rounded up to a power of two,
    between 8 and 128."""
    return min(128, max(8, SCHEDULE_TILE // parts_p2))


def fill_schedule(cache_seqlens: torch.Tensor, parts: torch.Tensor, seqs: torch.Tensor, *, block_n: int,
                  overhead: int, capacity: int = 2**31 - 1) -> None:
    """Launch the schedule program: cache_seqlens [B] int32 (each clamped to `capacity` keys, the cache's) ->
    parts [5, G], seqs [B, 2] int32 (in place)."""
    G = parts.shape[1]
    B = cache_seqlens.shape[0]
    key = ("schedule", B, G, block_n, overhead, capacity, cache_seqlens.device)
    p2 = triton.next_power_of_2(G)
    _LAUNCH_SCHEDULE(key, (1, 1, 1), (cache_seqlens, parts, seqs, B, G, overhead, capacity, block_n,
                                      schedule_chunk(p2), p2), num_warps=SCHEDULE_WARPS)


class MLADecodeSchedule:
    """A balanced schedule for mla_decode(..., schedule=...), impl "triton": empty until the first call that uses
    it, which fills it on the device from that call's cache_seqlens (one extra launch of one program); later calls
    reuse it. Make a new one whenever cache_seqlens change (module docstring: the contract)."""

    __slots__ = ("shape", "parts", "seqs")

    def __init__(self):
        self.shape = None  # (B, G, block_n, overhead, device) of the launch that filled it
        self.parts = None  # [5, G] int32
        self.seqs = None   # [B, 2] int32

    @property
    def filled(self) -> bool:
        return self.shape is not None

    def tensors(self, shape: tuple, cache_seqlens: torch.Tensor, capacity: int = 2**31 - 1
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(parts, seqs) for a launch of `shape` (B, G, block_n, overhead, device): filled from cache_seqlens (each
        clamped to the cache's `capacity` keys) on the first call, as they are on later ones; a different shape is
        one KernelInputError."""
        if shape is self.shape:  # the plan that filled it passes the same tuple: the call of every later layer
            return self.parts, self.seqs
        if self.shape is None:
            B, G, block_n, overhead, device = shape
            self.parts = torch.empty((5, G), dtype=torch.int32, device=device)
            self.seqs = torch.empty((B, 2), dtype=torch.int32, device=device)
            fill_schedule(cache_seqlens, self.parts, self.seqs, block_n=block_n, overhead=overhead,
                          capacity=capacity)
            self.shape = shape
        elif shape != self.shape:
            raise KernelInputError("schedule", f"filled for (batch, parts, block_n, overhead, device) = {self.shape}, "
                                               f"used for {shape}: make one schedule per launch shape")
        return self.parts, self.seqs

    def __repr__(self) -> str:
        return f"MLADecodeSchedule(filled for {self.shape})" if self.shape else "MLADecodeSchedule(empty)"


def mla_decode_schedule() -> MLADecodeSchedule:
    """An empty schedule for mla_decode / mla_decode_triton (`schedule=`), FlashMLA's get_mla_metadata() in spirit:
    make one a decode step (after cache_seqlens are updated), pass it to every layer's call of that step."""
    return MLADecodeSchedule()
