"""Real Hugging Face config.json files (tests/fixtures/hf/<family>/) read through ``load_spec``.

Each fixture is the public config of one model (trimmed of fields that do not bear on sizing). The expected
numbers are typed in by hand from those configs; where a built-in spec describes the same model, the spec read
from the HF config must equal it in every field the calculator uses.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlacalc.errors import SpecError
from mlacalc.params import weights_report as weights
from mlacalc.spec import load_spec

FIXTURES = Path(__file__).parent / "fixtures" / "hf"

# family folder -> the public config it reproduces
SOURCES = {
    "deepseek_v2": "https://huggingface.co/deepseek-ai/DeepSeek-V2-Lite/blob/main/config.json",
    "deepseek_v3": "https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json",
    "kimi_k2": "https://huggingface.co/moonshotai/Kimi-K2-Instruct/blob/main/config.json",
    "llama": "https://huggingface.co/meta-llama/Llama-3.1-8B/blob/main/config.json",
    "mistral": "https://huggingface.co/mistralai/Mistral-7B-v0.1/blob/main/config.json",
    "mixtral": "https://huggingface.co/mistralai/Mixtral-8x7B-v0.1/blob/main/config.json",
    "qwen2": "https://huggingface.co/Qwen/Qwen2.5-7B/blob/main/config.json",
    "qwen3": "https://huggingface.co/Qwen/Qwen3-0.6B/blob/main/config.json",
    "qwen3_moe": "https://huggingface.co/Qwen/Qwen3-235B-A22B/blob/main/config.json",
    "gemma2": "https://huggingface.co/google/gemma-2-9b/blob/main/config.json",
    # The 2026 zoo: reconstructions of the public files (docs/zoo-facts.md section 0 says what was checked)
    "deepseek_v32": "https://huggingface.co/deepseek-ai/DeepSeek-V3.2-Exp/blob/main/config.json",
    "glm_5": "https://huggingface.co/zai-org/GLM-5/blob/main/config.json",
    "kimi_linear_48b_a3b": "https://huggingface.co/moonshotai/Kimi-Linear-48B-A3B-Instruct/blob/main/config.json",
    "qwen3_next_80b_a3b": "https://huggingface.co/Qwen/Qwen3-Next-80B-A3B-Instruct/blob/main/config.json",
    "gpt_oss_120b": "https://huggingface.co/openai/gpt-oss-120b/blob/main/config.json",
    "gpt_oss_20b": "https://huggingface.co/openai/gpt-oss-20b/blob/main/config.json",
    "gemma_3_27b": "https://huggingface.co/google/gemma-3-27b-it/blob/main/config.json",
    "llama_4_scout": "https://huggingface.co/meta-llama/Llama-4-Scout-17B-16E/blob/main/config.json",
    "minicpm3_4b": "https://huggingface.co/openbmb/MiniCPM3-4B/blob/main/config.json",
    "gpt2": "https://huggingface.co/openai-community/gpt2/blob/main/config.json",
    "falcon_7b": "https://huggingface.co/tiiuae/falcon-7b/blob/main/config.json",
    "falcon_40b": "https://huggingface.co/tiiuae/falcon-40b/blob/main/config.json",
    "longcat_flash": "https://huggingface.co/meituan-longcat/LongCat-Flash-Chat/blob/main/config.json",
    "llama_3_2_11b_vision": "https://huggingface.co/meta-llama/Llama-3.2-11B-Vision/blob/main/config.json",
    "olmo_2_7b": "https://huggingface.co/allenai/OLMo-2-1124-7B/blob/main/config.json",
    "kimi_k2_thinking": "https://huggingface.co/moonshotai/Kimi-K2-Thinking/blob/main/config.json",
}

REFUSED = {"longcat_flash"}   # fixtures the import refuses (one line each; see test_refusals_are_one_line)

# family folder -> built-in spec of the same model
SAME_MODEL = {
    "deepseek_v2": "deepseek-v2-lite",
    "deepseek_v3": "deepseek-v3",
    "kimi_k2": "kimi-k2",
    "llama": "llama-3.1-8b",
    "mistral": "mistral-7b",
    "mixtral": "mixtral-8x7b",
    "qwen2": "qwen2.5-7b",
    "qwen3_moe": "qwen3-235b-a22b",
    "deepseek_v32": "deepseek-v3.2",
    "glm_5": "glm-5",
    "kimi_linear_48b_a3b": "kimi-linear-48b-a3b",
    "qwen3_next_80b_a3b": "qwen3-next-80b-a3b",
    "gpt_oss_120b": "gpt-oss-120b",
    "gpt_oss_20b": "gpt-oss-20b",
    "gemma_3_27b": "gemma-3-27b",
    "llama_4_scout": "llama-4-scout",
    "minicpm3_4b": "minicpm3-4b",
}

# parameter totals pinned in tests/test_zoo.py (a transformers meta-device count of the same configs)
PINNED = {
    "deepseek_v32": 671_877_929_216, "glm_5": 743_911_199_232, "kimi_linear_48b_a3b": 49_122_675_072,
    "qwen3_next_80b_a3b": 79_674_391_296, "gpt_oss_120b": 116_829_156_672, "gpt_oss_20b": 20_914_757_184,
    "gemma_3_27b": 27_009_346_304, "llama_4_scout": 107_769_861_120, "minicpm3_4b": 4_073_875_968,
}


def hf(family: str):
    return load_spec(str(FIXTURES / family / "config.json"))


def test_every_fixture_is_listed():
    assert sorted(p.name for p in FIXTURES.iterdir() if (p / "config.json").is_file()) == sorted(SOURCES)


@pytest.mark.parametrize("family", sorted(set(SOURCES) - REFUSED))
def test_fixture_loads_from_file_and_folder(family):
    by_file = hf(family)
    by_folder = load_spec(str(FIXTURES / family))
    assert by_file == by_folder
    assert by_file.name == family  # named after the folder that holds config.json


def test_deepseek_v2_lite():
    s = hf("deepseek_v2")
    a, f = s.attention, s.ffn
    assert (s.num_layers, s.hidden_size, s.vocab_size, s.tie_word_embeddings) == (27, 2048, 102400, False)
    assert a.kind == "mla" and a.num_heads == 16 and a.num_kv_heads == 16
    assert a.q_lora_rank is None  # "q_lora_rank": null -> full-rank query
    assert (a.kv_lora_rank, a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim) == (512, 128, 64, 128)
    assert (f.kind, f.num_experts, f.experts_per_token, f.num_shared_experts) == ("moe", 64, 6, 2)
    assert (f.expert_intermediate_size, f.intermediate_size, f.first_dense_layers) == (1408, 10944, 1)
    assert s.num_moe_layers == 26
    assert s.mtp_layers == 0 and s.dtypes.weights == "bf16"


def test_deepseek_v3():
    s = hf("deepseek_v3")
    a, f = s.attention, s.ffn
    assert (s.num_layers, s.hidden_size, s.vocab_size) == (61, 7168, 129280)
    assert a.kind == "mla" and a.num_heads == 128
    assert (a.q_lora_rank, a.kv_lora_rank, a.qk_rope_head_dim, a.qk_nope_head_dim, a.v_head_dim) == \
        (1536, 512, 64, 128, 128)
    assert (f.num_experts, f.experts_per_token, f.num_shared_experts, f.expert_intermediate_size) == \
        (256, 8, 1, 2048)
    assert (f.intermediate_size, f.first_dense_layers) == (18432, 3)
    assert s.mtp_layers == 1  # num_nextn_predict_layers
    assert s.dtypes.weights == "fp8"  # quantization_config quant_method fp8, despite torch_dtype bfloat16


def test_kimi_k2():
    s = hf("kimi_k2")
    a, f = s.attention, s.ffn
    assert (s.num_layers, s.hidden_size, s.vocab_size) == (61, 7168, 163840)
    assert a.kind == "mla" and a.num_heads == 64
    assert (a.q_lora_rank, a.kv_lora_rank, a.qk_rope_head_dim) == (1536, 512, 64)
    assert (f.num_experts, f.experts_per_token, f.num_shared_experts, f.first_dense_layers) == (384, 8, 1, 1)
    assert s.mtp_layers == 0 and s.dtypes.weights == "fp8"


def test_llama_3_1_8b():
    s = hf("llama")
    a = s.attention
    assert (s.num_layers, s.hidden_size, s.vocab_size, s.tie_word_embeddings) == (32, 4096, 128256, False)
    assert (a.kind, a.num_heads, a.num_kv_heads, a.group_size) == ("gqa", 32, 8, 4)
    assert (a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim) == (0, 128, 128)  # 4096 / 32, full RoPE
    assert not a.qkv_bias and not a.qk_norm and a.sliding_window is None
    assert (s.ffn.kind, s.ffn.intermediate_size, s.ffn.gated) == ("dense", 14336, True)


def test_mistral_7b_sliding_window():
    s = hf("mistral")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_head_dim) == ("gqa", 32, 8, 128)
    assert a.sliding_window == 4096 and a.global_every is None  # every layer local
    assert (s.vocab_size, s.ffn.intermediate_size) == (32000, 14336)


def test_mixtral_8x7b():
    s = hf("mixtral")
    f = s.ffn
    assert (f.kind, f.num_experts, f.experts_per_token, f.num_shared_experts) == ("moe", 8, 2, 0)
    assert f.expert_intermediate_size == 14336 and f.first_dense_layers == 0  # num_local_experts on every layer
    assert s.num_moe_layers == 32
    assert s.attention.sliding_window is None  # "sliding_window": null


def test_qwen2_5_7b():
    s = hf("qwen2")
    a = s.attention
    assert (s.num_layers, s.hidden_size, s.vocab_size, s.tie_word_embeddings) == (28, 3584, 152064, False)
    assert (a.num_heads, a.num_kv_heads, a.qk_head_dim) == (28, 4, 128)
    assert a.qkv_bias is True
    assert a.sliding_window is None  # carried as 131072 but use_sliding_window: false
    assert s.ffn.intermediate_size == 18944


def test_qwen3_explicit_head_dim():
    s = hf("qwen3")
    a = s.attention
    assert s.hidden_size // a.num_heads == 64
    assert a.qk_head_dim == 128 and a.v_head_dim == 128  # head_dim wins over hidden/heads
    assert (a.num_heads, a.num_kv_heads) == (16, 8)
    assert a.qk_norm is True and a.qkv_bias is False
    assert s.tie_word_embeddings is True
    assert (s.num_layers, s.vocab_size, s.ffn.intermediate_size) == (28, 151936, 3072)


def test_qwen3_moe_235b():
    s = hf("qwen3_moe")
    a, f = s.attention, s.ffn
    assert s.hidden_size // a.num_heads == 64 and a.qk_head_dim == 128
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_norm) == ("gqa", 64, 4, True)
    assert (f.kind, f.num_experts, f.experts_per_token, f.num_shared_experts) == ("moe", 128, 8, 0)
    assert (f.expert_intermediate_size, f.first_dense_layers) == (1536, 0)
    assert (s.num_layers, s.vocab_size) == (94, 151936)


def test_gemma2_9b():
    s = hf("gemma2")
    a = s.attention
    assert s.hidden_size // a.num_heads == 224
    assert a.qk_head_dim == 256 and a.v_head_dim == 256
    assert (a.kind, a.num_heads, a.num_kv_heads) == ("gqa", 16, 8)
    assert a.sliding_window == 4096 and a.global_every == 2  # alternating local / global
    assert s.tie_word_embeddings is True  # no key in config.json; Gemma2Config ties by default
    assert s.ffn.gated is True and s.ffn.intermediate_size == 14336  # GeGLU
    assert (s.num_layers, s.vocab_size) == (42, 256000)
    assert s.dtypes.weights == "bf16"  # torch_dtype float32: engines serve it at 16 bits
    assert s.norms_per_layer == 4      # pre- and post-norms around attention and the MLP
    # per layer: q 3584 x 16*256, k and v 3584 x 8*256, o 16*256 x 3584, GeGLU 3 x 3584 x 14336, 4 norms of 3584
    layer = 3584 * 4096 + 2 * 3584 * 2048 + 4096 * 3584 + 3 * 3584 * 14336 + 4 * 3584
    assert weights(s).params.total == 42 * layer + 256000 * 3584 + 3584 == 9_241_705_984  # tied head; "9.24B"


@pytest.mark.parametrize("family,builtin", sorted(SAME_MODEL.items()))
def test_hf_config_equals_builtin_spec(family, builtin):
    """Every field the calculator uses; name, source and description are words, and max_context is compared
    where the built-in gives one."""
    got, want = hf(family), load_spec(builtin)
    assert got.attention == want.attention
    assert got.ffn == want.ffn
    for field in ("num_layers", "hidden_size", "vocab_size", "tie_word_embeddings", "mtp_layers", "layer_types",
                  "linear_attention", "norms_per_layer", "image_tokens", "dtypes", "quantization"):
        assert getattr(got, field) == getattr(want, field), field
    if want.max_context is not None:
        assert got.max_context == want.max_context
    assert weights(got).params.total == weights(want).params.total
    assert weights(got).bytes.total == weights(want).bytes.total


@pytest.mark.parametrize("family", sorted(PINNED))
def test_imported_parameter_totals_match_the_zoo(family):
    assert weights(hf(family)).params.total == PINNED[family]


@pytest.mark.parametrize("family,builtin", sorted(SAME_MODEL.items()))
def test_builtin_names_the_config_it_came_from(family, builtin):
    assert load_spec(builtin).source == SOURCES[family]


def test_layer_types_pattern(tmp_path):
    """Newer transformers write the local/global pattern out per layer; it is read back as global_every."""
    import json

    cfg = json.loads((FIXTURES / "gemma2" / "config.json").read_text())
    cfg["layer_types"] = ["sliding_attention", "full_attention"] * 21
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    s = load_spec(str(tmp_path))
    assert s.layer_types == ("sliding", "full") and s.attention.sliding_window == 4096  # the repeating period
    assert [s.layer_type(i) for i in range(42)] == [hf("gemma2").layer_type(i) for i in range(42)]
    cfg["layer_types"] = ["full_attention"] * 42
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert load_spec(str(tmp_path)).attention.sliding_window is None


# ------------------------------------------------------------------------------------------------ the 2026 zoo

def test_kimi_linear_full_attn_layers_are_one_based():
    s = hf("kimi_linear_48b_a3b")
    # full_attn_layers [4, 8, ..., 24, 27] (1-based) -> 0-based 3, 7, ..., 23, 26: 7 MLA layers, 20 KDA
    assert [i for i in range(27) if s.layer_type(i) == "full"] == [3, 7, 11, 15, 19, 23, 26]
    assert s.attention.kind == "mla" and s.attention.q_lora_rank is None  # "q_lora_rank": null
    b = s.linear_attention
    assert (b.kind, b.num_k_heads, b.num_v_heads, b.head_k_dim, b.conv_kernel_size) == ("kda", 32, 32, 128, 4)
    assert s.max_context == 1048576  # model_max_length: the config has no max_position_embeddings


def test_qwen3_next_pattern_from_full_attention_interval():
    s = hf("qwen3_next_80b_a3b")
    assert s.layer_types == ("linear", "linear", "linear", "full")  # full_attention_interval 4
    a = s.attention
    assert (a.qk_nope_head_dim, a.qk_rope_head_dim) == (192, 64)  # head_dim 256, partial_rotary_factor 0.25
    assert a.output_gate and a.qk_norm and s.ffn.shared_expert_gate


def test_gpt_oss_reads_expert_width_sinks_biases_and_mxfp4():
    s = hf("gpt_oss_120b")
    assert s.layer_types == ("sliding", "full") and s.attention.sliding_window == 128
    assert s.attention.sinks and s.attention.qkv_bias and s.attention.o_bias  # attention_bias: true
    assert s.ffn.expert_intermediate_size == 2880 and s.ffn.expert_bias and s.ffn.router_bias
    q = s.quantization
    # modules_to_not_convert: self_attn, mlp.router, embed_tokens, lm_head -> only the experts are MXFP4
    assert (q.method, q.bits, q.group_size, q.scale_bits, q.components) == ("mxfp4", 4, 32, 8, ("routed_experts",))
    assert s.dtypes.weights == "bf16"


def test_gemma3_text_config_takes_family_defaults():
    s = hf("gemma_3_27b")
    assert s.vocab_size == 262208 and s.attention.global_every == 6  # neither is in text_config
    assert s.tie_word_embeddings and s.norms_per_layer == 4 and s.attention.qk_norm
    assert s.max_context == 131072 and "vision tower is left out" in s.description


def test_llama4_chunked_layers_and_dense_width():
    s = hf("llama_4_scout")
    assert s.layer_types == ("chunked", "chunked", "chunked", "full") and s.attention.chunk_size == 8192
    assert (s.ffn.expert_intermediate_size, s.ffn.intermediate_size, s.ffn.num_shared_experts) == (8192, 16384, 1)
    assert not s.attention.qk_norm  # use_qk_norm is an L2 norm without weights


def test_llama4_interleaved_moe_is_refused(tmp_path):
    import json

    cfg = json.loads((FIXTURES / "llama_4_scout" / "config.json").read_text())
    cfg["text_config"]["interleave_moe_layer_step"] = 2  # Maverick: MoE on every other layer
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SpecError, match="model_type llama4_text: MoE on some layers only"):
        load_spec(str(tmp_path))


def test_minicpm3_without_model_type_or_v_head_dim():
    s = hf("minicpm3_4b")  # no model_type key: read from architectures MiniCPM3ForCausalLM
    assert s.attention.v_head_dim == 2560 // 40 and s.tie_word_embeddings


def test_mllama_cross_attention_layers():
    s = hf("llama_3_2_11b_vision")
    # cross_attention_layers [3, 8, ..., 38] among 40 text layers: every 5th from layer 3
    assert s.layer_types == ("full", "full", "full", "cross", "full")
    assert s.count_layers("cross") == 8 and "vision tower is left out" in s.description


def test_gpt2_counts_what_the_spec_can_express():
    s = hf("gpt2")
    a = s.attention
    assert (a.kind, a.num_heads, a.qk_head_dim, a.qk_rope_head_dim) == ("mha", 12, 64, 0)  # learned positions
    assert a.qkv_bias and a.o_bias and not s.ffn.gated and s.ffn.intermediate_size == 4 * 768
    assert s.tie_word_embeddings and s.max_context == 1024  # n_positions
    d, L = 768, 12
    layer = 4 * d * d + 3 * d + d + 2 * d * 4 * d + 2 * d  # q,k,v,o with biases; c_fc, c_proj; 2 norm weights
    assert weights(s).params.total == L * layer + 50257 * d + d == 123_588_096
    # GPT-2's 124,439,808 also has what the spec has no field for: MLP biases 12 x (3072 + 768) = 46,080,
    # LayerNorm biases 12 x 2 x 768 + 768 = 19,200 and the learned position table 1024 x 768 = 786,432
    assert 123_588_096 + 46_080 + 19_200 + 786_432 == 124_439_808


def test_falcon_multi_query_and_new_decoder_architecture():
    s7, s40 = hf("falcon_7b"), hf("falcon_40b")
    assert (s7.attention.kind, s7.attention.num_kv_heads, s7.attention.qk_head_dim) == ("mqa", 1, 64)
    assert (s40.attention.kind, s40.attention.num_kv_heads) == ("gqa", 8)  # multi_query ignored here
    assert not s7.ffn.gated and s7.ffn.intermediate_size == 4 * 4544
    assert (s7.norms_per_layer, s40.norms_per_layer) == (1, 2)  # parallel attention: one LN / ln_attn + ln_mlp
    d = 4544
    layer = d * (71 * 64 + 2 * 64) + d * d + 2 * d * 4 * d + d
    # falcon-7b's 6,921,720,704 also has LayerNorm biases: 32 x 4544 + 4544 = 149,952 (the spec counts weights)
    assert weights(s7).params.total == 32 * layer + 65024 * d + d == 6_921_720_704 - 149_952


def test_olmo2_fp32_checkpoint_is_served_at_16_bits():
    s = hf("olmo_2_7b")
    assert s.dtypes.weights == "bf16" and s.quantization is None  # torch_dtype float32
    assert weights(s).bytes.total == 2 * weights(s).params.total
    # qk_norm counts per-head q/k norm weights (2 x 128); OLMo-2 normalises the whole q and k (2 x 4096): the
    # count is 32 x (8192 - 256) = 253,952 short of the checkpoint's 7,298,617,344
    assert weights(s).params.total == 7_298_617_344 - 32 * (8192 - 256)


def test_kimi_k2_thinking_int4_routed_experts():
    q = hf("kimi_k2_thinking").quantization
    # ignore: lm_head, re:.*self_attn.*, re:.*shared_experts.*, re:.*mlp\.(gate|up|gate_up|down)_proj.*
    assert (q.method, q.bits, q.group_size, q.scale_bits, q.zero_point_bits) == ("int4", 4, 32, 16, 0)
    assert q.components == ("routed_experts",)


def test_deepseek_fp8_block_scales():
    q = hf("deepseek_v3").quantization
    assert (q.method, q.bits, q.group_size, q.scale_bits) == ("fp8-block", 8, 128 * 128, 32)
    assert q.components == ("attention", "dense_ffn", "shared_experts", "routed_experts", "mtp")


def test_refusals_are_one_line():
    with pytest.raises(SpecError) as e:
        hf("longcat_flash")
    assert str(e.value) == ("config.json: model_type longcat_flash: two attention blocks per layer (and "
                            "zero-computation experts) are not modelled")
    assert "\n" not in str(e.value)


def _write(tmp_path, cfg):
    import json

    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return str(tmp_path)


def test_unknown_llama_shaped_model_type_is_read(tmp_path):
    import json

    cfg = json.loads((FIXTURES / "llama" / "config.json").read_text())
    want = hf("llama")
    cfg["model_type"] = "llama_like_2027"
    got = load_spec(_write(tmp_path, cfg))
    assert (got.attention, got.ffn, got.vocab_size, got.num_layers) == \
        (want.attention, want.ffn, want.vocab_size, want.num_layers)


@pytest.mark.parametrize("key,value,feature", [
    ("use_bias", True, "key use_bias is not one this tool understands"),   # Starcoder2: biased MLP
    ("mlp_bias", True, "MLP biases (mlp_bias) are not modelled"),
    ("sliding_window", 4096, "sliding_window without layer_types"),
])
def test_unknown_model_type_with_unknown_features_is_refused(tmp_path, key, value, feature):
    import json

    cfg = json.loads((FIXTURES / "llama" / "config.json").read_text())
    cfg.update(model_type="somenew", **{key: value})
    with pytest.raises(SpecError) as e:
        load_spec(_write(tmp_path, cfg))
    assert str(e.value).startswith("config.json: model_type somenew: ") and feature in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_sizing_key_names_it_without_asking_to_invent_it(tmp_path):
    import json

    cfg = json.loads((FIXTURES / "gpt_oss_20b" / "config.json").read_text())
    del cfg["num_local_experts"], cfg["intermediate_size"]
    with pytest.raises(SpecError, match="model_type gpt_oss: has no intermediate_size, which sizes the model"):
        load_spec(_write(tmp_path, cfg))


def test_context_past_max_position_embeddings_warns_on_stderr(capsys):
    import json

    from mlacalc.cli import main

    for cmd in (["kv"], ["roofline"], ["fit"]):
        with pytest.raises(SystemExit) as e:
            main(cmd + [str(FIXTURES / "olmo_2_7b"), "--context", "8k", "--json"])
        out, err = capsys.readouterr()
        assert e.value.code in (0, None)
        json.loads(out)  # stdout stays one JSON object
        assert "warning: --context 8,192 exceeds the model's max_position_embeddings 4,096" in err
    with pytest.raises(SystemExit):
        main(["kv", str(FIXTURES / "olmo_2_7b"), "--context", "4k", "--json"])
    assert "warning" not in capsys.readouterr().err
