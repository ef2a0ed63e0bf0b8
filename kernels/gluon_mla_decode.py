"""Absorbed-MLA decode for Hopper (sm_90) in Gluon: the many-heads case (64 query rows a program; impl="auto" takes it
above 16 rows a sequence over a 16-bit cache, padding fewer than 64, and from 64 over fp8: auto_min_rows).

Same maths and arguments as triton_mla_decode.mla_decode_triton (one 576-dim key per token, its first 512 dims are
also the value), written in Gluon, Triton's tile-level dialect in which the kernel states its own layouts, shared
memory, TMA copies, mbarriers and wgmma instructions. Why: at 128 heads the Triton kernel stays far from the
floor (docs/kernels-notes.md, follow-ups 1-2, has the numbers): with 64 query rows and 8 warps Triton either
replicates Q K^T on both warp groups or (split_v) recomputes it in two programs, and its pipeliner cannot overlap
the 74 KB tile loads with the dots.

This file holds the wrapper (mla_decode_gluon: TMA descriptors, splits, merge), the check of which calls it takes
(gluon_supported) and a CPU compile for sm_90 (compile_sm90); the kernel, a two-warp-group "seesaw" schedule, is in
gluon_mla_seesaw.py. Splits and their merge are the Triton kernel's (triton_split_kv). bf16/fp16 caches, or an fp8
e4m3 cache with a per-tensor kv_scale (a third warp group widens its tiles; block_n 32), contiguous or paged with a
block size that is a multiple of block_n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import triton
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

from .gluon_mla_seesaw import RESCALE_SLACK, _mla_decode_seesaw_kernel, seesaw_buffers
from .triton_flash import LOG2E
from .checks import KernelInputError, check_lengths_and_table, check_mla_inputs, check_scale, require
from .launch import FastLauncher, cached_plan, checks_enabled, layout_key, device_capability, num_sms, new_launch_key
from .schedule import balanced_and_fixed, schedule_parts, segment_overhead_tiles, slot_capacity
from .triton_schedule import MAX_CELLS, MLADecodeSchedule, fill_schedule
from .triton_split_kv import combine_slots, combine_splits, plan_splits

__all__ = ["GluonMLAConfig", "mla_decode_gluon", "gluon_supported", "gluon_splits", "DEFAULT_GLUON_CONFIG",
           "default_gluon_config", "auto_min_rows"]


@dataclass(frozen=True)
class GluonMLAConfig:
    """block_n: keys per tile, 32 (4 kv buffers) or 64 (2 buffers); which one a call takes: default_gluon_config (64
    above 64 query rows over a 16-bit cache, else 32). rescale_slack: base-2 growth of a row's max before the
    running output is rescaled (gluon_mla_seesaw._softmax_step; 0: every tile, as FlashMLA does). l2_prefetch_pairs
    (fp8 caches only): how many pairs of tiles ahead of its TMA copy the widening group asks L2 for a pair's bytes
    (gluon_mla_seesaw._prefetch_tile; 0: none). (A widening group that loaded the fp8 tiles into registers instead
    of by TMA, `fp8_direct`, measured 1.26-1.34x this one's time and was removed: docs/kernels-notes.md, "Why the
    fp8 target is out of this tile's reach"; its code is commit 60a4490.) auto_schedule_below (16-bit caches, a call
    given neither a schedule nor num_splits): where the balanced schedule's modelled time over the fixed grid's, at
    every sequence max_seqlen long (schedule.balanced_over_fixed), is under this, the call fills and runs a schedule
    of its own (:func:`auto_schedules`; 0: never). stack_q: the compute groups read Q through a stacked view whose
    wgmma descriptors stay in the loop (gluon_mla_seesaw._stack_q: no spills under Triton 3.6); False: the earlier,
    loop-invariant view (for A/B runs). schedule_in_kernel: how a call's own schedule is made: each decode program
    computes its part's record from the lengths (gluon_mla_seesaw._own_record), or (False, the earlier way, for A/B
    runs) a one-program fill kernel runs before the decode kernel. own_schedule_us: what auto_schedules charges a
    call's own schedule (None: the measured cost of the way schedule_in_kernel picks; 0 schedules wherever the
    modelled ratio is under auto_schedule_below, for A/B runs)."""

    block_n: int = 32
    rescale_slack: float = RESCALE_SLACK.value
    l2_prefetch_pairs: int = 0
    auto_schedule_below: float = 0.91
    stack_q: bool = True
    schedule_in_kernel: bool = True
    own_schedule_us: float | None = None


DEFAULT_GLUON_CONFIG = GluonMLAConfig()
BLOCK_H = 64  # one wgmma M tile; both warp groups share its rows
WIDE_TILE = GluonMLAConfig(block_n=64)
# fp8 caches: 32-key tiles, the widening group prefetching one pair ahead into L2 (H200, Triton 3.6, bench/ab_prefetch.py:
# one pair / none 0.990x geomean over 20 points, two pairs 0.995x: reports/h200/tuning/ab_fp8_prefetch.json)
FP8_TILE = GluonMLAConfig(l2_prefetch_pairs=1)


def default_gluon_config(rows: int, *, fp8: bool = False, page_size: int | None = None) -> GluonMLAConfig:
    """The tile mla_decode_gluon takes when given no config, for `rows` = s_q x heads query rows a sequence.

    64-key tiles for more than one head block (rows > 64: the many-heads case, bound by the score wgmmas' shared-memory
    reads, which an N = 64 wgmma halves per key against N = 32), a 16-bit cache and paged blocks a multiple of 64.
    Measured on the H200, best of two rounds, graph-timed, under the GPU machine's Triton 3.6 (bench/session_aw_gpu.sh,
    reports/h200/tuning/ab_t36_64.json): at 128 heads 0.83-0.87x the 32-key tile's time at large batch x context
    (e.g. 128 x 32k 1.89 vs 2.29 ms), 0.90-0.91x at 32 x 4k, 0.99-1.02x at 8 x 4k; at 64 heads (one head block,
    kept at 32) 0.91-0.97x at large batch x context but 1.20-1.27x at 8 x 4k. Triton 3.9 measured alike
    (ab_t39_64.json, with the tile's earlier, spilling build). Until _pair_tiles kept the wgmma descriptors in the
    loop, the 64-key tile spilled 427 times under 3.6 (0.99-1.15x the 32-key tile's time), which is why it was off
    there before. fp8 caches keep 32 keys (their widening group fills 32-key tiles), with its L2 prefetch (FP8_TILE)."""
    if fp8:
        return FP8_TILE
    if rows > BLOCK_H and (page_size is None or page_size % WIDE_TILE.block_n == 0):
        return WIDE_TILE
    return DEFAULT_GLUON_CONFIG


def auto_min_rows(fp8: bool) -> int:
    """The fewest query rows a sequence (s_q x heads) for which impl="auto" takes this kernel: over a 16-bit cache
    more than 16 (its 64-row tile padded, as FlashMLA pads: fewer rows are the Triton kernel's 16-row tile, which
    keeps pace), over an fp8 cache a whole head block (the padded tile with its widening group is not measured).
    Measured on the H200 under Triton 3.6 at the 12 seed-1 random points with 32 heads (batch 1-96, lengths 1k-32k
    mixed; reports/h200/tuning/random_sched_seed1_t36.json, columns ratio and gluon_ratio): ours / FlashMLA
    1.08-1.25 (median 1.17) padded, against 0.98-1.77 (median 1.53) on the Triton kernel's 32-row tile, which runs
    mma.sync compute-bound; the padded tile was faster at every point. At the 8 points with 16 heads the Triton tile
    measured 0.91-1.25 (median 1.11) and the padded tile 0.95-1.29 (median 1.13), so 16 rows stay on Triton."""
    return BLOCK_H if fp8 else 17


def gluon_supported(q: torch.Tensor, kv_cache: torch.Tensor, *, kv_lora_rank: int = 512, page_size: int | None = None,
                    block_n: int = DEFAULT_GLUON_CONFIG.block_n, min_rows: int = BLOCK_H) -> bool:
    """Whether mla_decode_gluon handles this call: an sm_90 GPU, bf16/fp16 q, a cache of q's dtype or fp8 e4m3
    (then 32-token tiles), 512 + 64 dims, at least `min_rows` query rows per sequence (auto: :func:`auto_min_rows`;
    mla_decode_gluon itself takes any, padded to the 64-row tile as FlashMLA pads them), TMA-compatible (16-byte
    aligned) rows, paged block size a multiple of block_n.

    Fewer rows than 64: a program's 64-row Q box then reads the next sequence's rows, or TMA's zero fill past the
    tensor; their softmax sees only existing keys and the output and LSE stores mask rows >= rows_per_seq, so they
    never reach memory (GPU tests test_gluon_mla h32, h16_paged, h32_b1, h16_mtp)."""
    if not (q.is_cuda and device_capability(q.device)[0] == 9):
        return False
    B, s_q, H, Dk = q.shape
    fp8 = kv_cache.dtype == torch.float8_e4m3fn
    return (q.dtype in (torch.bfloat16, torch.float16) and (kv_cache.dtype == q.dtype or (fp8 and block_n == 32))
            and kv_lora_rank == 512 and Dk == 576 and s_q * H >= min_rows and q.is_contiguous()
            and kv_cache.stride(-1) == 1 and (page_size is None or page_size % block_n == 0))


def split_keys(config: GluonMLAConfig) -> int:
    """Keys a split of the Gluon kernel is a whole number of: a pair of 64-key tiles, or one 32-key tile. The two
    compute groups take alternate tiles, so a split of an odd number of 64-key tiles leaves one group idle through
    the last (under Triton 3.6 on the H200, 128 heads: splits of 5 and 9 such tiles (12 x 1536, 6 x 6144 keys) took
    1.15 and 1.11x the 32-key tile's time where even counts took 0.84-1.0x: reports/h200/calibrate-18a.json against
    calibrate-merged.json)."""
    return 2 * config.block_n if config.block_n == WIDE_TILE.block_n else config.block_n


# An fp8 cache's splits where the byte plan is under one wave: the most that keep one wave with chunks of this many keys
# or more (gluon_splits; mlacalc.expected restates it as GLUON_FP8_WAVE_CHUNK). 256 is the planner's shortest split.
FP8_WAVE_CHUNK = 256


def gluon_splits(batch: int, rows: int, max_len: int, *, sms: int, block_n: int = DEFAULT_GLUON_CONFIG.block_n,
                 token_bytes: int = 1152, kv_lora_rank: int = 512, num_splits: int | None = None,
                 fp8_wave_chunk: int = FP8_WAVE_CHUNK) -> tuple[int, int]:
    """(num_splits, tokens_per_split) mla_decode_gluon launches with for `batch` sequences of `rows` query rows
    (s_q x heads) and keys up to `max_len` (for predictions on a machine without a GPU: mlacalc.expected restates
    it): the Triton kernel's planner over batch x ceil(rows / 64) programs, one an SM, splits of at least 256 keys
    in whole units of block_n keys (:func:`split_keys` of the tile).

    An fp8 cache (token_bytes under 2 x 576: 8-bit latents), then, where that grid is under one wave: the most splits
    that keep one wave with chunks of `fp8_wave_chunk` keys or more, when that is more (0: the byte plan). The byte
    planner prices an fp8 key at its 576 bytes, half a bf16 key, but the fp8 kernel takes about the bf16 kernel's
    time a key (its widening
    group and 32-key tiles: 1.576 against 1.60 ms at 128 x 32k x 64 heads on an H100, docs/kernels-notes.md), so it
    planned fewer splits than the bf16 kernel and left SMs idle. Measured (bench/ab_fp8_splits.py, graph-timed, L2
    flushed, best of two rounds, paged, batch 1-8 x 4k/16k x 64/128 heads; H100 80GB HBM3, Triton 3.6,
    reports/h100/tuning/ab_fp8_splits_session_bp.json): this rule / the byte plan geomean 0.942 (0.866-1.000, never
    slower) over the 12 points, where the bf16 kernel's plan (token_bytes 1152) gave 0.954 (0.908-1.002)."""
    programs = batch * triton.cdiv(rows, BLOCK_H)
    splits, tokens = plan_splits(programs, max_len, block_n, sms=sms, num_splits=num_splits, min_tokens=256,
                                 token_bytes=token_bytes, partial_bytes_per_split=batch * rows * kv_lora_rank * 8)
    if num_splits is None and fp8_wave_chunk and token_bytes < 2 * 576:
        wave = min(sms // max(programs, 1), max_len // fp8_wave_chunk)
        if wave > splits:
            wider = plan_splits(0, max_len, block_n, sms=sms, num_splits=wave)
            if wider[0] > splits:
                splits, tokens = wider
    return splits, tokens


# auto_schedules: the shortest sequences its A/Bs measured; the scheduled mode's time, SCHEDULE_PER_RATIO x the modelled
# ratio of the grid's + SCHEDULE_US (fit over the 24 grid A/B points of reports/h100/tuning/
# ab_sched_uniform_session_bn.json at 64-128 heads); a schedule filled on the device at every launch, FILL_US more
# (auto's own against a schedule filled once, at 4 points of 128 heads: 17-22 us; reports/h100/tuning/
# uniform_vs_flashmla_seed1_session_bq.json against _session_bp.json's `sched` column); the grid's time a key of its
# busiest SM at 128 heads (the same grid A/B's fixed rows from 32k keys or batch 128: 0.030-0.033 us on an H100)
AUTO_SCHEDULE_MIN_KEYS = 4096
SCHEDULE_PER_RATIO, SCHEDULE_US, FILL_US, GRID_KEY_US, AUTO_SCHEDULE_MARGIN = 1.065, 2.1, 19.0, 0.031, 0.02
# each decode program computing its part's record itself (schedule_in_kernel: two passes over the lengths in its
# prologue, bench/sass_loops.py --gluon-sched): graph-timed against the same schedule filled once, 2.6-10.8 us more,
# median 6.0, at 7 points of 128 heads on an H100 (bench/auto_schedule_trace.py --variants fixed,explicit,own,fill,
# bash bench/session_by_gpu.sh: reports/h100/tuning/auto_schedule_trace_own_session_by.log; the fill kernel's way
# 17-23 us more); with the chunk's reductions in one (29 -> 5 CTA barriers) 3.8-9.9 (session_cf): not the barriers.
# python bench/schedule_summary.py reports/h100/tuning/auto_schedule_trace_*_session_{by,cf}.json prints both
OWN_RECORD_US = 6.0


def own_schedule_us(config: GluonMLAConfig) -> float:
    """Microseconds a call's own schedule adds over one filled earlier: config.own_schedule_us when set, else
    OWN_RECORD_US (computed in the decode kernel) or FILL_US (a fill kernel before it)."""
    if config.own_schedule_us is not None:
        return config.own_schedule_us
    return OWN_RECORD_US if config.schedule_in_kernel else FILL_US


def _check_schedule_fields(config: GluonMLAConfig) -> None:
    """The auto-schedule fields of a caller's config, checked before any device work (one KernelInputError naming
    config): auto_schedule_below and own_schedule_us (None or) finite numbers, schedule_in_kernel a bool."""
    def number(x):
        return type(x) in (int, float) and math.isfinite(x)

    require(number(config.auto_schedule_below), "config",
            f"auto_schedule_below must be a finite number, got {config.auto_schedule_below!r}")
    require(config.own_schedule_us is None or number(config.own_schedule_us), "config",
            f"own_schedule_us must be None or a finite number of microseconds, got {config.own_schedule_us!r}")
    require(type(config.schedule_in_kernel) is bool, "config",
            f"schedule_in_kernel must be True or False, got {config.schedule_in_kernel!r}")


def auto_schedules(batch: int, rows: int, max_len: int, *, sms: int, config: GluonMLAConfig, tokens_per_split: int,
                   num_splits: int, d_k: int = 576, d_v: int = 512, elem_bytes: int = 2,
                   capacity: int | None = None) -> bool:
    """Whether a call of the 16-bit kernel without a schedule or num_splits runs one of its own: the balanced
    schedule's modelled time over the fixed grid's, every sequence `max_len` keys long (the host knows no other
    length; mixed lengths only leave the grid more idle SMs), in the tile's keys with segment_overhead_tiles a program
    or segment, under config.auto_schedule_below.

    Why a model and a margin: off the issue's power-of-two grid, batch x head blocks x splits is seldom a multiple of
    the SMs, and at 128 heads the fixed grid then took 1.03-1.31x FlashMLA's time (median 1.14; 40 uniform points of
    batch 8-128 x 4k-32k on an H100, reports/h100/tuning/uniform_vs_flashmla_seed1_session_bp.json), as the model
    says (measured / modelled 1.00-1.08). The scheduled mode costs more than the model sees (a segment's refill, the
    partials' merge): over the 24 points of the grid at 64-128 heads (reports/h100/tuning/
    ab_sched_uniform_session_bn.json) scheduled / fixed measured 1.065 x the modelled ratio + 2.1 us / the fixed
    grid's time (least squares, rms 0.055). Held out on the 26 uniform points at 64-128 heads that fit predicts
    within rms 0.039, and a ratio under 0.89 (a gain of 5% or more predicted) picked 4 points, all 128 heads, where
    scheduled / fixed measured 0.85-0.95 (a schedule filled once). A call makes its own at every launch, which costs
    more (:func:`own_schedule_us`), so the rule also asks the modelled saving, the grid's time (its busiest SM's keys
    x GRID_KEY_US) x (1 - SCHEDULE_PER_RATIO x ratio - a 2% margin) - SCHEDULE_US, to exceed that cost. Made by a
    fill kernel (the earlier way), it measured FILL_US: at those 4 points the model predicted 15-56 us saved before
    the fill, measured 1-58 us, and the rule kept the 3 that gained 5-11%; the fill's cost was its kernel, 6-11 us,
    and the decode kernel after it running 2.6-5% slower than after a schedule filled earlier (docs/kernels-notes.md,
    thirtieth session). Now each decode program computes its own part's record (OWN_RECORD_US), and the threshold
    is 0.91: at the 6 points of two uniform seeds modelled at 0.890-0.905 with a positive saving, the own schedule
    measured 0.927-0.965 of the fixed grid's time (the fit's 1.065 x ratio is pessimistic there: 1.02-1.05;
    reports/h100/tuning/auto_schedule_trace_near_threshold_session_ca.log). (`python bench/auto_schedule_evidence.py`
    prints the figures above from the committed runs; the fill's split, the traces in
    reports/h100/tuning/auto_schedule_trace_*.)
    Only where those points were: the fixed grid a wave of programs or more (its loss is the last wave's idle SMs;
    under one wave the planner already chose fewer, longer splits, and a schedule would cut pieces of a few tiles
    whose fixed costs the model does not see) and sequences of AUTO_SCHEDULE_MIN_KEYS keys or more. More than one
    head block (rows > 64) only: at 64 heads the scheduled mode measured up to 0.10 slower than that fit at contexts
    under 10k (its segments' fixed costs weigh more beside the 32-key tile's faster keys), and there the fixed grid
    kept within 1.07x FlashMLA off the grid anyway (median 1.02). One query token a sequence only (the scheduled
    mode's multi-token causal band is tested, not measured). Not where the grid runs one split a sequence: it then
    writes no partials and merges nothing, which the schedule must (its slots' merge: 15 us at 117 x 8,988), and at
    the two such points measured the schedule lost (117 x 8,988, modelled 0.904: 1.015x the grid's time; 128 x
    16,384: 1.021x; reports/h100/tuning/auto_schedule_trace_heldout_session_ce.log, _own_session_by.log)."""
    head_blocks = triton.cdiv(rows, BLOCK_H)
    if (config.auto_schedule_below <= 0 or rows <= BLOCK_H or max_len < AUTO_SCHEDULE_MIN_KEYS
            or batch * head_blocks * num_splits < sms or num_splits == 1):
        return False
    overhead = segment_overhead_tiles(BLOCK_H, config.block_n, d_k, d_v, q_bytes=elem_bytes, kv_bytes=elem_bytes)
    unit = split_keys(config)
    unit_overhead = segment_overhead_tiles(BLOCK_H, unit, d_k, d_v, q_bytes=elem_bytes, kv_bytes=elem_bytes)
    if batch * (triton.cdiv(capacity or max_len, unit) + unit_overhead) > MAX_CELLS:  # the plan's bound on cells
        return False
    busiest, fixed = balanced_and_fixed([max_len] * batch, block_n=config.block_n, overhead=overhead,
                                        head_programs=head_blocks, sms=sms, tokens_per_split=tokens_per_split,
                                        num_splits=num_splits)
    ratio, grid_us = busiest / fixed, fixed * config.block_n * GRID_KEY_US
    saved_us = (grid_us * (1 - SCHEDULE_PER_RATIO * ratio - AUTO_SCHEDULE_MARGIN) - SCHEDULE_US
                - own_schedule_us(config))
    return ratio < config.auto_schedule_below and saved_us > 0


def mla_decode_gluon(
    q: torch.Tensor,
    kv_cache: torch.Tensor,
    cache_seqlens: torch.Tensor | None = None,
    block_table: torch.Tensor | None = None,
    *,
    softmax_scale: float,
    kv_lora_rank: int = 512,
    kv_scale: torch.Tensor | float | None = None,
    max_seqlen: int | None = None,
    num_splits: int | None = None,
    config: GluonMLAConfig | None = None,
    out: torch.Tensor | None = None,
    check: bool | None = None,
    schedule: MLADecodeSchedule | None = None,
) -> torch.Tensor:
    """Absorbed MLA decode on sm_90 (see gluon_supported). Arguments and result as mla_decode_triton:
    q [B, s_q, H, 576], kv_cache [B, S, 576] or paged [num_blocks, block_size, 576] with block_table [B, nblk]
    int32, cache_seqlens [B] int32 -> [B, s_q, H, 512] in q.dtype. An fp8 e4m3 cache takes kv_scale (a float, or a
    1-element fp32 tensor read by the kernel: no host sync); a 16-bit cache none. config None: default_gluon_config's
    tile for this call. Bad input: one KernelInputError (ValueError).

    schedule (16-bit caches): a triton_schedule.mla_decode_schedule() object, as for mla_decode_triton: the work is
    cut by the lengths themselves (schedule.py, in units of split_keys(config) keys) into one wave of parts, each
    program looping over its part's sequence segments (gluon_mla_seesaw._wg_sched); the first call given an empty
    schedule fills it on the device, later calls reuse it (make one per decode step). Not with num_splits or an fp8
    cache. Measured on H200 and H100 (docs/kernels-notes.md, twentieth, twenty-eighth and twenty-ninth sessions): it
    gains where the fixed grid leaves SMs idle (mixed lengths, a last wave part full) and costs 2-15% where the grid
    is balanced; without a schedule, a call takes one of its own where :func:`auto_schedules` predicts a gain.

    Host cost: the plan (splits, scratch, layouts) is cached per shape (launch.py); the four TMA descriptors are
    rebuilt only when q's or the cache's address changes (the last pair is kept, so the plan holds a reference to
    the last q and cache it saw)."""
    if schedule is not None and type(schedule) is not MLADecodeSchedule:
        raise KernelInputError("schedule", f"expected an MLADecodeSchedule (mla_decode_schedule()), got "
                                           f"{type(schedule).__name__}")
    key = (layout_key(q), q.device, layout_key(kv_cache), layout_key(block_table), layout_key(cache_seqlens),
           layout_key(out), kv_scale is None, torch.is_tensor(kv_scale), kv_lora_rank, max_seqlen, num_splits, config,
           schedule is not None)

    def make():
        check_mla_inputs(q, kv_cache, cache_seqlens, block_table, kv_lora_rank=kv_lora_rank, kv_scale=kv_scale,
                         out=out, max_seqlen=max_seqlen, kv_dtypes=(torch.bfloat16, torch.float16, torch.float8_e4m3fn))
        require(kv_scale is None or kv_cache.dtype == torch.float8_e4m3fn, "kv_scale",
                "only an fp8 cache takes a scale")
        require(schedule is None or kv_cache.dtype != torch.float8_e4m3fn, "schedule",
                "the Gluon kernel's fp8 cache takes no schedule (its widening group plans one split)")
        require(schedule is None or num_splits is None, "num_splits",
                "not with a schedule (the schedule cuts the work itself)")
        require(config is None or (type(config.l2_prefetch_pairs) is int and 0 <= config.l2_prefetch_pairs <= 4),
                "config", f"l2_prefetch_pairs must be an integer 0-4, got {config and config.l2_prefetch_pairs!r}")
        if config is not None:
            _check_schedule_fields(config)
        page = kv_cache.shape[1] if block_table is not None else None
        cfg = config or default_gluon_config(q.shape[1] * q.shape[2], fp8=kv_cache.dtype == torch.float8_e4m3fn,
                                             page_size=page)
        require(gluon_supported(q, kv_cache, kv_lora_rank=kv_lora_rank, page_size=page, block_n=cfg.block_n,
                                min_rows=1),
                "q", "this call is outside the Gluon kernel's domain (gluon_supported): use mla_decode_triton")
        return _GluonPlan(q, kv_cache, block_table, kv_lora_rank=kv_lora_rank, max_seqlen=max_seqlen,
                          num_splits=num_splits, config=cfg, scheduled=schedule is not None)

    plan = cached_plan("mla_decode_gluon", key, make, q.device)
    check_scale(softmax_scale)  # the kernel folds it into the exponent
    if checks_enabled(check, q.device):
        check_lengths_and_table(cache_seqlens, block_table, num_blocks=kv_cache.shape[0], page_size=plan.page_size,
                                capacity=plan.capacity, max_seqlen=None if schedule is not None else max_seqlen)
    return plan.launch(q, kv_cache, cache_seqlens, block_table, softmax_scale, kv_scale, out, schedule)


class _GluonPlan:
    def __init__(self, q, kv_cache, block_table, *, kv_lora_rank, max_seqlen, num_splits, config, scheduled=False):
        self.launch_key = new_launch_key()
        B, s_q, H, Dk = q.shape
        r, dr = kv_lora_rank, Dk - kv_lora_rank
        dev = q.device
        self.B, self.s_q, self.H, self.r, self.Dk = B, s_q, H, r, Dk
        self.paged = paged = block_table is not None
        self.page_size = kv_cache.shape[1] if paged else 1
        if paged:
            self.capacity = block_table.shape[1] * self.page_size
            stride_bt, seq_rows = block_table.stride(0), 0
        else:
            self.capacity = kv_cache.shape[1]
            require(kv_cache.stride(0) == self.capacity * kv_cache.stride(1), "kv_cache",
                    "contiguous cache rows must be evenly spaced")
            stride_bt, seq_rows = 0, self.capacity
        max_len = min(max_seqlen or self.capacity, self.capacity)
        self.rows = rows = s_q * H
        head_blocks = triton.cdiv(rows, BLOCK_H)
        self.splits, tokens_per_split = gluon_splits(B, rows, max_len, sms=num_sms(dev), block_n=split_keys(config),
                                                     token_bytes=Dk * kv_cache.element_size(), kv_lora_rank=r,
                                                     num_splits=num_splits)
        gdt = gl.bfloat16 if q.dtype == torch.bfloat16 else gl.float16
        self.layout = gl.NVMMASharedLayout.get_default_for([BLOCK_H, r], gdt)  # 128-byte swizzle (64-wide parts too)
        self.fp8 = kv_cache.dtype == torch.float8_e4m3fn
        if self.fp8:  # the fp8 landing tiles' layouts (TMA boxes of 256 and 64 one-byte values)
            self.kv_layouts = (gl.NVMMASharedLayout.get_default_for([config.block_n, r // 2], gl.float8e4nv),
                               gl.NVMMASharedLayout.get_default_for([config.block_n, dr], gl.float8e4nv))
        else:
            self.kv_layouts = (self.layout, self.layout)
        self.block_n = config.block_n
        self.full_lens = torch.full((B,), self.capacity, dtype=torch.int32, device=dev)
        self.sched_shape = None
        self.own_record = False
        unit = split_keys(config)
        # a schedule of its own, filled on the device at every launch (auto_schedules: the fixed grid modelled idle)
        self.own_schedule = (not scheduled and num_splits is None and not self.fp8 and s_q == 1
                             and auto_schedules(B, rows, max_len, sms=num_sms(dev), config=config,
                                                tokens_per_split=tokens_per_split, num_splits=self.splits,
                                                d_k=Dk, d_v=r, elem_bytes=kv_cache.element_size(),
                                                capacity=self.capacity))
        scheduled = scheduled or self.own_schedule
        if scheduled:  # grid (head blocks, G parts); partials by slot (schedule.py), at most slot_capacity
            G = schedule_parts(head_blocks, num_sms(dev))
            overhead = segment_overhead_tiles(BLOCK_H, unit, Dk, r, q_bytes=q.element_size(),
                                              kv_bytes=kv_cache.element_size())
            cells = B * (triton.cdiv(self.capacity, unit) + overhead)
            require(cells <= MAX_CELLS, "schedule", f"{B} sequences of up to {self.capacity} keys are {cells} "
                                                    f"schedule cells, above its {MAX_CELLS}")
            self.sched_shape = (B, G, unit, overhead, dev)
            self.splits, tokens_per_split, self.single = G, 0, False
            self.grid = (head_blocks, G, 1)
            slots = slot_capacity(G, B)
            self.o_part = torch.empty((slots, rows, r), dtype=torch.float32, device=dev)
            self.lse_part = torch.empty((slots, rows), dtype=torch.float32, device=dev)
            sp = (0, self.o_part.stride(0), 0, self.lse_part.stride(0))
            # own: made from each launch's lengths (no host sync), by the decode programs themselves or a fill kernel
            self.own_record = self.own_schedule and config.schedule_in_kernel
            if self.own_schedule:
                self._parts = (torch.empty((5, G), dtype=torch.int32, device=dev) if not self.own_record
                               else self.full_lens)  # an unused pointer
                self._seqs = torch.empty((B, 2), dtype=torch.int32, device=dev)
        else:
            self.single = self.splits == 1
            self.grid = (head_blocks, self.splits, B)
            if self.single:
                self.o_part = self.lse_part = None
                sp = (0, 0, 0, 0)
            else:
                self.o_part = torch.empty((B, self.splits, rows, r), dtype=torch.float32, device=dev)
                self.lse_part = torch.empty((B, self.splits, rows), dtype=torch.float32, device=dev)
                sp = (self.o_part.stride(0), self.o_part.stride(1), self.lse_part.stride(0), self.lse_part.stride(1))
        self.ints = (stride_bt, seq_rows, rows, H, s_q, tokens_per_split, self.capacity, *sp)
        # num_warps is the first warp group's; the second is warp_specialize's worker partition
        self.consts = (paged, self.page_size, r, dr, BLOCK_H, config.block_n,
                       seesaw_buffers(config.block_n, self.fp8), self.single, self.fp8)
        self.unit = unit
        self.slack = config.rescale_slack
        self.pf_pairs = config.l2_prefetch_pairs if self.fp8 else 0
        self.stack_q = config.stack_q
        self._desc_key = None
        self._descs = None

    def descriptors(self, q, kv_cache):
        k = (q.data_ptr(), kv_cache.data_ptr())
        if k != self._desc_key:
            r, dr, Dk, lay = self.r, self.Dk - self.r, self.Dk, self.layout
            q2d = q.view(self.B * self.rows, Dk)
            if self.paged:
                kv2d = kv_cache.view(-1, Dk) if kv_cache.is_contiguous() else kv_cache.reshape(-1, Dk)
            else:
                kv2d = torch.as_strided(kv_cache, (self.B * self.capacity, Dk), (kv_cache.stride(1), 1))
            self._descs = (  # halves of the latent: one per warp group
                TensorDescriptor(q2d, list(q2d.shape), list(q2d.stride()), [BLOCK_H, r // 2], lay),
                TensorDescriptor(q2d, list(q2d.shape), list(q2d.stride()), [BLOCK_H, dr], lay),
                TensorDescriptor(kv2d, list(kv2d.shape), list(kv2d.stride()), [self.block_n, r // 2],
                                 self.kv_layouts[0]),
                TensorDescriptor(kv2d, list(kv2d.shape), list(kv2d.stride()), [self.block_n, dr], self.kv_layouts[1]),
            )
            self._kv2d = (kv2d, kv2d.stride(0))  # the widening group's L2 prefetches read its rows' addresses
            self._desc_key = k
        return self._descs

    def launch(self, q, kv_cache, cache_seqlens, block_table, softmax_scale, kv_scale, out, schedule=None):
        if out is None:
            out = torch.empty((self.B, self.s_q, self.H, self.r), dtype=q.dtype, device=q.device)
        lens = cache_seqlens if cache_seqlens is not None else self.full_lens
        o_part = self.o_part if self.o_part is not None else out  # unused pointers with one split
        lse_part = self.lse_part if self.lse_part is not None else out
        bt = block_table if block_table is not None else lens  # unused pointer
        scale_ptr = torch.is_tensor(kv_scale)
        scale = 1.0 if kv_scale is None or scale_ptr else float(kv_scale)  # a tensor's: read in the kernel
        if self.own_schedule:
            sched, seqs = self._parts, self._seqs
            if not self.own_record:
                fill_schedule(lens, sched, seqs, block_n=self.unit, overhead=self.sched_shape[3],
                              capacity=self.capacity)
        elif self.sched_shape is not None:
            sched, seqs = schedule.tensors(self.sched_shape, lens, self.capacity)
        else:
            sched = seqs = lens  # unused pointers
        args = (*self.descriptors(q, kv_cache), bt, lens, o_part, lse_part, out, kv_scale if scale_ptr else lens,
                *self.ints, softmax_scale * LOG2E * scale, scale, *self.consts, scale_ptr, sched, seqs,
                self.sched_shape is not None, self.unit, self.slack, *self._kv2d, self.pf_pairs, self.stack_q,
                self.own_record, self.B if self.own_record else 0, self.sched_shape[3] if self.own_record else 0)
        _LAUNCH_SEESAW(self.launch_key, self.grid, args, num_warps=4)
        if self.sched_shape is not None:
            combine_slots(self.o_part, self.lse_part, out.view(self.B, self.rows, self.r), seqs,
                          max_partials=self.splits, key=self.launch_key)
        elif not self.single:
            combine_splits(self.o_part, self.lse_part, out.view(self.B, self.rows, self.r), key=self.launch_key)
        return out


_LAUNCH_SEESAW = FastLauncher(_mla_decode_seesaw_kernel)


def compile_sm90(config: GluonMLAConfig = DEFAULT_GLUON_CONFIG, *, paged: bool = False, single_split: bool = False,
                 fp8: bool = False, scale_ptr: bool = False, scheduled: bool = False, own_schedule: bool = False):
    """Compile the kernel for sm_90 without a GPU (Triton ships ptxas): the CPU check that it builds, fits in shared
    memory and uses the intended instructions. fp8: an fp8 e4m3 cache (scale_ptr: its scale a tensor); scheduled:
    the balanced schedule's mode (16-bit caches; own_schedule: each program computing its part's record itself, as
    auto's own schedule does). Returns triton's CompiledKernel (.metadata.shared, .asm["ptx"])."""
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon._runtime import GluonASTSource

    def desc(dtype, gdtype, rows, cols):
        return f"tensordesc<{dtype}[{rows},{cols}],{gl.NVMMASharedLayout.get_default_for([rows, cols], gdtype)!r}>"

    lay = repr(gl.NVMMASharedLayout.get_default_for([BLOCK_H, 512], gl.bfloat16))
    q_desc = lambda rows, cols: f"tensordesc<bf16[{rows},{cols}],{lay}>"
    kv_desc = (lambda rows, cols: desc("fp8e4nv", gl.float8e4nv, rows, cols)) if fp8 else q_desc
    arg_types = [q_desc(BLOCK_H, 256), q_desc(BLOCK_H, 64), kv_desc(config.block_n, 256), kv_desc(config.block_n, 64),
                 "*i32", "*i32", "*fp32", "*fp32", "*bf16", "*fp32" if scale_ptr else "*i32"] + ["i32"] * 11 \
        + ["fp32", "fp32"]
    prefetch = {"KV_RAW": "*fp8e4nv" if fp8 else "*bf16", "stride_kv_row": "i32"}
    consts = dict(PAGED=paged, PAGE_SIZE=64 if paged else 1, D_LAT=512, D_ROPE=64, BLOCK_H=BLOCK_H,
                  BLOCK_N=config.block_n, SINGLE_SPLIT=single_split,
                  NUM_BUF=seesaw_buffers(config.block_n, fp8), FP8=fp8, SCALE_PTR=scale_ptr, SCHEDULED=scheduled,
                  UNIT=split_keys(config), SLACK=config.rescale_slack,
                  PF_PAIRS=config.l2_prefetch_pairs if fp8 else 0, STACK_Q=config.stack_q,
                  OWN_SCHED=scheduled and own_schedule)
    kernel = _mla_decode_seesaw_kernel
    names = kernel.arg_names
    signature = dict(zip(names, arg_types)) | {"SCHED": "*i32", "SEQ_INFO": "*i32", "batch": "i32",
                                               "sched_overhead": "i32"} | prefetch \
        | {k: "constexpr" for k in consts}
    # the cache's 2-D view as a launch specializes it (a 16-byte-aligned base, a row stride that 16 divides: TMA needs
    # both too), which the fp8 widening group's prefetch addresses use
    attrs = {(names.index(k),): [["tt.divisibility", 16]] for k in ("KV_RAW", "stride_kv_row")} if fp8 else None
    src = GluonASTSource(kernel, signature, constexprs={(names.index(k),): v for k, v in consts.items()}, attrs=attrs)
    return triton.compile(src, target=GPUTarget("cuda", 90, 32), options=dict(num_warps=4))
