"""Activation memory: saved-tensor lists against hand-worked bytes, Korthikanti et al. 2022 at several points,
and the invariants of recomputation and parallelism."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.activations import (ActivationConfig, latent_vs_expanded, layer_activations, megatron_layer_bytes,
                                 recomputed_tensors, saved_tensors)
from mlacalc.errors import SpecError
from mlacalc.spec import load_spec

from helpers import make_spec
from mlacalc.parallel import Parallelism

MHA = {"kind": "mha", "num_heads": 4, "head_dim": 64}
MLA = {"kind": "mla", "num_heads": 4, "q_lora_rank": 64, "kv_lora_rank": 32, "qk_nope_head_dim": 16,
       "qk_rope_head_dim": 8, "v_head_dim": 16}


def config(**kw):
    """An ActivationConfig with tp/sp/cp given as keywords (they live in its Parallelism); SP on one TP rank is
    the same as no SP."""
    par = {k: kw.pop(k) for k in ("tp", "sp", "cp") if k in kw}
    if par.get("tp", 1) == 1:
        par.pop("sp", None)
    return ActivationConfig(**kw, parallel=Parallelism(**par))


def stored(spec, layer=0, **cfg):
    return sum(t.bytes for t in saved_tensors(spec, layer, config(**cfg)))


# ----------------------------------------------------------------------------------------------- by hand

def test_tiny_mha_layer_by_hand():
    # h=256, 4 heads x 64, gated FFN 512; b=2, s=16 -> T = 32 tokens; bf16 = 2 B, rstd and lse fp32 = 4 B.
    spec = make_spec(MHA)
    T, h, a, d, f = 2 * 16, 256, 4, 64, 512
    norms = 2 * (T * h * 2 + T * 4)                  # attn_norm and ffn_norm: input + rstd
    attention = T * h * 2 + 4 * T * a * d * 2         # q/k/v input; q, k, v, out
    core = 2 * a * 16 * 4                             # log-sum-exp, b x a x s fp32
    ffn = T * h * 2 + 4 * T * f * 2                   # input; gate out, up out, SiLU out, down input
    la = layer_activations(spec, 0, config(micro_batch=2, seq=16))
    assert (la.norms, la.attention, la.attention_core, la.ffn) == (norms, attention, core, ffn)
    assert la.total == norms + attention + core + ffn == 262912


def test_eager_keeps_s_by_s_and_expands_gqa_keys():
    # 8 heads x 32, 2 KV heads; b=1, s=64. Fused: K, V at 2 heads. Eager: repeat_kv copies at 8 heads,
    # probabilities 1 x 8 x 64 x 64 bf16 instead of the 1 x 8 x 64 fp32 log-sum-exp.
    spec = make_spec({"kind": "gqa", "num_heads": 8, "num_kv_heads": 2, "head_dim": 32})
    fused = {t.name: t.bytes for t in saved_tensors(spec, 0, config(micro_batch=1, seq=64))}
    eager = {t.name: t.bytes for t in saved_tensors(spec, 0, config(micro_batch=1, seq=64,
                                                                               kernel="eager"))}
    assert fused["attn.k"] == fused["attn.v"] == 64 * 2 * 32 * 2
    assert eager["attn.k"] == eager["attn.v"] == 64 * 8 * 32 * 2
    assert fused["attn.lse"] == 8 * 64 * 4 and "attn.probs" not in fused
    assert eager["attn.probs"] == 8 * 64 * 64 * 2 and "attn.lse" not in eager


def test_tiny_mla_layer_by_hand():
    # h=256, 4 heads, q_lora 64, kv_lora 32, nope 16 + rope 8, v 16; b=1, s=10 -> T = 10.
    spec = make_spec(MLA)
    T = 10
    mla = (T * 64 * 2 + T * 4 + T * 64 * 2          # c_Q, its rstd, normed c_Q (input of W_UQ)
           + T * (32 + 8) * 2 + T * 4 + T * 32 * 2)  # [c_KV | k_R], its rstd, normed c_KV (input of W_UKV)
    qkv = T * 4 * 24 * 2 * 2 + T * 4 * 16 * 2       # decompressed q, k (24 = 16 + 8) and v
    attention = T * 256 * 2 + qkv + T * 4 * 16 * 2  # + the down projections' input and the output
    cfg = config(micro_batch=1, seq=10)
    la = layer_activations(spec, 0, cfg)
    assert la.mla == mla and la.attention == attention
    lat = layer_activations(spec, 0, replace(cfg, recompute="mla-latent"))
    assert la.total - lat.total == qkv
    assert sum(t.bytes for t in recomputed_tensors(spec, 0, replace(cfg, recompute="mla-latent"))) == qkv


def test_moe_layer_by_hand():
    # 8 experts of width 64, top-2, one shared expert of 64; h=256, b=1, s=8 -> 8 tokens, 16 copies.
    spec = make_spec(MHA, ffn={"kind": "moe", "intermediate_size": 512, "num_experts": 8, "experts_per_token": 2,
                               "num_shared_experts": 1, "expert_intermediate_size": 64})
    la = layer_activations(spec, 0, config(micro_batch=1, seq=8))
    assert la.router == 8 * 8 * 4 + 8 * 2 * 8 + 8 * 2 * 4  # fp32 probs, int64 indices, fp32 weights
    assert la.dispatch == 2 * (16 * 256 * 2)               # dispatch and combine: 16 copies x h
    assert la.experts == 4 * 16 * 64 * 2                   # gate, up, SiLU out, down input per copy
    assert la.ffn == 8 * 256 * 2 + 4 * 8 * 64 * 2          # FFN input; the shared expert


def test_deepseek_v3_latent_vs_expanded():
    # The note: 512-wide latent vs 128 heads x 128 dims (K and V: 64x). Exact for V3: K has 128 + 64 dims per head,
    # V 128, and the kept latent is [c_KV | k_R] = 512 + 64: 128 x 320 / 576 = 71.1x.
    c = latent_vs_expanded(load_spec("deepseek-v3"), config(micro_batch=1, seq=4096))
    assert (c.note_kv, c.note_latent, c.note_ratio) == (2 * 128 * 128, 512, 64.0)
    assert (c.expanded_kv, c.latent) == (128 * (192 + 128), 512 + 64)
    assert round(c.kv_ratio, 1) == 71.1
    # mla-latent drops q, k, v of one layer: 4096 tokens x 128 heads x (192 + 192 + 128) x 2 B = 512 MiB.
    assert c.layer_bytes_none - c.layer_bytes_latent == 4096 * 128 * (192 + 192 + 128) * 2
    assert 1 < c.layer_ratio < c.attn_ratio < c.kv_ratio  # the MoE tensors dilute the saving


# -------------------------------------------------------------------------------- Korthikanti et al. 2022

S, H, A = 2048, 12288, 96  # GPT-3 175B (their Table 3): 5as/h = 5 * 96 * 2048 / 12288 = 80


@pytest.mark.parametrize("t,sp,mode,per_sbh", [
    (1, False, "none", 34 + 80),          # eq. 1
    (8, False, "none", 10 + 24 / 8 + 80 / 8),  # eq. 2: 10 + 3 + 10 = 23
    (8, True, "none", (34 + 80) / 8),     # eq. 3: 14.25
    (8, False, "selective", 10 + 24 / 8),  # Table 2: 13
    (8, True, "selective", 34 / 8),       # Table 2: 4.25
    (8, True, "full", 2),                 # Table 2: 2sbh
])
def test_megatron_table2_gpt3(t, sp, mode, per_sbh):
    sbh = S * 1 * H
    assert megatron_layer_bytes(S, 1, H, A, t, sp, mode) == pytest.approx(per_sbh * sbh)
    spec = make_spec({"kind": "mha", "num_heads": A, "head_dim": 128}, hidden=H)
    assert stored(spec, micro_batch=1, seq=S, tp=t, sp=sp, recompute=mode, kernel="eager",
                  convention="megatron") == pytest.approx(per_sbh * sbh)


@settings(max_examples=60, deadline=None)
@given(s=st.sampled_from([64, 512, 2048]), b=st.integers(1, 4), heads=st.sampled_from([8, 16, 32]),
       t=st.sampled_from([1, 2, 4, 8]), sp=st.booleans(), mode=st.sampled_from(["none", "selective", "full"]))
def test_megatron_itemised_layer_sums_to_table2(s, b, heads, t, sp, mode):
    spec = make_spec({"kind": "mha", "num_heads": heads, "head_dim": 64}, hidden=heads * 64)
    got = stored(spec, micro_batch=b, seq=s, tp=t, sp=sp, recompute=mode, kernel="eager", convention="megatron")
    assert got == pytest.approx(megatron_layer_bytes(s, b, heads * 64, heads, t, sp, mode))


# ------------------------------------------------------------------------------------------- properties

SPECS = [make_spec(MHA), make_spec(MLA), make_spec({"kind": "gqa", "num_heads": 8, "num_kv_heads": 4,
                                                    "head_dim": 32}),
         make_spec(MLA, ffn={"kind": "moe", "intermediate_size": 512, "num_experts": 8, "experts_per_token": 2,
                             "num_shared_experts": 1, "expert_intermediate_size": 64})]


@settings(max_examples=50, deadline=None)
@given(spec=st.sampled_from(SPECS), b=st.integers(1, 8), s=st.sampled_from([8, 64, 256]),
       kernel=st.sampled_from(["fused", "eager"]), mode=st.sampled_from(["none", "selective", "full"]))
def test_activations_are_linear_in_micro_batch(spec, b, s, kernel, mode):
    one = stored(spec, micro_batch=1, seq=s, kernel=kernel, recompute=mode)
    assert stored(spec, micro_batch=b, seq=s, kernel=kernel, recompute=mode) == b * one


@settings(max_examples=50, deadline=None)
@given(spec=st.sampled_from(SPECS), b=st.integers(1, 4), s=st.sampled_from([8, 64, 256]),
       kernel=st.sampled_from(["fused", "eager"]))
def test_stored_full_le_selective_le_none_and_latent_le_none(spec, b, s, kernel):
    by = {m: stored(spec, micro_batch=b, seq=s, kernel=kernel, recompute=m) for m in ("none", "selective", "full")}
    assert by["full"] <= by["selective"] <= by["none"]
    if spec.attention.kind == "mla":
        assert stored(spec, micro_batch=b, seq=s, kernel=kernel, recompute="mla-latent") < by["none"]


@settings(max_examples=30, deadline=None)
@given(heads=st.sampled_from([2, 4, 8]), s=st.sampled_from([8, 32]), kernel=st.sampled_from(["fused", "eager"]))
def test_gqa_with_all_kv_heads_equals_mha(heads, s, kernel):
    mha = make_spec({"kind": "mha", "num_heads": heads, "head_dim": 32})
    gqa = make_spec({"kind": "gqa", "num_heads": heads, "num_kv_heads": heads, "head_dim": 32})
    cfg = config(micro_batch=2, seq=s, kernel=kernel)
    assert saved_tensors(mha, 0, cfg) == saved_tensors(gqa, 0, cfg)


@settings(max_examples=40, deadline=None)
@given(spec=st.sampled_from(SPECS), t=st.sampled_from([2, 4]), kernel=st.sampled_from(["fused", "eager"]),
       mode=st.sampled_from(["none", "selective", "full"]))
def test_tp_with_sp_divides_everything_and_tp_alone_only_split_tensors(spec, t, kernel, mode):
    base = config(micro_batch=2, seq=64, kernel=kernel, recompute=mode)
    one = saved_tensors(spec, 0, base)
    assert stored(spec, micro_batch=2, seq=64, kernel=kernel, recompute=mode, tp=t, sp=True) * t == \
        sum(x.bytes for x in one)
    no_sp = {x.name: x for x in saved_tensors(spec, 0, replace(base, parallel=Parallelism(tp=t)))}
    for x in one:
        expect = x.bytes // t if x.split == "tp" else x.bytes
        assert no_sp[x.name].bytes == expect, x.name


def test_context_parallel_divides_tokens_and_keeps_all_keys_for_eager():
    spec = make_spec(MHA)
    fused = stored(spec, micro_batch=1, seq=64)
    assert stored(spec, micro_batch=1, seq=64, cp=4) * 4 == fused
    probs = {t.name: t for t in saved_tensors(spec, 0, config(micro_batch=1, seq=64, cp=4,
                                                                         kernel="eager"))}["attn.probs"]
    assert probs.dims == (1, 4, 16, 64)


@pytest.mark.parametrize("kwargs,field", [
    ({"recompute": "sometimes"}, "recompute"), ({"kernel": "sdpa"}, "kernel"),
    ({"seq": 10, "cp": 4}, "seq"), ({"seq": 12, "tp": 8, "sp": True}, "seq"), ({"micro_batch": 0}, "micro_batch"),
])
def test_bad_configs_raise_spec_error(kwargs, field):
    with pytest.raises(SpecError) as e:
        config(**({"micro_batch": 1, "seq": 16} | kwargs))
    assert e.value.field == field


def test_mla_latent_needs_mla_and_tp_must_split_heads():
    with pytest.raises(SpecError, match="needs an MLA model"):
        saved_tensors(make_spec(MHA), 0, config(micro_batch=1, seq=8, recompute="mla-latent"))
    with pytest.raises(SpecError, match="num_heads"):
        saved_tensors(make_spec(MHA), 0, config(micro_batch=1, seq=8, tp=3))


# ----------------------------------------------------------------------------------------------- backward

def test_backward_peak_fused_is_the_ffn_product_by_hand():
    # Tiny MHA (h=256, 4 heads x 64, gated FFN f=512); b=8, s=64 -> T = 512 tokens, bf16.
    # ffn.down:    dy (T h 2) + d(down input) (T f 2) + dW_down (h f 2)           = 262144 + 524288 + 262144
    # ffn.product: dy + d(down input), d(SiLU out), d(up out) (3 T f 2), minus the freed down input (T f 2)
    spec = make_spec(MHA)
    from mlacalc.activations import backward_peak, backward_phases

    T, h, f = 8 * 64, 256, 512
    cfg = config(micro_batch=8, seq=64)
    by = {p.name: p for p in backward_phases(spec, 0, cfg)}
    assert sum(t.bytes for t in by["ffn.down"].grads) == T * h * 2 + T * f * 2 + h * f * 2 == 1048576
    pk = backward_peak(spec, 0, cfg)
    assert pk.phase == "ffn.product"
    assert (pk.grads, pk.recomputed, pk.released) == (T * h * 2 + 3 * T * f * 2, 0, -T * f * 2)
    assert pk.total == 262144 + 2 * 524288 == 1310720


def test_backward_peak_eager_is_the_attention_core_by_hand():
    # Same layer, eager attention, b=1, s=1024: P V's backward writes dP, softmax's writes dS (each 4 x 1024 x 1024
    # bf16 = 8 MiB) while d_h, dO, dV (T h 2 each) are alive; the FFN block and its norm are freed by then.
    spec = make_spec(MHA)
    from mlacalc.activations import backward_peak

    T, h, a, f = 1024, 256, 4, 512
    pk = backward_peak(spec, 0, config(micro_batch=1, seq=1024, kernel="eager"))
    assert pk.phase == "attn.core"
    assert pk.grads == 3 * T * h * 2 + 2 * a * T * T * 2 == 18350080
    freed = (T * h * 2 + 4 * T * f * 2) + (T * h * 2 + T * 4)    # ffn.input + 4 FFN tensors; ffn_norm in + rstd
    assert pk.released == -freed and pk.total == 18350080 - 5246976


def test_backward_peak_full_recompute_adds_the_rematerialised_layer():
    # Full recompute: every tensor but the checkpointed input is alive again when the layer's backward starts;
    # at ffn.product the down input is already freed. b=8, s=64 as above: the layer keeps 4206592 bytes.
    spec = make_spec(MHA)
    from mlacalc.activations import backward_peak

    T, h, f = 512, 256, 512
    layer = sum(t.bytes for t in saved_tensors(spec, 0, config(micro_batch=8, seq=64)))
    assert layer == 4206592
    pk = backward_peak(spec, 0, config(micro_batch=8, seq=64, recompute="full"))
    assert pk.phase == "ffn.product" and pk.released == 0
    assert pk.recomputed == layer - T * h * 2 - T * f * 2       # minus the checkpoint and the freed down input
    assert pk.total == T * h * 2 + 3 * T * f * 2 + 3420160 == 5255168


def test_backward_peak_selective_recomputes_the_core_output_at_the_core():
    spec = make_spec(MHA)
    from mlacalc.activations import backward_phases

    phases = backward_phases(spec, 0, config(micro_batch=1, seq=64, recompute="selective"))
    core = next(p for p in phases if p.name == "attn.core")
    assert {t.name for t in core.recomputed} == {"attn.lse", "attn.out.recomputed"}
    assert all(not p.recomputed for p in phases if p.name != "attn.core")


def test_megatron_convention_has_no_backward_phases():
    from mlacalc.activations import backward_peak

    spec = make_spec(MHA)
    assert backward_peak(spec, 0, config(micro_batch=1, seq=64, convention="megatron")).total == 0
