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
