"""The four spec fields StepFun's models needed, each worked by hand on a tiny model:

- ``attention.q_lora_rank`` on conventional attention (Step-3's MFA: q_proj d -> r, inter_norm, wq r -> heads;
  vLLM ``step3_text.py`` ``Step3TextAttention``), before refused as an MLA-only field;
- ``attention.head_gate`` (Step-3.5's ``g_proj`` d -> heads, one sigmoid gate a head; vLLM ``step3p5.py``);
- ``ffn.last_dense_layers`` (Step-3's dense layer 60 after MoE layers 4-59);
- ``mtp_ffn`` (Step-3.5's dense MTP layers behind a last MoE layer; vLLM ``step3p5_mtp.py``).
"""

from __future__ import annotations

import pytest

from helpers import make_spec
from mlacalc.attention import family
from mlacalc.errors import SpecError
from mlacalc.params import weights_report as weights
from mlacalc.parallel import Parallelism
from mlacalc.spec import spec_from_dict
from mlacalc.step import Step, step_ops

D = 256
MFA = {"kind": "mqa", "num_heads": 4, "head_dim": 64, "q_lora_rank": 32}     # one K/V head of 64
GATED = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64, "head_gate": True}


def _ops(spec, phase="decode", batch=1, context=100, par=Parallelism()):
    return {o.name: o for o in step_ops(spec, Step(phase, batch, context), par)}


# --------------------------------------------------------------------------- low-rank query on MHA/GQA/MQA

def test_low_rank_query_parameters_by_hand():
    """q_down 256 x 32, q_norm 32, q_up 32 x 4 x 64 in place of q 256 x 4 x 64; k and v one head of 64; o back."""
    s = make_spec(MFA)
    a = s.attention
    assert family(a).projections(a, D) == {"q_down": D * 32, "q_norm": 32, "q_up": 32 * 4 * 64, "k": D * 64,
                                           "v": D * 64, "o": 4 * 64 * D}
    # the KV cache is MQA's: one K and one V of 64 a token and layer
    assert family(a).cache_parts(a).total == 64 + 64


def test_low_rank_query_splits_as_vllm_builds_it():
    """tp 2 (vLLM Step3TextAttention): q_down and inter_norm replicated (qkv_proj is a ReplicatedLinear), wq and
    o_proj by heads, k and v replicated (one K/V head, fewer than the ranks)."""
    s = make_spec(MFA)
    a = s.attention
    assert family(a).projections_per_rank(a, D, Parallelism(tp=2)) == {
        "q_down": D * 32, "q_norm": 32, "q_up": 32 * 4 * 64 / 2, "k": D * 64, "v": D * 64, "o": 4 * 64 * D / 2}


def test_low_rank_query_roofline_by_hand():
    """Decode, one token over 100 cached, 2 layers: q_down 2 x 256 x 32, q_up 2 x 32 x (4 x 64), kv_proj
    2 x 256 x (64 + 64) FLOPs a layer; inter_norm adds 32 elements to the norms' width. Before: the spec was refused
    (q_lora_rank "only applies to kind mla")."""
    ops = _ops(make_spec(MFA))
    assert ops["q_down"].flops == 2 * 1 * D * 32 * 2
    assert ops["q_up"].flops == 2 * 1 * 32 * 4 * 64 * 2
    assert ops["kv_proj"].flops == 2 * 1 * D * 128 * 2
    assert "qkv_proj" not in ops
    # bf16 weights read once a layer: q_down 8,192 + q_up 8,192 values x 2 B x 2 layers
    assert ops["q_down"].weight_bytes + ops["q_up"].weight_bytes == (D * 32 + 32 * 256) * 2 * 2
    full = _ops(make_spec({k: v for k, v in MFA.items() if k != "q_lora_rank"}))
    assert full["qkv_proj"].flops == 2 * D * (4 * 64 + 128) * 2


def test_low_rank_query_training_keeps_its_latent():
    """Training (micro-batch 2, 16 tokens, no TP): q_proj's output [2, 16, 32] for inter_norm, its fp32 rstd [2, 16]
    and the normed latent [2, 16, 32] for wq, as MLA's q_a_proj path keeps them."""
    from mlacalc.activations import ActivationConfig, layer_tensors

    saved = {t.name: t for t in layer_tensors(make_spec(MFA), 0, ActivationConfig(micro_batch=2, seq=16))}
    assert saved["attn.q_down_out"].bytes == 2 * 16 * 32 * 2
    assert saved["attn.q_norm.rstd"].bytes == 2 * 16 * 4
    assert saved["attn.q_latent"].bytes == 2 * 16 * 32 * 2
    plain = {t.name for t in layer_tensors(make_spec({k: v for k, v in MFA.items() if k != "q_lora_rank"}), 0,
                                           ActivationConfig(micro_batch=2, seq=16))}
    assert not plain & {"attn.q_down_out", "attn.q_norm.rstd", "attn.q_latent"}


def test_kv_lora_rank_stays_mla_only():
    with pytest.raises(SpecError, match="attention.kv_lora_rank: only applies to kind mla"):
        make_spec(MFA | {"kv_lora_rank": 64})


# --------------------------------------------------------------------------- head-wise output gate

def test_head_gate_parameters_and_split_by_hand():
    """g_proj 256 -> 4 heads: 1,024 parameters; at tp 2 each rank 2 heads (a ColumnParallelLinear)."""
    s = make_spec(GATED)
    a = s.attention
    parts = family(a).projections(a, D)
    assert parts["g"] == D * 4
    assert family(a).projections_per_rank(a, D, Parallelism(tp=2))["g"] == D * 2
    assert weights(s).params.attention == 2 * (D * 256 + 2 * D * 128 + 256 * D + D * 4)


def test_head_gate_rides_in_the_projection_gemm():
    """qkv_proj's output widens by one gate logit a head: 2 x 256 x (4 x 64 + 4 + 2 x 2 x 64) FLOPs a token and
    layer, 2 layers."""
    ops = _ops(make_spec(GATED))
    assert ops["qkv_proj"].flops == 2 * D * (256 + 4 + 256) * 2
    ungated = _ops(make_spec(GATED | {"head_gate": False}))
    assert ops["qkv_proj"].flops - ungated["qkv_proj"].flops == 2 * D * 4 * 2


def test_head_gate_on_a_sliding_shape_takes_its_heads():
    """A sliding shape of 8 query heads gates 8 heads on its layers (Step-3.5: 64 full, 96 sliding)."""
    s = make_spec(GATED | {"sliding_window": 16, "sliding_shape": {"num_heads": 8}}, layers=2,
                  layer_types=["full", "sliding"])
    assert weights(s).sliding_attention_per_layer["g"] == D * 8


def test_head_gate_refused_outside_conventional_attention():
    with pytest.raises(SpecError, match="attention.head_gate: applies to mha, mqa and gqa attention, not mla"):
        make_spec({"kind": "mla", "num_heads": 4, "kv_lora_rank": 64, "qk_nope_head_dim": 32,
                   "qk_rope_head_dim": 16, "v_head_dim": 32, "head_gate": True})


def test_head_gate_training_is_one_line(capsys, tmp_path):
    import yaml

    from helpers import refused

    path = tmp_path / "gated.yaml"
    path.write_text(yaml.safe_dump({"name": "gated", "num_layers": 2, "hidden_size": D, "vocab_size": 1000,
                                    "attention": GATED, "ffn": {"kind": "dense", "intermediate_size": 512}}))
    refused(capsys, "train", str(path), words="attention.head_gate: training memory with a head-wise output gate")


# --------------------------------------------------------------------------- trailing dense layers

MOE = {"kind": "moe", "intermediate_size": 512, "num_experts": 4, "experts_per_token": 2,
       "expert_intermediate_size": 64, "num_shared_experts": 1, "first_dense_layers": 1, "last_dense_layers": 2}


def test_last_dense_layers_by_hand():
    """6 layers: layer 0 dense, 1-3 MoE, 4-5 dense (Step-3: 0-3 and 60). Dense FFN 3 x 256 x 512; MoE 4 experts and a
    shared one of 3 x 256 x 64 and a router 256 x 4."""
    s = make_spec(MFA, layers=6, ffn=MOE)
    assert [s.is_moe_layer(i) for i in range(6)] == [False, True, True, True, False, False]
    assert (s.num_dense_layers, s.num_moe_layers) == (3, 3)
    p = weights(s).params
    assert p.dense_ffn == 3 * 3 * D * 512
    assert p.routed_experts == 3 * 4 * 3 * D * 64 and p.shared_experts == 3 * 3 * D * 64 and p.router == 3 * D * 4


@pytest.mark.parametrize("ffn,words", [
    (MOE | {"first_dense_layers": 4, "last_dense_layers": 3}, "ffn.last_dense_layers: (3) and first_dense_layers (4) "
                                                              "exceed num_layers (6)"),
    ({"kind": "dense", "intermediate_size": 512, "last_dense_layers": 1}, "expert fields are set (last_dense_layers)"),
])
def test_bad_last_dense_layers(ffn, words):
    with pytest.raises(SpecError) as e:
        make_spec(MFA, layers=6, ffn=ffn)
    assert words in str(e.value)


def test_profiler_cuts_keep_the_trailing_dense_layers_they_reach():
    """The first 5 of the 6 layers hold one trailing dense layer (layer 4); the last 3 hold both (4, 5) and no leading
    one; the first 3 none."""
    from mlacalc.profiler.predict import spec_layers
    from mlacalc.profiler.whole_step import tail_spec

    s = spec_from_dict({"name": "t", "num_layers": 6, "hidden_size": D, "vocab_size": 1000,
                        "attention": {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64}, "ffn": MOE})
    full = [s.is_moe_layer(i) for i in range(6)]
    assert [spec_layers(s, 5).is_moe_layer(i) for i in range(5)] == full[:5]
    assert [spec_layers(s, 3).is_moe_layer(i) for i in range(3)] == full[:3]
    assert [tail_spec(s, 3).is_moe_layer(i) for i in range(3)] == full[3:]


def test_profiler_refuses_what_it_does_not_build():
    from mlacalc.profiler.run import PointConfig

    with pytest.raises(SpecError, match="attention.q_lora_rank: the profiler's MHA/GQA/MQA layers project full-rank"):
        PointConfig("mfa").validate(make_spec(MFA))
    with pytest.raises(SpecError, match="attention.head_gate: the profiler's layers have no head-wise output gate"):
        PointConfig("gated").validate(make_spec(GATED))


# --------------------------------------------------------------------------- the MTP layer's FFN

def test_mtp_ffn_dense_behind_a_last_moe_layer():
    """4 MoE layers, one MTP module whose layer is dense (Step-3.5): 2 norms, eh_proj 2 x 256 x 256, the attention,
    a dense FFN 3 x 256 x 512 and the layer's 2 norms; without mtp_ffn the last layer's MoE."""
    ffn = MOE | {"first_dense_layers": 0, "last_dense_layers": 0}
    attn = 256 * 256 + 2 * 256 * 128 + 256 * 256
    gqa = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64}
    dense = make_spec(gqa, layers=4, ffn=ffn, mtp_layers=1, mtp_ffn="dense")
    assert weights(dense).mtp_params == 2 * D + 2 * D * D + attn + 3 * D * 512 + 2 * D
    moe = make_spec(gqa, layers=4, ffn=ffn, mtp_layers=1)
    assert weights(moe).mtp_params == 2 * D + 2 * D * D + attn + (5 * 3 * D * 64 + D * 4) + 2 * D
    # the reverse: a last dense layer (last_dense_layers 1) under an MoE MTP layer
    back = make_spec(gqa, layers=4, ffn=ffn | {"last_dense_layers": 1}, mtp_layers=1, mtp_ffn="moe")
    assert weights(back).mtp_params == weights(moe).mtp_params


@pytest.mark.parametrize("extra,words", [
    ({"mtp_ffn": "dense"}, "mtp_ffn: only applies with mtp_layers"),
    ({"mtp_layers": 1, "mtp_ffn": "moe"}, "mtp_ffn: moe needs ffn.kind moe"),
    ({"mtp_layers": 1, "mtp_ffn": "sparse"}, "mtp_ffn: must be one of dense, moe"),
])
def test_bad_mtp_ffn(extra, words):
    with pytest.raises(SpecError) as e:
        make_spec(GATED, **extra)
    assert words in str(e.value)
