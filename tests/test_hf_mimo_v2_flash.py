"""MiMo-V2-Flash (``mimo_v2_flash``, XiaomiMiMo/MiMo-V2-Flash): sliding layers with an attention shape of their own,
read from a config.json (before: refused by name, "no whole config.json was pinned").

Keys: no whole copy of the release's config.json is in the corpora (the Hub blob pages are cut off inside the fp8
``ignored_layers`` list). The release's keys are taken from NVIDIA Megatron-Bridge's unit test
``tests/unit_tests/models/mimo_v2_flash/test_mimo_v2_flash_bridge.py`` (``_MIMO_V2_FLASH_CONFIG``: every key of the
release, at 6 layers; code corpus file id 55001597284), with the layer count and the two per-layer lists at the
release's 48 as MiMoV2FlashConfig's defaults build them ("matching the XiaomiMiMo/MiMo-V2-Flash pretrained",
transformers ``models/mimo_v2_flash/configuration_mimo_v2_flash.py``: layer 0 and every 6th full, layer 0 dense) and
as a Rust port's test of the hub config counts them (9 full layers, layer 5 full; code file id 70913730321). NeMo
AutoModel's MiMoV2FlashConfig defaults (docs.nvidia.com, nemo_automodel.components.models.mimo_v2_flash.config) give
the same sizes: vocab 152576, 4096, 16384, 2048, 48 layers, 64 heads, 4 / 8 KV heads, 192 / 128 head dims.

The model (transformers ``modular_mimo_v2_flash.py``, code file id 53839583422): MiMoV2FlashAttention is Qwen2Attention
with q/k of 192, v of 128, o_proj 64 x 128 -> 4096; a sliding layer has 2 x num_key_value_heads KV heads and 64 sink
logits; LlamaDecoderLayer's two RMSNorms; Glm4MoeMLP of 16384 on layer 0, DeepseekV3MoE without shared experts (256
gated experts of 2048, top 8, a bias-free router 4096 -> 256) on the others; an untied head.

The card: "309B total parameters and 15B activated parameters"; "every five attention layers with a sliding window
pattern are alternated with one dense GQA", a 128-token window (lm-sys blog 2025-12-15, README).
"""

from __future__ import annotations

import pytest

from mlacalc.errors import SpecError
from mlacalc.kv import kv_report
from mlacalc.params import weights_report as weights
from mlacalc.spec import load_spec

L = 48
# Megatron-Bridge's transcription of the release's config.json (6 layers there), Python literals as JSON
RELEASE = {
    "architectures": ["MiMoV2FlashForCausalLM"], "model_type": "mimo_v2_flash", "transformers_version": "4.40.1",
    "use_cache": True, "torch_dtype": "bfloat16",
    "num_hidden_layers": 6, "hidden_size": 4096, "intermediate_size": 16384, "num_attention_heads": 64,
    "num_key_value_heads": 4, "head_dim": 192, "vocab_size": 152576, "max_position_embeddings": 262144,
    "rope_theta": 5000000, "rms_norm_eps": 1e-5, "initializer_range": 0.02, "tie_word_embeddings": False,
    "attention_bias": False, "mlp_bias": False, "hidden_act": "silu", "partial_rotary_factor": 0.334,
    "rope_scaling": None, "use_qk_norm": False, "attention_dropout": 0.0, "hidden_dropout": 0.0,
    "layernorm_epsilon": 1e-5, "v_head_dim": 128, "hybrid_layer_pattern": [0, 1, 1, 1, 0, 1],
    "sliding_window_size": 128, "sliding_window": 128, "attention_chunk_size": 128, "swa_rope_theta": 10000,
    "swa_num_key_value_heads": 8, "swa_num_attention_heads": 64, "swa_head_dim": 192, "swa_v_head_dim": 128,
    "add_swa_attention_sink_bias": True, "add_full_attention_sink_bias": False, "attention_value_scale": 0.707,
    "moe_layer_freq": [0, 1, 1, 1, 1, 1], "n_routed_experts": 256, "moe_intermediate_size": 2048,
    "num_experts_per_tok": 8, "scoring_func": "sigmoid", "n_shared_experts": None, "n_group": 1, "topk_group": 1,
    "topk_method": "noaux_tc", "norm_topk_prob": True, "routed_scaling_factor": None,
}
FULL = [i for i in range(L) if i == 0 or (i + 1) % 6 == 0]          # 0, 5, 11, ..., 47
AT_48 = RELEASE | {"num_hidden_layers": L, "hybrid_layer_pattern": [0 if i in FULL else 1 for i in range(L)],
                   "moe_layer_freq": [0] + [1] * (L - 1)}
# transformers' native spelling (convert_mimo_v2_flash_weights_to_hf.py drops the swa_* keys, the sink switches,
# sliding_window_size, n_shared_experts; per-layer lists become layer_types / mlp_layer_types; RoPE per layer type)
NATIVE = {k: v for k, v in AT_48.items() if not k.startswith(("swa_", "add_")) and k not in (
    "hybrid_layer_pattern", "moe_layer_freq", "sliding_window_size", "attention_chunk_size", "n_shared_experts",
    "scoring_func", "topk_method", "rope_theta", "partial_rotary_factor", "rope_scaling", "layernorm_epsilon")} | {
    "layer_types": ["full_attention" if i in FULL else "sliding_attention" for i in range(L)],
    "mlp_layer_types": ["dense"] + ["sparse"] * (L - 1), "rms_norm_eps": 1e-5, "routed_scaling_factor": 1.0,
    "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 5000000,
                                           "partial_rotary_factor": 0.334},
                        "sliding_attention": {"rope_type": "default", "rope_theta": 10000,
                                              "partial_rotary_factor": 0.334}}}


def _load(tmp_path, cfg):
    import json

    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return load_spec(str(tmp_path))


# the hand count, shared by both spellings
D, V, E = 4096, 152576, 256
Q, O = D * 64 * 192, 64 * 128 * D                        # q_proj 4096 -> 64 x 192; o_proj 64 x 128 -> 4096
FULL_ATTN = Q + D * 4 * 192 + D * 4 * 128 + O + 64       # k, v of 4 KV heads; 64 sink logits (see below)
SWA_ATTN = Q + D * 8 * 192 + D * 8 * 128 + O + 64        # k, v of 8 KV heads
EXPERT = 3 * D * 2048
DENSE_MLP = 3 * D * 16384
MOE = E * EXPERT + D * E                                 # experts and the bias-free router
TOTAL = 9 * FULL_ATTN + 39 * SWA_ATTN + DENSE_MLP + 47 * MOE + 48 * 2 * D + 2 * V * D + D
ACTIVE = TOTAL - 47 * (E - 8) * EXPERT - (V - 1) * D     # 8 of 256 experts; one embedding row


def test_hand_count_is_the_cards_309b_and_15b():
    assert (FULL_ATTN, SWA_ATTN) == (89_129_024, 94_371_904)
    assert TOTAL == 308_778_769_408            # the card's "309B total" (0.07% under; see the next test)
    assert ACTIVE == 14_820_977_664            # the card's "15B activated"


@pytest.mark.parametrize("cfg", [AT_48, NATIVE], ids=["release", "native"])
def test_mimo_v2_flash_by_hand(tmp_path, cfg):
    """9 full layers (0, 5, 11, ..., 47) of 64 query / 4 KV heads, 39 sliding ones of 64 / 8, q/k 192 (RoPE over
    round(192 x 0.334) = 64 dims), v 128; layer 0 dense, 47 MoE layers. The 3 MTP layers the checkpoint carries are
    not named by the config (Megatron-Bridge finds them from the weights' names), so not counted: the README's
    0.33 B a block would bring 308.78 B to about 309.8 B, both "309B".

    Sinks: MiMo's are on the sliding layers only (39 x 64); the spec's flag puts 64 on every layer, 576 more of 309 B.

    KV (bf16) a token: full 4 x (192 + 128) x 2 B = 2,560 a layer, sliding 8 x 320 x 2 = 5,120: 9 x 2,560 +
    39 x 5,120 = 222,720 B until the 128-token window fills; at 262,144 tokens the sliding layers hold 128."""
    s = _load(tmp_path, cfg)
    a, w = s.attention, s.sliding_attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim) == \
        ("gqa", 64, 4, 128, 64, 128)
    assert (w.num_heads, w.num_kv_heads, w.qk_head_dim, w.v_head_dim) == (64, 8, 192, 128)
    assert (a.sliding_window, a.sinks, a.qkv_bias, a.o_bias, a.qk_norm) == (128, True, False, False, False)
    f = s.ffn
    assert (f.kind, f.num_experts, f.experts_per_token, f.num_shared_experts, f.first_dense_layers,
            f.intermediate_size, f.expert_intermediate_size) == ("moe", 256, 8, 0, 1, 16384, 2048)
    assert (s.num_layers, s.vocab_size, s.tie_word_embeddings, s.max_context, s.mtp_layers) == \
        (48, V, False, 262144, 0)
    r = weights(s)
    assert r.params.total == TOTAL
    assert r.active.total == ACTIVE
    assert kv_report(s, context=1).per_token.total == 9 * 4 * 320 * 2 + 39 * 8 * 320 * 2 == 222_720
    assert kv_report(s, context=262144).per_sequence.total == \
        9 * 262144 * 4 * 320 * 2 + 39 * 128 * 8 * 320 * 2 == 6_065_356_800


def test_the_six_layer_transcription_as_written(tmp_path):
    """Megatron-Bridge's 6 layers as given: full layers 0 and 4 ([0, 1, 1, 1, 0, 1]), layer 0 dense."""
    s = _load(tmp_path, RELEASE)
    assert s.layer_types == ("full", "sliding", "sliding", "sliding", "full", "sliding")
    r = weights(s)
    assert r.params.total == 2 * FULL_ATTN + 4 * SWA_ATTN + DENSE_MLP + 5 * MOE + 6 * 2 * D + 2 * V * D + D
    assert kv_report(s, context=1).per_token.total == 2 * 2560 + 4 * 5120


def test_mtp_layers_take_the_sliding_shape(tmp_path):
    """Where a config names its MTP layers, each is priced with the sliding block (MiMo's MTP layers are SWA)."""
    s = _load(tmp_path, AT_48 | {"num_nextn_predict_layers": 3})
    assert (s.mtp_layers, s.mtp_layer_type) == (3, "sliding")


@pytest.mark.parametrize("changes,words", [
    ({"hybrid_layer_pattern": [0, 1]}, "model_type mimo_v2_flash: hybrid_layer_pattern names 2 layers for "
                                       "num_hidden_layers 48"),
    ({"hybrid_layer_pattern": "LLLG"}, "model_type mimo_v2_flash: hybrid_layer_pattern must be a list of 0 and 1"),
    ({"moe_layer_freq": [1] * 47 + [0]}, "mlp_layer_types other than leading dense layers"),
    ({"n_shared_experts": 1}, "n_shared_experts (MiMo-V2-Flash's MoE has no shared experts) is not modelled"),
    ({"sliding_window_size": 256}, "sliding_window 128 and sliding_window_size 256 disagree"),
    ({"swa_num_key_value_heads": "8"}, "swa_num_key_value_heads must be a whole number of at least 1"),
])
def test_bad_mimo_configs_are_one_line(capsys, tmp_path, changes, words):
    import json

    from helpers import refused

    (tmp_path / "config.json").write_text(json.dumps(AT_48 | changes))
    refused(capsys, "weights", str(tmp_path), words=words)


def test_native_partial_rope_per_layer_type_refused(tmp_path):
    rp = {"full_attention": {"rope_theta": 5e6, "partial_rotary_factor": 0.334},
          "sliding_attention": {"rope_theta": 1e4, "partial_rotary_factor": 0.5}}
    with pytest.raises(SpecError, match="a partial RoPE factor of each layer type is not modelled"):
        _load(tmp_path, NATIVE | {"rope_parameters": rp})
