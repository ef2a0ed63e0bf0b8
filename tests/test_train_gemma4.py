"""Training memory of Gemma-4's text decoders (31B dense, 26B-A4B MoE), worked out by hand from the configs
(tests/fixtures/hf/gemma_4_31b, gemma_4_26b_a4b) and what transformers' ``modeling_gemma4.py`` keeps for backward
(``Gemma4TextAttention``, ``Gemma4TextDecoderLayer``, ``Gemma4TextRouter``, ``Gemma4ForCausalLM``).

Per layer (native convention, fused attention, one GPU): every RMSNorm keeps its input (bf16) and an fp32 rstd a row;
each Linear keeps its input; q_norm, k_norm and the weightless v_norm act per head; on a ``v_from_k`` full layer the
value is ``v_norm(k_proj(x))``, whose input is the very tensor k_norm keeps; the kernel keeps q, k, v after their
norms (and RoPE), the fp32 log-sum-exp and its output; the 512-wide full layers run no FlashAttention kernel, so SDPA's
memory-efficient kernel keeps ``repeat_kv``'s copies of K and V at all 32 query heads. The GeGLU MLP keeps its input,
gate and up outputs, the GELU output and the product. ``hidden_states *= layer_scalar`` multiplies by a buffer (no
gradient): it keeps nothing of the activations. bf16: 2 bytes; fp32: 4."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import make_spec, refused
from mlacalc.activations import (ActivationConfig, backward_phases, head_tensors, layer_activations, mtp_tensors,
                                 rope_tensors, saved_tensors)
from mlacalc.errors import SpecError
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec, spec_from_dict
from mlacalc.training import TrainRun, layer_kinds, stage_memory

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
G31, G26 = (str(FIXTURES / n) for n in ("gemma_4_31b", "gemma_4_26b_a4b"))
B, S = 1, 4096
# the 31B's text_config: hidden 5376, MLP 21504, 32 query heads; sliding layers 16 K/V heads of head_dim 256, full
# layers num_global_key_value_heads 4 of global_head_dim 512; vocab 262144
D, F, H, KV_S, HD_S, KV_F, HD_F, V = 5376, 21504, 32, 16, 256, 4, 512, 262_144


def cfg(**kw) -> ActivationConfig:
    return ActivationConfig(micro_batch=kw.pop("b", B), seq=kw.pop("s", S), **kw)


def _names(spec, layer, c):
    return {t.name for t in saved_tensors(spec, layer, c)}


# --- one sliding and one full layer of the 31B, by hand ------------------------------------------------------------

def test_31b_sliding_and_full_layer_bytes_by_hand():
    s31 = load_spec(G31)
    assert (s31.layer_type(0), s31.layer_type(5)) == ("sliding", "full")
    t = B * S                                             # tokens
    norm = t * D * 2 + t * 4                              # one RMSNorm of d: input and fp32 rstd
    sandwich = 4 * norm                                   # input, post_attention, pre/post_feedforward layernorms
    mlp = t * D * 2 + 4 * t * F * 2                       # input; gate, up, GELU out, product

    def head_norm(heads, hd):                             # q_norm / k_norm / v_norm: input and rstd a head
        return t * heads * hd * 2 + t * heads * 4

    # sliding: q_norm, k_norm, v_norm of its own v_proj; q, k, v (16 K/V heads: FA2 keeps them grouped), lse, out
    sliding_attn = (t * D * 2 + head_norm(H, HD_S) + 2 * head_norm(KV_S, HD_S)
                    + t * H * HD_S * 2 + 2 * t * KV_S * HD_S * 2 + H * t * 4 + t * H * HD_S * 2)
    # full: k_norm's input is v_norm's too (v_from_k): v_norm adds its rstd alone; k and v at 32 heads (repeat_kv)
    full_attn = (t * D * 2 + head_norm(H, HD_F) + head_norm(KV_F, HD_F) + t * KV_F * 4
                 + t * H * HD_F * 2 + 2 * t * H * HD_F * 2 + H * t * 4 + t * H * HD_F * 2)
    sliding, full = sandwich + sliding_attn + mlp, sandwich + full_attn + mlp
    assert layer_activations(s31, 0, cfg()).total == sliding == 1_306_066_944       # 1.22 GiB
    assert layer_activations(s31, 5, cfg()).total == full == 1_657_995_264          # 1.54 GiB
    # ... and the stage: 50 sliding, 10 full layers
    stage = stage_memory(s31, TrainRun(micro_batch=B, seq=S))[0]
    assert stage.activations.layers == 50 * sliding + 10 * full
    assert layer_kinds(s31) == {"dense sliding": 0, "dense full": 5}


def test_31b_full_layer_keeps_kv_at_every_query_head_and_the_sliding_layer_at_its_kv_heads():
    s31, c = load_spec(G31), cfg()
    by = lambda layer: {t.name: t for t in saved_tensors(s31, layer, c)}  # noqa: E731
    assert by(0)["attn.k"].dims == by(0)["attn.v"].dims == (B, S, KV_S, HD_S)
    assert by(5)["attn.k"].dims == by(5)["attn.v"].dims == (B, S, H, HD_F)
    assert by(5)["attn.k_norm.input"].dims == (B, S, KV_F, HD_F)          # the projection itself at 4 K/V heads
    # the backward: dK, dV at the kernel's heads; FA2's per-query-head dK/dV only where K/V stay grouped
    grads = lambda layer: {g.name: g for p in backward_phases(s31, layer, c) for g in p.grads}  # noqa: E731
    assert "grad.attn.k_expanded" in grads(0) and "grad.attn.k_expanded" not in grads(5)
    assert grads(5)["grad.attn.k"].dims == (B, S, H, HD_F)


# --- v_from_k against a v projection ------------------------------------------------------------------------------

def test_31b_v_from_k_keeps_exactly_the_v_projections_output_fewer():
    s31, c = load_spec(G31), cfg()
    plain = dataclasses.replace(s31, attention=dataclasses.replace(s31.attention, v_from_k=False))
    assert not plain.sliding_attention.v_from_k and plain.sliding_attention == s31.sliding_attention
    assert _names(plain, 5, c) - _names(s31, 5, c) == {"attn.v_norm.input"}
    assert _names(s31, 5, c) <= _names(plain, 5, c)
    drop = layer_activations(plain, 5, c).total - layer_activations(s31, 5, c).total
    assert drop == B * S * KV_F * HD_F * 2 == 16 * 2**20             # v_proj's output, 4 K/V heads x 512
    assert layer_activations(plain, 0, c) == layer_activations(s31, 0, c)   # the sliding layers have their v_proj


@settings(max_examples=60, deadline=None)
@given(kv=st.sampled_from([1, 2, 4, 8]), hd=st.sampled_from([64, 128, 256, 512]), b=st.integers(1, 4),
       s=st.sampled_from([16, 64, 256]), tp=st.sampled_from([1, 2, 4]), kernel=st.sampled_from(["fused", "eager"]))
def test_v_from_k_saves_one_kv_heads_width_of_values_whatever_the_shape(kv, hd, b, s, tp, kernel):
    """With a value norm, values from the keys keep ``b s a_kv' d`` values fewer (a_kv' the K/V heads a rank holds,
    replicated below tp): the v projection's output, which v_norm would keep; the rest, the kernel's V included,
    is the same."""
    attention = {"kind": "gqa", "num_heads": 8, "num_kv_heads": kv, "head_dim": hd, "qk_norm": True, "v_norm": True}
    with_v = make_spec(attention)
    from_k = make_spec(attention | {"v_from_k": True})
    c = cfg(b=b, s=s, kernel=kernel, parallel=Parallelism(tp=tp))
    assert _names(with_v, 0, c) - _names(from_k, 0, c) == {"attn.v_norm.input"}
    kv_rank = max(1, kv // tp)
    assert layer_activations(with_v, 0, c).total - layer_activations(from_k, 0, c).total == b * s * kv_rank * hd * 2


def test_v_norm_keeps_its_input_and_rstd():
    """Gemma-4's sliding layers: a v projection and the weightless v_norm on its output, b s a_kv (d_v x 2 + 4)."""
    attention = {"kind": "gqa", "num_heads": 8, "num_kv_heads": 2, "head_dim": 64, "qk_norm": True}
    plain, normed = make_spec(attention), make_spec(attention | {"v_norm": True})
    c = cfg(b=2, s=128)
    assert _names(normed, 0, c) - _names(plain, 0, c) == {"attn.v_norm.input", "attn.v_norm.rstd"}
    assert layer_activations(normed, 0, c).norms - layer_activations(plain, 0, c).norms == 2 * 128 * 2 * (64 * 2 + 4)


# --- the 26B-A4B's MoE block ---------------------------------------------------------------------------------------

def test_26b_moe_block_adds_the_branches_norms_and_the_routers_own_inputs():
    """Gemma4TextDecoderLayer under enable_moe_block against the same spec read as a plain shared-expert MoE: the
    router's weightless norm (its input is the pre_feedforward_layernorm's input: rstd alone), its normed input
    (kept by ``* self.scale``) and its scaled input (kept by ``proj``); pre_feedforward_layernorm_2 (input shared:
    rstd alone); post_feedforward_layernorm_1 on the MLP's output and _2 on the experts' sum (input and rstd each).
    The softmax and top-k weights are fp32 in both: transformers 5.25.0's ``Gemma4TextRouter.forward`` takes
    ``softmax(expert_scores, dim=-1, dtype=torch.float32)`` (earlier releases took it in bf16, which this test
    subtracted: 1,114,112 B)."""
    s26, c = load_spec(G26), cfg()
    d, E, k, t = 2816, 128, 8, B * S
    plain = dataclasses.replace(s26, norms_per_layer=4, ffn=dataclasses.replace(s26.ffn, branch_norms=False))
    added = (t * 4 + 2 * t * d * 2                      # router.norm rstd; normed and scaled inputs
             + t * 4                                    # pre_feedforward_layernorm_2 rstd
             + 2 * (t * d * 2 + t * 4))                 # post_feedforward_layernorm_1 and _2
    for layer in (0, 5):
        got = layer_activations(s26, layer, c).total - layer_activations(plain, layer, c).total
        assert got == added == 92_340_224
    # the router's scores and weights are fp32 whatever branch_norms says (E and k of them a token)
    probs = {x.name: x for x in saved_tensors(s26, 0, c)}
    assert (probs["moe.router_probs"].bytes, probs["moe.topk_weights"].bytes) == (t * E * 4, t * k * 4)
    assert _names(s26, 0, c) - _names(plain, 0, c) == {
        "moe.router_norm.rstd", "moe.router_normed", "moe.router_input", "moe.experts_pre_norm.rstd",
        "moe.experts_post_norm.input", "moe.experts_post_norm.rstd", "moe.shared_post_norm.input",
        "moe.shared_post_norm.rstd"}


def test_26b_layer_kinds_and_the_dispatch_by_hand():
    s26, c = load_spec(G26), cfg()
    assert layer_kinds(s26) == {"moe sliding": 0, "moe full": 5}
    la = layer_activations(s26, 0, c)
    copies = B * S * 8                                          # top_k_experts 8
    assert la.dispatch == 2 * copies * 2816 * 2                 # token copies in, expert outputs back
    assert la.experts == 4 * copies * 704 * 2                   # gate/up halves, GELU out, product at 704
    assert la.ffn == B * S * 2816 * 2 + 4 * B * S * 2112 * 2    # the dense MLP (the shared expert): input, 4 at 2112


# --- the head, RoPE, the embedding scale ---------------------------------------------------------------------------

def test_31b_head_keeps_tanh_of_the_softcap():
    s31, c = load_spec(G31), cfg()
    t = B * S
    ts = {x.name: x for x in head_tensors(s31, c)}
    assert ts["head.softcap_tanh"].bytes == t * V * 2                       # bf16 b s V
    assert sum(x.bytes for x in ts.values()) == (t * D * 2 + t * 4) + t * D * 2 + t * V * 2 + t * V * 4
    uncapped = dataclasses.replace(s31, final_logit_softcap=False)
    assert sum(x.bytes for x in head_tensors(s31, c)) - sum(x.bytes for x in head_tensors(uncapped, c)) == t * V * 2


@pytest.mark.parametrize("fixture,capped", [("gemma_4_31b", True), ("gemma_4_26b_a4b", True),
                                            ("gemma_2_2b", True), ("gemma_3_1b", False)])
def test_final_logit_softcapping_is_read(fixture, capped):
    """Gemma-2 and Gemma-4 set final_logit_softcapping 30.0, Gemma-3 null: Gemma-2's head was sized without tanh's
    b s V output before the field was read."""
    assert load_spec(str(FIXTURES / fixture)).final_logit_softcap is capped


@pytest.mark.parametrize("fixture,wrapped,capped", [
    ("gemma_2_2b", False, True), ("vaultgemma_1b", False, True), ("gemma_3n_e2b", True, True),
    ("gemma_4_31b", True, False), ("gemma_3_1b", False, False)])
def test_final_logit_softcapping_left_out_takes_the_class_default(tmp_path, fixture, wrapped, capped):
    """A config without the key gets its class's default (transformers Gemma2Config, VaultGemmaConfig and
    Gemma3nTextConfig: 30.0, so Gemma2ForCausalLM, VaultGemmaForCausalLM and Gemma3nForCausalLM cap; Gemma3TextConfig
    and Gemma4TextConfig: None). Read as uncapped before, whatever the class."""
    cfg_ = json.loads((FIXTURES / fixture / "config.json").read_text())
    (cfg_["text_config"] if wrapped else cfg_).pop("final_logit_softcapping", None)
    (tmp_path / "config.json").write_text(json.dumps(cfg_))
    assert load_spec(str(tmp_path)).final_logit_softcap is capped


def test_final_logit_softcapping_of_a_model_that_applies_none_is_not_read(tmp_path):
    """Only the Gemma-2/3/3n/4 and VaultGemma heads soft-cap; a Llama config carrying the key (LlamaForCausalLM reads
    no such field) gets no tanh output: it was counted, 4096 x 128256 x 2 B (1.05 GB) more at b 1, s 4096."""
    cfg_ = json.loads((FIXTURES / "llama_3_2_1b" / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(cfg_ | {"final_logit_softcapping": 30.0}))
    assert not load_spec(str(tmp_path)).final_logit_softcap


def test_bad_final_logit_softcapping_is_one_line(capsys, tmp_path):
    cfg_ = json.loads((Path(G31) / "config.json").read_text())
    cfg_["text_config"]["final_logit_softcapping"] = "thirty"
    (tmp_path / "config.json").write_text(json.dumps(cfg_))
    refused(capsys, "train", str(tmp_path), words="final_logit_softcapping must be a positive number or null")


def test_31b_rope_tables_one_a_layer_type():
    """position_embeddings per layer type (Gemma4TextModel.forward): the full layers rotate 128 dims, the sliding
    ones 256; cos and sin of each."""
    ts = rope_tensors(load_spec(G31), cfg())
    assert {t.name for t in ts} == {"rope.full.cos", "rope.full.sin", "rope.sliding.cos", "rope.sliding.sin"}
    assert sum(t.bytes for t in ts) == 2 * B * S * (128 + 256) * 2
    assert [t.name for t in rope_tensors(load_spec("gemma-3-27b"), cfg())] == ["rope.cos", "rope.sin"]


# --- properties ----------------------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(model=st.sampled_from([G31, G26]), b=st.integers(1, 6), s=st.sampled_from([128, 1024, 4096]),
       recompute=st.sampled_from(["none", "selective", "full"]))
def test_stored_activations_are_linear_in_the_micro_batch(model, b, s, recompute):
    spec = load_spec(model)
    one, many = cfg(b=1, s=s, recompute=recompute), cfg(b=b, s=s, recompute=recompute)
    for layer in (0, 5):
        assert layer_activations(spec, layer, many).total == b * layer_activations(spec, layer, one).total
    assert sum(t.bytes for t in head_tensors(spec, many)) == b * sum(t.bytes for t in head_tensors(spec, one))
    st1 = stage_memory(spec, TrainRun(micro_batch=1, seq=s, recompute=recompute))[0].activations
    stb = stage_memory(spec, TrainRun(micro_batch=b, seq=s, recompute=recompute))[0].activations
    assert (stb.layers, stb.head, stb.embedding) == (b * st1.layers, b * st1.head, b * st1.embedding)


@settings(max_examples=20, deadline=None)
@given(model=st.sampled_from([G31, G26]), b=st.integers(1, 3), s=st.sampled_from([256, 2048]),
       tp=st.sampled_from([1, 2, 4, 8]), sp=st.booleans(), kernel=st.sampled_from(["fused", "eager"]))
def test_layer_parts_sum_to_the_tensors(model, b, s, tp, sp, kernel):
    spec = load_spec(model)
    c = cfg(b=b, s=s, kernel=kernel, parallel=Parallelism(tp=tp, sp=sp and tp > 1))
    for layer in (0, 5):
        ts = saved_tensors(spec, layer, c)
        la = layer_activations(spec, layer, c)
        assert la.total == sum(t.bytes for t in ts) == sum(v for k, v in la.as_dict().items() if k != "total")


# --- tensor parallelism --------------------------------------------------------------------------------------------

def test_31b_full_layer_at_tp_8_with_sp_by_hand():
    """tp 8, sp: 4 query heads a rank; the 4 K/V heads replicated, one a rank, for k_norm (and v_norm's rstd); the
    kernel's repeat_kv copies at the rank's 4 query heads; the MLP 21504 / 8 = 2688 wide; the b s d tensors and
    the rows' rstd on s / 8 tokens."""
    s31 = load_spec(G31)
    c = cfg(parallel=Parallelism(tp=8, sp=True))
    t, ts = B * S, B * S // 8
    norms = 4 * (ts * D * 2 + ts * 4)
    attn = (ts * D * 2 + (t * 4 * HD_F * 2 + t * 4 * 4) + (t * 1 * HD_F * 2 + t * 1 * 4) + t * 1 * 4
            + 3 * t * 4 * HD_F * 2 + 4 * t * 4 + t * 4 * HD_F * 2)
    mlp = ts * D * 2 + 4 * t * 2688 * 2
    assert layer_activations(s31, 5, c).total == norms + attn + mlp
    by = {x.name: x for x in saved_tensors(s31, 0, c)}
    assert by["attn.k"].dims == (B, S, 2, HD_S) and by["attn.q"].dims == (B, S, 4, HD_S)


@pytest.mark.parametrize("argv,words", [
    (("--tp", "64"), "--tp: 64 ranks cannot split 32 query heads (attention.num_heads) evenly"),
    (("--tp", "3"), "--tp: 3 ranks cannot split 32 query heads"),
    (("--recompute", "op"), "op (torchtitan's op-level SAC) is modelled for the Llama block (two pre-norms)"),
])
def test_31b_what_train_does_not_split_or_model_is_one_line(capsys, argv, words):
    refused(capsys, "train", "gemma-4-31b", *argv, words=words, seconds=20)


def test_26b_torchtitan_tp_is_one_line(capsys):
    refused(capsys, "train", "gemma-4-26b-a4b", "--tp", "2", "--sp", "--tp-style", "torchtitan",
            words="torchtitan's tensor parallelism is modelled for dense FFN layers", seconds=20)


# --- refusals ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["full", "sliding"])
def test_v_from_k_without_a_value_norm_is_refused_in_training(where):
    """Without v_norm the kernel's V would be k_proj's output itself (shared with k_norm's input): not modelled,
    whichever layers take their values from the keys."""
    gqa = {"kind": "gqa", "num_heads": 8, "num_kv_heads": 2, "head_dim": 64, "qk_norm": True}
    if where == "full":
        spec = make_spec(gqa | {"v_from_k": True})
    else:
        spec = make_spec(gqa | {"sliding_window": 16, "global_every": 2, "sliding_shape": {"v_from_k": True}})
    with pytest.raises(SpecError) as e:
        saved_tensors(spec, 0, cfg(s=64))
    assert e.value.field == "attention.v_from_k" and "through a value norm" in e.value.message


def test_eight_norms_a_layer_without_branch_norms_is_refused_in_training():
    """norms_per_layer 8 was read as 4 (two post-norms) without a word; only Gemma-4's MoE block says what 8 are."""
    s26 = load_spec(G26)
    plain = dataclasses.replace(s26, ffn=dataclasses.replace(s26.ffn, branch_norms=False))
    with pytest.raises(SpecError) as e:
        saved_tensors(plain, 0, cfg(s=64))
    assert e.value.field == "norms_per_layer" and "8 norms a layer is not modelled" in e.value.message


MOE = {"kind": "moe", "intermediate_size": 512, "num_experts": 8, "experts_per_token": 2,
       "expert_intermediate_size": 64, "num_shared_experts": 1, "shared_expert_intermediate_size": 512}
GQA = {"kind": "gqa", "num_heads": 8, "num_kv_heads": 2, "head_dim": 64}


@pytest.mark.parametrize("attention,ffn,extra,words", [
    (GQA, {"kind": "dense", "intermediate_size": 512, "branch_norms": True}, {},
     "ffn.kind: expert fields are set (branch_norms)"),
    (GQA, MOE | {"branch_norms": True, "num_shared_experts": 0}, {"norms_per_layer": 8},
     "ffn.branch_norms: needs one shared expert"),
    (GQA, MOE | {"branch_norms": True, "first_dense_layers": 1}, {"norms_per_layer": 8},
     "ffn.branch_norms: puts the experts beside the MLP on every layer"),
    (GQA, MOE | {"branch_norms": True}, {"norms_per_layer": 4}, "ffn.branch_norms: needs norms_per_layer 8"),
    ({"kind": "mla", "num_heads": 4, "qk_nope_head_dim": 64, "qk_rope_head_dim": 32, "v_head_dim": 64,
      "kv_lora_rank": 128, "v_norm": True}, None, {}, "attention.v_norm: applies to mha, mqa and gqa attention"),
    (GQA | {"v_norm": True, "kv_shared": True}, None, {}, "attention.v_norm: and kv_shared both set"),
])
def test_new_fields_where_they_mean_nothing_are_refused(attention, ffn, extra, words):
    with pytest.raises(SpecError) as e:
        spec_from_dict({"name": "x", "num_layers": 2, "hidden_size": 256, "vocab_size": 100, "attention": attention,
                        "ffn": ffn or {"kind": "dense", "intermediate_size": 64}, **extra})
    assert words in f"{e.value.field}: {e.value.message}"


def test_an_mtp_module_is_sized_by_a_layer_of_its_own_block():
    """MiMo-V2-Flash's MTP layers are sliding (mtp_layer_type): with a sliding shape of their own they were sized as
    the last layer, a full one here (layer types sliding x 5, full: 12 layers, full at 5 and 11); now as the last
    sliding layer, 10. Full layers 2 K/V heads of 64, sliding 4: the module's layer keeps K and V at 4."""
    attention = {"kind": "gqa", "num_heads": 8, "num_kv_heads": 2, "head_dim": 64, "sliding_window": 16,
                 "sliding_shape": {"num_kv_heads": 4}}
    spec = make_spec(attention, layers=12, layer_types=["sliding"] * 5 + ["full"], mtp_layers=1,
                     mtp_layer_type="sliding")
    assert (spec.layer_type(10), spec.layer_type(11)) == ("sliding", "full")
    c = cfg(s=64)
    module = {t.name.removeprefix("mtp0."): t for t in mtp_tensors(spec, c)}
    assert module["attn.k"].dims == module["attn.v"].dims == (1, 64, 4, 64)      # the sliding layers' 4 K/V heads
    layer_part = sum(t.bytes for n, t in module.items() if n in _names(spec, 10, c))
    sliding, full = (sum(t.bytes for t in saved_tensors(spec, j, c)) for j in (10, 11))
    assert layer_part == sliding == full + 2 * 64 * (4 - 2) * 64 * 2       # k and v at 2 K/V heads more


def test_megatron_convention_takes_each_layers_heads():
    """Korthikanti et al.'s layer, 34 s b h + 5 a s^2 b bytes (tp 1, eager), with a the layer's own heads: 8 on the
    full layers, 4 on the sliding ones (sliding_shape num_heads); both were sized at 8."""
    attention = {"kind": "mha", "num_heads": 8, "head_dim": 32, "sliding_window": 16,
                 "sliding_shape": {"num_heads": 4, "num_kv_heads": 4}}
    spec = make_spec(attention, layer_types=["sliding", "full"])
    b, s, h = 1, 64, 256
    c = cfg(b=b, s=s, kernel="eager", convention="megatron")
    assert layer_activations(spec, 0, c).total == 34 * s * b * h + 5 * 4 * s * s * b
    assert layer_activations(spec, 1, c).total == 34 * s * b * h + 5 * 8 * s * s * b


def test_split_labels_of_the_new_tensors():
    """What divides each new tensor (the JSON's "split"): v_norm's rstd by the K/V heads a TP rank holds (as k_norm's);
    the router's and the branches' b s h tensors by SP (the residual stream's tokens); tanh's output by the
    vocabulary-parallel head, as the log-probabilities."""
    c = cfg(parallel=Parallelism(tp=2, sp=True))
    ts = {t.name: t for t in saved_tensors(load_spec(G26), 5, c) + head_tensors(load_spec(G26), c)}
    assert ts["attn.v_norm.rstd"].split == ts["attn.k_norm.rstd"].split == "tp"
    for n in ("moe.router_norm.rstd", "moe.router_normed", "moe.router_input", "moe.experts_pre_norm.rstd",
              "moe.experts_post_norm.input", "moe.shared_post_norm.input"):
        assert ts[n].split == "sp" and ts[n].dims[1] == S // 2, n
    assert ts["head.softcap_tanh"].split == ts["loss.log_probs"].split == "tp"
    assert ts["head.softcap_tanh"].dims == (B, S, V // 2)


# --- the CLI, end to end -------------------------------------------------------------------------------------------

def test_cli_json_31b_parts_sum_to_the_totals():
    p = subprocess.run([sys.executable, "-m", "mlacalc", "train", "gemma-4-31b", "--micro-batch", "1", "--seq", "4096",
                        "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out["layers"]) == {"dense sliding", "dense full"}
    for kind in out["layers"].values():
        stored = kind["stored"]
        assert stored["total"] == sum(v for k, v in stored.items() if k != "total") == \
            sum(t["bytes"] for t in kind["tensors"])
    stage = out["stages"][0]
    acts, work, states = stage["activations"], stage["workspace"], stage["states"]
    assert acts["total"] == sum(v for k, v in acts.items() if k != "total")
    assert work["total"] == sum(v for k, v in work.items() if k != "total")
    assert stage["total"] == states["total"] + acts["total"] + work["total"] == out["per_gpu"]["total"]
    per = {k: v["stored"]["total"] for k, v in out["layers"].items()}
    assert acts["layers"] == 50 * per["dense sliding"] + 10 * per["dense full"]
    assert (out["config"]["micro_batch"], out["config"]["seq"]) == (1, 4096)


def test_cli_table_names_both_layer_kinds(capsys):
    from mlacalc.cli import main

    with pytest.raises(SystemExit) as e:
        main(["train", "gemma-4-26b-a4b", "--seq", "1k"])
    out = capsys.readouterr().out
    assert e.value.code in (0, None) and "moe sliding layer" in out and "moe full layer" in out


# --- the profiler's runners build none of the new fields ----------------------------------------------------------

def test_whole_step_refuses_values_from_the_keys(capsys):
    """The prediction projects no V on a v_from_k layer; the runner would build a v projection."""
    refused(capsys, "profile", "llama-3.1-8b@attention.v_from_k=true", "--whole-step", "--layers", "2",
            words="attention.v_from_k: is not built by --whole-step")


@pytest.mark.parametrize("attention,ffn,extra,words", [
    (GQA | {"v_norm": True}, None, {}, "v_norm"),
    (GQA | {"v_norm": True, "v_from_k": True}, None, {}, "v_from_k"),
    (GQA, MOE | {"branch_norms": True}, {"norms_per_layer": 8}, "ffn.branch_norms"),
    (GQA, None, {"final_logit_softcap": True}, "final_logit_softcap"),
])
def test_the_multi_gpu_runner_refuses_the_gemma4_fields(attention, ffn, extra, words):
    from mlacalc.profiler.layout import check_supported

    spec = make_spec(attention, ffn=ffn, **extra)
    with pytest.raises(SpecError, match=words):
        check_supported(spec, 2)
