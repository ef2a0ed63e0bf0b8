"""StepFun's Step-3.5-Flash (``step3p5``) and Step-3 (``step3_text``, its ``step3_vl`` wrapper) read from a config.json
(before: both refused by name, Step-3.5 for its sliding layers of their own shape, Step-3 for its MFA attention).

No whole config.json of either model is in the corpora: the fixtures are assembled from documented fields, each
value's source in their SOURCE.md (tests/fixtures/hf/step_3_5_flash, tests/fixtures/hf/step3). The readers follow
vLLM's config classes and model code (vllm/transformers_utils/configs/step3p5.py, step3_vl.py;
vllm/model_executor/models/step3p5.py, step3p5_mtp.py, step3_text.py).

Cards: Step-3.5-Flash "196.81B (196B Backbone + 0.81B Head)", "~11B" active, 45 layers of 4096, vocabulary 128,896,
288 routed experts + 1 shared, top 8, MTP head "a sliding-window attention mechanism and a dense FFN"
(stepfun-ai/Step-3.5-Flash README, section 4). Step-3: 61 layers (5 dense), 7168, MFA with a 2048 low-rank query,
64 query heads of 256, 48 experts top 3, 1 shared, "Total Parameters (LLM) 316B", "Activated Params per Token 38B",
"Total Parameters (VLM) 321B" (stepfun-ai/Step3 README).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlacalc.errors import SpecError
from mlacalc.kv import kv_report
from mlacalc.params import weights_report as weights
from mlacalc.spec import load_spec

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
FLASH = FIXTURES / "step_3_5_flash"
STEP3 = FIXTURES / "step3"


def _cfg(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


def _load(tmp_path, cfg: dict):
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return load_spec(str(tmp_path))


# --------------------------------------------------------------------------- Step-3.5-Flash, counted by hand

D, V, HD = 4096, 128896, 128
# full layer (Step3p5Attention): q 4096 -> 64 x 128, k and v 4096 -> 8 x 128, o back, g_proj 4096 -> 64 (one gate a
# head), q_norm and k_norm of 128
FULL_ATTN = D * 64 * HD + 2 * D * 8 * HD + 64 * HD * D + D * 64 + 2 * HD
# sliding layer: attention_other_setting's 96 query heads, 8 KV heads of 128
SWA_ATTN = D * 96 * HD + 2 * D * 8 * HD + 96 * HD * D + D * 96 + 2 * HD
DENSE = 3 * D * 11264                                   # Step3p5MLP gate_up (2 x 11264) + down
EXPERT = 3 * D * 1280
MOE = 288 * EXPERT + EXPERT + D * 288                   # routed, share_expert of 1280, the bias-free moe.gate
# layers 0, 4, ..., 44 full (12), the other 33 sliding; layers 0-2 dense (moe_layers_enum 3..44), 42 MoE
TOTAL = 12 * FULL_ATTN + 33 * SWA_ATTN + 3 * DENSE + 42 * MOE + 45 * 2 * D + 2 * V * D + D
ACTIVE = TOTAL - 42 * (288 - 8) * EXPERT - (V - 1) * D  # 8 of 288 experts; one embedding row
# one MTP module (Step3p5AMultiTokenPredictorLayer): enorm, hnorm, eh_proj 2d -> d, a sliding layer with a dense MLP
MTP_ONE = 2 * D + 2 * D * D + SWA_ATTN + DENSE + 2 * D


def test_step_3_5_flash_hand_count_against_the_card():
    assert (FULL_ATTN, SWA_ATTN, MOE) == (75_759_872, 109_445_376, 4_546_756_608)
    assert TOTAL == 196_956_118_272     # the card's "196B backbone" (196.81B with its "0.81B head"): 0.07% over 196.81
    assert ACTIVE == 11_459_357_952     # "~11B" active
    # the card's "0.81B Head" is one MTP module with its own output head (shared_head.head, V x d), which the
    # spec does not count (as DeepSeek-V3's): 281,428,224 + 527,958,016
    assert MTP_ONE + V * D == 809_386_240


def test_step_3_5_flash_by_hand():
    """Before: refused by name ("sliding-window layers with an attention shape of their own ... not read from a
    config yet"). After: 12 full layers of 64 query / 8 KV heads with RoPE over half of each 128-dim head
    (partial_rotary_factors 0.5), 33 sliding ones of 96 / 8 with RoPE over all 128 (1.0); a head-wise gate and q/k
    norms on both; three dense MTP layers of the sliding shape, counted apart."""
    s = load_spec(str(FLASH))
    a, w = s.attention, s.sliding_attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim) == \
        ("gqa", 64, 8, 64, 64, 128)
    assert (w.num_heads, w.num_kv_heads, w.qk_nope_head_dim, w.qk_rope_head_dim, w.v_head_dim) == (96, 8, 0, 128, 128)
    assert (a.head_gate, a.qk_norm, a.qkv_bias, a.o_bias, a.sinks, a.output_gate, a.sliding_window) == \
        (True, True, False, False, False, False, 512)
    assert s.count_layers("full") == 12 and s.count_layers("sliding") == 33
    f = s.ffn
    assert (f.kind, f.num_experts, f.experts_per_token, f.num_shared_experts, f.shared_expert_intermediate_size,
            f.expert_intermediate_size, f.intermediate_size, f.first_dense_layers, f.last_dense_layers) == \
        ("moe", 288, 8, 1, 1280, 1280, 11264, 3, 0)
    assert (s.num_layers, s.vocab_size, s.tie_word_embeddings, s.max_context) == (45, V, False, 262144)
    assert (s.mtp_layers, s.mtp_layer_type, s.mtp_ffn) == (3, "sliding", "dense")
    r = weights(s)
    assert r.params.total == TOTAL
    assert r.active.total == ACTIVE
    assert r.mtp_params == 3 * MTP_ONE == 844_284_672      # dense, not three 4.5 B MoE layers
    assert r.attention_per_layer["g"] == D * 64 and r.sliding_attention_per_layer["g"] == D * 96
    assert "no whole config.json" in s.description


def test_step_3_5_flash_kv_by_hand():
    """KV (bf16), both layer types 8 KV heads x (128 + 128) x 2 B = 4,096 B a token: 45 x 4,096 = 184,320 B a token
    until the 512-token window fills; at 131,072 tokens 12 full layers hold them all, 33 sliding ones 512."""
    s = load_spec(str(FLASH))
    assert kv_report(s, context=1).per_token.total == 45 * 8 * 256 * 2 == 184_320
    assert kv_report(s, context=131072).per_sequence.total == \
        12 * 131072 * 4096 + 33 * 512 * 4096 == 6_511_656_960


def test_step_3_5_flash_per_gpu_mtp_at_tp_8():
    """At tp 8, ep 8 each MTP module on the last stage holds its norms whole (4 d), eh_proj / 8, the sliding attention
    split by heads (q, o, g / 8; 8 KV heads over 8 ranks: k, v / 8; the q/k norms whole) and the dense MLP / 8."""
    from mlacalc.parallel import Parallelism

    from mlacalc.params import mtp_params_per_gpu

    par = Parallelism(tp=8, ep=8)
    attn = (D * 96 * HD * 2 + D * 96) // 8 + 2 * D * 8 * HD // 8 + 2 * HD
    one = 4 * D + 2 * D * D // 8 + attn + DENSE // 8
    assert mtp_params_per_gpu(load_spec(str(FLASH)), par).total == 3 * one == 105_579_264
    assert weights(load_spec(str(FLASH)), parallel=par).per_gpu_params.mtp == 3 * one


# --------------------------------------------------------------------------- Step-3, counted by hand

D3, V3, R = 7168, 128815, 2048
# Step3TextAttention: q_proj 7168 -> 2048, inter_norm 2048, wq 2048 -> 64 x 256, k_proj and v_proj 7168 -> 256 (one
# K/V head), o_proj 64 x 256 -> 7168
ATTN3 = D3 * R + R + R * 64 * 256 + 2 * D3 * 256 + 64 * 256 * D3
DENSE3 = 3 * D3 * 18432
EXPERT3 = 3 * D3 * 5120
MOE3 = 48 * EXPERT3 + EXPERT3 + D3 * 48                 # routed, share_expert of 5120, moe.gate
# layers 4..59 MoE (56), layers 0-3 and 60 dense (the card's 5)
TOTAL3 = 61 * (ATTN3 + 2 * D3) + 5 * DENSE3 + 56 * MOE3 + 2 * V3 * D3 + D3
ACTIVE3 = TOTAL3 - 56 * (48 - 3) * EXPERT3 - (V3 - 1) * D3


def test_step3_hand_count_against_the_card():
    assert ATTN3 == 169_347_072
    assert TOTAL3 == 316_294_538_240      # "Total Parameters (LLM) 316B": 0.09% over
    assert ACTIVE3 == 37_917_989_888      # "Activated Params per Token 38B"


@pytest.mark.parametrize("wrapped", [True, False], ids=["step3_vl", "step3_text"])
def test_step3_by_hand(tmp_path, wrapped):
    """Before: refused by name ("Step-3's multi-matrix factorisation attention ... is not modelled"). After: MQA of
    one 256-dim K/V head under 64 query heads reached through a 2048-wide low-rank query (attention.q_lora_rank);
    layers 0-3 and 60 dense. The vision tower of step3_vl is left out."""
    cfg = _cfg(STEP3) if wrapped else _cfg(STEP3)["text_config"]
    s = _load(tmp_path, cfg)
    a, f = s.attention, s.ffn
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_head_dim, a.v_head_dim, a.q_lora_rank, a.qk_norm) == \
        ("mqa", 64, 1, 256, 256, 2048, False)
    assert (f.first_dense_layers, f.last_dense_layers, s.num_dense_layers, s.num_moe_layers) == (4, 1, 5, 56)
    assert not s.is_moe_layer(60) and s.is_moe_layer(59) and not s.is_moe_layer(3) and s.is_moe_layer(4)
    assert (s.num_layers, s.vocab_size, s.tie_word_embeddings, s.max_context, s.mtp_layers) == \
        (61, V3, False, 65536, 0)
    r = weights(s)
    assert r.params.total == TOTAL3
    assert r.active.total == ACTIVE3
    assert r.attention_per_layer == {"q_down": D3 * R, "q_norm": R, "q_up": R * 64 * 256, "k": D3 * 256,
                                     "v": D3 * 256, "o": 64 * 256 * D3}
    # KV: MQA's one head, K and V of 256 in bf16: 1,024 B a token and layer
    assert kv_report(s, context=1).per_token.total == 61 * 1 * (256 + 256) * 2 == 62_464
    assert ("vision tower is left out" in s.description) == wrapped


def test_step3_class_defaults_fill_what_a_file_leaves_out(tmp_path):
    """Step3TextConfig's defaults are the card's model (vLLM's copy of configuration_step3.py): a text_config that
    names its model_type alone is read as the fixture's."""
    s = _load(tmp_path, {"model_type": "step3_vl", "text_config": {"model_type": "step3_text"}})
    assert weights(s).params.total == TOTAL3


def test_step3_tp_8_replicates_the_query_down_projection():
    """vLLM's Step3TextAttention: qkv_proj (q_proj 7168 -> 2048, k_proj, v_proj) is a ReplicatedLinear, inter_norm
    whole, wq and o_proj split over the 8 ranks: 14,680,064 + 2,048 + 2 x 1,835,008 + (33,554,432 + 117,440,512) / 8."""
    from mlacalc.parallel import Parallelism

    r = weights(load_spec(str(STEP3)), parallel=Parallelism(tp=8))
    per_layer = D3 * R + R + 2 * D3 * 256 + (R * 64 * 256 + 64 * 256 * D3) // 8
    assert per_layer == 37_226_496
    assert r.per_gpu_params.attention == 61 * per_layer


# --------------------------------------------------------------------------- the CLI on the fixture paths

@pytest.mark.parametrize("folder,per_token,total,mtp", [
    (FLASH, 184_320, TOTAL, 3 * MTP_ONE), (STEP3, 62_464, TOTAL3, 0)])
def test_cli_kv_and_weights_json(capsys, folder, per_token, total, mtp):
    from helpers import run

    code, out, err, _ = run(capsys, "kv", str(folder), "--json")
    assert code == 0 and err == ""
    assert json.loads(out)["kv_bytes_per_token"] == per_token
    code, out, err, _ = run(capsys, "weights", str(folder / "config.json"), "--json")
    assert code == 0 and err == ""
    w = json.loads(out)
    assert (w["params_total"], w["params_mtp"]) == (total, mtp)


def test_cli_tables_name_the_new_blocks(capsys):
    from helpers import run

    code, out, _, _ = run(capsys, "weights", str(FLASH))
    assert code == 0 and "per sliding layer" in out and "│ g " in out
    code, out, _, _ = run(capsys, "weights", str(STEP3))
    assert code == 0 and "q_down" in out and "q_up" in out
    code, out, _, _ = run(capsys, "kv", str(STEP3))
    assert code == 0 and "MQA" in out


# --------------------------------------------------------------------------- what is not read: one line, exit 2

FLASH_BAD = [
    ({"layer_types": ["full_attention"] * 45}, "layer_types has 45 entries for 45 layers and 3 MTP layers"),
    ({"layer_types": ["full_attention"] * 47 + ["chunked_attention"]}, "layer type(s) chunked_attention are not "
                                                                       "modelled"),
    ({"attention_other_setting": {"attention_type": "sliding_attention", "num_attention_heads": 96}},
     "attention_other_setting has no num_attention_groups"),
    ({"attention_other_setting": {"attention_type": "full_attention", "num_attention_heads": 96,
                                  "num_attention_groups": 8, "head_dim": 128}},
     "attention_other_setting for 'full_attention' layers"),
    ({"attention_other_setting": {"attention_type": "sliding_attention", "num_attention_heads": "96",
                                  "num_attention_groups": 8, "head_dim": 128}},
     "attention_other_setting.num_attention_heads must be a whole number of at least 1, got '96'"),
    ({"attention_other_setting": [96]}, "attention_other_setting must be a mapping"),
    ({"partial_rotary_factors": [0.5] * 47 + [1.0]}, "partial_rotary_factors that differ between layers of one type"),
    ({"partial_rotary_factors": [0.5] * 3}, "partial_rotary_factors must be one fraction from 0 to 1 a layer (48)"),
    ({"moe_layers_enum": "3,4,6"}, "moe_layers_enum with a dense layer between its MoE layers (layer 5)"),
    ({"moe_layers_enum": "3,x"}, "moe_layers_enum must name layers as whole numbers separated by commas"),
    ({"moe_layers_enum": "3,99"}, "moe_layers_enum names layer 99, outside the 48 layers"),
    ({"moe_layers_enum": "3,3"}, "moe_layers_enum names a layer twice"),
    ({"moe_layers_enum": 7}, "moe_layers_enum must be a string of layer numbers separated by commas, got 7"),
    ({"moe_layers_enum": None}, "without moe_layers_enum its MoE layers are not known"),
    ({"moe_layers_enum": ",".join(map(str, range(3, 46)))}, "MTP layers of different FFNs (moe_layers_enum names "
                                                             "some of them)"),
    ({"layer_types": ["full_attention" if i % 4 == 0 else "sliding_attention" for i in range(47)] + ["full_attention"],
      "partial_rotary_factors": [1.0] * 48}, "MTP layers of both attention types, whose shapes differ, are not "
                                             "modelled"),
    ({"share_expert_dim": None}, "has no share_expert_dim, which sizes the model"),
    ({"num_attention_groups": None}, "has no num_attention_groups, which sizes the model"),
    ({"num_attention_groups": "8"}, "num_attention_groups must be a whole number of at least 1, got '8'"),
    ({"num_key_value_heads": 4}, "num_key_value_heads 4 and num_attention_groups 8 disagree"),
    ({"att_impl_type": "MFA"}, "att_impl_type 'MFA' (vLLM's step3p5 builds GQA only) is not modelled"),
    ({"use_head_wise_attn_gate": "yes"}, "use_head_wise_attn_gate must be true or false"),
    ({"sliding_window": None}, "has no sliding_window, which sizes the model"),
]


@pytest.mark.parametrize("changes,words", FLASH_BAD)
def test_bad_step_3_5_configs_are_one_line(capsys, tmp_path, changes, words):
    from helpers import refused

    (tmp_path / "config.json").write_text(json.dumps(_cfg(FLASH) | changes))
    refused(capsys, "weights", str(tmp_path), words=f"model_type step3p5: {words}")


@pytest.mark.parametrize("changes,words", [
    ({"num_attention_groups": 8}, "num_attention_groups 8: Step3TextAttention builds one K/V head"),
    ({"tie_word_embeddings": True}, "tie_word_embeddings true (vLLM's Step3TextForCausalLM builds lm_head apart)"),
    ({"num_nextn_predict_layers": 1}, "num_nextn_predict_layers (Step-3 has no MTP module"),
    ({"share_q_dim": -1}, "share_q_dim must be a whole number of at least 0, got -1"),
    ({"moe_layers_enum": "4,5,60,61"}, "moe_layers_enum names layer 61, outside the 61 layers"),
])
def test_bad_step3_configs_are_one_line(capsys, tmp_path, changes, words):
    from helpers import refused

    cfg = _cfg(STEP3)
    cfg["text_config"] |= changes
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    refused(capsys, "kv", str(tmp_path), words=f"model_type step3_text: {words}")


# --------------------------------------------------------------------------- the readings vLLM's code gives

def test_step_3_5_without_layer_types_makes_the_even_layers_sliding(tmp_path):
    """vLLM's Step3p5Attention without layer_types: enable_sliding_window = layer_idx % 2 == 0, and the decoder layer
    applies attention_other_setting only where layer_types names its type: every layer has the top-level heads."""
    cfg = {k: v for k, v in _cfg(FLASH).items() if k not in ("layer_types", "partial_rotary_factors")}
    s = _load(tmp_path, cfg)
    assert s.layer_types == ("sliding", "full") * 22 + ("sliding",)
    assert s.attention_shapes == 1 and s.sliding_attention.num_heads == 64
    assert s.mtp_layer_type is None and s.mtp_ffn == "dense"


def test_step_3_5_null_other_setting_values_are_the_top_levels(tmp_path):
    """vLLM: ``num_attention_groups if num_attention_groups else config.num_attention_groups`` (and so on): a null
    entry keeps the full layers' value."""
    other = {"attention_type": "sliding_attention", "num_attention_heads": None, "num_attention_groups": 4,
             "head_dim": None}
    s = _load(tmp_path, _cfg(FLASH) | {"attention_other_setting": other})
    w = s.sliding_attention
    assert (w.num_heads, w.num_kv_heads, w.qk_head_dim) == (64, 4, 128)
    # KV a token until the window fills: 12 full x 8 x 256 x 2 + 33 sliding x 4 x 256 x 2
    assert kv_report(s, context=1).per_token.total == 12 * 4096 + 33 * 2048


def test_step_3_5_moe_mtp_layers_and_its_step3p7_wrapper(tmp_path):
    """moe_layers_enum naming the MTP layers (45-47) makes their FFN the MoE; Step-3.7 (step3p7) wraps a step3p5
    decoder in text_config, read as it with the vision tower left out."""
    s = _load(tmp_path, _cfg(FLASH) | {"moe_layers_enum": ",".join(map(str, range(3, 48)))})
    assert s.mtp_ffn == "moe"
    assert weights(s).mtp_params == 3 * (MTP_ONE - DENSE + MOE)
    wrapped = {"model_type": "step3p7", "architectures": ["Step3p7ForConditionalGeneration"],
               "vision_config": {"model_type": "perception_encoder"}, "text_config": _cfg(FLASH)}
    s = _load(tmp_path, wrapped)
    assert weights(s).params.total == TOTAL and "the text decoder of step3p7" in s.description


def test_step_3_5_training_memory_is_refused_in_one_line(capsys):
    from helpers import refused

    refused(capsys, "train", str(FLASH), words="training memory with a head-wise output gate")


def test_step3_fp8_keeping_its_query_down_projection(tmp_path):
    """A block-fp8 checkpoint that leaves every layer's q_proj (Step-3's query down projection) in bf16: the
    projection kept is q_down, not q; the rest of the attention at 8 bits with one fp32 scale per 128 x 128."""
    cfg = _cfg(STEP3)
    cfg["quantization_config"] = {"quant_method": "fp8", "weight_block_size": [128, 128],
                                  "ignored_layers": [f"model.layers.{i}.self_attn.q_proj" for i in range(61)]}
    s = _load(tmp_path, cfg)
    assert s.quantization.unquantized == ("q_down",)
    r = weights(s)
    assert r.params.attention_unquantized == 61 * D3 * R
    assert r.bytes.attention_unquantized == 61 * D3 * R * 2


def test_step3p5_fp8_names_its_modules(tmp_path):
    """Step-3.5's names (vLLM step3p5.py): the experts stacked under moe, the shared expert at share_expert, the
    router moe.gate; an fp8 list that leaves the routers and every g_proj unquantized beside three MTP layers is
    one line (projections kept apart beside MTP modules priced whole are not modelled)."""
    cfg = _cfg(FLASH) | {"quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128],
                                                 "modules_to_not_convert": ["moe.gate"]}}
    s = _load(tmp_path, cfg)
    assert set(s.quantization.components) == {"attention", "dense_ffn", "shared_experts", "routed_experts", "mtp"}
    cfg["quantization_config"]["modules_to_not_convert"] = ["g_proj"]
    with pytest.raises(SpecError, match="leaves part of the attention unquantized .*g_proj.* beside 3 MTP modules"):
        _load(tmp_path, cfg)
    cfg["num_nextn_predict_layers"] = 0
    cfg["layer_types"] = cfg["layer_types"][:45]
    cfg["partial_rotary_factors"] = cfg["partial_rotary_factors"][:45]
    assert _load(tmp_path, cfg).quantization.unquantized == ("g",)
