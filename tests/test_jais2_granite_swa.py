"""The 2025-2026 decoders read in docs/zoo-facts.md section 35 (Jais-2, Granite-SWA) and the ones refused there by name.

Jais-2 (transformers models/jais2/modular_jais2.py, vLLM jais2.py): LlamaAttention with q/k/v/o biased by
attention_bias, NemotronMLP (up_proj, down_proj, relu2, no gate) biased by mlp_bias, nn.LayerNorm (weight and bias)
twice a layer and at the end, an untied head. Granite-SWA (transformers models/granite_swa/modular_granite_swa.py,
vLLM granite_swa.py): Granite's block (LlamaAttention, a gated LlamaMLP, two RMSNorms) with a learnable sink per query
head and layer, sliding-window layers (128 tokens) beside full ones. bf16 KV: K/V heads x head_dim x 2 x 2 bytes a
layer and token."""

import pytest

from mlacalc.kv import kv_report
from mlacalc.params import weights_report as weights
from mlacalc.spec import load_spec

from helpers import fixture_config, refused, write_config
from helpers import hf_fixture as hf


def test_jais_2_8b_by_hand():
    """Jais-2-8B-Chat (fixture jais_2_8b_chat): 32 layers of d 3328, 26 heads of 128 (MHA), MLP 26624, vocabulary
    150272. A layer: q/k/v/o 4 d^2 and their biases 4 d, up and down 2 d f and their biases f + d, two LayerNorms
    2 x 2 d. The Hub's metadata for the gated repo: "~8.09B params" (SOURCE.md). Refused before on its first unknown
    key."""
    d, f, V, L = 3328, 26624, 150272, 32
    layer = 4 * d * d + 4 * d + 2 * d * f + f + d + 2 * 2 * d
    assert layer == 221_568_256
    total = L * layer + 2 * V * d + 2 * d                      # untied embedding and head, the final LayerNorm
    assert total == 8_090_401_280
    s = hf("jais_2_8b_chat")
    a, ffn = s.attention, s.ffn
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_rope_head_dim, a.qkv_bias, a.o_bias) == \
        ("mha", 26, 26, 128, True, True)
    assert (ffn.gated, ffn.mlp_bias, ffn.intermediate_size, s.norm_vectors) == (False, True, 26624, 2)
    assert weights(s).params.total == total
    assert kv_report(s, context=1).per_token.total == L * 26 * 128 * 2 * 2 == 425_984


def test_jais_2_bias_flags(tmp_path):
    """mlp_bias false drops the MLP's f + d a layer; attention_bias false the q/k/v/o biases, 4 d a layer."""
    d, f, L = 3328, 26624, 32
    cfg = fixture_config("jais_2_8b_chat")
    no_mlp = load_spec(write_config(tmp_path, cfg | {"mlp_bias": False}))
    assert weights(no_mlp).params.total == 8_090_401_280 - L * (f + d)
    no_attn = load_spec(write_config(tmp_path, cfg | {"attention_bias": False}))
    assert weights(no_attn).params.total == 8_090_401_280 - L * 4 * d


def test_jais_2_keys_vllm_reads_alone_are_refused(tmp_path, capsys):
    """vLLM's Jais2Attention biases by ``attention_bias or bias`` and slides by ``interleaved_sliding_window``;
    transformers reads neither: one line, exit 2."""
    cfg = fixture_config("jais_2_8b_chat")
    for bad, words in ((cfg | {"attention_bias": False, "bias": True}, "bias true and attention_bias false"),
                       (cfg | {"interleaved_sliding_window": 4096}, "interleaved_sliding_window is read by vLLM")):
        path = write_config(tmp_path, bad)
        for command in (("kv",), ("weights",), ("specs", "show")):
            refused(capsys, *command, path, words=f"model_type jais2: {words}")


def test_granite_swash_2b_by_hand():
    """granite-swash-2b (fixture granite_swash_2b): 24 layers of d 2560, 20 query heads and 4 K/V heads of 128, a gated
    MLP of 8192, vocabulary 100352, tied. A layer: q 2560 d, k and v 2 x 512 d, o 2560 d, gate/up/down 3 d f, 20
    sinks, two RMSNorms."""
    d, f, V, L = 2560, 8192, 100352, 24
    layer = d * 2560 + 2 * d * 512 + 2560 * d + 3 * d * f + 20 + 2 * d
    assert layer == 78_648_340
    total = L * layer + V * d + d
    assert total == 2_144_463_840
    s = hf("granite_swash_2b")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.sinks, a.sliding_window) == ("gqa", 20, 4, True, 128)
    assert s.layer_types == ("full", "sliding", "sliding", "sliding")
    assert weights(s).params.total == total
    per_layer = 4 * 128 * 2 * 2                                 # 2,048 B a token and layer
    assert kv_report(s, context=1).per_token.total == L * per_layer == 49_152
    # at 32,768 tokens the 6 full layers keep every token, the 18 sliding ones their 128
    assert kv_report(s, context=32768).per_sequence.total == (6 * 32768 + 18 * 128) * per_layer == 407_371_776


def test_granite_swa_defaults_and_biases(tmp_path, capsys):
    """Without layer_types GraniteSWAConfig makes layer i full when i % 4 == 0 (the release's own list, so the same
    model); mlp_bias biases gate, up and down (2 f + d a layer), attention_bias q/k/v/o (2560 + 2 x 512 + 2560 a
    layer); a layer_rope_theta of the wrong length is one line."""
    d, f, L = 2560, 8192, 24
    cfg = fixture_config("granite_swash_2b")
    bare = {k: v for k, v in cfg.items() if k != "layer_types"}
    assert load_spec(write_config(tmp_path, bare)).layer_types == ("full", "sliding", "sliding", "sliding")
    biased = load_spec(write_config(tmp_path, cfg | {"mlp_bias": True, "attention_bias": True}))
    assert weights(biased).params.total == 2_144_463_840 + L * (2 * f + d) + L * (2560 + 2 * 512 + d)
    bad = write_config(tmp_path, cfg | {"layer_rope_theta": [10000.0] * 23})
    refused(capsys, "weights", bad, words="model_type granite_swa: layer_rope_theta has 23 entries for 24 layers")


@pytest.mark.parametrize("model_type, words", [
    ("granitemoe_swa", "experts have no gate"), ("zaya", "experts have no gate"), ("axk2", "MLA with an output gate"),
    ("olmo_hybrid", "state-space mixer"), ("laguna", "num_attention_heads_per_layer"), ("hyperclovax", "Peri-LN"),
    ("axk1", "post_mlp_layernorm"), ("youtu", "DeepSeek-V3 MLA over a dense MLP"), ("nanochat", "weightless"),
    ("aquila", "builds it as Llama"), ("xverse", "builds it as Llama"), ("xglm", "sinusoidal positions"),
])
def test_refused_by_name(tmp_path, capsys, model_type, words):
    """Each was refused before on its first unknown key (a Llama file under its model_type was read as Llama); now one
    line naming what the spec cannot say or what no released file pins, exit 2."""
    cfg = fixture_config("llama") | {"model_type": model_type}
    path = write_config(tmp_path, cfg)
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=f"model_type {model_type}: ")
    refused(capsys, "weights", path, words=words)
