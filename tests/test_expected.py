"""The kernel-aware expected time (mlacalc.expected), worked by hand, and its invariants."""

import math
from dataclasses import replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import mlacalc
from mlacalc.expected import DecodeShape, KernelModel, decode_attention_s, gemm_s, kernel_model
from mlacalc.hardware import hardware_from_dict, load_hardware

HW = hardware_from_dict({"name": "toy", "memory_gib": 80, "mem_bandwidth_gb_s": 1000, "bf16_tflops": 100,
                         "interconnect_gb_s": 100, "sms": 10}, "toy")
M = KernelModel(bandwidth_eff=1.0, sm_bandwidth_gb_s=50.0, mma_eff=1.0, fixed_us=2.0, rows_per_cta=64,
                min_split_tokens=256)


def test_batch_one_pulls_only_what_its_ctas_can():
    # 1 sequence, 16 rows, one latent: 1 unit; 4096 keys allow 16 splits, 10 SMs take 10: 10 CTAs in one wave
    s = DecodeShape(seqs=1, rows=16, kv_groups=1, keys=4096, key_bytes=1152, dkv=1088, out_dv=512, layers=1)
    keys_cta = 4096 / 10
    t_mem = 10 * keys_cta * 1152 / min(1000e9, 10 * 50e9)          # 10 CTAs x 50 GB/s = 500 GB/s
    t_mma = 10 * 2 * 64 * keys_cta * 1088 / (100e12 * 10 / 10)      # 64 padded rows
    combine = 1 * 1 * 16 * (10 * (512 + 1) * 4 + 512 * 2) / 1000e9
    prologue = 128 * 1152 / 50e9                                     # two 64-key tiles at one SM's 50 GB/s
    assert decode_attention_s(s, HW, M, 100e12) == pytest.approx(prologue + max(t_mem, t_mma) + combine + 2 * 2e-6)


def test_full_waves_reach_the_copy_bandwidth():
    # 40 sequences: 40 units over 10 SMs, no split, 4 waves of 10 CTAs at min(1000, 10 x 50 = 500) GB/s
    s = DecodeShape(seqs=40, rows=16, kv_groups=1, keys=4096, key_bytes=1152, dkv=1088, out_dv=512, layers=2)
    per_wave = 128 * 1152 / 50e9 + max(10 * 4096 * 1152 / 500e9, 10 * 2 * 64 * 4096 * 1088 / 100e12)
    assert decode_attention_s(s, HW, M, 100e12) == pytest.approx(2 * (4 * per_wave + 2e-6))


def test_small_gemms_pay_for_padded_tiles():
    m = KernelModel(bandwidth_eff=1.0, mma_eff=1.0, fixed_us=0.0)
    flops = 2 * 8 * 4096 * 4096
    # 8 rows compute a 64-row tile: 8x the FLOP time, but here the weight read dominates anyway
    t = gemm_s(flops, 2 * 4096 * 4096, 8, 1, HW, m, 100e12)
    assert t == pytest.approx(max(2 * 4096 * 4096 / 1000e9, flops * 8 / 100e12))


@settings(max_examples=40, deadline=None)
@given(batch=st.sampled_from([1, 4, 32, 128]), context=st.sampled_from([1024, 8192, 65536]),
       model=st.sampled_from(["deepseek-v3", "llama-3.1-8b", "qwen3-235b-a22b"]))
def test_expected_is_never_below_the_floor(batch, context, model):
    r = mlacalc.roofline(model, "h200", batch=batch, context=context)
    assert all(t.expected_s >= t.time_s for t in r.ops)
    assert r.expected_time_s >= r.time_s


def test_calibrated_coefficients_win_over_the_defaults():
    hw = hardware_from_dict({"name": "c", "memory_gib": 80, "mem_bandwidth_gb_s": 4000, "bf16_tflops": 800,
                             "interconnect_gb_s": 100, "sms": 132,
                             "kernels": {"auto": {"mma_eff": 0.5, "fixed_us": 7}}}, "c")
    assert kernel_model(hw, "auto").fixed_us == 7 and kernel_model(hw, "triton").fixed_us == 7
    assert kernel_model(load_hardware("h200"), "auto").fixed_us != 7


def test_bad_coefficients_are_refused_in_one_line():
    with pytest.raises(mlacalc.SpecError, match="kernels.auto.mma_eff"):
        hardware_from_dict({"name": "c", "memory_gib": 80, "mem_bandwidth_gb_s": 4000, "bf16_tflops": 800,
                            "interconnect_gb_s": 100, "kernels": {"auto": {"mma_eff": float("nan")}}}, "c")
    with pytest.raises(mlacalc.SpecError, match="unknown backend"):
        hardware_from_dict({"name": "c", "memory_gib": 80, "mem_bandwidth_gb_s": 4000, "bf16_tflops": 800,
                            "interconnect_gb_s": 100, "kernels": {"cutlass": {}}}, "c")


def test_the_calibration_fit_recovers_known_coefficients():
    from mlacalc.profiler.kernel_calibration import fit

    truth = KernelModel(bandwidth_eff=0.9, sm_bandwidth_gb_s=80.0, mma_eff=0.6, fixed_us=3.0)
    shapes = [DecodeShape(b, rows, 1, keys, 1152, 1088, 512, 4) for b, rows, keys in
              ((1, 16, 6144), (96, 16, 6144), (48, 128, 3072), (24, 64, 12288), (2, 32, 6144))]
    hw = load_hardware("h200")
    pts = [(s, decode_attention_s(s, hw, truth, hw.flops_per_s(16))) for s in shapes]
    got, err = fit(KernelModel(), pts, lambda m, s: decode_attention_s(s, hw, m, hw.flops_per_s(16)),
                   ("sm_bandwidth_gb_s", "bandwidth_eff", "mma_eff", "fixed_us"), passes=6)
    for s, t in pts:
        assert math.isclose(decode_attention_s(s, hw, got, hw.flops_per_s(16)), t, rel_tol=0.05)


def test_other_ops_run_at_the_models_efficiencies_plus_their_launches():
    from mlacalc.expected import other_s

    m = KernelModel(bandwidth_eff=0.8, mma_eff=0.5, fixed_us=2.0)
    # 1 MB at 0.8 x 1000 GB/s = 1.25 us vs 1e9 FLOPs at 0.5 x 100 TFLOP/s = 20 us; 3 launches x 2 us
    assert other_s(1e9, 1e6, 3, HW, m, 100e12) == pytest.approx(20e-6 + 6e-6)


def test_flashmla_scheduler_gives_each_part_its_payload():
    from mlacalc.expected import flashmla_schedule

    # 1 request of 1536 keys = 24 blocks (+5 fixed) over 132 parts: payload ceil(29/132) + 5 = 6, so each part takes
    # one block: 24 parts busy, each with 1 key block of 1 request segment, the request split 24 ways
    assert flashmla_schedule(1, 1536, 132) == (24, 1, 1, 24)
    # 128 requests of 64 blocks: payload ceil(128 x 69 / 132) + 5 = 72 >= 69: one whole request per part, no split
    assert flashmla_schedule(128, 4096, 132) == (128, 64, 1, 1)
    # 3 requests of 10 blocks over 2 parts: payload ceil(3 x 15 / 2) + 5 = 28. Part 0 takes request 0 (15 of its
    # payload, 13 left), then 13 - 5 = 8 blocks of request 1: 18 key blocks in 2 segments (its payload, 28 blocks, is
    # what the old model priced as keys). Part 1: request 1's last 2 blocks and request 2: 12 blocks, 2 segments
    assert flashmla_schedule(3, 640, 2) == (2, 18, 2, 2)


def test_flashmla_decode_time_worked_by_hand():
    m = KernelModel(bandwidth_eff=1.0, sm_bandwidth_gb_s=50.0, mma_eff=1.0, fixed_us=2.0, min_rows_per_cta=64)
    s = DecodeShape(seqs=1, rows=16, kv_groups=1, keys=1536, key_bytes=1152, dkv=1088, out_dv=512, layers=1)
    # 10 SMs: 10 parts; 24 blocks + 5: payload ceil(29 / 10) + 5 = 8, i.e. 3 blocks per part -> 8 parts, 8 splits
    keys_cta = 3 * 64                                                # key blocks only: the 5 fixed blocks balance parts
    t_mem = 8 * keys_cta * 1152 / min(1000e9, 8 * 50e9)
    t_mma = 2 * 64 * keys_cta * 1088 / (100e12 / 10)                 # one SM's share of the peak, 64-row tile
    prologue = 128 * 1152 / 50e9
    combine = 16 * (8 * 513 * 4 + 512 * 2) / 1000e9                 # fp32 partials of 8 splits, bf16 output
    want = prologue + max(t_mem, t_mma) + combine + 2 * 2e-6         # FlashMLA always launches its combine kernel
    assert decode_attention_s(s, HW, m, 100e12, "flashmla") == pytest.approx(want)
    # each CTA runs one request segment: segment_us = 1.5 adds 1.5 us to the one wave
    m2 = replace(m, segment_us=1.5)
    assert decode_attention_s(s, HW, m2, 100e12, "flashmla") == pytest.approx(want + 1.5e-6)


def test_the_gqa_kernel_has_its_own_coefficients():
    from mlacalc.expected import decode_backend

    assert decode_backend("auto", "gqa") == "gqa" and decode_backend("triton", "gqa") == "gqa"
    assert decode_backend("auto", "mla") == "auto" and decode_backend("flashmla", "mla") == "flashmla"
    hw = hardware_from_dict({"name": "c", "memory_gib": 80, "mem_bandwidth_gb_s": 4000, "bf16_tflops": 800,
                             "interconnect_gb_s": 100, "sms": 132, "kernels": {"auto": {"fixed_us": 7}}}, "c")
    assert kernel_model(hw, "gqa").fixed_us != 7          # no calibrated gqa set: the gqa defaults, not auto's


@settings(max_examples=60, deadline=None)
@given(units=st.integers(1, 600), keys=st.integers(1, 200_000), partial=st.sampled_from([0, 4096, 1 << 20]),
       per_sm=st.sampled_from([1, 4]))
def test_split_planner_restates_the_kernels_planner(units, keys, partial, per_sm):
    pytest.importorskip("triton")
    from mlacalc.expected import TILE_KEYS, choose_splits
    from mlacalc.kernels.triton_split_kv import plan_splits

    want = plan_splits(units, keys, TILE_KEYS, sms=132, programs_per_sm=per_sm, min_tokens=256, token_bytes=1152,
                       partial_bytes_per_split=partial)[0]
    got = choose_splits(units, keys, sms=132 * per_sm, min_tokens=256, max_splits=128, token_bytes=1152,
                        partial_bytes_per_split=partial)
    assert got == want


def test_an_fp8_small_tile_keeps_two_programs_an_sm_that_overlap_their_widening():
    # the project's planner ("cost"): 40 sequences x 16 rows over an fp8 latent, 10 SMs, two programs an SM
    m = KernelModel(bandwidth_eff=1.0, sm_bandwidth_gb_s=50.0, mma_eff=1.0, fixed_us=2.0, min_rows_per_cta=16,
                    small_tile_mma_eff=0.5, dequant_gelem_s=10.0, max_splits=128)
    s = DecodeShape(seqs=40, rows=16, kv_groups=1, keys=4096, key_bytes=576, dkv=1088, out_dv=512, layers=1,
                    key_elems=576)
    # splits: 1 costs ceil(40 / 20) = 2 waves x 4096 keys; 2 costs 4 waves x 2048 keys plus the fp32 partials: 1
    ramp = 128 * 576 / 50e9                                   # two 64-key tiles at one SM's 50 GB/s
    t_mem = 20 * 4096 * 576 / min(1000e9, 10 * 50e9)          # a wave of 20 programs on 10 SMs
    t_mma = 2 * 16 * 4096 * 1088 / (100e12 * 0.5 / 10)        # one program's dots; two share an SM's tensor cores
    t_widen = 4096 * 576 / 10e9                               # one program widens at 10 G/s; its neighbour overlaps
    want = 2 * (ramp + max(t_mem, 2 * t_mma + t_widen)) + 2e-6
    assert decode_attention_s(s, HW, m, 100e12, planner="cost") == pytest.approx(want)
    # a 32-row fp8 tile and a 16-bit cache keep one program an SM: 40 programs, 4 waves
    from mlacalc.expected import kernel_tiling

    assert kernel_tiling(s) == (2, 32)
    assert kernel_tiling(DecodeShape(40, 32, 1, 4096, 576, 1088, 512, 1, key_elems=576)) == (1, 32)
    assert kernel_tiling(DecodeShape(40, 16, 1, 4096, 1152, 1088, 512, 1, key_elems=576)) == (1, 64)


# The Triton the calibration's kernels were compiled with (reports/h200/h200.yaml: the GPU machine's 3.6); the model
# restates their tiles. Under Triton >= 3.9 the 16-row contiguous tile at DeepSeek's dims differs
# (kernels/triton_mla_decode.default_mla_config) and runs within 4% of the 3.6 tile's time.
CALIBRATED_TRITON = (3, 6)


def calibrated_tile(heads: int, d_k: int):
    """The kernel's default 16-bit tile for ``heads`` rows as the calibration compiled it (None: the kernel's own
    default, which the Triton version does not change above 16 rows)."""
    from mlacalc.kernels.triton_mla_decode import default_mla_config

    return default_mla_config(heads, None, d_k=d_k, triton_version=CALIBRATED_TRITON) if heads <= 16 else None

@settings(max_examples=80, deadline=None)
@given(batch=st.integers(1, 300), keys=st.integers(1, 200_000), heads=st.sampled_from([2, 5, 10, 16, 20, 32]),
       dims=st.sampled_from([(256, 32), (512, 64)]))
def test_16_bit_split_plan_restates_the_triton_mla_kernels(batch, keys, heads, dims):
    """The Triton kernel's 16-bit tiles (under 64 rows), MiniCPM3's dims and DeepSeek's: planned over one program an
    SM, then over what an SM holds once the plan outgrows the SMs (kernels/triton_mla_decode._plan)."""
    pytest.importorskip("triton")
    from mlacalc.expected import DEFAULTS, split_plan
    from mlacalc.kernels.triton_mla_decode import mla_num_splits

    r, dr = dims
    shape = DecodeShape(seqs=batch, rows=heads, kv_groups=1, keys=keys, key_bytes=(r + dr) * 2, dkv=2 * r + dr,
                        out_dv=r, layers=1, key_elems=r + dr)
    want = mla_num_splits(batch, 1, heads, keys, kv_lora_rank=r, rope_dim=dr, config=calibrated_tile(heads, r + dr))
    assert split_plan(shape, DEFAULTS["auto"], 132, "cost").splits == want


@pytest.mark.parametrize("arch", ["sm_80", "sm_86", "sm_90", ""])
def test_mla_residency_restates_the_kernels(arch):
    """kernels/triton_mla_decode.mla_resident_programs (its shared memory and registers) on each arch's shared
    memory, for the 16-bit tiles of 1-64 rows at MiniCPM3's and DeepSeek's dims."""
    pytest.importorskip("triton")
    from mlacalc.expected import HOPPER_SMEM, MLA_REGS, REGS_PER_SM, SMEM_BY_ARCH, mla_resident
    from mlacalc.kernels.launch import SMLimits
    from mlacalc.kernels.triton_mla_decode import MLA_REGS as KERNEL_MLA_REGS
    from mlacalc.kernels.triton_mla_decode import default_mla_config, mla_resident_programs

    assert MLA_REGS == KERNEL_MLA_REGS
    limits = SMLimits(*SMEM_BY_ARCH.get(arch, HOPPER_SMEM), REGS_PER_SM)
    for heads in (1, 5, 10, 16, 20, 32, 40, 64):
        for r, dr in ((256, 32), (512, 64)):
            cfg = default_mla_config(heads, None, d_k=r + dr, triton_version=CALIBRATED_TRITON)
            block_h = max(16, min(cfg.block_h, 1 << (heads - 1).bit_length()))
            shape = DecodeShape(seqs=1, rows=heads, kv_groups=1, keys=4096, key_bytes=(r + dr) * 2, dkv=2 * r + dr,
                                out_dv=r, layers=1)
            assert mla_resident(shape, arch) == mla_resident_programs(r + dr, block_h, cfg, limits)


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 300), keys=st.integers(1, 200_000), heads=st.sampled_from([8, 16, 32, 64, 128]))
def test_fp8_split_plan_restates_the_mla_kernels(batch, keys, heads):
    """On a backend that runs the Gluon kernels (auto on sm_90): under 64 rows the Triton kernel's plan; 64 or more,
    the Gluon widening kernel's, with its wave rule."""
    pytest.importorskip("triton")
    from mlacalc.expected import DEFAULTS, split_plan
    from mlacalc.kernels.triton_mla_decode import mla_num_splits

    shape = DecodeShape(seqs=batch, rows=heads, kv_groups=1, keys=keys, key_bytes=576, dkv=1088, out_dv=512,
                        layers=1, key_elems=576)
    if heads >= 64:
        pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")
        from mlacalc.kernels.gluon_mla_decode import gluon_splits

        want = gluon_splits(batch, heads, keys, sms=132, token_bytes=576)[0]
    else:
        want = mla_num_splits(batch, 1, heads, keys, kv_element_size=1, paged=True)
    assert split_plan(shape, DEFAULTS["auto"], 132, "cost", "sm_90", widen_group=True).splits == want


@pytest.mark.parametrize("rows, key_bytes, paged, want", [
    (64, 1152, False, 14),    # one head block: the 32-key tile, splits of whole tiles: 267 -> 288 keys
    (65, 1152, False, 11),    # a second head block: the 64-key tile, whole pairs: 267 -> 384 keys
    (128, 1152, False, 11),
    (128, 1152, True, 11),    # paged (blocks of 64, the profiler's)
    (256, 1152, False, 11),
    (128, 576, False, 14),    # fp8: 32-key tiles; the wave rule's 15 splits recount to 14 (see below)
])
def test_gluon_split_plan_takes_the_gluon_kernels_split_unit(rows, key_bytes, paged, want):
    """kernels/gluon_mla_decode.gluon_splits with split_keys(default_gluon_config(rows)), worked by hand: one sequence
    of 4,000 keys over 132 SMs (head blocks of 64 rows: 1, 2 or 4 programs, one wave at any split count up to the
    limit 4000 // 256 = 15). The modelled bytes, ceil(4000 / s) x token bytes x 132 + s x rows x 512 x 8, fall up to
    s = 15 (bf16, 64 rows: 267 x 152,064 + 15 x 262,144 = 44,533,248 against s = 14's 47,160,320, over 3% more; at 128
    rows 48,465,408 against 50,830,336; at 256, 56,329,728 against 58,170,368; fp8 at 128, 28,164,864 against
    29,085,184): 15 splits of ceil(4000 / 15) = 267 keys. Then whole units: 32 keys -> 288, ceil(4000 / 288) = 14;
    128 (a pair of 64-key tiles) -> 384, ceil(4000 / 384) = 11. (Whole 64-key tiles, the Triton kernel's unit, would
    give 320 and 13.) fp8 then tries the wave rule (gluon_splits' FP8_WAVE_CHUNK): 2 programs x 14 splits are under
    one wave of 132, and one wave of chunks of >= 256 keys is min(132 // 2, 4000 // 256) = 15 splits, chunks of
    ceil(4000 / 15) = 267 -> 288 keys, recounted ceil(4000 / 288) = 14: no more than the byte plan, which stays."""
    from mlacalc.expected import DEFAULTS, split_plan

    shape = DecodeShape(seqs=1, rows=rows, kv_groups=1, keys=4000, key_bytes=key_bytes, dkv=1088, out_dv=512,
                        layers=1, key_elems=576, paged=paged)
    assert split_plan(shape, DEFAULTS["auto"], 132, "cost", "sm_90", widen_group=True).splits == want


@settings(max_examples=80, deadline=None)
@given(batch=st.integers(1, 300), keys=st.integers(1, 200_000),
       rows=st.sampled_from([17, 32, 48, 64, 65, 96, 128, 192, 256]), fp8=st.booleans())
def test_gluon_split_plan_restates_the_gluon_kernels(batch, keys, rows, fp8):
    """Rows the Gluon kernel takes under auto (kernels/gluon_mla_decode.auto_min_rows: more than 16 over a 16-bit
    cache, 64 over fp8) at DeepSeek's dims on a backend running the Gluon kernels: its planner, in units of its tile's
    split_keys (pairs of 64-key tiles above 64 rows over a 16-bit cache, else single 32-key tiles)."""
    pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")
    from mlacalc.expected import DEFAULTS, split_plan
    from mlacalc.kernels.gluon_mla_decode import auto_min_rows, default_gluon_config, gluon_splits, split_keys

    assume(rows >= auto_min_rows(fp8))
    token_bytes = 576 if fp8 else 1152
    shape = DecodeShape(seqs=batch, rows=rows, kv_groups=1, keys=keys, key_bytes=token_bytes, dkv=1088, out_dv=512,
                        layers=1, key_elems=576)
    unit = split_keys(default_gluon_config(rows, fp8=fp8))
    want = gluon_splits(batch, rows, keys, sms=132, block_n=unit, token_bytes=token_bytes)[0]
    assert split_plan(shape, DEFAULTS["auto"], 132, "cost", "sm_90", widen_group=True).splits == want


def test_32_rows_over_a_16_bit_cache_run_the_gluon_kernels_padded_tile():
    """auto takes the Gluon kernel above 16 rows over a 16-bit cache (kernels/gluon_mla_decode.auto_min_rows) and pads
    its 64-row tile: 32 rows cost one 64-row tile's dots, as on FlashMLA. Off the Gluon kernels (backend "triton")
    they are the Triton kernel's 32-row tile; 16 rows stay on it either way; over fp8, under 64 rows, too."""
    from mlacalc.expected import DEFAULTS, GLUON_MIN_ROWS_16BIT, gluon_dense, shape_row_tiles

    pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")
    from mlacalc.kernels.gluon_mla_decode import auto_min_rows

    assert GLUON_MIN_ROWS_16BIT + 1 == auto_min_rows(fp8=False) and auto_min_rows(fp8=True) == 64

    def shape(rows, key_bytes=1152):
        return DecodeShape(seqs=8, rows=rows, kv_groups=1, keys=4096, key_bytes=key_bytes, dkv=1088, out_dv=512,
                           layers=1, key_elems=576)

    m = DEFAULTS["auto"]
    assert shape_row_tiles(shape(32), m, "cost", "sm_90", widen_group=True) == (64, 1)
    assert shape_row_tiles(shape(32), m, "cost", "sm_90", widen_group=False) == (32, 1)
    assert shape_row_tiles(shape(16), m, "cost", "sm_90", widen_group=True) == (16, 1)
    assert shape_row_tiles(shape(96), m, "cost", "sm_90", widen_group=True) == (64, 2)
    assert not gluon_dense(shape(32, key_bytes=576), True)      # fp8 under 64 rows: the Triton kernel
    assert gluon_dense(shape(17), True) and not gluon_dense(shape(16), True)


def test_a_64_row_fp8_tile_widens_in_its_own_warp_group_beside_the_dots():
    # auto's Gluon kernel: 20 sequences x 128 rows (two 64-row tiles) over an fp8 latent, 10 SMs, one program an SM.
    # Splits: 1 costs ceil(40 / 10) = 4 waves x 2048 keys x 10 SMs x 576 B = 47.2 MB; 2 costs 8 waves x 1024 keys
    # (the same) plus 2 x 20 x 128 x 512 x 8 B of partials: one split, 4 waves of 10 CTAs
    m = KernelModel(bandwidth_eff=1.0, sm_bandwidth_gb_s=50.0, mma_eff=1.0, fixed_us=2.0, min_rows_per_cta=16,
                    dequant_gelem_s=10.0, widen_group_gelem_s=20.0, max_splits=128)
    s = DecodeShape(seqs=20, rows=128, kv_groups=1, keys=2048, key_bytes=576, dkv=1088, out_dv=512, layers=1,
                    key_elems=576)
    ramp = 128 * 576 / 50e9                                   # two 64-key tiles at one SM's 50 GB/s
    t_mem = 10 * 2048 * 576 / 2 / min(1000e9, 10 * 50e9)     # a wave; L2 serves the second row tile its keys
    t_mma = 2 * 64 * 2048 * 1088 / (100e12 / 10)             # one 64-row CTA's dots at an SM's share of the peak
    t_widen = 2048 * 576 / 20e9                              # its widening group, at 20 G elements/s
    assert t_widen > t_mma > t_mem                           # the widening bounds this point
    want = 4 * (ramp + max(t_mem, t_mma, t_widen)) + 2e-6
    assert decode_attention_s(s, HW, m, 100e12, "cost", widen_group=True) == pytest.approx(want)
    # the Triton kernel (backend "triton") widens in the program, after its dots
    assert decode_attention_s(s, HW, m, 100e12, "cost") == pytest.approx(
        4 * (ramp + max(t_mem, t_mma + 2048 * 576 / 10e9)) + 2e-6)
    # a faster widening group hides behind the dots
    fast = replace(m, widen_group_gelem_s=200.0)
    assert decode_attention_s(s, HW, fast, 100e12, "cost", widen_group=True) == pytest.approx(
        4 * (ramp + t_mma) + 2e-6)


def test_causal_prefill_computes_whole_diagonal_tiles():
    from mlacalc.expected import causal_tile_waste

    # 1,024 tokens = 8 blocks of 128: 8 x 9 / 2 = 36 blocks of 128^2 pairs computed, 1024 x 1025 / 2 kept
    assert causal_tile_waste(1024) == pytest.approx(36 * 128 * 128 / (1024 * 1025 / 2))
    assert causal_tile_waste(16384) < 1.01 and causal_tile_waste(0) == 1.0


def test_an_fp8_cache_on_small_tiles_pays_widening_and_the_mma_sync_rate():
    # 40 sequences x 16 rows over an fp8 latent (576 one-byte elements per key), 10 SMs: 40 CTAs in 4 waves of 10
    m = KernelModel(bandwidth_eff=1.0, sm_bandwidth_gb_s=50.0, mma_eff=1.0, fixed_us=2.0, min_rows_per_cta=16,
                    small_tile_mma_eff=0.5, dequant_gelem_s=10.0)
    s = DecodeShape(seqs=40, rows=16, kv_groups=1, keys=4096, key_bytes=576, dkv=1088, out_dv=512, layers=1,
                    key_elems=576)
    ramp = 128 * 576 / 50e9                                   # two 64-key tiles at one SM's 50 GB/s
    t_mem = 10 * 4096 * 576 / min(1000e9, 10 * 50e9)          # a wave's bytes at 10 SMs x 50 GB/s
    t_mma = 2 * 16 * 4096 * 1088 / (100e12 * 0.5 / 10)        # a 16-row tile: mma.sync at half the peak, per SM
    t_widen = 4096 * 576 / 10e9                               # 10 G elements/s widened per SM
    want = 4 * (ramp + max(t_mem, t_mma + t_widen)) + 2e-6    # one split: no combine kernel
    assert decode_attention_s(s, HW, m, 100e12) == pytest.approx(want)
    bf16 = DecodeShape(40, 16, 1, 4096, 1152, 1088, 512, 1, key_elems=576)   # a 16-bit cache is not widened
    assert decode_attention_s(bf16, HW, m, 100e12) == pytest.approx(
        4 * (128 * 1152 / 50e9 + max(10 * 4096 * 1152 / 500e9, t_mma)) + 2e-6)


def test_mla_tiles_off_the_gluon_kernel_take_the_triton_rate():
    # 40 sequences x 40 heads (a 64-row tile), 10 SMs, one split: 4 waves of 10 CTAs. MiniCPM3's dims (d_k 256 + 32,
    # d_v 256: dkv 544) run the Triton kernel's 64-row tile on auto (gluon_dense: DeepSeek's dkv 1,088 only), priced
    # at triton_mma_eff = 0.25; DeepSeek's dims at 64 rows run the Gluon kernel at mma_eff = 1.0, at 40 rows over a
    # 16-bit cache too (its 64-row tile padded: the same time), over an fp8 cache the Triton one
    from mlacalc.expected import gluon_dense, triton_wide_tile

    m = KernelModel(bandwidth_eff=1.0, sm_bandwidth_gb_s=50.0, mma_eff=1.0, fixed_us=2.0, min_rows_per_cta=16,
                    triton_mma_eff=0.25)
    mini = DecodeShape(seqs=40, rows=40, kv_groups=1, keys=4096, key_bytes=576, dkv=544, out_dv=256, layers=1)
    ramp = 128 * 576 / 50e9
    t_mem = 10 * 4096 * 576 / min(1000e9, 10 * 50e9)          # 4.72 us a wave
    t_mma = 2 * 64 * 4096 * 544 / (100e12 * 0.25 / 10)        # 114 us a CTA at a quarter of the peak
    assert decode_attention_s(mini, HW, m, 100e12, "cost", widen_group=True) == pytest.approx(
        4 * (ramp + max(t_mem, t_mma)) + 2e-6)
    assert triton_wide_tile(mini, True) and not gluon_dense(mini, True)
    ds = DecodeShape(seqs=40, rows=64, kv_groups=1, keys=4096, key_bytes=1152, dkv=1088, out_dv=512, layers=1)
    assert gluon_dense(ds, True) and not triton_wide_tile(ds, True)
    assert triton_wide_tile(ds, False) and not gluon_dense(ds, False)     # backend triton, or a card without Gluon
    assert gluon_dense(replace(ds, rows=40), True) and not triton_wide_tile(replace(ds, rows=40), True)
    assert triton_wide_tile(replace(ds, rows=40, key_bytes=576, key_elems=576), True)
    t_gluon = 2 * 64 * 4096 * 1088 / (100e12 / 10)
    for rows in (64, 40):
        assert decode_attention_s(replace(ds, rows=rows), HW, m, 100e12, "cost", widen_group=True) == pytest.approx(
            4 * (128 * 1152 / 50e9 + max(10 * 4096 * 1152 / 500e9, t_gluon)) + 2e-6)


def test_full_waves_are_priced_alike_and_a_million_of_them_at_once():
    # one SM, one CTA a wave (16-row tiles of 4 query rows over 256 keys: one split): n sequences are n identical
    # waves, priced once and multiplied (a loop over 10^6 waves took seconds: a batch of millions on a one-SM file)
    one_sm = hardware_from_dict({"name": "one", "memory_gib": 80, "mem_bandwidth_gb_s": 1000, "bf16_tflops": 100,
                                 "interconnect_gb_s": 100, "sms": 1}, "one")
    m = KernelModel(bandwidth_eff=1.0, sm_bandwidth_gb_s=50.0, mma_eff=1.0, fixed_us=2.0, min_rows_per_cta=16)

    def core(seqs):
        s = DecodeShape(seqs=seqs, rows=4, kv_groups=1, keys=256, key_bytes=512, dkv=256, out_dv=128, layers=1,
                        kernel="gqa")
        return decode_attention_s(s, one_sm, m, 100e12) - 2e-6   # less the one launch

    wave = 128 * 512 / 50e9 + max(256 * 512 / 50e9, 2 * 16 * 256 * 256 / 100e12)   # ramp + a CTA's 2.62 us of reads
    assert core(1) == pytest.approx(wave)
    assert core(10**6) == pytest.approx(10**6 * wave)


def test_the_gqa_kernels_waves_hold_the_programs_that_fit():
    # 10 sequences x 8 KV heads (4 query rows each, a 16-row tile) over 256 keys: one split (256 // 256), 80 CTAs;
    # at head dim 128 (key_bytes 512 = K and V of 128 bf16) three fit an SM (gqa_tiling), which the planner counts:
    # on 10 SMs two waves of 30 and one of 20, each SM doing its CTAs' math one after another
    m = KernelModel(bandwidth_eff=1.0, sm_bandwidth_gb_s=50.0, mma_eff=1.0, fixed_us=2.0, min_rows_per_cta=16,
                    max_splits=128)
    s = DecodeShape(seqs=10, rows=4, kv_groups=8, keys=256, key_bytes=512, dkv=256, out_dv=128, layers=1,
                    kernel="gqa")
    ramp = 128 * 512 / 50e9

    def wave(a):
        t_mem = a * 256 * 512 / min(1000e9, 10 * 50e9)
        t_mma = (a // 10) * 2 * 16 * 256 * 256 / (100e12 / 10)
        return ramp + max(t_mem, t_mma)

    assert decode_attention_s(s, HW, m, 100e12, "cost") == pytest.approx(2 * wave(30) + wave(20) + 2e-6)


def test_minicpm3s_small_tiles_keep_two_programs_an_sm_the_planner_counts_one():
    """MiniCPM3 (kv_lora_rank 256, RoPE 32: 288-dim keys, 256-dim values) at 10 heads a GPU, a 16-row tile of 64 keys
    and 3 stages: 2 x 64 x 288 x 2 + 16 x 288 x 2 + 16 x 128 = 84,992 B of shared memory, 86,016 with the block's
    reserve, so 233,472 // 86,016 = 2 fit an SM (registers: 170 -> 176 a thread x 128 threads, 65,536 // 22,528 = 2);
    DeepSeek's 576-dim keys (167,936 B) one. The planner still counts one an SM, but the SMs run what fits: 300
    sequences over 256 keys (one split) are 300 CTAs, a wave of 2 x 132 and one of 36, not 3 waves of 132."""
    from mlacalc.expected import mla_resident, mla_smem_b

    assert mla_smem_b(288, 16, 64, 3) == 84_992 and mla_smem_b(576, 16, 64, 3) == 167_936
    mini = DecodeShape(seqs=300, rows=10, kv_groups=1, keys=256, key_bytes=576, dkv=544, out_dv=256, layers=1)
    deep = replace(mini, key_bytes=1152, dkv=1088, out_dv=512)
    assert mla_resident(mini) == 2 and mla_resident(deep) == 1
    assert mla_resident(replace(mini, rows=40)) == 1          # its 64-row tile: 110,592 B and 221 registers
    h200 = replace(HW, sms=132)
    m = KernelModel(bandwidth_eff=1.0, sm_bandwidth_gb_s=50.0, mma_eff=1.0, fixed_us=2.0, min_rows_per_cta=16,
                    max_splits=128)
    ramp = 128 * 576 / 50e9

    def wave(a):
        t_mem = a * 256 * 576 / min(1000e9, min(132, a) * 50e9)
        t_mma = math.ceil(a / min(132, a)) * 2 * 16 * 256 * 544 / (100e12 / 132)
        return ramp + max(t_mem, t_mma)

    assert decode_attention_s(mini, h200, m, 100e12, "cost") == pytest.approx(wave(264) + wave(36) + 2e-6)


@settings(max_examples=80, deadline=None)
@given(batch=st.integers(1, 300), tokens=st.sampled_from([1, 2]), heads=st.sampled_from([8, 16, 32, 64, 128]),
       topk=st.sampled_from([1, 100, 512, 2048, 4096]), row_bytes=st.sampled_from([1152, 656]))
def test_sparse_split_plan_restates_the_gluon_sparse_kernels(batch, tokens, heads, topk, row_bytes):
    """kernels/gluon_mla_sparse.sparse_gluon_splits, for bf16 (1,152-byte) and fp8-ds (656-byte) rows."""
    pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")
    from mlacalc.expected import sparse_split_plan
    from mlacalc.kernels.gluon_mla_sparse import sparse_gluon_splits

    shape = DecodeShape(seqs=batch, rows=tokens * heads, kv_groups=1, keys=topk, key_bytes=row_bytes, dkv=1088,
                        out_dv=512, layers=1, key_elems=576, tokens=tokens, gathered=True)
    want = sparse_gluon_splits(batch * tokens, heads, topk, sms=132, row_bytes=row_bytes)[0]
    plan = sparse_split_plan(shape, 132)
    assert plan.splits == want
    assert plan.ctas == batch * tokens * -(-heads // 64) * want


def test_gathered_rows_are_copied_by_a_warp_group_at_its_own_rate():
    # The Gluon sparse kernel (auto, 16 heads, one query token): 20 sequences x 2,048 selected 1,152-byte rows, 10
    # SMs. Planner: 20 programs (one per token and 64-head block); 1 split costs 2 waves x 2048 x 1152 x 10 =
    # 47.2 MB, 2 splits 4 waves x 1024 (the same) plus partials: 1 split, 2 waves of 10 CTAs, each a 64-row tile.
    m = KernelModel(bandwidth_eff=1.0, sm_bandwidth_gb_s=50.0, mma_eff=1.0, fixed_us=2.0, min_rows_per_cta=16,
                    max_splits=128, gather_sm_gb_s=20.0)
    s = DecodeShape(seqs=20, rows=16, kv_groups=1, keys=2048, key_bytes=1152, dkv=1088, out_dv=512, layers=1,
                    key_elems=576, tokens=1, gathered=True)
    ramp = 128 * 1152 / 20e9                                  # the first 128 rows at the gather's 20 GB/s
    t_mem = 10 * 2048 * 1152 / min(1000e9, 10 * 50e9)        # a wave's bytes at HBM (10 SMs x 50 GB/s)
    t_dots = 2 * 64 * 2048 * 1088 / (100e12 / 10)            # a 64-row tile: 48 rows computed and dropped
    t_gather = 2048 * 1152 / 20e9                            # one CTA's copies at 20 GB/s
    assert t_gather > t_mem > t_dots
    assert decode_attention_s(s, HW, m, 100e12, "cost", widen_group=True) == pytest.approx(
        2 * (ramp + t_gather) + 2e-6)
    # fp8-ds rows (656 bytes, 576 elements): one split as for bf16 rows (a split holds up to 2,048 slots, fp8-ds too),
    # 20 CTAs in 2 waves; the gather group dequantises after its copies, at the widening rate (40 G elements/s)
    fp8 = replace(s, key_bytes=656)
    m8 = replace(m, widen_group_gelem_s=40.0)
    want8 = 2 * (128 * 656 / 20e9 + 2048 * 656 / 20e9 + 2048 * 576 / 40e9) + 2e-6
    assert decode_attention_s(fp8, HW, m8, 100e12, "cost", widen_group=True) == pytest.approx(want8)
    # top-4096: the planner alone keeps one split (2 waves of 4,096 slots cost what 4 waves of 2,048 do, without
    # partials), the 2,048-slot cap makes it 2: 40 CTAs in 4 waves, then the combine kernel reads 20 x 16 rows x
    # 2 splits x 513 fp32 values and writes 512 bf16 ones at 1,000 GB/s (a second launch: 2 x 2 us fixed)
    combine = 20 * 16 * (2 * 513 * 4 + 512 * 2) / 1000e9
    want4k = 4 * (128 * 656 / 20e9 + 2048 * 656 / 20e9 + 2048 * 576 / 40e9) + combine + 2 * 2e-6
    assert decode_attention_s(replace(fp8, keys=4096), HW, m8, 100e12, "cost", widen_group=True) == pytest.approx(
        want4k)
    # the Triton backend (and fewer than 8 heads on auto) is priced as the dense Triton kernel over those rows
    dense = replace(s, gathered=False)
    assert decode_attention_s(s, HW, m, 100e12, "cost") == pytest.approx(decode_attention_s(dense, HW, m, 100e12,
                                                                                               "cost"))
    few = replace(s, rows=4)
    assert decode_attention_s(few, HW, m, 100e12, "cost", widen_group=True) == pytest.approx(
        decode_attention_s(replace(few, gathered=False), HW, m, 100e12, "cost", widen_group=True))


def test_a_short_contexts_unused_index_slots():
    # The same 20 sequences with 1,000 keys of context: the indexer still hands the kernel 2,048 slots a query,
    # the 1,000 used ones first, then 1,048 of -1. The planner splits all 2,048 (one split, 2 waves of 10 CTAs).
    m = KernelModel(bandwidth_eff=1.0, sm_bandwidth_gb_s=50.0, mma_eff=1.0, fixed_us=2.0, min_rows_per_cta=16,
                    max_splits=128, gather_sm_gb_s=20.0)
    s = DecodeShape(seqs=20, rows=16, kv_groups=1, keys=1000, key_bytes=1152, dkv=1088, out_dv=512, layers=1,
                    key_elems=576, tokens=1, gathered=True, slots=2048)
    assert s.visits == 2048
    # Gluon: the CTA stops after the tile holding slot 999, so it copies 1,024 slots (32 whole tiles)
    ramp = 128 * 1152 / 20e9
    assert decode_attention_s(s, HW, m, 100e12, "cost", widen_group=True) == pytest.approx(
        2 * (ramp + 1024 * 1152 / 20e9) + 2e-6)
    # fp8-ds rows: the same single split, ending after the tile holding slot 999 (1,024 slots copied), each CTA
    # copying them at 20 GB/s and dequantising them at 40 G elements/s
    fp8 = replace(s, key_bytes=656)
    want8 = 2 * (128 * 656 / 20e9 + 1024 * 656 / 20e9 + 1024 * 576 / 40e9) + 2e-6
    assert decode_attention_s(fp8, HW, replace(m, widen_group_gelem_s=40.0), 100e12, "cost",
                              widen_group=True) == pytest.approx(want8)
    # with a gather as fast as HBM the used rows' bytes bound it: 10 CTAs x 1000 rows x 1152 bytes at 500 GB/s
    fast = replace(m, gather_sm_gb_s=1e6)
    t_mem = 10 * 1000 * 1152 / 500e9
    assert decode_attention_s(s, HW, fast, 1e18, "cost", widen_group=True) == pytest.approx(
        2 * (128 * 1152 / 1e15 + t_mem) + 2e-6)
    # Triton (no Gluon group): steps through all 2,048 slots (the dots of 16 rows padded to the 16-row tile), and
    # reads the 1,000 used rows: 20 programs on 10 SMs, 2 a wave at 50 GB/s an SM
    dense = replace(s, gathered=False, keys=2048, slots=0)
    t_dots = 2 * 16 * 2048 * 1088 / (100e12 / 10)
    t_mem_used = 10 * 1000 * 1152 / 500e9
    t_ramp = 128 * 1152 / 50e9
    got = decode_attention_s(s, HW, m, 100e12, "cost")
    assert got == pytest.approx(2 * (t_ramp + max(t_mem_used, t_dots)) + 2e-6)
    assert got < decode_attention_s(dense, HW, m, 100e12, "cost")     # fewer bytes than 2,048 used rows


def test_a_dsa_decode_shape_is_gathered_and_counts_its_query_tokens():
    from mlacalc.parallel import Parallelism
    from mlacalc.spec import load_spec
    from mlacalc.step import Step, decode_shape

    spec = load_spec("deepseek-v3.2")
    s = decode_shape(spec, Step("decode", 8, 32768, 2), Parallelism(tp=8), "absorbed", 16)
    assert s.gathered and s.tokens == 2 and s.rows == 2 * 128 // 8 and s.keys == 2048 and s.slots == 2048
    # 1,000 tokens of context: the second query token sees 1,001 keys, each still gets 2,048 index slots
    short = decode_shape(spec, Step("decode", 8, 999, 2), Parallelism(tp=8), "absorbed", 16)
    assert short.keys == pytest.approx((1000 + 1001) / 2) and short.slots == 2048
    dense = decode_shape(load_spec("deepseek-v3"), Step("decode", 8, 32768, 1), Parallelism(tp=8), "absorbed", 16)
    assert not dense.gathered and dense.tokens == 1


def test_no_calibration_point_is_a_held_out_validation_point():
    from mlacalc.profiler.kernel_calibration import AUTO_EXTRA, DECODE_POINTS, DSA_POINTS, GQA_POINTS, TRITON_DSA_POINTS
    from mlacalc.profiler.validate import expected_suite

    held = {(p.model, p.tp, p.batch, p.context, p.q_tokens) for p in expected_suite() if p.phase == "decode"}
    cal = {(p["model"], p["tp"], p["batch"], p["context"], p.get("q_tokens", 1))
           for p in DECODE_POINTS + AUTO_EXTRA + GQA_POINTS}
    assert held and cal and not held & cal
    assert all(p in AUTO_EXTRA for p in DSA_POINTS + TRITON_DSA_POINTS)
    assert any(p.model == "deepseek-v3.2" for p in expected_suite())     # DSA has held-out points too


@settings(max_examples=120, deadline=None)
@given(batch=st.integers(1, 300), tokens=st.sampled_from([1, 2]),
       heads=st.sampled_from([1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128]),
       topk=st.sampled_from([1, 100, 512, 2048, 4096]), row_bytes=st.sampled_from([1152, 656]),
       sms=st.sampled_from([78, 108, 132]))
def test_triton_sparse_plan_restates_the_triton_sparse_kernels(batch, tokens, heads, topk, row_bytes, sms):
    """kernels/triton_mla_sparse.sparse_splits and its tile (default_sparse_config, sparse_block_h), for bf16
    (1,152-byte) and fp8-ds (656-byte) rows."""
    pytest.importorskip("torch")
    pytest.importorskip("triton")
    from mlacalc.expected import triton_sparse_plan, triton_sparse_tiling
    from mlacalc.kernels.triton_mla_sparse import default_sparse_config, sparse_block_h, sparse_splits

    fp8_ds = row_bytes == 656
    cfg = default_sparse_config(heads, fp8_ds)
    tiling = triton_sparse_tiling(heads, fp8_ds)
    assert (tiling.rows, tiling.keys, tiling.programs_per_sm, tiling.min_split) == (
        sparse_block_h(heads, cfg), cfg.block_n, cfg.programs_per_sm, cfg.min_tokens_per_split)
    shape = DecodeShape(seqs=batch, rows=tokens * heads, kv_groups=1, keys=topk, key_bytes=row_bytes, dkv=1088,
                        out_dv=512, layers=1, key_elems=576, tokens=tokens, gathered=True, slots=topk)
    want = sparse_splits(batch * tokens, heads, topk, sms=sms, row_bytes=row_bytes, fp8_ds=fp8_ds)[0]
    plan = triton_sparse_plan(shape, sms)
    assert plan.splits == want
    assert plan.ctas == batch * tokens * -(-heads // tiling.rows) * want


# The Triton sparse kernel on the toy card (10 SMs, 1,000 GB/s, 100 TFLOP/s): dots at half the peak, 3 us a tile
TRITON_SPARSE_M = KernelModel(bandwidth_eff=1.0, sm_bandwidth_gb_s=50.0, mma_eff=1.0, fixed_us=2.0,
                              min_rows_per_cta=16, max_splits=128, small_tile_mma_eff=0.5, triton_gather_tile_us=3.0)


def test_the_triton_sparse_kernel_waits_a_tile_on_its_gathers():
    # 20 sequences x 4 heads (DeepSeek-V3.2 at tp 32), top-2048 of 1,152-byte rows, backend triton. Its tile
    # (default_sparse_config, 16-bit rows, <= 16 heads): 16 rows (4 heads padded), 64 slots, one program an SM.
    # Planner: 20 programs on 10 slots; 1 split costs 2 waves x 2048 x 1152 x 10 = 47.2 MB, 2 splits 4 x 1024 x the
    # same plus 2 x 20 x 4 x 512 x 8 bytes of partials: 1 split, 20 programs of 2,048 slots in 2 waves of 10
    s = DecodeShape(seqs=20, rows=4, kv_groups=1, keys=2048, key_bytes=1152, dkv=1088, out_dv=512, layers=1,
                    key_elems=576, tokens=1, gathered=True, slots=2048)
    ramp = 128 * 1152 / 50e9                            # the first two 64-slot tiles at one SM's 50 GB/s: 2.95 us
    t_mem = 10 * 2048 * 1152 / min(1000e9, 10 * 50e9)   # a wave's rows at 500 GB/s: 47.2 us
    t_dots = 2 * 16 * 2048 * 1088 / (100e12 * 0.5 / 10)  # one program's 16-row dots at half an SM's peak: 14.3 us
    t_wait = 2048 / 64 * 3e-6                            # 32 tiles, each waiting 3 us on index -> table -> rows: 96 us
    want = 2 * (ramp + max(t_mem, t_dots + t_wait)) + 2e-6   # 2 waves; one split: no combine, one launch
    assert want == pytest.approx(228.4e-6, rel=1e-3)
    assert decode_attention_s(s, HW, TRITON_SPARSE_M, 100e12, "cost") == pytest.approx(want)


def test_a_wave_smaller_than_the_sms_takes_one_sm_a_cta_even_where_two_fit():
    # The block scheduler gives every SM one CTA before any SM a second, so programs planned two an SM share one
    # only when there are more than SMs. 2 sequences x 128 heads over a top-128 list, backend triton: 64-row bf16
    # tiles, 64 slots, two an SM, splits of 64 slots at least. Planner over 4 units (2 tokens x 2 head blocks) on
    # 10 x 2 slots: 1 split costs 1 wave x 128 x 1152 x 20 = 2.95 MB, 2 splits 64 x 1152 x 20 + 2 x 1 MiB of
    # partials = 3.57 MB: 1 split, 4 CTAs of 128 slots, one wave on 4 SMs (not 2 SMs with two each)
    s = DecodeShape(seqs=2, rows=128, kv_groups=1, keys=128, key_bytes=1152, dkv=1088, out_dv=512, layers=1,
                    key_elems=576, tokens=1, gathered=True, slots=128)
    ramp = 128 * 1152 / 50e9                             # the first 128 slots at one SM's 50 GB/s: 2.95 us
    t_mem = 4 * (128 * 1152 / 2) / min(1000e9, 4 * 50e9)  # a token's two head blocks read its rows once: 1.47 us
    t_dots = 1 * 2 * 64 * 128 * 1088 / (100e12 * 0.5 / 10)  # one CTA an SM, 64 rows at half an SM's peak: 3.57 us
    t_wait = 2 * 3e-6                                     # two 64-slot tiles, 3 us each
    want = ramp + max(t_mem, t_dots + t_wait) + 2e-6      # one split: one launch, no combine
    assert want == pytest.approx(14.51e-6, rel=1e-3)
    assert decode_attention_s(s, HW, TRITON_SPARSE_M, 100e12, "cost") == pytest.approx(want)


def test_a_zero_tile_wait_prices_the_triton_sparse_kernel_as_before():
    """Off (0, and a hardware file without the coefficient): the dense Triton kernel over the selected slots, the
    price before the Triton sparse kernel had a term of its own."""
    off = replace(TRITON_SPARSE_M, triton_gather_tile_us=0.0)
    for heads, row_bytes in ((4, 1152), (16, 1152), (128, 1152), (4, 656)):
        s = DecodeShape(seqs=20, rows=heads, kv_groups=1, keys=2048, key_bytes=row_bytes, dkv=1088, out_dv=512,
                        layers=1, key_elems=576, tokens=1, gathered=True, slots=2048)
        dense = replace(s, gathered=False, slots=0)
        assert decode_attention_s(s, HW, off, 100e12, "cost") == decode_attention_s(dense, HW, off, 100e12, "cost")
        assert decode_attention_s(s, HW, TRITON_SPARSE_M, 100e12, "cost") != decode_attention_s(
            dense, HW, TRITON_SPARSE_M, 100e12, "cost")
    hw = hardware_from_dict({"name": "c", "memory_gib": 80, "mem_bandwidth_gb_s": 4000, "bf16_tflops": 800,
                             "interconnect_gb_s": 100, "sms": 132, "kernels": {"auto": {"mma_eff": 0.5}}}, "c")
    assert kernel_model(hw, "auto").triton_gather_tile_us == 0.0


@settings(max_examples=60, deadline=None)
@given(batch=st.sampled_from([1, 3, 20, 64, 300]), heads=st.sampled_from([1, 4, 16, 32, 64, 128]),
       row_bytes=st.sampled_from([1152, 656]), used=st.sampled_from([700, None]),
       a=st.integers(1, 256), b=st.integers(1, 256))
def test_more_index_slots_never_cost_less_at_the_same_split_count(batch, heads, row_bytes, used, a, b):
    """Monotonic in slots while the planner keeps its split count (a re-split can shorten the busiest program, as
    for the dense kernels, so the price over all slot counts is not monotonic)."""
    from mlacalc.expected import triton_sparse_plan

    h200 = load_hardware("h200")
    m = kernel_model(h200, "auto")

    def shape(slots):
        return DecodeShape(seqs=batch, rows=heads, kv_groups=1, keys=min(slots, used or slots), key_bytes=row_bytes,
                           dkv=1088, out_dv=512, layers=1, key_elems=576, tokens=1, gathered=True, slots=slots)

    few, many = shape(32 * min(a, b)), shape(32 * max(a, b))
    if triton_sparse_plan(few, h200.sms).splits == triton_sparse_plan(many, h200.sms).splits:
        assert decode_attention_s(few, h200, m, h200.flops_per_s(16), "cost") <= decode_attention_s(
            many, h200, m, h200.flops_per_s(16), "cost")


def test_an_ampere_card_prices_dsa_decode_as_the_triton_sparse_kernel_from_8_heads():
    """On an sm_80 card auto runs the Triton kernels (the Gluon ones are sm_90 code), so DeepSeek-V3.2 at tp 8 (16
    heads, where an H200 runs the Gluon sparse kernel) is priced by the Triton sparse kernel's term."""
    from mlacalc.expected import runs_gluon, sparse_group, triton_sparse_priced
    from mlacalc.parallel import Parallelism
    from mlacalc.spec import load_spec
    from mlacalc.step import Step, decode_shape, roofline

    a100 = load_hardware("a100-80gb")
    assert a100.arch == "sm_80"
    spec, step = load_spec("deepseek-v3.2"), Step("decode", 64, 8192)
    shape = decode_shape(spec, step, Parallelism(tp=8), "absorbed", 16)
    m = kernel_model(a100, "auto")
    assert shape.rows == 16 and m.triton_gather_tile_us > 0
    gluon = runs_gluon("auto", a100)
    assert not sparse_group(shape, gluon) and triton_sparse_priced(shape, m, gluon)
    got = roofline(spec, a100, step, Parallelism(tp=8), kv_bits=16).op("attn_core").expected_s
    assert got == pytest.approx(decode_attention_s(shape, a100, m, a100.flops_per_s(16), "cost"))
    assert got > decode_attention_s(shape, a100, replace(m, triton_gather_tile_us=0.0), a100.flops_per_s(16), "cost")


def test_the_triton_sparse_kernel_has_calibration_and_held_out_points_and_is_fitted_only_from_them():
    """auto on the H200 runs DSA decode under 8 heads on the Triton sparse kernel: the calibration has such points
    (and frees triton_gather_tile_us only with them), the expected suite others."""
    from mlacalc.profiler.kernel_calibration import DSA_POINTS, TRITON_DSA_POINTS, fitted_names, point_shape
    from mlacalc.profiler.validate import expected_suite

    from mlacalc.expected import runs_gluon, triton_sparse_runs

    h200 = load_hardware("h200")
    gluon = runs_gluon("auto", h200)
    recs = [dict(p, layers=4) for p in TRITON_DSA_POINTS]
    assert recs and all(triton_sparse_runs(point_shape(r), gluon) for r in recs)
    held = [p for p in expected_suite() if p.model in ("deepseek-v3.2", "glm-5") and p.phase == "decode"]
    on_triton = [p for p in held if triton_sparse_runs(point_shape(dict(p.__dict__)), runs_gluon(
        "triton" if p.kernel == "triton" else "auto", h200))]
    assert len(on_triton) >= 8 and any(p.kernel == "auto" for p in on_triton)
    gluon_recs = [dict(p, layers=4) for p in DSA_POINTS]
    assert "triton_gather_tile_us" in fitted_names("auto", recs, [point_shape(r) for r in recs], h200)
    assert "triton_gather_tile_us" not in fitted_names("auto", gluon_recs, [point_shape(r) for r in gluon_recs],
                                                       h200)
    # the widening group's rate: pinned by the fp8-ds DSA points (the gather group dequantises them at that rate),
    # not by bf16 rows
    ds = [r for r in gluon_recs if r.get("kv_dtype") == "fp8-ds"]
    bf16 = [r for r in gluon_recs if r.get("kv_dtype", "bf16") == "bf16"]
    assert len(ds) >= 3 and bf16
    assert "widen_group_gelem_s" in fitted_names("auto", ds, [point_shape(r) for r in ds], h200)
    assert "widen_group_gelem_s" not in fitted_names("auto", bf16, [point_shape(r) for r in bf16], h200)


def _accuracy_table_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "accuracy_table.py"
    spec = importlib.util.spec_from_file_location("accuracy_table", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_accuracy_summary_by_hand():
    """Ten errors 1..10 %: median (5 + 6) / 2 = 5.5; the 90th percentile by nearest rank is the ceil(0.9 x 10) = 9th
    smallest, 9; max 10."""
    assert _accuracy_table_module().summary([float(x) for x in range(10, 0, -1)]) == (10, 5.5, 9.0, 10.0)


def test_stated_attention_accuracy_is_what_the_committed_measurements_give():
    """ATTENTION_ACCURACY restates bench/accuracy_table.py over reports/h200/validate-expected.json and
    validate-random-seed{10-split,11,12,13,14}.json: a new validation run that changes them must change the stated
    figures too."""
    from mlacalc.expected import ACCURACY_MIN_POINTS, ATTENTION_ACCURACY

    table = _accuracy_table_module().table()
    stated = {k: (a.points, a.median_pct, a.p90_pct, a.max_pct) for k, a in ATTENTION_ACCURACY.items()}
    assert ACCURACY_MIN_POINTS == 5
    assert stated == {k: v for k, v in table.items() if v[0] >= ACCURACY_MIN_POINTS}


def test_stated_h100_accuracy_is_what_the_committed_h100_measurements_give():
    """H100_ATTENTION_ACCURACY restates bench/accuracy_table.py over the H100's eight random seeds (15, 16, 17,
    measured after the profiler's DSA fix; 18, 19 with every output checked; 20 over the wider model list; 21 and 22
    with the CUDA fp8 kernel in auto); classes under ACCURACY_MIN_POINTS points left out (none here)."""
    from pathlib import Path

    from mlacalc.expected import ACCURACY_MIN_POINTS, H100_ATTENTION_ACCURACY

    h100 = Path(__file__).resolve().parent.parent / "reports" / "h100"
    table = _accuracy_table_module().table([h100 / f"validate-random-seed{s}.json"
                                            for s in ("15", "16", "17", "18", "19", "20w", "21", "22w")])
    stated = {k: (a.points, a.median_pct, a.p90_pct, a.max_pct) for k, a in H100_ATTENTION_ACCURACY.items()}
    assert stated == {k: v for k, v in table.items() if v[0] >= ACCURACY_MIN_POINTS}
    assert {a.measured_on for a in H100_ATTENTION_ACCURACY.values()} == {"H100"}


def test_the_built_in_h100_quotes_the_h100s_accuracy_and_other_hopper_cards_the_h200s():
    """The built-in H100 SXM card prices with the H200's coefficients and was measured at 440 random points: its
    caption quotes those (and the H200's prefill figure: no prefill point ran on the H100); an H800 or an H100
    PCIe, not measured, and a calibrated H100 file (its own coefficients) quote the H200's."""
    from mlacalc.expected import ATTENTION_ACCURACY, H100_ATTENTION_ACCURACY, KernelModel, attention_accuracy
    from mlacalc.hardware import hardware_from_dict

    h100 = load_hardware("h100")
    assert attention_accuracy(h100, "auto", "mla", "decode") is H100_ATTENTION_ACCURACY[("mla", "auto", "decode")]
    assert attention_accuracy(h100, "auto", "mla", "decode").to_json()["measured_on"] == "H100"
    prefill = attention_accuracy(h100, "auto", "gqa", "prefill")     # none measured on the H100: the H200's
    assert prefill is ATTENTION_ACCURACY[("gqa", "sdpa", "prefill")] and prefill.measured_on == "H200"
    for other in (load_hardware("h800"), load_hardware("h100-pcie")):
        assert attention_accuracy(other, "auto", "mla", "decode") is ATTENTION_ACCURACY[("mla", "auto", "decode")]
    calibrated = hardware_from_dict(dict(name=h100.name, memory_bytes=85e9, mem_bandwidth_gb_s=3000,
                                         bf16_tflops=800, interconnect_gb_s=450, sms=132, arch="sm_90",
                                         kernels={"auto": KernelModel(bandwidth_eff=0.9).to_dict()}), "cal.yaml")
    assert attention_accuracy(calibrated, "auto", "mla", "decode").measured_on == "H200"


def test_attention_accuracy_lookup():
    """MHA/MQA decode run the GQA kernel; prefill is SDPA whatever the decode backend; another architecture than the
    H200's has no measured accuracy (None), nor has a class without points."""
    from mlacalc.expected import ATTENTION_ACCURACY, attention_accuracy

    h200, b200 = load_hardware("h200"), load_hardware("b200")
    assert attention_accuracy(h200, "auto", "mha", "decode") is ATTENTION_ACCURACY[("gqa", "auto", "decode")]
    assert attention_accuracy(h200, "auto", "gqa", "prefill") is ATTENTION_ACCURACY[("gqa", "sdpa", "prefill")]
    assert attention_accuracy(h200, "flashmla", "mla", "decode").points == 31
    assert attention_accuracy(b200, "auto", "mla", "decode") is None
    assert attention_accuracy(h200, "auto", "mla", "prefill") is None     # 2 points: under the 5 a class needs


def test_gqa_programs_an_sm_by_hand():
    """The GQA kernel's shared memory a program (gqa_smem_b): (stages - 1) K/V tiles x 64 keys x K and V (2 x D x
    2 B) + the 16-bit query tile + scratch (128 B a row to 32 rows, rows x D x 4 at 64). Hopper: 228 KB an SM, 1 KB
    reserved a block, 227 KB a block at most.
    D = 128, 8 rows (a 16-row tile), 3 stages: 65,536 + 4,096 + 2,048 = 71,680 B -> 233,472 // 72,704 = 3 (registers:
    108 -> 112 a thread x 128 threads, 65,536 // 14,336 = 4). D = 256: 131,072 + 8,192 + 2,048 = 141,312 -> 1.
    D = 64: 32,768 + 2,048 + 2,048 = 36,864 -> 6 (registers 72 x 128: 7). MQA, 71 rows at D = 64: two 64-row
    programs, 32,768 + 8,192 + 16,384 = 57,344 -> 4 (registers 128 x 128: 4). An sm_89 card (99 KB a block) at
    D = 256, 64 rows: 229,376 and 163,840 B (3, 2 stages) do not fit, nor 151,552 at 32 rows and 3 stages; 32 rows,
    2 stages: 65,536 + 16,384 + 4,096 = 86,016 -> 102,400 // 87,040 = 1."""
    from mlacalc.expected import gqa_smem_b, gqa_tiling, kernel_tiling

    def gqa(d, rows=8):
        return DecodeShape(seqs=1, kv_groups=1, rows=rows, keys=4096, key_bytes=2 * d * 2, dkv=2 * d, out_dv=d,
                           layers=1, kernel="gqa")

    assert gqa_smem_b(128, 16, 3, 2) == 71_680 and gqa_smem_b(256, 16, 3, 2) == 141_312
    assert [gqa_tiling(gqa(d)) for d in (64, 128, 256)] == [(16, 3, 6), (16, 3, 3), (16, 3, 1)]
    assert gqa_tiling(gqa(64, rows=71)) == (64, 3, 4)
    assert gqa_tiling(gqa(256, rows=64), "sm_89") == (32, 2, 1)
    assert kernel_tiling(gqa(128)) == (3, 64)
    mla = DecodeShape(seqs=1, kv_groups=1, rows=16, keys=4096, key_bytes=1152, dkv=1088, out_dv=512, layers=1)
    assert kernel_tiling(mla, "sm_89") == (1, 64)


def test_the_gqa_kernels_padded_head_dims_by_hand():
    """Tiles of the head dim's power of two, 16 at least: 80 (Phi-2) and 96 (Phi-3) -> 128, 12 -> 16, 128 -> 128,
    160 -> 256. The dots run at the tiles' width, the reads at the cache's: a Phi-3 shape (d_k = d_v = 96) dots over
    128 + 128 = 256 values a key; DeepSeek-V3 as MHA (d_k 192, d_v 128) over 256 + 128 = 384, its tiling at their
    mean 192; the MLA kernel's dims are its own (576 + 512). The kernel's padded_head_dim agrees from 1 to 600."""
    from mlacalc.expected import dot_dkv, gqa_tile_dim, gqa_tile_dkv

    assert [gqa_tile_dim(d) for d in (80, 96, 12, 128, 160)] == [128, 128, 16, 128, 256]

    def gqa(dk, dv):
        return DecodeShape(seqs=1, kv_groups=1, rows=8, keys=4096, key_bytes=2 * (dk + dv), dkv=dk + dv,
                           out_dv=dv, layers=1, kernel="gqa")
    assert dot_dkv(gqa(96, 96), "cost") == 256 and dot_dkv(gqa(96, 96), "waves") == 192
    assert gqa_tile_dkv(gqa(192, 128)) == 384 and dot_dkv(gqa(128, 128), "cost") == 256
    mla = DecodeShape(seqs=1, kv_groups=1, rows=16, keys=4096, key_bytes=1152, dkv=1088, out_dv=512, layers=1)
    assert dot_dkv(mla, "cost") == 1088
    pytest.importorskip("triton")
    from mlacalc.kernels.triton_gqa_decode import padded_head_dim

    assert all(padded_head_dim(d) == gqa_tile_dim(d) for d in range(1, 601))


@settings(max_examples=120, deadline=None)
@given(rows=st.integers(1, 300), head_dim=st.sampled_from([32, 48, 64, 80, 96, 128, 256, 512]),
       arch=st.sampled_from(["", "sm_80", "sm_89", "sm_90"]), kv_bytes=st.sampled_from([2, 4]))
def test_gqa_tiling_restates_the_kernels(rows, head_dim, arch, kv_bytes):
    """kernels/triton_gqa_decode.gqa_tiling (rows, stages, programs an SM) on each arch's shared memory."""
    pytest.importorskip("triton")
    from mlacalc.expected import HOPPER_SMEM, REGS_PER_SM, SMEM_BY_ARCH, gqa_tiling
    from mlacalc.kernels.launch import SMLimits
    from mlacalc.kernels.triton_gqa_decode import GQADecodeConfig
    from mlacalc.kernels.triton_gqa_decode import gqa_tiling as kernel_gqa_tiling

    from mlacalc.expected import GQA_REGS
    from mlacalc.kernels.triton_gqa_decode import GQA_REGS as KERNEL_GQA_REGS

    assert GQA_REGS == KERNEL_GQA_REGS
    per_sm, per_block = SMEM_BY_ARCH.get(arch, HOPPER_SMEM)
    t = kernel_gqa_tiling(rows, head_dim, GQADecodeConfig(), SMLimits(per_sm, per_block, REGS_PER_SM),
                          kv_bytes=kv_bytes)
    shape = DecodeShape(seqs=1, kv_groups=1, rows=rows, keys=4096, key_bytes=2 * head_dim * kv_bytes,
                        dkv=2 * head_dim, out_dv=head_dim, layers=1, kernel="gqa")
    assert gqa_tiling(shape, arch) == (t.block_h, t.num_stages, t.programs_per_sm)


@settings(max_examples=150, deadline=None)
@given(batch=st.integers(1, 300), tokens=st.sampled_from([1, 2, 3]), kv_heads=st.sampled_from([1, 2, 4, 8, 32]),
       group=st.sampled_from([1, 2, 4, 8, 16, 71]), head_dim=st.sampled_from([64, 80, 96, 128, 256]),
       context=st.integers(1, 200_000), sms=st.sampled_from([78, 108, 132]))
def test_gqa_split_plan_restates_the_gqa_kernels(batch, tokens, kv_heads, group, head_dim, context, sms):
    """kernels/triton_gqa_decode.gqa_num_splits (the split count the GQA kernel launches with, on Hopper's shared
    memory) is what the model's planner gives (split_plan, the gqa coefficients' split limits)."""
    pytest.importorskip("triton")
    from mlacalc.expected import DEFAULTS, split_plan
    from mlacalc.kernels.triton_gqa_decode import gqa_num_splits

    shape = DecodeShape(seqs=batch, rows=tokens * group, kv_groups=kv_heads, keys=context, key_bytes=4 * head_dim,
                        dkv=2 * head_dim, out_dv=head_dim, layers=1, kernel="gqa", tokens=tokens)
    want = gqa_num_splits(batch, tokens, group * kv_heads, kv_heads, context, head_dim, sms=sms)
    assert split_plan(shape, DEFAULTS["gqa"], sms, "cost", "sm_90").splits == want


def test_a_paged_cache_adds_its_block_table_wait_to_each_wave():
    # one GQA group of 16 rows, 10 SMs: the paged shape pays paged_ramp_us = 1.5 once per wave; two batches of CTAs
    # (a full wave and a partial one) pay it twice. The contiguous shape is the reference; nothing else changes
    m = KernelModel(bandwidth_eff=1.0, sm_bandwidth_gb_s=50.0, mma_eff=1.0, fixed_us=0.0, min_rows_per_cta=16,
                    paged_ramp_us=1.5)
    s = DecodeShape(seqs=1, rows=16, kv_groups=1, keys=1536, key_bytes=1152, dkv=1088, out_dv=512, layers=1)
    paged = replace(s, paged=True)
    base = decode_attention_s(s, HW, m, 100e12, "waves")                 # waves planner: one wave of <= 10 CTAs
    assert decode_attention_s(paged, HW, m, 100e12, "waves") == pytest.approx(base + 1.5e-6)
    many = replace(s, seqs=15)                                            # 15 CTAs on 10 SMs: 2 waves
    assert (decode_attention_s(replace(many, paged=True), HW, m, 100e12, "waves")
            == pytest.approx(decode_attention_s(many, HW, m, 100e12, "waves") + 2 * 1.5e-6))
    # gathered rows (DSA) price their own reads: no block-table term
    dsa = replace(s, gathered=True, slots=2048.0)
    assert decode_attention_s(replace(dsa, paged=True), HW, m, 100e12, "waves") == pytest.approx(
        decode_attention_s(dsa, HW, m, 100e12, "waves"))


def test_roofline_paged_reaches_the_decode_shape():
    from mlacalc.step import Step, roofline
    from mlacalc.spec import load_spec

    hw = load_hardware("h200")
    spec = load_spec("llama-3.1-8b")
    flat = roofline(spec, hw, Step("decode", 8, 1024)).op("attn_core").expected_s
    paged = roofline(spec, hw, Step("decode", 8, 1024, paged=True)).op("attn_core").expected_s
    # the built-in gqa coefficients price a wait a wave over a paged cache, one wave a layer here
    assert kernel_model(hw, "gqa").paged_ramp_us > 0
    assert paged == pytest.approx(flat + spec.num_layers * kernel_model(hw, "gqa").paged_ramp_us * 1e-6)
    with pytest.raises(mlacalc.errors.ArgError):
        Step("prefill", 1, 1024, paged=True)


def test_fit_with_a_block_size_prices_a_paged_decode_step():
    from mlacalc.capacity import fit
    from mlacalc.spec import load_spec

    hw, spec = load_hardware("h200"), load_spec("llama-3.1-8b")
    flat = fit(spec, hw, 8192).decode
    paged = fit(spec, hw, 8192, block_size=16).decode
    assert paged.step.paged and not flat.step.paged
    # 8,193 tokens round up to 8,208 in 16-token blocks, and the batch that fits stays 110: the step differs by the
    # wait a wave alone, a whole number of waves x 32 layers x paged_ramp_us (9 waves a layer here)
    assert paged.step.batch == flat.step.batch == 110
    waves = (paged.op("attn_core").expected_s - flat.op("attn_core").expected_s) / (
        32 * kernel_model(hw, "gqa").paged_ramp_us * 1e-6)
    assert waves >= 1 and waves == pytest.approx(round(waves))


@given(batch=st.integers(1, 256), context=st.integers(1, 131072), q=st.sampled_from([1, 2]),
       model=st.sampled_from(["deepseek-v3", "llama-3.1-8b", "qwen3-235b-a22b", "deepseek-v3.2"]),
       backend=st.sampled_from(["auto", "flashmla"]))
@settings(max_examples=60, deadline=None)
def test_a_paged_cache_never_makes_decode_faster(batch, context, q, model, backend):
    """The paged wait only adds time; the rest of the step (FLOPs, bytes, the split plan) is the contiguous one's."""
    from mlacalc.spec import load_spec
    from mlacalc.step import Step, roofline

    hw, spec = load_hardware("h200"), load_spec(model)
    flat = roofline(spec, hw, Step("decode", batch, context, q), kernel=backend, analyse_attention=False)
    paged = roofline(spec, hw, Step("decode", batch, context, q, paged=True), kernel=backend, analyse_attention=False)
    a, b = flat.op("attn_core"), paged.op("attn_core")
    assert b.expected_s >= a.expected_s and (b.op.flops, b.op.bytes, b.time_s) == (a.op.flops, a.op.bytes, a.time_s)


def test_the_triton_kernels_widen_at_their_own_rates():
    # 40 sequences of 16 rows over an 8-bit cache (576 one-byte elements a key), waves planner on 10 SMs: no split,
    # 4 waves of 10 CTAs, each widening 4,096 keys in the program (a 64-row tile here, not on the Gluon kernel:
    # widen_group False), serial with its dots. widen_tile_us = 1 adds ceil(4096 / 32) = 128 us a CTA, one CTA an SM
    # a wave: 4 x 128 us
    m = replace(M, dequant_gelem_s=10.0)
    s = DecodeShape(seqs=40, rows=16, kv_groups=1, keys=4096, key_bytes=576, dkv=1088, out_dv=512, layers=1,
                    key_elems=576)
    base = decode_attention_s(s, HW, m, 100e12)
    assert decode_attention_s(s, HW, replace(m, widen_tile_us=1.0), 100e12) - base == pytest.approx(4 * 128e-6)
    # index-selected rows on the Triton sparse kernel (its gather wait on): sparse_dequant_gelem_s, not
    # dequant_gelem_s, prices their widening, and the dense kernel's cost a tile does not apply
    g = replace(s, gathered=True, slots=2048.0, keys=2048)
    ms = replace(m, triton_gather_tile_us=1.0, widen_tile_us=1.0)
    assert decode_attention_s(g, HW, replace(ms, sparse_dequant_gelem_s=10.0), 100e12) == pytest.approx(
        decode_attention_s(g, HW, replace(ms, widen_tile_us=0.0), 100e12))
    assert decode_attention_s(g, HW, replace(ms, sparse_dequant_gelem_s=5.0), 100e12) > decode_attention_s(
        g, HW, ms, 100e12)


def test_the_decode_fit_does_not_depend_on_the_defaults_it_restates(monkeypatch):
    """Records made by a known model are fitted back to the same coefficients whatever DEFAULTS hold for the fitted
    names (the descent starts from KernelModel's own values), so a restated DEFAULTS cannot move the next fit."""
    import mlacalc.expected as ex
    import mlacalc.profiler.kernel_calibration as kc

    monkeypatch.setattr(kc, "RESTARTS", 2)
    hw = load_hardware("h200")
    truth = replace(ex.DEFAULTS["gqa"], bandwidth_eff=0.9, fixed_us=3.0)
    recs = [dict(model="llama-3.1-8b", tp=1, batch=b, context=c, layers=4, q_tokens=1, kv_dtype="bf16")
            for b, c in ((1, 1536), (8, 8192), (32, 4096), (96, 3072))]
    for r in recs:
        r["measured_s"] = ex.decode_attention_s(kc.point_shape(r), hw, truth, hw.flops_per_s(16), "cost")
    first, _ = kc.fit_decode("gqa", [dict(r) for r in recs], hw)
    monkeypatch.setitem(ex.DEFAULTS, "gqa", replace(ex.DEFAULTS["gqa"], bandwidth_eff=0.6, fixed_us=12.0,
                                                    sm_bandwidth_gb_s=40.0, ramp_us=9.0))
    second, _ = kc.fit_decode("gqa", [dict(r) for r in recs], hw)
    assert first == second


@pytest.mark.parametrize("rows, kv_bytes, wide", [(128, 1152, True), (256, 1152, True), (64, 1152, False),
                                                  (128, 576, False)])
def test_wide_tile_rate_prices_only_the_gluon_64_key_tile(rows, kv_bytes, wide):
    """wide_tile_mma_eff replaces mma_eff exactly where the Gluon kernel runs its 64-key tile (more than 64 rows a
    sequence over a 16-bit cache of DeepSeek's 576 + 512 dims), and nowhere else (64 rows: the 32-key tile; an fp8
    cache, 576 one-byte values a key: the widening kernel's 32-key tile). Compute-bound H200 shape: 32 sequences x
    8,192 keys; at 0.3 of the peak the dots are slower than at 0.6, so a rate that is used shows."""
    from mlacalc.expected import gluon_wide_tile

    h200 = load_hardware("h200")
    shape = DecodeShape(seqs=32, rows=rows, kv_groups=1, keys=8192, key_bytes=kv_bytes, dkv=1088, out_dv=512,
                        layers=1, key_elems=576)
    assert gluon_wide_tile(shape, True) is wide
    base = replace(kernel_model(h200, "auto"), mma_eff=0.3, wide_tile_mma_eff=0.0)

    def t(m):
        return decode_attention_s(shape, h200, m, h200.flops_per_s(16), "cost", True)

    with_wide = t(replace(base, wide_tile_mma_eff=0.6))
    if wide:
        assert with_wide == pytest.approx(t(replace(base, mma_eff=0.6))) and with_wide < t(base)
    else:
        assert with_wide == t(base)


@settings(max_examples=80, deadline=None)
@given(batch=st.integers(1, 160), keys=st.integers(2048, 70_000), rows=st.sampled_from([64, 65, 96, 128, 256]))
def test_auto_schedule_restates_the_gluon_kernels_choice(batch, keys, rows):
    """mlacalc.expected.auto_schedule_ratio against kernels/gluon_mla_decode.auto_schedules (bf16, 132 SMs, the
    kernel's own split plan): the same decision, and where the kernel schedules, the ratio the kernel's plain-Python
    schedule (schedule.balanced_over_fixed) gives."""
    pytest.importorskip("triton.experimental.gluon.language.nvidia.hopper")
    from mlacalc.expected import (DEFAULTS, GLUON_AUTO_SCHEDULE_BELOW, GLUON_WIDE_SPLIT_KEYS, _whole_tile_chunk,
                                  auto_schedule_ratio, split_plan)
    from mlacalc.kernels.gluon_mla_decode import auto_schedules, default_gluon_config, gluon_splits, split_keys
    from mlacalc.kernels.schedule import balanced_over_fixed

    shape = DecodeShape(seqs=batch, rows=rows, kv_groups=1, keys=keys, key_bytes=1152, dkv=1088, out_dv=512,
                        layers=1, key_elems=576)
    splits = split_plan(shape, DEFAULTS["auto"], 132, "cost", "sm_90", widen_group=True).splits
    cfg = default_gluon_config(rows, page_size=64)
    chunk = _whole_tile_chunk(keys, splits, split_keys(cfg))
    assert split_keys(cfg) == GLUON_WIDE_SPLIT_KEYS or rows <= 64
    assert (splits, chunk) == gluon_splits(batch, rows, keys, sms=132, block_n=split_keys(cfg))
    ratio = auto_schedule_ratio(shape, 132, splits, chunk, True)
    kernel = auto_schedules(batch, rows, keys, sms=132, config=cfg, tokens_per_split=chunk, num_splits=splits)
    assert (ratio is not None) == kernel
    assert ratio is None or ratio < GLUON_AUTO_SCHEDULE_BELOW
    if kernel:
        assert ratio == balanced_over_fixed([keys] * batch, block_n=64, overhead=5, head_programs=-(-rows // 64),
                                            sms=132, tokens_per_split=chunk, num_splits=splits)


def test_a_scheduled_shape_is_priced_at_the_measured_share_of_its_grid_time(monkeypatch):
    """DeepSeek's dims at 128 heads on an H200 (132 SMs, auto's calibration), 69 sequences of 12,050 keys: the grid's
    5 splits of 2,432 keys (19 pairs of 64-key tiles) are 69 x 2 x 5 = 690 CTAs, 5.2 waves, and the balanced
    schedule's busiest part is modelled at 0.8125 of the grid's busiest SM (under 0.91): the kernel schedules, and
    the modelled saving, 16,384 keys of the busiest SM x 0.031 us = 507.9 us x (1 - 1.065 x 0.8125 - 0.02) - 2.1
    = 56.2 us, exceeds the 6 us of making the schedule (each program computes its record: SCHEDULE_OWN_US): the
    kernel schedules, and the expected time is 1.065 x 0.8125 of the grid's (the same call with the rule off) + 2.1 +
    6 us. At 128 sequences (the grid balanced) the
    rule is off and the grid's time stands."""
    import mlacalc.expected as ex

    h200 = load_hardware("h200")
    m = kernel_model(h200, "auto")

    def shape(seqs):
        return DecodeShape(seqs=seqs, rows=128, kv_groups=1, keys=12050, key_bytes=1152, dkv=1088, out_dv=512,
                           layers=1, key_elems=576)

    assert ex.split_plan(shape(69), m, h200.sms, "cost", h200.arch, widen_group=True).splits == 5
    assert ex.auto_schedule_ratio(shape(69), h200.sms, 5, 2432, True) == 0.8125

    def both(seqs):
        on = decode_attention_s(shape(seqs), h200, m, h200.flops_per_s(16), "cost", widen_group=True)
        with monkeypatch.context() as mp:
            mp.setattr(ex, "GLUON_AUTO_SCHEDULE_BELOW", 0.0)   # the rule off
            off = decode_attention_s(shape(seqs), h200, m, h200.flops_per_s(16), "cost", widen_group=True)
        return on, off

    on, off = both(69)
    assert on == pytest.approx(1.065 * 0.8125 * off + 8.1e-6)
    on, off = both(128)
    assert on == off


def test_segment_overhead_restated_by_hand():
    """mlacalc.expected.segment_overhead_tiles (kernels/schedule.segment_overhead_tiles without torch): 64 rows of
    576-dim bf16 keys and 512 value dims move 64 x 576 x 2 = 73,728 B of query and 2 x 64 x 513 x 4 = 262,656 B of
    partial a segment: over a 64-key tile (73,728 B) 4.56 -> 5 tiles, over a pair (147,456 B) 2.28 -> 3; an fp8 key
    (1 B a value) halves the tile and the query: (36,864 + 262,656) / 36,864 = 8.1 -> 9."""
    from mlacalc.expected import segment_overhead_tiles

    assert segment_overhead_tiles(64, 64, 576, 512, 2) == 5
    assert segment_overhead_tiles(64, 128, 576, 512, 2) == 3
    assert segment_overhead_tiles(64, 64, 576, 512, 1) == 9


def test_a_spec_without_an_sm_count_says_its_attention_time_is_the_unplanned_floor(tmp_path):
    """A hardware YAML with no ``sms`` (what the first sessions' ``mlacalc calibrate`` wrote: reports/h100/h100.yaml)
    prices the decode core at its floor over the efficiencies, with no split plan: the basis says so and no measured
    accuracy is quoted (the H200's figures were taken on the planned model). Worked by hand: 32 x 32,768 keys of
    DeepSeek-V3's 1,152-byte latent+RoPE rows at 128 heads, one layer: bytes 1,207,959,552 / (3,000 GB/s x 0.841)
    = 478.8 us; FLOPs 2 x 128 x 32 x 32,768 x (576 + 512) = 292.1 GFLOP / (800 TFLOP/s x 0.522) = 699.5 us, the
    larger, plus one launch's fixed 0.5 us."""
    from mlacalc.expected import attention_accuracy, coefficient_basis
    spec = dict(name="old calibrate", memory_bytes=85e9, mem_bandwidth_gb_s=3000, bf16_tflops=800,
                fp16_tflops=800, fp8_tflops=1600, fp32_tflops=50, interconnect_gb_s=450)
    hw = hardware_from_dict(spec, "old.yaml")
    assert "no SM count" in coefficient_basis(hw, "auto")
    assert attention_accuracy(hw, "auto", "mla", "decode") is None
    with_sms = hardware_from_dict(dict(spec, sms=132, arch="sm_90"), "new.yaml")
    assert "no SM count" not in coefficient_basis(with_sms, "auto")
    assert attention_accuracy(with_sms, "auto", "mla", "decode") is not None
    shape = DecodeShape(seqs=32, rows=128, kv_groups=1, keys=32768, key_bytes=1152, dkv=576 + 512, out_dv=512,
                        layers=1, launches_per_layer=1, key_elems=576)
    got = decode_attention_s(shape, hw, kernel_model(hw, "auto"), 800e12)
    assert got == pytest.approx(699.5e-6 + 0.5e-6, rel=2e-3)


def test_only_the_streaming_rate_a_sm_follows_the_cards_bandwidth():
    """Built-in cards price with the H200's coefficients: an SM's streaming rate scaled by the card's bandwidth a SM
    (H100 SXM: 3,350 / 132 against 4,800 / 132 GB/s, so 150 -> 104.69 GB/s), the sparse kernel's latency-bound
    gather rate not (52.5 GB/s on both: the H100's own calibration fitted 60)."""
    from mlacalc.expected import DEFAULTS

    h100, h200 = kernel_model(load_hardware("h100-sxm"), "auto"), kernel_model(load_hardware("h200"), "auto")
    assert h200.sm_bandwidth_gb_s == DEFAULTS["auto"].sm_bandwidth_gb_s == 150.0
    assert h100.sm_bandwidth_gb_s == pytest.approx(150.0 * 3350 / 4800) == pytest.approx(104.6875)
    assert h100.gather_sm_gb_s == h200.gather_sm_gb_s == DEFAULTS["auto"].gather_sm_gb_s == 52.5


def test_the_gather_scaling_figures_readme_quotes(capsys):
    """bench/dsa_gather_scaling.py over the committed H100 measurements prints the figures README.md and
    expected._kernel_model's comment quote for the gather rate scaled and unscaled (calibration: 28 paged points,
    8.6% / 24.3% against 5.4% / 21.2%; random seeds: 13 points, 11.6% / 23.7% against 7.9% / 18.7%)."""
    from helpers import bench_module

    assert bench_module("dsa_gather_scaling").main([]) == 0
    out = capsys.readouterr().out
    for figures in ("28 points, median 8.6%, max 24.3%", "28 points, median 5.4%, max 21.2%",
                    "13 points, median 11.6%, max 23.7%", "13 points, median 7.9%, max 18.7%"):
        assert figures in out


def test_a_spec_without_sms_keeps_its_prefill_accuracy():
    """Prefill's expected time needs no SM count: a spec without one still quotes the measured prefill accuracy and
    says nothing of a split plan there; in decode it quotes none."""
    from mlacalc.expected import ATTENTION_ACCURACY, attention_accuracy, coefficient_basis

    hw = hardware_from_dict(dict(name="old calibrate", memory_bytes=85e9, mem_bandwidth_gb_s=3000, bf16_tflops=800,
                                 interconnect_gb_s=450), "old.yaml")
    assert attention_accuracy(hw, "auto", "gqa", "prefill") is ATTENTION_ACCURACY[("gqa", "sdpa", "prefill")]
    assert attention_accuracy(hw, "auto", "gqa", "decode") is None
    assert "no SM count" not in coefficient_basis(hw, "auto", phase="prefill")
    assert "no SM count" in coefficient_basis(hw, "auto", phase="decode")

