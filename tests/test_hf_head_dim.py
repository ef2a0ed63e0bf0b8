"""A config.json without ``head_dim`` is read with the transformers class default for its model_type.

Wrapper ``text_config``s (and save_pretrained, which writes a key only when it differs from the default) leave class
defaults out. Where the configuration class has a fixed ``head_dim`` (Qwen3Config 128, Qwen3NextConfig 256,
GptOssConfig 64, ...; huggingface/transformers src/transformers/models/<family>/configuration_<family>.py, cited
beside each entry of ``mlacalc.hf.DEFAULTS``), that is the width transformers builds and vLLM, which reads the same
config object, serves; hidden_size / num_attention_heads is the width only where the class itself falls back to it.
Before, every family fell back to hidden / heads: Qwen3-32B without head_dim was 30.50 B parameters, not 32.76 B.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlacalc.errors import SpecError
from mlacalc.params import weights_report as weights
from mlacalc.spec import load_spec

FIXTURES = Path(__file__).parent / "fixtures" / "hf"


def _load(tmp_path, fixture: str, inner: bool, drop: bool = True, **changes):
    """The fixture's spec, read from a tmp copy with ``head_dim`` deleted (``drop``) and ``changes`` applied to the
    decoder's keys (the ``text_config`` where ``inner``)."""
    d = json.loads((FIXTURES / fixture / "config.json").read_text(encoding="utf-8"))
    dec = d["text_config"] if inner else d
    if drop:
        del dec["head_dim"]
    dec.update(changes)
    f = tmp_path / "config.json"
    f.write_text(json.dumps(d), encoding="utf-8")
    return load_spec(str(f))


def _head_dim(spec) -> int:
    a = spec.attention
    assert a.qk_nope_head_dim + a.qk_rope_head_dim == a.v_head_dim        # one head width for q, k and v
    return a.v_head_dim


# fixture, head_dim in text_config, the class default (each fixture's own head_dim is that default), and the width
# hidden / heads gave before
DIFFERENT = [
    ("qwen3_32b", False, 128, 5120 // 64),              # Qwen3Config(head_dim=128)
    ("qwen3", False, 128, 1024 // 16),                  # Qwen3-0.6B
    ("qwen3_4b_2507", False, 128, 2560 // 32),
    ("qwen3_next_80b_a3b", False, 256, 2048 // 16),     # Qwen3NextConfig(head_dim=256)
    ("qwen3_5_4b", True, 256, 2560 // 16),              # qwen3_5_text (Qwen3_5TextConfig head_dim=256), as qwen3_next
    ("gpt_oss_20b", False, 64, 2880 // 64),             # GptOssConfig(head_dim=64)
    ("gpt_oss_120b", False, 64, 2880 // 64),
    ("seed_oss_36b", False, 128, 5120 // 80),           # SeedOssConfig(head_dim=128)
    ("ernie_4_5_0_3b", False, 128, 1024 // 16),         # Ernie4_5Config(head_dim=128)
    ("minimax_m2", False, 128, 3072 // 48),             # MiniMaxM2Config(head_dim=128)
    ("ministral_3_3b", True, 128, 3072 // 32),          # Ministral3Config(head_dim=128), read as mistral (None)
    ("solar_open_100b", False, 128, 4096 // 64),        # SolarOpenConfig(head_dim=128), read as glm4_moe (none)
]


@pytest.mark.parametrize("fixture,inner,default,before", DIFFERENT)
def test_missing_head_dim_takes_the_class_default(tmp_path, fixture, inner, default, before):
    assert default != before                            # hidden / heads would be another model
    want = load_spec(str(FIXTURES / fixture / "config.json"))
    assert _head_dim(want) == default
    got = _load(tmp_path, fixture, inner)
    assert _head_dim(got) == default
    assert weights(got).params.total == weights(want).params.total


# classes whose default equals the fixture's hidden / heads: with twice the query heads (hidden / heads halved), the
# class default still holds (Llama4TextConfig, AfmoeConfig, InternLM3Config: head_dim=128)
SAME = [("llama_4_scout", True, 128, 80), ("trinity_nano", False, 128, 16), ("internlm3_8b", False, 128, 64)]


@pytest.mark.parametrize("fixture,inner,default,heads", SAME)
def test_missing_head_dim_is_the_class_default_not_hidden_over_heads(tmp_path, fixture, inner, default, heads):
    got = _load(tmp_path, fixture, inner, num_attention_heads=heads)
    assert got.attention.num_heads == heads
    assert _head_dim(got) == default


def test_qwen3_32b_without_head_dim_by_hand(tmp_path):
    """Qwen3-32B (config.json: 64 layers, hidden 5120, 64 query and 8 K/V heads of head_dim 128, q/k RMSNorms of
    head_dim, no biases). A layer's attention at head width h: q 5120 x 64h, k and v 5120 x 8h each, o 64h x 5120,
    q_norm and k_norm h each: h x (5120 x (64 + 8 + 8 + 64) + 2) = 737,282 h. Read at 5120 / 64 = 80 instead of
    128: 64 x 48 x 737,282 = 2,264,930,304 parameters fewer (32.76 B -> 30.50 B)."""
    per_h = 5120 * (64 + 8 + 8 + 64) + 2
    assert per_h == 737_282
    with_key = weights(load_spec(str(FIXTURES / "qwen3_32b" / "config.json"))).params.total
    got = weights(_load(tmp_path, "qwen3_32b", False)).params.total
    at_80 = weights(_load(tmp_path, "qwen3_32b", False, drop=False, head_dim=80)).params.total
    assert got == with_key
    assert with_key - at_80 == 64 * (128 - 80) * per_h == 2_264_930_304


def test_seed_oss_36b_without_head_dim_by_hand(tmp_path):
    """Seed-OSS-36B (config.json: 64 layers, hidden 5120, 80 query and 8 K/V heads of head_dim 128, q/k/v biases by
    attention_bias, o_proj unbiased). A layer's attention at head width h: q 5120 x 80h, k, v 5120 x 8h each,
    o 80h x 5120, biases (80 + 8 + 8) h: h x (5120 x 176 + 96) = 901,216 h. Read at 5120 / 80 = 64 instead of 128:
    64 x 64 x 901,216 = 3,691,380,736 parameters fewer (36.15 B -> 32.46 B)."""
    per_h = 5120 * (80 + 8 + 8 + 80) + (80 + 8 + 8)
    assert per_h == 901_216
    with_key = weights(load_spec(str(FIXTURES / "seed_oss_36b" / "config.json"))).params.total
    got = weights(_load(tmp_path, "seed_oss_36b", False)).params.total
    at_64 = weights(_load(tmp_path, "seed_oss_36b", False, drop=False, head_dim=64)).params.total
    assert got == with_key
    assert with_key - at_64 == 64 * (128 - 64) * per_h == 3_691_380_736


def test_ministral_3_3b_without_head_dim_by_hand(tmp_path):
    """Ministral-3-3B's text_config (ministral3: 26 layers, hidden 3072, 32 query and 8 K/V heads of 128, no biases,
    no q/k norms). Ministral3Config's head_dim=128 where MistralConfig, which it is read as, has None: read as mistral
    the width was 3072 / 32 = 96, a layer's attention h x 3072 x (32 + 8 + 8 + 32) = 245,760 h, so
    26 x 32 x 245,760 = 204,472,320 parameters fewer (3.43 B -> 3.23 B)."""
    with_key = weights(load_spec(str(FIXTURES / "ministral_3_3b" / "config.json"))).params.total
    got = weights(_load(tmp_path, "ministral_3_3b", True)).params.total
    at_96 = weights(_load(tmp_path, "ministral_3_3b", True, drop=False, head_dim=96)).params.total
    assert got == with_key
    assert with_key - at_96 == 26 * (128 - 96) * 3072 * (32 + 8 + 8 + 32) == 204_472_320


# classes with no head_dim default (no key, or None): the attention takes hidden / heads, so the reader does too
NO_DEFAULT = [
    ("qwen3_moe", False, 4096 // 64),            # Qwen3MoeConfig has no head_dim: Qwen3-235B-A22B reads 64, not 128
    ("qwen3_vl_30b_a3b", True, 2048 // 32),      # Qwen3VLMoeTextConfig(head_dim=None)
    ("mistral_nemo_12b", False, 5120 // 32),     # MistralConfig(head_dim=None)
    ("glm_4_5_air", False, None),                # Glm4MoeConfig has none: 4096 / 96 is no whole width, refused
]


@pytest.mark.parametrize("fixture,inner,width", NO_DEFAULT)
def test_missing_head_dim_without_a_class_default_is_hidden_over_heads(tmp_path, fixture, inner, width):
    if width is None:
        with pytest.raises(SpecError, match="is not a multiple of 96 heads and head_dim is not given"):
            _load(tmp_path, fixture, inner)
    else:
        assert _head_dim(_load(tmp_path, fixture, inner)) == width
