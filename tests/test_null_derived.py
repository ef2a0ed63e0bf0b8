"""Nulls a config class derives a value from (mlacalc.hf.NULL_DERIVED), found reviewing the fuzz-s22 branch, which
refused every null size with a class default as a value "its transformers config class keeps as None". These classes
do not keep it: PhimoeConfig, GraniteSWAConfig and PaddleOCRTextConfig make a null num_key_value_heads the query
heads; Ernie4_5Config, SeedOssConfig and PaddleOCRTextConfig (``head_dim: int | None = 128``) make a null head_dim
hidden_size // num_attention_heads; FalconConfig keeps a null multi_query, which FalconAttention (and vLLM's) read as
false. main read each as the class default (8 K/V heads, a head of 128, one K/V head); the branch refused them."""

import pytest

from mlacalc.kv import kv_report
from mlacalc.spec import load_spec

from helpers import fixture_config, fixture_variant, refused, write_config


def _kv_bytes_a_token(path) -> int:
    return kv_report(load_spec(path), context=1).per_token.total


def test_ernie_null_head_dim_is_hidden_over_heads(tmp_path):
    """ERNIE-4.5-0.3B (18 layers, 16 heads, 2 K/V heads, hidden 1024) with "head_dim": null: heads of 1024 / 16 = 64,
    18 x 2 x 2 x 64 x 2 B = 9,216 B a token (main: the class default 128, 18,432; the branch: refused)."""
    s = load_spec(fixture_variant(tmp_path, "ernie_4_5_0_3b", head_dim=None))
    assert s.attention.v_head_dim == s.attention.qk_rope_head_dim == 1024 // 16 == 64
    assert _kv_bytes_a_token(tmp_path) == 18 * 2 * 2 * 64 * 2 == 9_216
    left_out = load_spec(fixture_variant(tmp_path, "ernie_4_5_0_3b", head_dim=...))
    assert left_out.attention.v_head_dim == 128                  # Ernie4_5Config(head_dim=128)


def test_seed_oss_null_head_dim_is_hidden_over_heads(tmp_path):
    """Seed-OSS-36B (64 layers, 80 heads, 8 K/V heads, hidden 5120): a null head_dim is 5120 / 80 = 64,
    64 x 2 x 8 x 64 x 2 B = 131,072 B a token (main: 128, 262,144)."""
    assert _kv_bytes_a_token(fixture_variant(tmp_path, "seed_oss_36b", head_dim=None)) == 64 * 2 * 8 * 64 * 2


def test_paddleocr_text_nulls_are_derived(tmp_path):
    """PaddleOCR-VL's flat decoder (ERNIE-4.5-0.3B's shape): a null head_dim is 1024 / 16 = 64, a null
    num_key_value_heads the 16 query heads (18 x 2 x 16 x 128 x 2 B = 147,456 B a token)."""
    assert _kv_bytes_a_token(fixture_variant(tmp_path, "paddleocr_vl", head_dim=None)) == 18 * 2 * 2 * 64 * 2
    assert _kv_bytes_a_token(fixture_variant(tmp_path, "paddleocr_vl", num_key_value_heads=None)) == \
        18 * 2 * 16 * 128 * 2 == 147_456


@pytest.mark.parametrize("fixture,layers,heads,head", [
    ("phi_3_5_moe_instruct", 32, 32, 4096 // 32),        # PhimoeConfig: 32 query heads of 128
    ("granite_swash_2b", 24, 20, 2560 // 20),            # GraniteSWAConfig: 20 query heads of 128
])
def test_null_kv_heads_are_the_query_heads(tmp_path, fixture, layers, heads, head):
    s = load_spec(fixture_variant(tmp_path, fixture, num_key_value_heads=None))
    assert s.attention.num_kv_heads == heads
    assert _kv_bytes_a_token(tmp_path) == layers * 2 * heads * head * 2     # 524,288 and 245,760 B a token


@pytest.mark.parametrize("fixture", ["falcon_7b", "falcon_7b_instruct_rw"])
def test_falcon_null_multi_query_is_all_heads(tmp_path, fixture):
    """Falcon-7B (32 layers, 71 heads of 4544 / 71 = 64, the old decoder): "multi_query": null builds K/V of all 71
    heads in transformers and vLLM, 32 x 2 x 71 x 64 x 2 B = 581,632 B a token; it was read as FalconConfig's default
    true, one K/V head (8,192 B), and the RefinedWebModel file was refused as not saying multi_query."""
    s = load_spec(fixture_variant(tmp_path, fixture, multi_query=None))
    assert s.attention.num_kv_heads == 71
    assert _kv_bytes_a_token(tmp_path) == 32 * 2 * 71 * 64 * 2 == 581_632


def test_falcon_null_multi_query_leaves_the_new_decoder_alone(tmp_path):
    """Falcon-40B (new_decoder_architecture: K/V heads of num_kv_heads, 8) reads multi_query not at all."""
    assert load_spec(fixture_variant(tmp_path, "falcon_40b", multi_query=None)).attention.num_kv_heads == 8


def test_granite_swa_null_window_is_still_refused(capsys, tmp_path):
    """GraniteSWAConfig keeps a null sliding_window; transformers' sliding mask then raises ("Could not find a
    `sliding_window` argument in the config"), so the branch's one-line refusal stays."""
    cfg = fixture_config("granite_swash_2b")
    cfg["sliding_window"] = None
    refused(capsys, "kv", write_config(tmp_path, cfg), words="model_type granite_swa: sliding_window is null")


def _exaone_1_2b_shape(tmp_path, **changes) -> str:
    """EXAONE-4.0-32B's fixture at the 1.2B's sizes (30 layers, 32 heads, 8 K/V heads of 64, hidden 2048): the 1.2B
    is global attention on every layer (transformers' exaone4.md: the hybrid pattern is the 32B's)."""
    return fixture_variant(tmp_path, "exaone_4_0_32b", hidden_size=2048, intermediate_size=4096, num_hidden_layers=30,
                           num_attention_heads=32, num_key_value_heads=8, head_dim=64, **changes)


def test_exaone_null_pattern_is_no_sliding_window(tmp_path):
    """Exaone4Config(sliding_window_pattern: str | int | None = 4): "None: No sliding window attention is used". A
    file with a null pattern and a null window, its layer_types all full, was refused by the branch ("keeps as None");
    it is every layer global: 30 x 2 x 8 x 64 x 2 B = 61,440 B a token, as main read it."""
    s = load_spec(_exaone_1_2b_shape(tmp_path, sliding_window=None, sliding_window_pattern=None,
                                     layer_types=["full_attention"] * 30))
    assert s.attention.sliding_window is None and s.attention.global_every is None
    assert kv_report(s, context=1).per_token.total == 30 * 2 * 8 * 64 * 2 == 61_440


def test_exaone_null_pattern_beside_a_window_and_no_layer_types_is_refused(capsys, tmp_path):
    """Exaone4Config builds layer_types from (i + 1) % sliding_window_pattern: with a window and no layer_types the
    null fails there (a TypeError), so it is one line here, not the class default 4 (three local layers of four)."""
    refused(capsys, "kv", _exaone_1_2b_shape(tmp_path, sliding_window_pattern=None),
            words="model_type exaone4: sliding_window_pattern is null (no sliding window) beside sliding_window 4096 "
                  "and no layer_types")
