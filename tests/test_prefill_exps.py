"""Prefill attention's softmax exponentials: the SFU rate from the boost clock, the exponential count, the expected
time with a share of them serial, and the calibration that fits the share (docs/external-checks.md, E64)."""

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlacalc
from mlacalc.expected import (DEFAULTS, KernelModel, causal_tile_waste, exp_rate_per_s, other_s,
                              prefill_attention_s)
from mlacalc.hardware import hardware_from_dict, hardware_names, load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.step import Step, roofline


def attn_core(model: str, gpu, batch: int, prompt: int):
    """The attn_core row of a prefill roofline (its OpTime: op, time_s, expected_s)."""
    hw = load_hardware(gpu) if isinstance(gpu, str) else gpu
    return roofline(load_spec(model), hw, Step("prefill", batch, prompt), Parallelism()).op("attn_core")


# --- the SFU rate ----------------------------------------------------------------------------------------------------

def test_sfu_rate_of_the_h100_and_h200_from_their_clocks():
    # 132 SMs x 16 exponentials a clock an SM (CUDA C++ Programming Guide throughput table, cc 9.0) x 1.98 GHz
    assert exp_rate_per_s(load_hardware("h100-sxm")) == pytest.approx(132 * 16 * 1.98e9)      # 4.18e12 /s
    assert exp_rate_per_s(load_hardware("h200")) == pytest.approx(132 * 16 * 1.98e9)
    # the H100 PCIe: 114 SMs at 1.755 GHz; MI300X: 304 CUs x 16 (quarter rate on four 16-lane SIMDs) x 2.1 GHz
    assert exp_rate_per_s(load_hardware("h100-pcie")) == pytest.approx(114 * 16 * 1.755e9)
    assert exp_rate_per_s(load_hardware("mi300x")) == pytest.approx(304 * 16 * 2.1e9)


def test_a_capped_card_keeps_its_sfus():
    """The H20's tensor rate is capped (148 TFLOP/s over 78 SMs) but its SFUs are priced at its clock: 78 x 16 x
    2.2 GHz, 4.7x what the Hopper ratio of its tensor rate would give (148e12 x 16 / 4,096)."""
    h20 = load_hardware("h20")
    assert exp_rate_per_s(h20) == pytest.approx(78 * 16 * 2.2e9)
    assert exp_rate_per_s(replace(h20, boost_clock_ghz=0.0)) == pytest.approx(148e12 * 16 / 4096)


def test_a_spec_without_a_clock_takes_its_architectures_ratio():
    # H100 SXM without its clock: 989e12 x 16 / 4,096 (the tensor rate's 1.83 GHz); an A100 without: 312e12 x 16 / 2,048
    assert exp_rate_per_s(replace(load_hardware("h100-sxm"), boost_clock_ghz=0.0)) == pytest.approx(989e12 * 16 / 4096)
    assert exp_rate_per_s(replace(load_hardware("a100-80gb"), boost_clock_ghz=0.0)) == pytest.approx(
        312e12 * 16 / 2048)
    # no SM count either: the same ratio; no arch: Hopper's
    bare = hardware_from_dict({"name": "x", "memory_gib": 80, "mem_bandwidth_gb_s": 3000, "bf16_tflops": 800,
                               "interconnect_gb_s": 100, "boost_clock_ghz": 1.5}, "x")
    assert exp_rate_per_s(bare) == pytest.approx(800e12 * 16 / 4096)


# --- the exponential count -------------------------------------------------------------------------------------------

def test_exponentials_of_a_causal_prefill_worked_by_hand():
    """Llama-3.1-70B, one layer (64 query heads, 8 KV heads of 128, no window), one prompt of 4,096 tokens: token i
    attends i + 1 keys, 4096 x 4097 / 2 = 8,390,656 pairs a head, one exponential each: 537,001,984. FlashAttention
    computes 32 x 33 / 2 = 528 blocks of 128 x 128 pairs a head: 64 x 528 x 16,384 = 553,648,128 with the tile waste."""
    row = attn_core("llama-3.1-70b@num_layers=1", "h100-sxm", 1, 4096)
    assert row.op.exps == 64 * 4096 * 4097 // 2 == 537_001_984
    assert row.op.exps * causal_tile_waste(4096) == pytest.approx(64 * 528 * 128 * 128)
    assert row.op.exps * causal_tile_waste(4096) == pytest.approx(553_648_128)
    # the FLOPs it sits beside: 2 x 64 heads x 8,390,656 pairs x (128 + 128)
    assert row.op.flops == 2 * 64 * 8_390_656 * 256


def test_mla_prefill_counts_one_exponential_a_pair_and_head():
    # DeepSeek-V2-Lite decompressed (16 heads of 192 / 128), one layer, batch 2 x 1,000 tokens: 2 x 16 x 1000 x 1001 / 2
    row = attn_core("deepseek-v2-lite@num_layers=1", "h200", 2, 1000)
    assert row.op.exps == 2 * 16 * 1000 * 1001 // 2
    assert row.op.flops / row.op.exps == 2 * (192 + 128)



def test_a_hybrid_sums_the_exponentials_of_its_layer_groups():
    """Gemma-3-27B over 6 layers (32 query heads; 5 sliding layers of a 1,024-token window, then 1 global: global_every
    6), one prompt of 4,096: a sliding layer's token i attends min(i, 1024) keys, 1024 x 1025 / 2 + 3,072 x 1,024 =
    3,670,528 pairs a head; the global layer 4096 x 4097 / 2 = 8,390,656. The roofline merges the two groups' cores
    into one row: 32 x (5 x 3,670,528 + 8,390,656) = 855,785,472 exponentials."""
    row = attn_core("gemma-3-27b@num_layers=6", "h200", 1, 4096)
    assert row.op.exps == 32 * (5 * 3_670_528 + 8_390_656) == 855_785_472
    assert row.op.flops == 2 * 128 * 2 * row.op.exps                 # 2 (d_k + d_v) FLOPs a pair and head, d = 128


def test_tensor_parallel_ranks_split_the_exponentials_by_query_head():
    """Llama-3.1-70B, one layer, 4,096 tokens at TP 8: 64 / 8 = 8 query heads a GPU (one KV head), 8 x 8,390,656 =
    67,125,248 exponentials, an eighth of the one-GPU count."""
    par = Parallelism(tp=8)
    row = roofline(load_spec("llama-3.1-70b@num_layers=1"), load_hardware("h100-sxm"), Step("prefill", 1, 4096),
                   par).op("attn_core")
    assert row.op.exps == 8 * 8_390_656 == 67_125_248


def test_compressed_attention_counts_one_exponential_a_pair_and_query_head():
    """DeepSeek-V4-Flash's compressed attention: MQA of 64 query heads of c = 512 on one shared K=V head,
    2 H (c + c) FLOPs and H exponentials a (query, key) pair, so 2 x (512 + 512) = 2,048 FLOPs an exponential."""
    row = attn_core("deepseek-v4-flash", "h200", 1, 4096)
    assert row.op.exps > 0 and row.op.flops / row.op.exps == 2 * (512 + 512)

@settings(max_examples=25, deadline=None)
@given(heads=st.sampled_from([4, 8, 16, 32]), head_dim=st.sampled_from([64, 128, 256]),
       prompt=st.integers(64, 6000))
def test_the_exponentials_scale_with_heads_and_the_prompts_square_not_with_the_head_dim(heads, head_dim, prompt):
    def exps(h, d, s):
        return attn_core(f"variant-mha@num_layers=1,attention.num_heads={h},attention.head_dim={d}", "h200", 1,
                         s).op.exps

    base = exps(heads, head_dim, prompt)
    assert base == heads * prompt * (prompt + 1) / 2
    assert exps(heads, 64 if head_dim != 64 else 256, prompt) == base            # the head dim: no change
    assert exps(2 * heads, head_dim, prompt) == 2 * base                         # twice the heads: twice
    assert exps(heads, head_dim, 2 * prompt) == pytest.approx(base * 2 * (2 * prompt + 1) / (prompt + 1))  # ~4x


# --- the expected time -----------------------------------------------------------------------------------------------

SDPA_HALF = KernelModel(bandwidth_eff=0.708, mma_eff=0.622, fixed_us=15.0, exp_share=0.5)


def with_sdpa(gpu: str, m: KernelModel):
    return replace(load_hardware(gpu), kernels=(("sdpa", m),))


def test_the_prefill_time_at_half_the_exponentials_worked_by_hand():
    """Llama-3.1-70B, one layer, 4,096 tokens on an H100 SXM, exp_share 0.5: compute = 2 x 64 x 528 x 16,384 x 256 FLOPs
    at 0.622 x 989 TFLOP/s (460.8 us) + 0.5 x 553,648,128 exponentials at 132 x 16 x 1.98 GHz (66.2 us); memory =
    4096 x (64 + 8 + 8 + 64) x 128 x 2 B at 0.708 x 3,350 GB/s (63.7 us); plus 15 us: 542.0 us."""
    row = attn_core("llama-3.1-70b@num_layers=1", with_sdpa("h100-sxm", SDPA_HALF), 1, 4096)
    dots = 2 * 64 * 528 * 16384 * 256 / (0.622 * 989e12)
    exps = 0.5 * 553_648_128 / (132 * 16 * 1.98e9)
    mem = 4096 * (64 + 8 + 8 + 64) * 128 * 2 / (0.708 * 3350e9)
    assert (dots, exps, mem) == pytest.approx((460.8e-6, 66.2e-6, 63.7e-6), abs=0.05e-6)
    assert row.expected_s == pytest.approx(max(mem, dots + exps) + 15e-6)
    assert row.expected_s == pytest.approx(542.0e-6, abs=0.05e-6)


def test_head_dim_64_pays_four_times_the_exponentials_of_256_at_equal_flops():
    """At the same FLOPs (32 x 64 and 8 x 256: 2,048 wide), 64 pays 4x the exponentials: a serial share makes
    it slower than 256 by 0.5 x (4 - 1) x the 256 point's exponential time, and leaves the 0-share times equal."""
    def t(d, h, m):
        model = f"variant-mha@num_layers=1,attention.num_heads={h},attention.head_dim={d}"
        return attn_core(model, with_sdpa("h200", m), 1, 8192).expected_s

    off = replace(SDPA_HALF, exp_share=0.0)
    assert t(64, 32, off) == t(256, 8, off)
    exps256 = 8 * 64 * 65 / 2 * 128 * 128 / (132 * 16 * 1.98e9)    # 64 x 65 / 2 blocks of 128^2 pairs, 8 heads
    assert t(64, 32, SDPA_HALF) - t(256, 8, SDPA_HALF) == pytest.approx(0.5 * 3 * exps256)


@settings(max_examples=40, deadline=None)
@given(model=st.sampled_from(["llama-3.1-8b@num_layers=2", "deepseek-v2-lite@num_layers=2", "gpt-oss-20b@num_layers=2",
                              "variant-mha@num_layers=1,attention.head_dim=256", "qwen3-235b-a22b@num_layers=1",
                              "deepseek-v3.2@num_layers=4", "gemma-3-27b@num_layers=2"]),
       gpu=st.sampled_from(["h100-sxm", "h200", "h20", "a100-80gb", "mi300x", "b200", "l40s"]),
       batch=st.integers(1, 8), prompt=st.integers(1, 20000))
def test_a_zero_share_prices_prefill_as_the_matmul_only_model_to_the_bit(model, gpu, batch, prompt):
    """exp_share 0 (the defaults' until the H200 refit, which measured 0.85; here the defaults with the share set to
    0): the attention core's expected time is the former formula's, other_s of its FLOPs times the causal waste,
    exactly."""
    assert DEFAULTS["sdpa"].exp_share == 0.85
    m = replace(DEFAULTS["sdpa"], exp_share=0.0)
    hw = with_sdpa(gpu, m)
    row = attn_core(model, hw, batch, prompt)
    before = other_s(row.op.flops * causal_tile_waste(prompt), row.op.bytes, row.op.launches, hw, m, row.peak_flops_s)
    assert row.expected_s == max(before, row.time_s)
    assert prefill_attention_s(row.op.flops, row.op.exps, row.op.bytes, row.op.launches, prompt, hw, m,
                               row.peak_flops_s) == before


def test_decode_is_not_priced_by_the_prefill_share():
    hw = with_sdpa("h200", replace(SDPA_HALF, exp_share=1.0))
    spec = load_spec("llama-3.1-8b@num_layers=1")
    step = Step("decode", 8, 4096)
    a = roofline(spec, hw, step, Parallelism()).op("attn_core").expected_s
    b = roofline(spec, load_hardware("h200"), step, Parallelism()).op("attn_core").expected_s
    assert a == b


def test_the_share_is_a_fraction():
    base = {"name": "c", "memory_gib": 80, "mem_bandwidth_gb_s": 4000, "bf16_tflops": 800, "interconnect_gb_s": 100}
    ok = hardware_from_dict({**base, "kernels": {"sdpa": {"mma_eff": 0.8, "exp_share": 0.35}}}, "c")
    assert dict(ok.kernels)["sdpa"].exp_share == 0.35
    for bad in (1.5, -0.1, "half", float("inf")):
        with pytest.raises(mlacalc.SpecError, match="kernels.sdpa.exp_share"):
            hardware_from_dict({**base, "kernels": {"sdpa": {"exp_share": bad}}}, "c")


# --- the boost clock field -------------------------------------------------------------------------------------------

BASE = {"name": "x", "memory_gib": 80, "mem_bandwidth_gb_s": 1000, "bf16_tflops": 100, "interconnect_gb_s": 1}


def test_boost_clock_is_optional_positive_gigahertz():
    assert hardware_from_dict(dict(BASE), "x").boost_clock_ghz == 0.0
    assert hardware_from_dict({**BASE, "boost_clock_ghz": 1.755}, "x").boost_clock_ghz == 1.755
    for bad, words in ((0, "between 0.1 and 10 GHz"), (-1.98, "at least 0"), (1980, "not 1980 MHz"),
                       ("1.98 GHz", "expected a number"), (True, "expected a number"), (float("nan"), "finite")):
        with pytest.raises(mlacalc.SpecError, match="boost_clock_ghz") as e:
            hardware_from_dict({**BASE, "boost_clock_ghz": bad}, "x.yaml")
        assert words in str(e.value) and "\n" not in str(e.value)


def test_a_spec_without_a_clock_survives_the_api_round_trip():
    """Hardware.to_dict leaves a missing clock out (0 is refused in a file): the API's check of a Hardware built in
    Python loaded it back and refused it."""
    from mlacalc.api import _gpu

    hw = hardware_from_dict({**BASE, "sms": 132, "arch": "sm_90"}, "x")
    assert "boost_clock_ghz" not in hw.to_dict() and _gpu(hw) is hw
    assert hardware_from_dict(load_hardware("h200").to_dict(), "h200").boost_clock_ghz == 1.98



def test_a_spec_without_an_arch_survives_the_api_round_trip():
    """A hardware file may leave arch out (unknown: taken as a Hopper), but Hardware.to_dict wrote arch "" and the
    API's check (mlacalc.api._gpu) refused that Hardware: "arch: expected a compute capability like sm_90"."""
    from mlacalc import api

    hw = hardware_from_dict(dict(BASE), "x")
    assert hw.arch == "" and "arch" not in hw.to_dict() and api._gpu(hw) is hw
    assert api.roofline("llama-3.1-8b", hw).ops
    assert hardware_from_dict(load_hardware("h200").to_dict(), "h200").arch == "sm_90"

def test_bad_clock_from_the_cli_is_one_line(tmp_path, capsys):
    from helpers import refused

    p = tmp_path / "gpu.yaml"
    p.write_text("name: x\nmemory_gib: 80\nmem_bandwidth_gb_s: 1000\nbf16_tflops: 100\ninterconnect_gb_s: 1\n"
                 "boost_clock_ghz: 1980\n")
    refused(capsys, "roofline", "llama-3.1-8b", "--phase", "prefill", "--gpu", str(p), words="boost_clock_ghz")


@pytest.mark.parametrize("name", hardware_names())
def test_every_built_in_card_gives_its_clock_and_where_it_comes_from(name):
    from importlib import resources

    hw = load_hardware(name)
    assert 1.3 <= hw.boost_clock_ghz <= 2.7
    line = next(x for x in resources.files("mlacalc.model_specs.hardware").joinpath(f"{name}.yaml").read_text()
                .splitlines() if x.startswith("boost_clock_ghz:"))
    assert "#" in line and len(line.split("#", 1)[1].strip()) > 30       # a source or a derivation, stated


def test_the_clocks_match_the_cards_fp32_rates():
    """NVIDIA and AMD quote non-tensor FP32 at the boost clock: SMs x lanes x 2 x clock is each file's fp32_tflops
    within 1% (A100/A800 64 FP32 lanes an SM, every other card 128; AMD CDNA 3/4 256 FLOPs a clock a CU)."""
    for name in hardware_names():
        hw = load_hardware(name)
        lanes = 64 if hw.arch == "sm_80" else 128
        assert hw.sms * lanes * 2 * hw.boost_clock_ghz * 1e9 == pytest.approx(hw.fp32_tflops * 1e12, rel=0.01), name


def test_calibrate_writes_nvmls_maximum_sm_clock():
    from mlacalc.profiler.calibrate import Calibration, max_clock_ghz

    assert max_clock_ghz(1980) == 1.98 and max_clock_ghz(None) == 0.0 and max_clock_ghz(0) == 0.0
    cal = Calibration(name="g", memory_bytes=2**30, mem_bandwidth_gb_s=1000, bf16_tflops=100, fp16_tflops=100,
                      fp8_tflops=0, fp32_tflops=10, interconnect_gb_s=1, spreads_pct={}, notes="")
    assert "boost_clock_ghz" not in cal.hardware_dict()
    d = replace(cal, boost_clock_ghz=1.98).hardware_dict()
    assert d["boost_clock_ghz"] == 1.98 and hardware_from_dict(d, "g").boost_clock_ghz == 1.98


# --- the calibration -------------------------------------------------------------------------------------------------

def h200_measured():
    return replace(load_hardware("h200"), bf16_tflops=793.6, fp16_tflops=760.0)


def synthetic(points, truth: KernelModel, hw) -> list[dict]:
    """Records whose measured times are ``truth``'s expected times."""
    from mlacalc.profiler.kernel_calibration import prefill_inputs

    out = []
    for model, b, s in points:
        r = dict(model=model, batch=b, context=s, layers=2)
        x = prefill_inputs(r, hw)
        r["measured_s"] = prefill_attention_s(x.flops, x.exps, x.nbytes, x.launches, x.prompt, hw, truth,
                                              hw.flops_per_s(16))
        out.append(r)
    return out


def test_the_prefill_points_span_head_dims_64_128_256_and_mla():
    from mlacalc.profiler.kernel_calibration import PREFILL_POINTS, prefill_dims, prefill_inputs

    hw = load_hardware("h200")
    xs = [prefill_inputs(dict(model=m, batch=b, context=s, layers=2), hw) for m, b, s in PREFILL_POINTS]
    assert prefill_dims(xs) == {4 * 64, 4 * 128, 4 * 256, 2 * (192 + 128)}
    for m, _, _ in PREFILL_POINTS:     # no window, no top-k: SDPA runs the whole causal prompt the FLOPs count
        a = load_spec(m).attention
        assert a.sliding_window is None and a.chunk_size is None and a.index_topk is None


def test_no_prefill_calibration_point_is_a_validation_point():
    from mlacalc.profiler.kernel_calibration import PREFILL_POINTS
    from mlacalc.profiler.validate import expected_suite

    held = {(p.model, p.batch, p.context) for p in expected_suite() if p.phase == "prefill"}
    assert held and not held & {tuple(p) for p in PREFILL_POINTS}


def test_the_calibration_specs_stay_out_of_the_zoo():
    """The head-dim points are overrides of a zoo spec, not specs of their own: `mlacalc specs list` is unchanged."""
    from mlacalc.profiler.kernel_calibration import PREFILL_HEAD_DIM_64, PREFILL_HEAD_DIM_256
    from mlacalc.spec import builtin_names

    assert all("@" in m for m in (PREFILL_HEAD_DIM_64, PREFILL_HEAD_DIM_256))
    assert not [n for n in builtin_names() if "head-dim" in n or "calib" in n]
    assert load_spec(PREFILL_HEAD_DIM_64).attention.v_head_dim == 64
    assert load_spec(PREFILL_HEAD_DIM_256).attention.v_head_dim == 256


def test_the_prefill_fit_recovers_a_known_share():
    from mlacalc.profiler.kernel_calibration import PREFILL_POINTS, fit_prefill

    hw = replace(h200_measured(), boost_clock_ghz=1.98)
    truth = replace(DEFAULTS["other"], mma_eff=0.85, fixed_us=12.5, exp_share=0.45)
    recs = synthetic(PREFILL_POINTS, truth, hw)
    m, err, names = fit_prefill(recs, hw)
    assert names == ("mma_eff", "fixed_us", "exp_share")
    assert (m.mma_eff, m.fixed_us, m.exp_share) == pytest.approx((0.85, 12.5, 0.45))
    assert err < 1e-6 and all(r["fitted_s"] == pytest.approx(r["measured_s"]) for r in recs)



def test_two_head_dims_are_enough_to_fit_the_share():
    """Points at head dims 128 (Llama-3.1-8B: 512 FLOPs an exponential) and 64 (256) alone tell the share from the
    matmul rate: it is fitted, and recovered."""
    from mlacalc.profiler.kernel_calibration import PREFILL_HEAD_DIM_64, fit_prefill

    hw = replace(h200_measured(), boost_clock_ghz=1.98)
    truth = replace(DEFAULTS["other"], mma_eff=0.85, fixed_us=12.5, exp_share=0.45)
    pts = [("llama-3.1-8b", 2, 6144), ("llama-3.1-8b", 12, 1536), (PREFILL_HEAD_DIM_64, 2, 6144),
           (PREFILL_HEAD_DIM_64, 12, 1536)]
    m, err, names = fit_prefill(synthetic(pts, truth, hw), hw)
    assert names == ("mma_eff", "fixed_us", "exp_share")
    assert (m.mma_eff, m.fixed_us, m.exp_share) == pytest.approx((0.85, 12.5, 0.45)) and err < 1e-6

def test_one_head_dim_fits_no_share():
    """Points of one FLOPs-per-exponential ratio (the old grid's Llama points) cannot tell the share from the matmul
    rate: it is not fitted, and stays 0."""
    from mlacalc.profiler.kernel_calibration import fit_prefill

    hw = replace(h200_measured(), boost_clock_ghz=1.98)
    pts = [("llama-3.1-8b", 2, 6144), ("llama-3.1-8b", 4, 3072), ("llama-3.1-8b", 1, 12288)]
    m, _, names = fit_prefill(synthetic(pts, replace(DEFAULTS["other"], mma_eff=0.8, fixed_us=15.0), hw), hw)
    assert names == ("mma_eff", "fixed_us") and m.exp_share == 0.0


def test_prefill_points_are_measured_through_profile_point(monkeypatch):
    """measure_prefill_points (the calibration's and bench/prefill_headdim.py's) runs each point through
    profile_point as SDPA prefill over 2 layers, and records what the fit and the lab file need."""
    from mlacalc.profiler import kernel_calibration as kc
    from mlacalc.profiler import run

    seen = []

    def fake(cfg, hw, flusher=None):
        seen.append(cfg)
        return {"status": "ok", "latency": {"median": 1e-3},
                "predicted": {"attn_core": {"flops": 2.0, "exps": 1.0, "bytes": 3.0, "expected_s": 9e-4}},
                "kernels": [{"name": "flash_fwd"}, {"name": "x"}, {"name": "y"}, {"name": "z"}]}

    monkeypatch.setattr(run, "profile_point", fake)
    recs = kc.measure_prefill_points(load_hardware("h200"), breakdown=True, log=lambda s: None)
    assert [(c.model, c.batch, c.context) for c in seen] == list(kc.PREFILL_POINTS)
    assert {(c.phase, c.kernel, c.layers, c.calibration) for c in seen} == {("prefill", "sdpa", 2, True)}
    assert recs[0]["measured_s"] == 1e-3 and recs[0]["exps"] == 1.0 and recs[0]["kernels"] == ["flash_fwd", "x", "y"]


def test_the_lab_script_needs_a_gpu(capsys, monkeypatch):
    import torch

    from helpers import bench_module

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("sys.argv", ["prefill_headdim.py", "--out", "/nonexistent/x"])
    code = bench_module("prefill_headdim").main()
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "CUDA GPU" in err


def test_fit_expected_refits_the_prefill_model_from_a_lab_file(tmp_path, capsys, monkeypatch):
    """bench/fit_expected.py --sdpa: the lab file's points plus the calibration's sdpa points it did not measure,
    fitted jointly; the written file holds the refit sdpa coefficients and the lab file's clock, the rest kept."""
    import yaml

    from helpers import bench_module
    from mlacalc.profiler.kernel_calibration import PREFILL_POINTS

    hw_file = tmp_path / "h200.yaml"
    hw_file.write_text(yaml.safe_dump({"name": "H200 (measured)", "memory_gib": 140, "mem_bandwidth_gb_s": 4250.9,
                                       "bf16_tflops": 793.6, "interconnect_gb_s": 450, "sms": 132, "arch": "sm_90",
                                       "notes": "measured.",
                                       "kernels": {"gemm": {"mma_eff": 0.9}, "sdpa": {"mma_eff": 0.775}}}))
    clocked = replace(load_hardware(str(hw_file)), boost_clock_ghz=1.98)
    truth = replace(DEFAULTS["other"], mma_eff=0.85, fixed_us=12.5, exp_share=0.45)
    lab = synthetic(PREFILL_POINTS[1:], truth, clocked)              # the lab file lacks the first point ...
    old = synthetic(PREFILL_POINTS[:2], truth, clocked)              # ... which the calibration has
    old[1]["measured_s"] *= 1.3                                      # a point in both: the lab file's counts
    (tmp_path / "lab.json").write_text(json.dumps({"boost_clock_ghz": 1.98, "points": lab}))
    (tmp_path / "cal.json").write_text(json.dumps(
        {"calibration_points": [dict(r, backend="sdpa") for r in old] + [{"backend": "auto", "model": "x"}]}))
    mod = bench_module("fit_expected")
    out = tmp_path / "out.yaml"
    monkeypatch.setattr("sys.argv", ["fit_expected.py", "--sdpa", str(tmp_path / "lab.json"),
                                     str(tmp_path / "cal.json"), str(hw_file), "--write", str(out)])
    mod.main()
    text = capsys.readouterr().out
    assert "1.98 GHz, NVML's maximum SM clock" in text and "rms log error 0.000" in text
    written = load_hardware(str(out))
    sdpa = dict(written.kernels)["sdpa"]
    assert (sdpa.mma_eff, sdpa.fixed_us, sdpa.exp_share) == pytest.approx((0.85, 12.5, 0.45))
    assert dict(written.kernels)["gemm"].mma_eff == 0.9 and written.boost_clock_ghz == 1.98
    assert "fit_expected.py --sdpa lab.json cal.json h200.yaml --write out.yaml" in written_notes(out)


def written_notes(path) -> str:
    import yaml

    return yaml.safe_load(path.read_text())["notes"]


@pytest.mark.parametrize("argv, words", [
    (["--sdpa"], "--sdpa takes a value"),
    (["--sdpa", "lab.json", "cal.json"], "usage: python bench/fit_expected.py --sdpa PREFILL.json"),
    (["--sdpa", "lab.json", "cal.json", "hw.yaml", "--only", "mma_eff"], "--only applies to the decode refit"),
    (["--sdpa", "nope.json", "cal.json", "h200"], "FileNotFoundError"),
])
def test_fit_expected_sdpa_usage_errors_are_one_line(capsys, monkeypatch, argv, words):
    from helpers import assert_one_line_usage_error

    assert_one_line_usage_error(capsys, monkeypatch, "fit_expected", argv, words)


@pytest.mark.parametrize("lab, cal, words", [
    ("{bad", "{}", "JSONDecodeError"),
    ('{"points": [{"model": "llama-3.1-8b"}]}', "{}", "a point without model, batch, context, measured_s"),
    ('{"points": []}', "{}", "no points"),
    ('{"points": [{"model": "llama-3.1-8b", "batch": 1, "context": 4096, "measured_s": 0.001}]}', "[1, 2]",
     "cal.json: expected a JSON object"),
])
def test_fit_expected_sdpa_malformed_files_are_one_line(tmp_path, capsys, monkeypatch, lab, cal, words):
    """A malformed lab or calibration file ended in a KeyError or AttributeError traceback."""
    from helpers import assert_one_line_usage_error

    (tmp_path / "lab.json").write_text(lab)
    (tmp_path / "cal.json").write_text(cal)
    assert_one_line_usage_error(capsys, monkeypatch, "fit_expected",
                                ["--sdpa", str(tmp_path / "lab.json"), str(tmp_path / "cal.json"), "h200"], words)


def test_defaults_carry_the_share_over_by_the_sfu_rates(tmp_path, capsys, monkeypatch):
    """bench/defaults_from_calibration.py: a calibrated file without a clock (exponentials at 793.6e12 x 16 / 4,096)
    against the datasheet spec's 132 x 16 x 1.98 GHz: the share grows by their ratio, so the exponentials cost the
    same time on both."""
    import yaml

    from helpers import bench_module

    p = tmp_path / "cal.yaml"
    p.write_text(yaml.safe_dump({"name": "H200 (measured)", "memory_gib": 140, "mem_bandwidth_gb_s": 4250.9,
                                 "bf16_tflops": 793.6, "interconnect_gb_s": 450, "sms": 132, "arch": "sm_90",
                                 "kernels": {"sdpa": {"mma_eff": 0.8, "exp_share": 0.4}}}))
    monkeypatch.setattr("sys.argv", ["defaults_from_calibration.py", str(p), "h200"])
    bench_module("defaults_from_calibration").main()
    out = capsys.readouterr().out
    ratio = 132 * 16 * 1.98e9 / (793.6e12 * 16 / 4096)
    assert f"exp_share={round(0.4 * ratio, 3)!r}" in out


def test_the_lab_script_writes_every_point_as_it_lands(tmp_path, monkeypatch, capsys):
    """bench/prefill_headdim.py on a (stand-in) GPU: every PREFILL_POINTS point through measure_prefill_points, the
    JSON rewritten after each, with the GPU, torch, versions, NVML's clock and the points the refit reads."""
    import torch

    from helpers import bench_module
    from mlacalc.profiler import device, kernel_calibration, timing
    from mlacalc.profiler.device import DeviceInfo

    calls = []

    def fake_measure(hw, points=None, **kw):
        calls.append((list(points), kw["breakdown"], kw["reps"]))
        (m, b, s), = points
        return [{"model": m, "batch": b, "context": s, "layers": 2, "measured_s": 1e-3, "exps": 1.0}]

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA H200")
    monkeypatch.setattr(device, "device_info", lambda i=0: DeviceInfo(0, "NVIDIA H200", 2**37, max_sm_clock_mhz=1980))
    monkeypatch.setattr(timing, "L2Flusher", lambda *a: None)
    monkeypatch.setattr(kernel_calibration, "measure_prefill_points", fake_measure)
    monkeypatch.setattr("sys.argv", ["prefill_headdim.py", "--out", str(tmp_path)])
    assert bench_module("prefill_headdim").main() == 0
    data = json.loads((tmp_path / "prefill_headdim.json").read_text())
    assert [c[0][0] for c in calls] == list(kernel_calibration.PREFILL_POINTS)
    assert all(c[1] is True and c[2] == 20 for c in calls)
    assert data["gpu"] == "NVIDIA H200" and data["boost_clock_ghz"] == 1.98 and data["spec"] == "NVIDIA H200"
    assert {"torch", "versions", "device", "points"} <= set(data)
    assert [(p["model"], p["batch"], p["context"]) for p in data["points"]] == list(kernel_calibration.PREFILL_POINTS)


def test_fit_expected_writes_a_refit_over_a_built_in_card(tmp_path, capsys):
    """bench/fit_expected.py --write over a built-in card's name (h100-sxm, or an alias as --gpu takes): its YAML
    under model_specs/hardware, which has no ``kernels`` of its own, gets the refit backends (this session's H100
    refit: reports/h100/tuning/h100-sxm_refit_session_cg.yaml); a KeyError and a 'cannot read' before."""
    from helpers import bench_module
    from mlacalc.expected import KernelModel

    mod = bench_module("fit_expected")
    assert mod.builtin_file("H100").name == "h100-sxm.yaml" and mod.builtin_file("h100-sxm").is_file()
    assert mod.builtin_file("no-such.yaml").name == "no-such.yaml"       # not a built-in: taken as given
    out = tmp_path / "refit.yaml"
    mod.write_refit("h100", {"auto": KernelModel(bandwidth_eff=0.875)}, str(out))
    written = load_hardware(str(out))
    assert dict(written.kernels)["auto"].bandwidth_eff == 0.875
    assert written.sms == 132 and written.mem_bandwidth_gb_s == 3350     # the datasheet card's own figures, kept
    assert "wrote" in capsys.readouterr().out
