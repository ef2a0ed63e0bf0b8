"""Roofline: FLOPs and bytes of one step pinned against numbers worked out by hand for tiny specs."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings, strategies as st

from mlacalc.cli import main
from mlacalc.errors import SpecError
from mlacalc.hardware import hardware_from_dict, load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.step import Step, attention_span, roofline, step_ops, touched_experts
from mlacalc.spec import load_spec, spec_from_dict

# A toy MHA model: 2 layers, d=64, 4 heads of 16, gated FFN 128, vocab 100, bf16 everywhere.
MHA = {"name": "toy-mha", "num_layers": 2, "hidden_size": 64, "vocab_size": 100,
       "attention": {"kind": "mha", "num_heads": 4, "head_dim": 16},
       "ffn": {"kind": "dense", "intermediate_size": 128}}
# A toy MLA model: 1 layer, 4 heads, q rank 32, latent 16, nope 8, rope 4, v 8.
MLA = {"name": "toy-mla", "num_layers": 1, "hidden_size": 64, "vocab_size": 100,
       "attention": {"kind": "mla", "num_heads": 4, "q_lora_rank": 32, "kv_lora_rank": 16,
                     "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8},
       "ffn": {"kind": "dense", "intermediate_size": 128}}
TOY_GPU = hardware_from_dict({"name": "toy", "memory_gib": 1, "mem_bandwidth_gb_s": 1000, "bf16_tflops": 100,
                              "fp32_tflops": 10, "interconnect_gb_s": 100}, "toy")


def ops_by_name(spec, step, parallel=Parallelism(), **kw):
    return {o.name: o for o in step_ops(spec, step, parallel, **kw)}


def test_mha_decode_flops_and_bytes_by_hand():
    ops = ops_by_name(spec_from_dict(MHA), Step("decode", batch=2, context=10))
    # q, k, v projections: T=2 tokens, 64 -> 4x16 + 4x16 + 4x16 = 192 outputs, 2 layers
    assert ops["qkv_proj"].flops == 2 * 2 * 64 * 192 * 2
    assert ops["qkv_proj"].weight_bytes == 64 * 192 * 2 * 2          # bf16, 2 layers
    assert ops["qkv_proj"].act_bytes == 2 * (64 + 192) * 2 * 2       # input and output once
    # attention core: the new token attends 10 cached + itself = 11 keys, 2 layers -> 22 pairs per sequence
    assert ops["attn_core"].flops == 2 * 2 * 4 * 22 * (16 + 16)      # scores (d_k=16) + weighted values (d_v=16)
    assert ops["attn_core"].kv_bytes == 2 * 22 * (4 * 16 * 2) * 2    # K and V of 11 tokens x 2 layers, bf16
    assert ops["attn_core"].act_bytes == 2 * 2 * 4 * (16 + 16) * 2   # q in, out out, per token-layer
    assert ops["kv_write"].kv_bytes == 2 * 2 * (4 * 16 * 2) * 2      # one new token per sequence per layer
    assert ops["o_proj"].flops == 2 * 2 * 64 * 64 * 2
    assert ops["ffn"].flops == 2 * 2 * 3 * 64 * 128 * 2              # gate, up, down
    assert ops["ffn"].weight_bytes == 3 * 64 * 128 * 2 * 2
    assert ops["lm_head"].flops == 2 * 2 * 64 * 100                  # one logit row per sequence
    assert ops["norms"].flops == 4 * 2 * (2 * 64 * 2 + 64)           # 2 norms/layer + final, 4 FLOPs/element
    assert "comm" not in ops


def test_prefill_attention_is_causal_half():
    ops = ops_by_name(spec_from_dict(MHA), Step("prefill", batch=1, context=8))
    pairs = 8 * 9 // 2 * 2                                           # token i attends i+1 keys; 2 layers
    assert ops["attn_core"].flops == 2 * 1 * 4 * pairs * 32
    assert ops["lm_head"].flops == 2 * 1 * 64 * 100                  # logits for the last prompt token only


def test_sliding_window_caps_attended_keys():
    spec = spec_from_dict({**MHA, "attention": {**MHA["attention"], "sliding_window": 4}})
    # decode over 10 cached tokens: 4 keys per layer
    assert attention_span(spec, prior=10, new=1) == (4 * 2, 4 * 2)
    # prefill of 8: min(t, 4) for t = 1..8 = 1+2+3+4*5 = 26 pairs per layer; every token's K/V read once
    assert attention_span(spec, prior=0, new=8) == (26 * 2, 8 * 2)


def test_mla_absorbed_and_decompressed_differ_by_the_algebra():
    spec = spec_from_dict(MLA)
    step = Step("decode", batch=1, context=9)                        # 10 keys attended
    ab = ops_by_name(spec, step, mla_form="absorbed")
    de = ops_by_name(spec, step, mla_form="decompressed")
    H, dc, dr, dn, dv, keys = 4, 16, 4, 8, 8, 10
    assert ab["q_absorb"].flops == 2 * H * dn * dc                   # W_UK folded into the query
    assert ab["attn_core"].flops == 2 * H * keys * ((dc + dr) + dc)  # scores over latent+rope, values = latent
    assert ab["v_up"].flops == 2 * H * dc * dv                       # W_UV after attention
    assert ab["attn_core"].kv_bytes == keys * (dc + dr) * 2          # the shared latent cache, read once
    assert de["kv_up"].flops == 2 * keys * dc * H * (dn + dv)        # decompress every cached token
    assert de["attn_core"].flops == 2 * H * keys * ((dn + dr) + dv)
    # same projections either side of the attention, same output width into o_proj
    for name in ("q_down", "q_up", "kv_down", "o_proj"):
        assert ab[name] == de[name]
    assert ab["v_up"].out_width == de["attn_core"].out_width == H * dv
    absorbed = ab["q_absorb"].flops + ab["attn_core"].flops + ab["v_up"].flops
    decompressed = de["kv_up"].flops + de["attn_core"].flops
    assert decompressed - absorbed == (2 * keys * dc * H * (dn + dv) + 2 * H * keys * (dn + dr + dv)
                                       - 2 * H * dn * dc - 2 * H * keys * (2 * dc + dr) - 2 * H * dc * dv)


def test_mla_defaults_absorbed_in_decode_decompressed_in_prefill():
    spec = spec_from_dict(MLA)
    assert "q_absorb" in ops_by_name(spec, Step("decode", 1, 16))
    assert "kv_up" in ops_by_name(spec, Step("prefill", 1, 16))
    with pytest.raises(SpecError):
        step_ops(spec, Step("decode", 1, 16), mla_form="folded")


def test_tp_splits_heads_but_every_rank_reads_the_whole_mla_latent():
    spec = spec_from_dict(MLA)
    one = ops_by_name(spec, Step("decode", 2, 9))
    two = ops_by_name(spec, Step("decode", 2, 9), Parallelism(tp=2))
    assert two["attn_core"].flops == one["attn_core"].flops / 2
    assert two["attn_core"].kv_bytes == one["attn_core"].kv_bytes    # latent belongs to no head
    assert two["kv_down"] == one["kv_down"]                          # replicated down projection
    assert two["q_up"].flops == one["q_up"].flops / 2
    # two all-reduces per layer of T x d bf16, ring: each rank sends 2 (n-1)/n of it
    assert two["comm"].comm_bytes == 1 * 2 * (2 * (1 / 2) * 2 * 64 * 2)


def test_dp_attention_splits_sequences_not_heads():
    spec = spec_from_dict(MLA)
    dp = ops_by_name(spec, Step("decode", 4, 9), Parallelism(tp=2, dp_attention=True))
    one = ops_by_name(spec, Step("decode", 2, 9))
    assert dp["attn_core"] == one["attn_core"]                       # 2 sequences, all heads
    assert dp["q_up"] == one["q_up"]


def test_moe_experts_touched_by_the_batch():
    spec = spec_from_dict({**MHA, "ffn": {"kind": "moe", "intermediate_size": 128, "num_experts": 8,
                                          "experts_per_token": 2, "expert_intermediate_size": 32}})
    ops = ops_by_name(spec, Step("decode", batch=3, context=4))
    touched = 8 * (1 - (1 - 2 / 8) ** 3)                             # 3 tokens, top-2 of 8
    assert ops["experts"].weight_bytes == pytest.approx(touched * 3 * 64 * 32 * 2 * 2)
    assert ops["experts"].flops == 2 * 3 * 2 * 3 * 64 * 32 * 2       # T k 3 d f_e, 2 layers
    assert ops["router"].flops == 2 * 3 * 64 * 8 * 2


@pytest.mark.parametrize("E,k,T", [(8, 2, 3), (64, 6, 10), (256, 8, 32)])
def test_touched_experts_matches_a_simulation(E, k, T):
    rng = random.Random(1234)
    trials = 4000
    mean = sum(len({e for _ in range(T) for e in rng.sample(range(E), k)}) for _ in range(trials)) / trials
    assert touched_experts(E, k, T) == pytest.approx(mean, rel=0.01)


def test_roofline_time_is_the_larger_of_compute_and_memory():
    r = roofline(spec_from_dict(MHA), TOY_GPU, Step("decode", 2, 10))
    for t in r.ops:
        o = t.op
        peak = 10e12 if o.kind in ("vector", "memory") else 100e12
        assert t.time_s == pytest.approx(max(o.flops / peak, o.bytes / 1000e9))
    assert r.time_s == pytest.approx(sum(t.time_s for t in r.ops))
    assert r.tokens_per_s == pytest.approx(2 / r.time_s)


@settings(max_examples=60, deadline=None)
@given(b=st.integers(1, 512), c=st.integers(1, 1 << 17), q=st.integers(1, 8))
def test_totals_are_sums_and_more_context_never_costs_less(b, c, q):
    spec = load_spec("deepseek-v2-lite")
    hw = load_hardware("h100-sxm")
    r = roofline(spec, hw, Step("decode", b, c, q), analyse_attention=False)
    r2 = roofline(spec, hw, Step("decode", b, c + 1, q), analyse_attention=False)
    assert r.total_flops == pytest.approx(sum(t.op.flops for t in r.ops))
    assert r.total_bytes == pytest.approx(sum(t.op.weight_bytes + t.op.act_bytes + t.op.kv_bytes for t in r.ops))
    assert r2.time_s >= r.time_s
    assert touched_experts(64, 6, b * q) <= min(64, b * q * 6) + 1e-9


def test_mla_decode_crosses_the_ridge_with_heads_and_q_tokens():
    spec, hw = load_spec("deepseek-v3"), load_hardware("h100-sxm")
    # absorbed, per layer: FLOPs 2 H keys (2*512 + 64) over 8193 keys; bytes: the latent+rope cache of 8193 keys
    # at 2 bytes plus the query in and output out (H (576 + 512) bf16). I ~ 1.89 H q; ridge 989/3.35 = 295 FLOP/B
    full = roofline(spec, hw, Step("decode", 1, 8192)).attn
    assert full.intensity == pytest.approx(2 * 128 * 8193 * (2 * 512 + 64) / (8193 * 576 * 2 + 128 * 1088 * 2))
    assert full.bound == "memory" and full.q_tokens_for_compute_bound == 2
    assert roofline(spec, hw, Step("decode", 1, 8192, q_tokens=2)).attn.bound == "compute"
    # fp8 cache halves the bytes: compute-bound at q = 1
    assert roofline(spec, hw, Step("decode", 1, 8192), kv_bits=8).attn.bound == "compute"
    # TP=8 leaves 16 heads per GPU, each reading the whole latent: memory-bound again
    assert roofline(spec, hw, Step("decode", 1, 8192), Parallelism(tp=8)).attn.bound == "memory"
    # batch does not move attention intensity
    assert roofline(spec, hw, Step("decode", 64, 8192)).attn.intensity == pytest.approx(full.intensity)
    # GQA (Llama 3.1 8B, 4 query heads per KV head): 2 * 4 * 256 / (256 * 2) = 4 FLOP/B
    gqa = roofline(load_spec("llama-3.1-8b"), hw, Step("decode", 1, 8192)).attn
    assert gqa.intensity == pytest.approx(4, rel=0.01) and gqa.bound == "memory"


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_cli_json_contract(capsys):
    code, out, _ = run_cli(["roofline", "deepseek-v2-lite", "--phase", "decode", "--batch", "8", "--context", "4k",
                            "--gpu", "h100-sxm", "--json"], capsys)
    assert code == 0
    d = json.loads(out)
    assert {"name", "flops", "bytes", "intensity", "time_s", "bound"} <= set(d["ops"][0])
    assert {"flops", "bytes", "time_s"} <= set(d["total"])
    core = next(o for o in d["ops"] if o["name"] == "attn_core")
    assert core["flops"] > 0 and core["bound"] in ("memory", "compute")
    assert d["total"]["time_s"] == pytest.approx(sum(o["time_s"] for o in d["ops"]))


def test_cli_accepts_a_hardware_file(tmp_path, capsys):
    f = tmp_path / "card.yaml"
    f.write_text("name: measured\nmemory_gib: 80\nmem_bandwidth_gb_s: 2993\nbf16_tflops: 776\n"
                 "interconnect_gb_s: 450\nmeasured: true\n")
    code, out, _ = run_cli(["roofline", "llama-3.1-8b", "--gpu", str(f), "--json"], capsys)
    assert code == 0 and json.loads(out)["gpu"] == "measured"


@pytest.mark.parametrize("args", [["--gpu", "h900"], ["--batch", "-1"], ["--phase", "generate"],
                                  ["--q-tokens", "0"], ["--tp", "3"], ["--mla-form", "x"]])
def test_cli_bad_input_is_one_line_exit_2(args, capsys):
    code, out, err = run_cli(["roofline", "deepseek-v2-lite", *args], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------ launch latency

def test_launch_counts_by_hand():
    # toy MHA, 2 layers. Decode: split-KV + combine per layer; prefill: one attention kernel per layer.
    dec = ops_by_name(spec_from_dict(MHA), Step("decode", batch=2, context=10))
    assert dec["attn_core"].launches == 2 * 2
    assert dec["qkv_proj"].launches == dec["o_proj"].launches == dec["kv_write"].launches == 2
    assert dec["ffn"].launches == 2 * 2                              # gate/up(+SiLU), down per layer
    assert dec["norms"].launches == 2 * 2 + 1                        # two per layer + the final norm
    assert dec["embed"].launches == dec["lm_head"].launches == 1
    assert ops_by_name(spec_from_dict(MHA), Step("prefill", batch=1, context=8))["attn_core"].launches == 2
    # toy MLA, 1 layer: q_down, q_up, kv_down, q_absorb, v_up, kv_write one each; norms: 2 + q and kv latents + final
    mla = ops_by_name(spec_from_dict(MLA), Step("decode", batch=1, context=9))
    assert mla["norms"].launches == 4 * 1 + 1 and mla["q_absorb"].launches == 1 and mla["attn_core"].launches == 2


def test_kernel_launch_us_adds_launches_times_latency_to_each_op():
    # toy MHA decode, batch 2, 10 cached tokens, on TOY_GPU (1000 GB/s) with 5 us per launch.
    # attn_core bytes: K and V 2 seqs x 22 token-layers x (4 heads x 16 x 2) x 2 B = 11264, q in and out
    # 2 x 2 x 4 x 32 x 2 B = 1024 -> 12288 B: 12.288 ns memory-bound, plus 4 launches x 5 us = 20 us.
    spec = spec_from_dict(MHA)
    gpu = hardware_from_dict({"name": "toy", "memory_gib": 1, "mem_bandwidth_gb_s": 1000, "bf16_tflops": 100,
                              "fp32_tflops": 10, "interconnect_gb_s": 100, "kernel_launch_us": 5}, "toy")
    step = Step("decode", batch=2, context=10)
    slow, fast = roofline(spec, gpu, step), roofline(spec, TOY_GPU, step)
    assert slow.op("attn_core").time_s == pytest.approx(12288 / 1e12 + 4 * 5e-6)
    assert fast.op("attn_core").time_s == pytest.approx(12288 / 1e12)
    assert slow.op("attn_core").bound == "memory"
    total_launches = sum(o.op.launches for o in slow.ops)
    assert total_launches == 1 + 2 + 2 + 4 + 2 + 5 + 4 + 1          # embed qkv kv_write attn o_proj norms ffn head
    assert slow.time_s - fast.time_s == pytest.approx(total_launches * 5e-6)


def test_datasheet_specs_have_no_launch_term():
    assert load_hardware("h100-sxm").kernel_launch_us == 0


def test_a_gpu_yaml_without_sms_says_its_expected_time_is_unplanned(tmp_path, capsys):
    """The first sessions' calibrate YAMLs have no SM count: roofline's JSON and caption say the attention core is
    then the unplanned floor and quote no measured accuracy (mlacalc.expected.coefficient_basis)."""
    f = tmp_path / "old.yaml"
    f.write_text("name: old calibrate\nmemory_bytes: 85520809984\nmem_bandwidth_gb_s: 2977.4\nbf16_tflops: 787\n"
                 "fp16_tflops: 755\nfp8_tflops: 1402\nfp32_tflops: 49\ninterconnect_gb_s: 450\n")
    args = ["roofline", "deepseek-v3", "--batch", "32", "--context", "32k", "--gpu", str(f)]
    code, out, _ = run_cli(args + ["--json"], capsys)
    d = json.loads(out)
    assert code == 0 and "no SM count" in d["expected"]["coefficients"]
    assert d["expected"]["attn_core_accuracy"] is None
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "no SM count" in " ".join(out.split()) and "measured on the H200" not in out
