"""The built-in specs shipped in model_specs/: exactly the required names, each loads, each says where its
numbers come from."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from mlacalc.spec import builtin_names, load_spec

MODELS = {
    "deepseek-v2-lite", "deepseek-v2", "deepseek-v3", "kimi-k2", "deepseek-67b",
    "llama-2-7b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b",
    "mistral-7b", "mixtral-8x7b", "qwen2.5-7b", "qwen2.5-72b", "qwen3-235b-a22b",
    # the 2026 zoo (tests/test_zoo.py works their numbers out by hand)
    "deepseek-v3.2", "glm-5", "kimi-linear-48b-a3b", "qwen3-next-80b-a3b", "gpt-oss-120b", "gpt-oss-20b",
    "gemma-3-27b", "llama-4-scout", "minicpm3-4b",
    # LatentMoE and an MTP module of two blocks (tests/test_nemotron_latent_moe.py)
    "nemotron-3-super-120b-a12b",
    # Gemma-4 (tests/test_gemma4.py works their numbers out by hand)
    "gemma-4-31b", "gemma-4-26b-a4b",
    # DeepSeek-V4 (tests/test_deepseek_v4.py; docs/zoo-facts.md section 36)
    "deepseek-v4-flash", "deepseek-v4-pro",
    # MiniMax-M3 (tests/test_minimax_m3.py)
    "minimax-m3",
}
# The attention variants of Su Jianlin's MLA ablation (kexue.fm/archives/10907), on one shared base.
VARIANTS = {
    "variant-mha", "variant-gqa2-128", "variant-gqa1-256", "variant-gqa1-256-pr",
    "variant-mla", "variant-mla-256", "variant-gqa2-192-64-s2",
}


def test_names_are_exactly_the_required_set():
    assert set(builtin_names()) == MODELS | VARIANTS
    assert len(builtin_names()) == len(MODELS | VARIANTS)


@pytest.mark.parametrize("name", sorted(MODELS | VARIANTS))
def test_yaml_parses_with_safe_load(name):
    text = resources.files("mlacalc.model_specs").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    assert "name" not in data  # the name is the file name


@pytest.mark.parametrize("name", sorted(MODELS | VARIANTS))
def test_spec_loads_with_source_and_description(name):
    s = load_spec(name)
    assert s.name == name
    assert s.source.strip() and s.description.strip()
    assert s.source.startswith("https://")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_source_is_a_public_hf_config(name):
    src = load_spec(name).source
    assert src.startswith("https://huggingface.co/") and src.endswith("/blob/main/config.json")


def test_released_weight_dtypes():
    for name in MODELS:
        v4 = name.startswith("deepseek-v4")
        want = "fp8" if name in ("deepseek-v3", "kimi-k2", "deepseek-v3.2") or v4 else \
            "fp16" if name.startswith("llama-2") else "bf16"
        assert load_spec(name).dtypes.weights == want, name
        # DeepSeek-V4's engines keep its cache in fp8-ds rows alone (vLLM asserts an fp8 cache, SGLang's pool)
        assert load_spec(name).dtypes.kv == ("fp8-ds" if v4 else "bf16"), name


# KV-cache elements per token per layer, as the blog's "Cache" column gives them, from the spec's fields.
def cache_elements(name: str) -> int:
    a = load_spec(name).attention
    if a.kind == "mla":
        return a.kv_lora_rank + a.qk_rope_head_dim
    return a.num_kv_heads * (a.qk_head_dim + (0 if a.kv_shared else a.v_head_dim))


@pytest.mark.parametrize("name,cache", [
    ("variant-mha", 4096), ("variant-gqa2-128", 512), ("variant-gqa1-256", 512),
    ("variant-gqa1-256-pr", 512), ("variant-mla", 576), ("variant-mla-256", 576),
    ("variant-gqa2-192-64-s2", 512),
])
def test_variant_cache_matches_blog(name, cache):
    assert cache_elements(name) == cache


def test_variants_share_one_base():
    base = {(s.num_layers, s.hidden_size, s.vocab_size, s.tie_word_embeddings, s.ffn, s.dtypes,
             s.attention.num_heads, s.source) for s in map(load_spec, VARIANTS)}
    assert len(base) == 1
    (layers, hidden, _, _, ffn, _, heads, source), = base
    assert (layers, hidden, heads, ffn.intermediate_size) == (12, 2048, 16, 5456)
    assert source == "https://kexue.fm/archives/10907"


def test_variant_details():
    pr = load_spec("variant-gqa1-256-pr").attention
    assert (pr.qk_nope_head_dim, pr.qk_rope_head_dim, pr.v_head_dim) == (192, 64, 256)
    full = load_spec("variant-gqa1-256").attention
    assert (full.qk_nope_head_dim, full.qk_rope_head_dim) == (0, 256)
    s2 = load_spec("variant-gqa2-192-64-s2").attention
    assert s2.kv_shared and s2.num_kv_heads == 2 and s2.v_head_dim == s2.qk_head_dim == 256
    mla256 = load_spec("variant-mla-256").attention
    assert (mla256.qk_nope_head_dim, mla256.qk_rope_head_dim, mla256.v_head_dim) == (192, 64, 256)
    assert load_spec("variant-mla").attention.q_lora_rank is None


def test_deepseek_v2_paper_kv_reduction_inputs():
    """DeepSeek-V2 vs DeepSeek-67B, the comparison behind the paper's 93.3% KV-cache reduction."""
    v2, base = load_spec("deepseek-v2"), load_spec("deepseek-67b")
    per_tok_v2 = v2.num_layers * (v2.attention.kv_lora_rank + v2.attention.qk_rope_head_dim)
    per_tok_67b = base.num_layers * 2 * base.attention.num_kv_heads * base.attention.v_head_dim
    assert per_tok_v2 == 60 * 576 and per_tok_67b == 95 * 2 * 8 * 128
    assert round(1 - per_tok_v2 / per_tok_67b, 3) == 0.822  # both caches at the same dtype
    # The paper's 93.3% also counts its KV quantization: ~6 bits per element for V2 against 16 for 67B.
    assert round(1 - (per_tok_v2 * 6) / (per_tok_67b * 16), 3) == 0.933


@pytest.mark.parametrize("name,millions", [
    ("variant-mha", 931), ("variant-gqa2-128", 842), ("variant-gqa1-256", 943), ("variant-gqa1-256-pr", 943),
    ("variant-mla", 894), ("variant-mla-256", 989), ("variant-gqa2-192-64-s2", 943),
])
def test_variant_params_match_blog(name, millions):
    """The blog's Params column, rounded to millions; the shared base's vocabulary was backed out of it."""
    from mlacalc.params import param_counts

    assert round(param_counts(load_spec(name)).total / 1e6) == millions


def test_every_model_of_a_published_config_has_its_context_limit():
    """kimi-k2, qwen2.5-7b and qwen2.5-72b had max_context null, so fit, roofline, compare and sweep never warned past
    the model's limit (review 2). Each now gives its cited config's max_position_embeddings: Kimi-K2-Instruct's
    131072 (= 32 x 4,096, its YaRN factor over the original length), and the Qwen2.5-7B and -72B base configs' 131072
    (tests/fixtures/hf/qwen2: Qwen2.5-7B's config.json). Only the ablation variants, a shared made-up base, have none."""
    assert {n: load_spec(n).max_context for n in ("kimi-k2", "qwen2.5-7b", "qwen2.5-72b")} == {
        "kimi-k2": 131_072, "qwen2.5-7b": 131_072, "qwen2.5-72b": 131_072}
    assert {n for n in MODELS if load_spec(n).max_context is None} == set()
