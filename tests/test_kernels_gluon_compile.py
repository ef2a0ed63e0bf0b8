"""CPU check of the Gluon sm_90 MLA decode kernel (the seesaw schedule): it compiles for Hopper (Triton ships
ptxas, no GPU needed), fits the H100's 227 KiB of shared memory per block, and issues the instructions its design
relies on (TMA bulk copies, the wgmma shapes, warp specialization). Correctness runs on the GPU
(tests/test_kernels_gpu.py::test_gluon_mla)."""

import dataclasses
import functools
import os
import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("torch")
pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")

H100_MAX_SHARED_PER_BLOCK = 227 * 1024  # bytes (cudaDevAttrMaxSharedMemoryPerBlockOptin on sm_90)


@functools.lru_cache(maxsize=None)
def _compile(config, paged, **kw):
    """The kernel compiled for sm_90 (cached: several tests read the same build)."""
    from mlacalc.kernels.gluon_mla_decode import compile_sm90

    try:
        return compile_sm90(config, paged=paged, **kw)
    except (RuntimeError, FileNotFoundError) as exc:  # no ptxas in this Triton build
        if "ptxas" in str(exc):
            pytest.skip(f"no ptxas: {exc}")
        raise


def _wgmma_shapes(ptx, dtype="bf16"):
    return set(re.findall(rf"wgmma\.mma_async\.sync\.aligned\.(m64n\d+k16)\.f32\.{dtype}\.{dtype}", ptx))


@pytest.mark.parametrize("block_n", [32, 64])
@pytest.mark.parametrize("paged", [False, True])
def test_seesaw_kernel_compiles_for_sm90(block_n, paged):
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig

    k = _compile(GluonMLAConfig(block_n=block_n), paged)
    # Q 64 x 576 + 128 tokens x 576 in buffers (2 x 64 or 4 x 32), bf16 = 221,184 bytes; P rides in the RoPE parts
    assert 221_184 <= k.metadata.shared <= H100_MAX_SHARED_PER_BLOCK
    ptx = k.asm["ptx"]
    # each warp group: full-width scores (N = block_n) and P @ V over its 256 value columns
    assert _wgmma_shapes(ptx) == {f"m64n{block_n}k16", "m64n256k16"}
    assert "setmaxnreg" in ptx  # two warp-specialized partitions
    assert "cp.async.bulk.tensor" in ptx
    if paged:
        assert "ld.global" in ptx


@pytest.mark.parametrize("paged", [False, True])
def test_seesaw_kernel_fp8_compiles_for_sm90(paged):
    """The fp8 cache's kernel: a third warp group widens each fp8 tile inside the 16-bit buffer it lands in (four of
    32 tokens, as the bf16 kernel's), beside Q: 73,728 + 147,456 = 221,184 bytes; the compute groups' wgmmas are the
    bf16 kernel's shapes, in fp16 (e4m3 -> fp16 is one cvt for two values; Q is recast to fp16)."""
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig

    k = _compile(GluonMLAConfig(block_n=32), paged, fp8=True, scale_ptr=paged)
    assert 221_184 <= k.metadata.shared <= H100_MAX_SHARED_PER_BLOCK
    assert k.metadata.num_warps == 12  # two compute warp groups and the widening group
    ptx = k.asm["ptx"]
    assert _wgmma_shapes(ptx, "f16") == {"m64n32k16", "m64n256k16"} and not _wgmma_shapes(ptx)
    regs = {int(n) for n in re.findall(r"setmaxnreg\.(?:inc|dec)\.sync\.aligned\.u32\s+(\d+);", ptx)}
    from mlacalc.kernels.gluon_mla_seesaw import COMPUTE_REGS_FP8, WIDEN_REGS

    assert {WIDEN_REGS.value, COMPUTE_REGS_FP8.value} <= regs  # the widening group's registers go to compute
    assert "cvt.rn.f16x2.e4m3x2" in ptx  # fp8 -> fp16, two values a conversion


@pytest.mark.parametrize("pairs", [0, 1, 2])
@pytest.mark.parametrize("paged", [False, True])
def test_fp8_l2_prefetch_issues_predicated_line_prefetches(pairs, paged):
    """l2_prefetch_pairs: the widening group asks L2 for the tiles `pairs` pairs ahead of their TMA copy, one
    predicated `prefetch.global.L2` a 128-byte line a lane (256 lanes a tile over 128 threads: two a thread, so two
    in the PTX a call), two tiles a pair. In the PTX: the loop's two tiles (4) plus two tiles for each pair prefetched
    before it (4 x pairs); none at 0, and the bf16 kernel never prefetches. Shared memory is unchanged (L2, not shared memory, holds the lines)."""
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig

    k = _compile(GluonMLAConfig(l2_prefetch_pairs=pairs), paged, fp8=True)
    ptx = k.asm["ptx"]
    sites = ptx.count("prefetch.global.L2")
    assert sites == (0 if pairs == 0 else 4 + 4 * pairs)
    assert all(re.search(r"@%?p\w* prefetch\.global\.L2", line) for line in ptx.splitlines()
               if "prefetch.global.L2" in line)  # every one predicated: no line past a tile's valid keys
    assert 221_184 <= k.metadata.shared <= H100_MAX_SHARED_PER_BLOCK
    assert "prefetch.global.L2" not in _compile(GluonMLAConfig(l2_prefetch_pairs=pairs), paged).asm["ptx"]


def test_fp8_default_tile_prefetches_one_pair():
    from mlacalc.kernels.gluon_mla_decode import default_gluon_config

    assert default_gluon_config(128, fp8=True).l2_prefetch_pairs == 1
    assert default_gluon_config(128).l2_prefetch_pairs == 0


@pytest.mark.parametrize("fp8_ds", [False, True])
@pytest.mark.parametrize("paged", [False, True])
def test_sparse_seesaw_kernel_compiles_for_sm90(paged, fp8_ds):
    """The sparse (top-k) kernel: the seesaw compute groups fed by a gather group of cp.async copies. Shared memory:
    Q 73,728 + four 32-row buffers 147,456 + 2,048 resolved slots 8,192 bytes at least (fp8-ds rows too: their
    scales land in the buffers, 4-byte copies, two groups a latent half, 2 x 4 a thread's share of a tile over the
    two issue sites); the rows' copies are 16 bytes with a source size (the zero-fill of unused slots). 16-bit rows:
    each thread's copies signal their landing (cp.async.mbarrier.arrive.noinc) and a proxy fence orders them before
    the wgmmas; fp8-ds: e4m3 bytes and scales land, are waited for (cp.async.wait_group) and dequantised to fp16 in
    place (e4m3 -> fp16 two values a cvt, fp16 products), the RoPE part and Q recast to fp16, and the dots run in
    fp16, with no fp32 products in the dequantisation (no bf16 packing)."""
    from mlacalc.kernels.gluon_mla_sparse import COMPUTE_REGS, GATHER_REGS, compile_sparse_sm90

    try:
        k = compile_sparse_sm90(paged=paged, fp8_ds=fp8_ds)
    except (RuntimeError, FileNotFoundError) as exc:  # no ptxas in this Triton build
        if "ptxas" in str(exc):
            pytest.skip(f"no ptxas: {exc}")
        raise
    assert 73_728 + 147_456 + 8_192 <= k.metadata.shared <= H100_MAX_SHARED_PER_BLOCK
    assert k.metadata.num_warps == 12  # two compute warp groups and the gather group
    ptx = k.asm["ptx"]
    assert _wgmma_shapes(ptx, "f16" if fp8_ds else "bf16") == {"m64n32k16", "m64n256k16"}
    rows = re.findall(r"cp\.async\.cg\.shared\.global \[[^]]+\], \[[^]]+\], 0x10, %r\d+;", ptx)
    regs = {int(n) for n in re.findall(r"setmaxnreg\.(?:inc|dec)\.sync\.aligned\.u32\s+(\d+);", ptx)}
    assert {COMPUTE_REGS.value, GATHER_REGS.value} <= regs
    assert "cp.async.bulk.tensor" in ptx  # Q still comes by TMA
    if fp8_ds:  # a thread's share of a tile: 4 + 4 copies of e4m3 latent halves, 2 of RoPE (two issue sites)
        assert len(rows) == 2 * (4 + 4 + 2)
        assert len(re.findall(r"cp\.async\.ca\.shared\.global \[[^]]+\], \[[^]]+\], 0x4", ptx)) == 2 * 4
        assert "cp.async.wait_group" in ptx and "cp.async.mbarrier.arrive" not in ptx
        assert "cvt.rn.f16x2.e4m3x2" in ptx and "cvt.rn.bf16x2.f32" not in ptx
    else:  # 8 rows x 2 latent halves, 2 RoPE rows
        assert len(rows) == 16 + 2
        assert "cp.async.mbarrier.arrive.noinc" in ptx and "fence.proxy.async" in ptx


def test_sparse_split_plan_keeps_each_split_within_the_resolved_rows():
    """The Gluon sparse kernel resolves a whole split's slots in shared memory (at most 2048, fp8-ds rows too: a
    power of two for the resolving tensor), so the planner splits longer index lists. Worked by hand: 264 tokens x
    64 heads are two full waves of the 132 SMs, so the planner alone keeps topk 4096 in one split; the cap splits
    it: 4096 / 2048 = 2 splits of 2048 slots, bf16 and fp8-ds rows alike; topk 2048 at batch 64 (64 programs on 132
    SMs) keeps the planner's 2 splits of 1024; at batch 64 x 128 heads (128 programs: one wave either way, a second
    split only adds partials) fp8-ds rows take one split of 2048 (before the scales moved into the buffers: 2)."""
    from mlacalc.kernels.gluon_mla_sparse import sparse_gluon_splits
    from mlacalc.kernels.triton_split_kv import plan_splits

    assert plan_splits(264, 4096, 32, sms=132, min_tokens=128, token_bytes=1152,
                       partial_bytes_per_split=264 * 64 * 512 * 8) == (1, 4096)
    assert sparse_gluon_splits(264, 64, 4096, sms=132) == (2, 2048)
    assert sparse_gluon_splits(264, 64, 4096, sms=132, row_bytes=656) == (2, 2048)
    assert sparse_gluon_splits(64, 64, 2048, sms=132) == (2, 1024)
    assert sparse_gluon_splits(64, 128, 2048, sms=132, row_bytes=656) == (1, 2048)


def test_sparse_split_plan_fills_one_wave_with_short_chunks_for_fp8_ds_rows():
    """fp8-ds rows: where the byte plan is under one wave, the most splits that keep one wave with chunks of >= 128
    slots (GluonSparseConfig.fp8_wave_chunk). Worked by hand, topk 2048 on 132 SMs: batch 8 x 64 heads is 8
    programs a split; the byte plan takes 8 splits of 256 slots (64 programs), the rule min(132 // 8, 2048 / 128) = 16
    splits of 128 (128 programs); bf16 rows keep the byte plan's 10 splits of 224 (7 tiles of 32). Batch 1 x 128
    heads (2 programs): byte plan 13 splits of 160, the rule min(66, 16) = 16 of 128. Batch 8 x 128 heads (16
    programs): byte plan 6 of 352, the rule min(8, 16) = 8 of 256. Batch 64 x 128 heads (128 programs): one wave
    already, 132 // 128 = 1 split, unchanged. fp8_wave_chunk=0: the byte plan."""
    from mlacalc.kernels.gluon_mla_sparse import GluonSparseConfig, sparse_gluon_splits

    assert sparse_gluon_splits(8, 64, 2048, sms=132, row_bytes=656) == (16, 128)
    assert sparse_gluon_splits(8, 64, 2048, sms=132, row_bytes=1152) == (10, 224)
    assert sparse_gluon_splits(1, 128, 2048, sms=132, row_bytes=656) == (16, 128)
    assert sparse_gluon_splits(8, 128, 2048, sms=132, row_bytes=656) == (8, 256)
    assert sparse_gluon_splits(64, 128, 2048, sms=132, row_bytes=656) == (1, 2048)
    byte_plan = GluonSparseConfig(fp8_wave_chunk=0)
    assert sparse_gluon_splits(8, 64, 2048, sms=132, row_bytes=656, config=byte_plan) == (8, 256)
    assert sparse_gluon_splits(1, 128, 2048, sms=132, row_bytes=656, config=byte_plan) == (13, 160)
    assert sparse_gluon_splits(8, 128, 2048, sms=132, row_bytes=656, config=byte_plan) == (6, 352)
    # no programs (an empty batch: the wrappers refuse it first) plans without dividing by zero, as the restatement
    from mlacalc.expected import DecodeShape, sparse_split_plan

    empty = DecodeShape(seqs=0, rows=64, kv_groups=1, keys=2048, key_bytes=656, dkv=1088, out_dv=512, layers=1,
                        key_elems=576, tokens=1, gathered=True)
    assert sparse_split_plan(empty, 132).splits == sparse_gluon_splits(0, 64, 2048, sms=132, row_bytes=656)[0] == 16


def test_dense_fp8_split_plan_fills_one_wave_with_chunks_of_256_keys():
    """An fp8 cache on the Gluon kernel (32-key tiles, splits of >= 256 keys): where the byte plan is under one wave,
    the most splits that keep one wave with chunks of >= 256 keys (gluon_mla_decode.FP8_WAVE_CHUNK). Worked by hand
    on 132 SMs. Batch 8 x 64 heads x 4,096 keys (8 programs a split): the byte plan's cost ceil(4096 / s) x 576 x 132
    + s x 8 x 64 x 512 x 8 is least at s = 12 (342 x 76,032 + 12 x 2,097,152 = 51,168,768); the smallest count within
    3% of it is s = 10 (410 x 76,032 + 20,971,520 = 52,144,640; s = 9: 53,544,960), chunks 410 -> 416 keys; the rule:
    min(132 // 8, 4096 // 256) = 16 splits of 256. Batch 8 x 128 heads (16 programs): byte plan 7 of 608, the rule
    min(8, 16) = 8 of 512. Batch 32 x 64 heads (32 programs): the byte plan's 4 splits are one wave already
    (132 // 32 = 4): unchanged. 300 keys: 300 // 256 = 1 split, unchanged (a ceiling would give 2 splits of 160, under
    the minimum). bf16 (1,152-byte keys) keeps the byte plan: 13 of 320. A forced num_splits is taken as given; fp8_wave_chunk=0 is
    the byte plan."""
    from mlacalc.kernels.gluon_mla_decode import gluon_splits

    assert gluon_splits(8, 64, 4096, sms=132, token_bytes=576) == (16, 256)
    assert gluon_splits(8, 128, 4096, sms=132, token_bytes=576) == (8, 512)
    assert gluon_splits(32, 64, 4096, sms=132, token_bytes=576) == (4, 1024)
    assert gluon_splits(8, 64, 300, sms=132, token_bytes=576) == (1, 320)
    assert gluon_splits(8, 64, 4096, sms=132, token_bytes=1152) == (13, 320)
    assert gluon_splits(8, 64, 4096, sms=132, token_bytes=576, num_splits=10) == (10, 416)
    assert gluon_splits(8, 64, 4096, sms=132, token_bytes=576, fp8_wave_chunk=0) == (10, 416)   # the byte plan


def test_auto_schedule_where_the_grid_leaves_a_wave_idle():
    """gluon_mla_decode.auto_schedules, worked by hand on 4 SMs: 3 sequences of 4,096 keys at 128 heads (2 head
    blocks, 64-key tiles, 5 tiles of overhead a program: segment_overhead_tiles(64, 64, 576, 512)) in 3 splits of
    1,408 keys: the grid's 18 programs of 22 + 5, 22 + 5 and 20 + 5 tiles (a sequence's splits, each run by both head
    blocks) handed to 4 SMs in order finish at 131; the schedule's 2 parts (4 SMs / 2 head blocks) of P = ceil(3 x
    69 / 2) = 104 cells cost 104 and 34 + 5 + 69 = 108: 108 / 131 = 0.824 < 0.91, and the modelled saving, 131 x 64
    keys x 0.031 us = 259.9 us x (1 - 1.065 x 0.8244 - 0.02) - 2.1 = 24.4 us, exceeds the 6 us of a schedule of the
    call's own: it schedules. In one split (the grid's 6 programs of 64 + 5 tiles in 2 waves: 138, ratio 0.78) it
    does not: a grid of one split merges nothing, and where measured the schedule lost there. 2 sequences in 3 splits of 1,408 keys (the 12 programs of 22 + 5 tiles,
    the last 21 + 5, on 4 SMs: 79) against 2 parts of at most 69 (ratio 0.873): 79 x 64 x 0.031 = 156.7 us x 0.050
    - 2.1 = 5.7 us saved, under the 6 us of the record computed in the kernel (OWN_RECORD_US, the default way) and
    the fill kernel's 19 (schedule_in_kernel=False): not; at a cost of 5 us it would. Not either: at a threshold of 0 (off), at 64 rows (one head
    block), under 4,096 keys, under one wave of programs (2 sequences in 3 splits: 12 programs on 16 SMs), nor at any point of the
    issue's power-of-two grid on 132 SMs."""
    from mlacalc.kernels.gluon_mla_decode import (GluonMLAConfig, WIDE_TILE, auto_schedules, default_gluon_config,
                                                  gluon_splits, split_keys)
    from mlacalc.kernels.schedule import balanced_and_fixed

    kw = dict(tokens_per_split=1408, num_splits=3)
    assert balanced_and_fixed([4096] * 3, block_n=64, overhead=5, head_programs=2, sms=4, **kw) == (108, 131)
    assert auto_schedules(3, 128, 4096, sms=4, config=WIDE_TILE, **kw)
    assert balanced_and_fixed([4096] * 3, block_n=64, overhead=5, head_programs=2, sms=4, tokens_per_split=4096,
                              num_splits=1) == (108, 138)
    assert not auto_schedules(3, 128, 4096, sms=4, config=WIDE_TILE, tokens_per_split=4096, num_splits=1)
    assert balanced_and_fixed([4096] * 2, block_n=64, overhead=5, head_programs=2, sms=4, tokens_per_split=1408,
                              num_splits=3) == (69, 79)
    by_fill = dataclasses.replace(WIDE_TILE, schedule_in_kernel=False)
    assert not auto_schedules(2, 128, 4096, sms=4, config=by_fill, tokens_per_split=1408, num_splits=3)
    assert not auto_schedules(2, 128, 4096, sms=4, config=WIDE_TILE, tokens_per_split=1408, num_splits=3)
    assert auto_schedules(2, 128, 4096, sms=4, config=dataclasses.replace(WIDE_TILE, own_schedule_us=5.0),
                          tokens_per_split=1408, num_splits=3)  # 5.7 us saved
    assert not auto_schedules(3, 128, 4096, sms=4, config=GluonMLAConfig(block_n=64, auto_schedule_below=0), **kw)
    assert not auto_schedules(3, 64, 4096, sms=4, config=WIDE_TILE, **kw)
    assert not auto_schedules(3, 128, 4095, sms=4, config=WIDE_TILE, **kw)
    assert not auto_schedules(2, 128, 4096, sms=16, config=WIDE_TILE, **kw)
    for batch in (8, 32, 128):
        for keys in (4096, 32768):
            for heads in (16, 64, 128):
                cfg = default_gluon_config(heads, page_size=64)
                splits, per = gluon_splits(batch, heads, keys, sms=132, block_n=split_keys(cfg))
                assert not auto_schedules(batch, heads, keys, sms=132, config=cfg, tokens_per_split=per,
                                          num_splits=splits)


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 300), rows=st.sampled_from([64, 128, 256]), keys=st.integers(1, 200_000))
def test_dense_fp8_wave_rule_never_shortens_splits_nor_adds_a_wave(batch, rows, keys):
    """The fp8 rule only adds splits to a grid under one wave, never past one wave of programs, never under 256
    keys a split (but the last)."""
    from mlacalc.kernels.gluon_mla_decode import gluon_splits
    from mlacalc.kernels.triton_split_kv import plan_splits

    programs = batch * -(-rows // 64)
    byte_splits = plan_splits(programs, keys, 32, sms=132, min_tokens=256, token_bytes=576,
                              partial_bytes_per_split=batch * rows * 512 * 8)[0]
    splits, per = gluon_splits(batch, rows, keys, sms=132, token_bytes=576)
    assert splits >= byte_splits and splits * per >= keys and per % 32 == 0
    if splits > byte_splits:
        assert programs * splits <= 132 and per >= 256


@settings(max_examples=60, deadline=None)
@given(batch_tokens=st.integers(1, 300), heads=st.sampled_from([8, 16, 64, 128]),
       topk=st.sampled_from([64, 300, 512, 1000, 2048, 4096]))
def test_sparse_split_plan_for_fp8_ds_rows_never_shortens_splits_nor_adds_a_wave(batch_tokens, heads, topk):
    """The fp8-ds rule only adds splits to a grid under one wave, and never past one wave of programs."""
    from mlacalc.kernels.gluon_mla_sparse import GluonSparseConfig, sparse_gluon_splits

    programs = batch_tokens * -(-heads // 64)
    byte_splits = sparse_gluon_splits(batch_tokens, heads, topk, sms=132, row_bytes=656,
                                      config=GluonSparseConfig(fp8_wave_chunk=0))[0]
    splits, per = sparse_gluon_splits(batch_tokens, heads, topk, sms=132, row_bytes=656)
    assert splits >= byte_splits and splits * per >= topk and per % 32 == 0
    if splits > byte_splits:
        assert programs * splits <= 132 and per >= 128


@pytest.mark.parametrize("rows, fp8, page, want", [
    (128, False, None, 64),   # two head blocks, 16-bit: the 64-key tile
    (128, False, 64, 64),     # paged in blocks of 64
    (256, False, 128, 64),    # 128 heads x 2 tokens, blocks of 128
    (65, False, None, 64),    # a second, partial head block
    (64, False, None, 32),    # one head block (64 heads): the 64-key tile lost at batch 8 x 4k
    (128, True, None, 32),    # fp8: the widening group fills 32-key tiles
    (128, False, 32, 32),     # paged blocks of 32 hold no 64-key tile
])
def test_default_gluon_tile(rows, fp8, page, want):
    """default_gluon_config: 64-key tiles only where they were measured faster (many heads, 16-bit cache) and where
    they fit the cache's blocks; else the 32-key default."""
    from mlacalc.kernels.gluon_mla_decode import default_gluon_config

    assert default_gluon_config(rows, fp8=fp8, page_size=page).block_n == want


@pytest.mark.parametrize("block_n, want", [(64, 128), (32, 32)])
def test_gluon_splits_take_whole_tile_pairs_of_the_wide_tile(block_n, want):
    """A split of 64-key tiles is a whole number of pairs (the two compute groups take alternate tiles): 12 sequences
    of 1,536 keys at 128 heads are 24 programs; the planner's 5 splits of 308 keys round up to 3 pairs (384 keys),
    4 splits; 32-key tiles round 308 up to 10 tiles (320 keys), 5 splits."""
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig, gluon_splits, split_keys

    assert split_keys(GluonMLAConfig(block_n=block_n)) == want
    assert gluon_splits(12, 128, 1536, sms=132, block_n=want) == ((4, 384) if block_n == 64 else (5, 320))


@pytest.mark.parametrize("block_n", [32, 64])
@pytest.mark.parametrize("paged", [False, True])
def test_the_scheduled_mode_compiles_with_the_same_tiles(block_n, paged):
    """The balanced schedule's mode (gluon_mla_seesaw._wg_sched; UNMEASURED on a GPU): the same shared-memory plan
    plus one mbarrier (the groups' segment handover), the same wgmma shapes and warp specialization, TMA copies, and
    the compute groups' registers (256) as the fixed grid's 16-bit kernel; its loops read the part record (five int32
    loads) and the per-sequence slot records."""
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig

    fixed = _compile(GluonMLAConfig(block_n=block_n), paged)
    k = _compile(GluonMLAConfig(block_n=block_n), paged, scheduled=True)
    assert fixed.metadata.shared < k.metadata.shared <= fixed.metadata.shared + 64 <= H100_MAX_SHARED_PER_BLOCK
    ptx = k.asm["ptx"]
    assert _wgmma_shapes(ptx) == {f"m64n{block_n}k16", "m64n256k16"}
    assert "cp.async.bulk.tensor" in ptx and "setmaxnreg" in ptx
    regs = {int(n) for n in re.findall(r"setmaxnreg\.(?:inc|dec)\.sync\.aligned\.u32\s+(\d+);", ptx)}
    assert 256 in regs
    assert ptx.count("mbarrier.init") == fixed.asm["ptx"].count("mbarrier.init") + 1


@pytest.mark.parametrize("paged", [False, True])
def test_a_schedule_of_the_programs_own_compiles_reads_the_lengths_and_writes_the_slot_records(paged):
    """Auto's own schedule made by the decode programs (GluonMLAConfig.schedule_in_kernel: gluon_mla_seesaw.
    _own_record; its arithmetic is schedule.part_record's, checked against plan_schedule in test_kernels_schedule):
    the given schedule's build but for the prologue. It reads no part record (five loads) and no slot records (four),
    only the lengths, chunk by chunk (a prefix-sum scan and reductions across the warp group: shuffles and CTA
    barriers), and writes each sequence's slot record (two stores) for the merge."""
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig

    given = _compile(GluonMLAConfig(block_n=64), paged, scheduled=True)
    own = _compile(GluonMLAConfig(block_n=64), paged, scheduled=True, own_schedule=True)
    g, o = given.asm["ptx"], own.asm["ptx"]
    assert own.metadata.shared == given.metadata.shared
    loads = lambda ptx: len(re.findall(r"\bld\.global\b", ptx))
    stores = lambda ptx: len(re.findall(r"\bst\.global\b", ptx))
    assert loads(o) < loads(g)
    assert stores(o) == stores(g) + 2
    assert o.count("shfl.sync") > g.count("shfl.sync") and o.count("bar.sync") > g.count("bar.sync")
    assert _wgmma_shapes(o) == _wgmma_shapes(g)


def _spill_instructions(kernel) -> int:
    """Local-memory loads and stores (register spills) in a compiled kernel's SASS, from the cuobjdump Triton ships."""
    import tempfile

    import triton

    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    if not os.path.exists(tool):
        pytest.skip("no cuobjdump in this Triton build")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(kernel.asm["cubin"])
        f.flush()
        sass = subprocess.run([tool, "-sass", f.name], capture_output=True, text=True, check=True).stdout
    return len(re.findall(r"\b(?:STL|LDL)\b", sass))


@pytest.mark.parametrize("block_n", [32, 64])
def test_stacked_q_keeps_its_descriptors_in_the_loop_and_nothing_spills(block_n):
    """gluon_mla_seesaw._stack_q: the compute groups read Q through a [1, 64, cols] view indexed by an opaque zero,
    so Q's wgmma descriptors are rebuilt in the pair loops from the shared-memory base instead of hoisted into the
    registers the accumulator needs. The flat view (stack_q=False) spilled under Triton 3.6 (57 spill instructions
    in the 64-key tile) and 3.9 (3); the stacked one spills nowhere under either (bench/sass_loops.py --gluon)."""
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig

    stacked = _compile(GluonMLAConfig(block_n=block_n), False)
    flat = _compile(GluonMLAConfig(block_n=block_n, stack_q=False), False)
    assert "1x64x256" in stacked.asm["ttgir"] and "1x64x256" not in flat.asm["ttgir"]
    assert _wgmma_shapes(stacked.asm["ptx"]) == _wgmma_shapes(flat.asm["ptx"])
    assert _spill_instructions(stacked) == 0


@pytest.mark.parametrize("fp8_ds", [False, True])
def test_sparse_kernel_reads_q_through_the_stacked_view(fp8_ds):
    """The sparse kernel's compute groups take the same stacked view (its `seq_rows`, unused there, is num_blocks: a
    run-time value whose sign is the opaque zero); it spills less than the flat view (Triton 3.6: 53 -> 2 and 84 -> 10,
    3.9: 62 -> 4 and 96 -> 18)."""
    from mlacalc.kernels.gluon_mla_sparse import compile_sparse_sm90

    try:
        stacked = compile_sparse_sm90(fp8_ds=fp8_ds)
        flat = compile_sparse_sm90(fp8_ds=fp8_ds, stack_q=False)
    except (RuntimeError, FileNotFoundError) as exc:  # no ptxas in this Triton build
        if "ptxas" in str(exc):
            pytest.skip(f"no ptxas: {exc}")
        raise
    assert "1x64x256" in stacked.asm["ttgir"] and "1x64x256" not in flat.asm["ttgir"]
    assert _spill_instructions(stacked) < _spill_instructions(flat)
