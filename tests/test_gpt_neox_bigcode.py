"""GPT-NeoX (``gpt_neox``: Pythia, GPT-NeoX-20B, RedPajama-INCITE) and GPTBigCode (``gpt_bigcode``: StarCoder,
SantaCoder), refused by name before. Numbers worked out by hand in each test from the fixtures
(tests/fixtures/hf/{pythia_1b,pythia_12b_deduped,gpt_neox_20b,starcoder,gpt_bigcode_santacoder,redpajama_incite_3b},
SOURCE.md each) and the cards' or checkpoints' totals.

transformers ``GPTNeoXLayer``: ``input_layernorm`` and ``post_attention_layernorm`` (LayerNorms with biases),
``attention.query_key_value`` d -> 3 d and ``attention.dense`` d -> d (biased by ``attention_bias``, default true),
RoPE over ``int(head x rotary_pct)`` dims of each head, ``mlp.dense_h_to_4h`` d -> f and ``mlp.dense_4h_to_h`` back
(biased, no gate); ``embed_in``, ``final_layer_norm``, an untied ``embed_out``. ``GPTBigCodeBlock`` is GPT-2's:
``ln_1``, ``attn.c_attn`` d -> d + 2 ``kv_dim`` (one head of ``d / n_head`` under ``multi_query``, every head without it) and
``attn.c_proj``, biased; ``ln_2``, ``mlp.c_fc`` d -> ``n_inner`` and ``mlp.c_proj`` back, biased; ``wte``, ``wpe``
(learned positions, ``n_positions x d``), ``ln_f``, ``lm_head`` tied to ``wte``.

The spec counts the projections and their biases, the LayerNorms' weights and biases (``norm_vectors`` 2), the MLP's
biases (``ffn.mlp_bias``), the learned position table (``position_embeddings``), embedding and head: every tensor of
the checkpoints, so a reading is their total (docs/zoo-facts.md section 34)."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from mlacalc import api
from mlacalc.hf import _module_names, checkpoint_layout, spec_dict_from_hf_config
from mlacalc.kv import kv_report
from mlacalc.params import weights_report
from mlacalc.spec import load_spec

from helpers import fixture_config as cfg
from helpers import fixture_variant as variant
from helpers import refused, run, hf_fixture as hf

FIXTURES = Path(__file__).parent / "fixtures" / "hf"


# ------------------------------------------------------------------------------------------------ GPT-NeoX

def test_pythia_1b_parameters_by_hand_against_the_card():
    d, L, f, V = 2048, 16, 8192, 50304
    attn = 4 * d * d + 4 * d          # query_key_value d -> 3 d and dense d -> d, each with its bias
    mlp = 2 * d * f + f + d           # dense_h_to_4h, dense_4h_to_h and their biases (ffn.mlp_bias)
    layer = attn + mlp + 2 * 2 * d    # the two LayerNorms' weights and biases (norm_vectors 2)
    total = L * layer + 2 * d + 2 * V * d  # final_layer_norm's weight and bias; embed_in and embed_out (untied)
    s = hf("pythia_1b")
    assert (s.norm_vectors, s.ffn.mlp_bias, s.position_embeddings, s.head_bias) == (2, True, 0, False)
    # the Pythia card's exact total for "1B", and its 805,736,448 without the embeddings
    assert weights_report(s).params.total == total == 1_011_781_632
    assert total - 2 * V * d == 805_736_448
    # they were left out before, said in the description: 231,424 short
    assert L * (2 * d + f + d) + d == 231_424 and s.description == ""


@pytest.mark.parametrize("name,d,L,f,V,checkpoint", [
    ("pythia_12b_deduped", 5120, 36, 20480, 50688, 11_846_072_320),   # the Pythia card's exact total for "12B"
    ("gpt_neox_20b", 6144, 44, 24576, 50432, 20_554_567_680),         # GPT-NeoX-20B's checkpoint
])
def test_the_larger_gpt_neox_models_by_hand(name, d, L, f, V, checkpoint):
    # attention and its biases; the MLP and its biases; two LayerNorms of weight and bias; the final one; embed_in,
    # embed_out
    counted = L * (4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d) + 2 * d + 2 * V * d
    assert weights_report(hf(name)).params.total == counted == checkpoint


@pytest.mark.parametrize("name,head,rope", [
    ("pythia_1b", 2048 // 8, 64),                 # rotary_pct 0.25 of 256
    ("pythia_12b_deduped", 5120 // 40, 32),       # 0.25 of 128 (rotary_pct and partial_rotary_factor agree)
    ("gpt_neox_20b", 6144 // 64, 24),             # 0.25 of 96
    ("redpajama_incite_3b", 2560 // 32, 80),      # rotary_pct 1.0: the whole head
])
def test_partial_rope_over_rotary_pct_of_each_head(name, head, rope):
    a = hf(name).attention
    assert (a.kind, a.qk_rope_head_dim, a.qk_nope_head_dim, a.v_head_dim) == ("mha", rope, head - rope, head)


def test_rotary_dims_are_truncated_as_transformers_does(tmp_path):
    # GPTNeoXAttention: rotary_ndims = int(head_size * rotary_pct): 96 x 0.3 = 28.8 -> 28, not 29
    a = load_spec(variant(tmp_path, "gpt_neox_20b", rotary_pct=0.3)).attention
    assert (a.qk_rope_head_dim, a.qk_nope_head_dim) == (28, 68)


@pytest.mark.parametrize("changes,rope", [
    ({"rotary_pct": ...}, 24),                                        # GPTNeoXConfig's rotary_pct=0.25 of 96
    # transformers 5 saves the fraction in rope_parameters (GPTNeoXConfig.convert_rope_params_to_dict): 0.5 of 96
    ({"rotary_pct": ..., "rope_parameters": {"rope_type": "default", "rope_theta": 10000,
                                             "partial_rotary_factor": 0.5}}, 48),
    ({"rotary_pct": 0.5, "partial_rotary_factor": 0.5}, 48),          # transformers 4.45-4.57 save both, equal
])
def test_where_the_rotary_fraction_comes_from(tmp_path, changes, rope):
    assert load_spec(variant(tmp_path, "gpt_neox_20b", **changes)).attention.qk_rope_head_dim == rope


def test_attention_bias_false_drops_the_attention_biases(tmp_path):
    d, L = 2048, 16
    base, bare = hf("pythia_1b"), load_spec(variant(tmp_path, "pythia_1b", attention_bias=False))
    assert (bare.attention.qkv_bias, bare.attention.o_bias) == (False, False)
    assert (base.attention.qkv_bias, base.attention.o_bias) == (True, True)   # GPTNeoXConfig's attention_bias=True
    # query_key_value's 3 d and dense's d biases on every layer
    assert weights_report(base).params.total - weights_report(bare).params.total == L * (3 * d + d) == 131_072


def test_parallel_residual_changes_no_size(tmp_path):
    # RedPajama-INCITE-3B runs attention and MLP one after the other (use_parallel_residual false); Pythia side by
    # side: both layers hold the same two LayerNorms and projections
    seq = hf("redpajama_incite_3b")
    par = load_spec(variant(tmp_path, "redpajama_incite_3b", use_parallel_residual=True))
    assert replace(par, name=seq.name, source=seq.source) == seq and seq.norms_per_layer == 2


def test_tie_word_embeddings_ties_embed_out_to_embed_in(tmp_path):
    # GPTNeoXForCausalLM ties embed_out to embed_in where the config says so (vLLM gpt_neox.py the same)
    tied = load_spec(variant(tmp_path, "pythia_1b", tie_word_embeddings=True))
    assert weights_report(hf("pythia_1b")).params.total - weights_report(tied).params.total == 50304 * 2048


# ------------------------------------------------------------------------------------------------ GPTBigCode

def test_starcoder_parameters_by_hand():
    d, L, f, V, P, hd = 6144, 40, 24576, 49152, 8192, 6144 // 48
    attn = d * (d + 2 * hd) + (d + 2 * hd) + d * d + d   # c_attn d -> d + 2 x 128 (q, one k, one v), c_proj; biased
    layer = attn + 2 * d * f + f + d + 2 * 2 * d           # c_fc, c_proj and their biases; ln_1, ln_2 weight and bias
    total = L * layer + 2 * d + V * d + P * d              # ln_f; wte, tied to lm_head; wpe of n_positions rows
    s = hf("starcoder")
    assert (s.position_embeddings, s.norm_vectors, s.ffn.mlp_bias) == (8192, 2, True)
    # the checkpoint's 15,517,456,384: what the spec counted before (15,465,398,272) and what it had no field for,
    # said in the description (the position table and the LayerNorm and MLP biases, 52,058,112)
    assert weights_report(s).params.total == total == 15_517_456_384 == 15_465_398_272 + 52_058_112
    assert s.description == ""
    assert s.tie_word_embeddings and s.max_context == 8192 and not s.ffn.gated and s.ffn.intermediate_size == f


def test_starcoder_kv_per_token_by_hand():
    # multi-query: one K and one V head of 128 on each of the 40 layers, bf16
    a = hf("starcoder").attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_head_dim, a.qk_rope_head_dim) == ("mqa", 48, 1, 128, 0)
    r = kv_report(hf("starcoder"), context=8192)
    assert r.per_token.total == 40 * 2 * 128 * 2 == 20_480
    assert r.per_sequence.total == 20_480 * 8192 == 167_772_160          # 160 MiB at its 8k context


def test_multi_query_false_is_mha(tmp_path):
    d, L, hd = 2048, 24, 128
    mqa, mha = hf("gpt_bigcode_santacoder"), load_spec(variant(tmp_path, "gpt_bigcode_santacoder", multi_query=False))
    assert (mha.attention.kind, mha.attention.num_kv_heads) == ("mha", 16)
    # every head's K and V: 16 x as much cache as SantaCoder's one K/V head
    assert kv_report(mha, 1).per_token.total == L * 2 * 16 * hd * 2 == 16 * kv_report(mqa, 1).per_token.total
    # c_attn d -> 3 d instead of d -> d + 2 x 128 (and 2 x 15 more heads' biases)
    assert weights_report(mha).params.total - weights_report(mqa).params.total == L * (d + 1) * 2 * 15 * hd


def test_santacoder_parameters_by_hand():
    d, L, f, V, P, hd = 2048, 24, 8192, 49280, 2048, 2048 // 16
    layer = d * (d + 2 * hd) + (d + 2 * hd) + d * d + d + 2 * d * f + f + d + 2 * 2 * d
    # 1,120,346,112 before, without wpe (2048 x 2048) and the LayerNorm and MLP biases (24 x (2 d + f + d) + d)
    total = L * layer + 2 * d + V * d + P * d
    assert weights_report(hf("gpt_bigcode_santacoder")).params.total == total == 1_124_886_528
    assert total == 1_120_346_112 + P * d + L * (2 * d + f + d) + d


def test_untied_lm_head_where_the_config_says_so(tmp_path):
    untied = load_spec(variant(tmp_path, "starcoder", tie_word_embeddings=False))
    assert weights_report(untied).params.total - weights_report(hf("starcoder")).params.total == 49152 * 6144


def test_without_n_positions_the_position_table_is_the_class_defaults(tmp_path):
    # GPTBigCodeConfig(n_positions=1024): wpe holds 1024 rows, so 1024 tokens is the longest context
    s = load_spec(variant(tmp_path, "starcoder", n_positions=...))
    assert (s.max_context, s.position_embeddings) == (1024, 1024)
    assert weights_report(hf("starcoder")).params.total - weights_report(s).params.total == (8192 - 1024) * 6144


def test_hidden_size_and_n_embd_read_alike(tmp_path):
    # GPTBigCodeConfig.attribute_map: hidden_size, num_attention_heads, num_hidden_layers, max_position_embeddings
    # name n_embd, n_head, n_layer, n_positions
    renamed = {"n_embd": ..., "n_head": ..., "n_layer": ..., "n_positions": ..., "hidden_size": 6144,
               "num_attention_heads": 48, "num_hidden_layers": 40, "max_position_embeddings": 8192}
    read = load_spec(variant(tmp_path, "starcoder", **renamed))
    assert replace(read, name="starcoder", source=hf("starcoder").source) == hf("starcoder")


# ------------------------------------------------------------------------------------------------ module names

@pytest.mark.parametrize("name,mt,attn,ffn,embed,head", [
    ("pythia_1b", "gpt_neox", "gpt_neox.layers.0.attention.query_key_value", "gpt_neox.layers.0.mlp.dense_h_to_4h",
     "gpt_neox.embed_in", "embed_out"),
    ("starcoder", "gpt_bigcode", "transformer.h.0.attn.c_attn", "transformer.h.0.mlp.c_fc", "transformer.wte",
     "lm_head"),
])
def test_module_names_as_the_checkpoints_have_them(name, mt, attn, ffn, embed, head):
    c = cfg(name)
    names = _module_names(spec_dict_from_hf_config(c, "m"), mt, checkpoint_layout(c))
    assert (names["attention"][0], names["dense_ffn"][0], names["embed"], names["head"]) == (attn, ffn, [embed],
                                                                                            [head])


def test_a_list_naming_gpt_neox_modules_keeps_them_at_16_bits(tmp_path):
    # llm-compressor's FP8 on every Linear but embed_out and the attention: under Llama's names (self_attn.q_proj,
    # lm_head) neither pattern matched and the attention was priced at 1 byte a weight
    weights = {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True, "dynamic": False}
    quant = {"quant_method": "compressed-tensors", "format": "float-quantized", "ignore": ["embed_out",
             "re:.*attention.*"], "config_groups": {"g": {"targets": ["Linear"], "weights": weights}}}
    spec = load_spec(variant(tmp_path, "pythia_1b", quantization_config=quant))
    assert spec.quantization.components == ("dense_ffn",)
    w = api.weights(spec)
    attn = 16 * (4 * 2048 * 2048 + 4 * 2048)
    # bf16; fp8, the MLP's biases (8192 + 2048 a layer) priced with it as every vector inside a quantized component
    assert w.bytes.attention == 2 * attn and w.bytes.dense_ffn == 16 * (2 * 2048 * 8192 + 8192 + 2048)
    # the LayerNorms' weights and biases (norms are never quantized): 2 bytes each
    assert w.bytes.norms == 2 * (16 * 2 * 2 * 2048 + 2 * 2048)


# ------------------------------------------------------------------------------------------------ through the CLI

def test_kv_and_weights_through_the_cli(capsys):
    code, out, _, _ = run(capsys, "kv", str(FIXTURES / "starcoder"), "--context", "8k", "--json")
    kv = json.loads(out)
    assert code in (0, None) and kv["kv_bytes_per_token"] == 40 * 2 * 128 * 2
    assert kv["kv_bytes_per_sequence"] == 40 * 2 * 128 * 2 * 8192
    code, out, _, _ = run(capsys, "weights", str(FIXTURES / "gpt_neox_20b"), "--json")
    w = json.loads(out)
    assert code in (0, None) and w["params_total"] == 20_554_567_680
    code, out, _, _ = run(capsys, "weights", str(FIXTURES / "pythia_1b"))
    assert code in (0, None) and "qkv_bias" in out and "1.01 B" in out
    code, out, _, _ = run(capsys, "specs", "show", str(FIXTURES / "starcoder"))
    assert code in (0, None) and "position_embeddings: 8192" in out and "mlp_bias: true" in out


def test_compare_mha_mqa_gqa_through_the_cli(capsys):
    args = ("compare", str(FIXTURES / "pythia_12b_deduped"), str(FIXTURES / "starcoder"), "llama-3.1-8b",
            "--context", "2k")
    code, out, _, _ = run(capsys, *args, "--json")
    rows = {r["model"]: r for r in json.loads(out)["models"]}
    assert code in (0, None)
    pythia = 36 * 2 * 40 * 128 * 2      # MHA: every one of the 40 heads, 720 KiB a token
    starcoder = 40 * 2 * 1 * 128 * 2    # MQA: one K/V head, 20 KiB
    llama = 32 * 2 * 8 * 128 * 2        # GQA: 8 K/V heads, 128 KiB
    assert [rows[m]["kv_bytes_per_token"] for m in ("pythia_12b_deduped", "starcoder", "llama-3.1-8b")] == \
        [pythia, starcoder, llama] == [737_280, 20_480, 131_072]
    assert rows["starcoder"]["kv_ratio_to_baseline"] == pytest.approx(1 / 36)     # 20,480 / 737,280
    assert rows["llama-3.1-8b"]["kv_ratio_to_baseline"] == pytest.approx(8 / 45)  # 131,072 / 737,280
    assert rows["starcoder"]["kv_bytes_total"] == starcoder * 2048
    assert [rows[m]["attention_pattern"] for m in rows] == ["36 MHA", "40 MQA", "32 GQA-8"]
    code, out, _, _ = run(capsys, *args)
    assert code in (0, None) and "40 MQA" in out and "0.028" in out and "97.2%" in out


# ------------------------------------------------------------------------------------------------ bad inputs

@pytest.mark.parametrize("name,changes,words", [
    ("pythia_1b", {"rotary_pct": "x"}, "rotary_pct must be a number above 0 and at most 1, got 'x'"),
    ("pythia_1b", {"rotary_pct": 0}, "rotary_pct must be a number above 0 and at most 1, got 0"),
    ("pythia_1b", {"rotary_pct": 1.5}, "rotary_pct must be a number above 0 and at most 1, got 1.5"),
    ("pythia_1b", {"rotary_pct": True}, "rotary_pct must be a number above 0 and at most 1, got True"),
    ("pythia_1b", {"partial_rotary_factor": 0.5}, "rotary_pct 0.25 and partial_rotary_factor 0.5 disagree "
                                                  "(RoPE over 64 or 128 of 256 dims)"),
    ("pythia_1b", {"rope_parameters": {"partial_rotary_factor": 1.0}},
     "rotary_pct 0.25 and rope_parameters.partial_rotary_factor 1.0 disagree"),
    ("pythia_1b", {"hidden_size": 2050}, "hidden_size 2050 is not a multiple of 8 heads"),
    ("pythia_1b", {"head_dim": 128}, "head_dim 128 differs from hidden_size / num_attention_heads (256)"),
    ("pythia_1b", {"intermediate_size": ...}, "model_type gpt_neox: has no intermediate_size, which sizes the model"),
    ("pythia_1b", {"attention_bias": "yes"}, "attention_bias must be true or false, got 'yes'"),
    ("pythia_1b", {"use_parallel_residual": "no"}, "use_parallel_residual must be true or false, got 'no'"),
    ("pythia_1b", {"num_attention_heads": 0}, "num_attention_heads must be a whole number of at least 1, got 0"),
    ("starcoder", {"multi_query": "yes"}, "multi_query must be true or false, got 'yes'"),
    ("starcoder", {"add_cross_attention": True}, "cross-attention to an encoder (add_cross_attention) is not "
                                                 "modelled"),
    ("starcoder", {"n_head": 0}, "n_head must be a whole number of at least 1, got 0"),
    ("starcoder", {"n_inner": -1}, "n_inner must be a whole number of at least 1, got -1"),
    ("starcoder", {"n_embd": 6145}, "hidden_size 6145 is not a multiple of 48 heads"),
    ("starcoder", {"n_positions": "8k"}, "n_positions must be a whole number of at least 1, got '8k'"),
    ("starcoder", {"n_embd": ...}, "model_type gpt_bigcode: has no hidden_size, which sizes the model"),
])
def test_bad_configs_are_one_line(tmp_path, capsys, name, changes, words):
    refused(capsys, "kv", variant(tmp_path, name, **changes), words=words)
