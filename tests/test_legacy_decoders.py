"""The decoders of 2021-2023 (docs/zoo-facts.md section 32): OPT (``opt``), GPT-J (``gptj``), CodeGen (``codegen``),
BLOOM (``bloom``), MPT (``mpt``) and GPT-Neo (``gpt_neo``), refused on their first unknown key before. Numbers worked
out by hand in each test from the fixtures (tests/fixtures/hf/{opt_125m,opt_6_7b,gpt_j_6b,bloom_560m,mpt_7b,
gpt_neo_125m}, SOURCE.md each; OPT-350m, refused, in tests/fixtures/hf_refused) and the checkpoints'
totals.

All are MHA over heads of hidden / heads. The spec counts the projections and the attention biases (qkv_bias,
o_bias), the LayerNorms' weights and biases (norm_vectors 2; MPT's weights alone), the MLP biases (ffn.mlp_bias), an
lm_head bias (head_bias), a learned position table (position_embeddings) and BLOOM's embedding LayerNorm
(embedding_norm), embedding and head: each reading is its checkpoint's total (docs/zoo-facts.md section 34; before,
what had no field was said in the description and left out). KV: layers x heads x head_dim x (K, V) x 2 bytes (bf16
or fp16)."""

import json
from pathlib import Path

import pytest

from mlacalc.hf import _module_names, checkpoint_layout, spec_dict_from_hf_config
from mlacalc.kv import kv_report
from mlacalc.params import weights_report
from mlacalc.spec import load_spec

from helpers import fixture_config as cfg
from helpers import fixture_variant as variant
from helpers import hf_fixture as hf
from helpers import refused, run

FIXTURES = Path(__file__).parent / "fixtures" / "hf"


def params(spec) -> int:
    return weights_report(spec).params.total


def per_token(spec) -> float:
    return kv_report(spec, context=1).per_token.total


# ------------------------------------------------------------------------------------------------ OPT

def test_opt_125m_by_hand():
    """OPTDecoderLayer: q/k/v/out_proj 768 -> 768 with biases (enable_bias), fc1 768 -> 3072 and fc2 back (ReLU, no
    gate, biased), two LayerNorms; learned positions, the head tied to embed_tokens."""
    s = hf("opt_125m")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_nope_head_dim, a.qk_rope_head_dim) == ("mha", 12, 12, 64, 0)
    assert (a.qkv_bias, a.o_bias, s.ffn.gated, s.ffn.intermediate_size) == (True, True, False, 3072)
    assert (s.norms_per_layer, s.tie_word_embeddings, s.max_context, s.dtypes.weights) == (2, True, 2048, "fp16")
    assert (s.position_embeddings, s.norm_vectors, s.ffn.mlp_bias, s.head_bias) == (2050, 2, True, False)
    d, L, f, V = 768, 12, 3072, 50272
    # q/k/v/out_proj and their biases, fc1/fc2 and theirs, two LayerNorms of weight and bias; the final LayerNorm;
    # embed_tokens (the head tied to it); OPTLearnedPositionalEmbedding's max_position_embeddings + 2 rows
    total = L * (4 * d * d + 4 * d + 2 * d * f + f + d + 2 * 2 * d) + 2 * d + V * d + (2048 + 2) * d
    assert params(s) == total == 125_239_296                          # the loaded model's sum(p.numel())
    # 123,599,616 before; the position table and the LayerNorm and MLP biases, 1,639,680, were said, not counted
    assert total - ((2048 + 2) * d + L * (2 * d + f + d) + d) == 123_599_616 and s.description == ""
    assert per_token(s) == 12 * 12 * 64 * 2 * 2 == 36_864


def test_opt_6_7b_by_hand():
    s = hf("opt_6_7b")
    d, L, f, V = 4096, 32, 16384, 50272
    total = L * (4 * d * d + 4 * d + 2 * d * f + f + d + 2 * 2 * d) + 2 * d + V * d + 2050 * d
    assert params(s) == total == 6_658_473_984 == 6_649_155_584 + 9_318_400       # the name's "6.7b"
    assert per_token(s) == 32 * 32 * 128 * 2 * 2 == 524_288                        # 512 KiB a token


def test_opt_enable_bias_false_drops_every_projection_bias(tmp_path):
    """OPTAttention(bias=config.enable_bias) and fc1/fc2 the same (transformers and vLLM): without it, 4 d fewer
    a layer in the attention and f + d in the MLP. The LayerNorms keep their biases (nn.LayerNorm whatever
    enable_bias says)."""
    s = load_spec(variant(tmp_path, "opt_125m", enable_bias=False))
    d, L, f = 768, 12, 3072
    assert (s.attention.qkv_bias, s.attention.o_bias, s.ffn.mlp_bias, s.norm_vectors) == (False, False, False, 2)
    assert params(hf("opt_125m")) - params(s) == L * (4 * d + f + d)


def test_opt_untied_head_and_num_key_value_heads_that_no_engine_reads(tmp_path):
    assert params(load_spec(variant(tmp_path, "opt_125m", tie_word_embeddings=False))) - params(hf("opt_125m")) == \
        50272 * 768
    # OPTAttention and vLLM's build K/V of every head whatever a num_key_value_heads key says
    a = load_spec(variant(tmp_path, "opt_125m", num_key_value_heads=4)).attention
    assert (a.kind, a.num_kv_heads) == ("mha", 12)


def test_opt_350m_is_refused_in_one_line(capsys):
    """OPT-350m's embedding is 512 wide beside layers of 1024 (project_in, project_out) and its LayerNorms follow the
    blocks: the spec has no field for either."""
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, str(FIXTURES.parent / "hf_refused" / "opt_350m"),
                words="model_type opt: word_embed_proj_dim 512 beside hidden_size 1024")


@pytest.mark.parametrize("changes,words", [
    ({"do_layer_norm_before": False}, "do_layer_norm_before false (post-LayerNorm layers without a final LayerNorm"),
    ({"_remove_final_layer_norm": True}, "_remove_final_layer_norm (no final LayerNorm) is not modelled"),
    ({"layer_norm_elementwise_affine": False}, "layer_norm_elementwise_affine false (LayerNorms without weights)"),
    ({"word_embed_proj_dim": 0}, "word_embed_proj_dim must be a whole number of at least 1, got 0"),
    ({"enable_bias": "yes"}, "enable_bias must be true or false, got 'yes'"),
    ({"ffn_dim": ...}, "model_type opt: has no ffn_dim, which sizes the model"),
    ({"ffn_dim": 3072.5}, "ffn_dim must be a whole number of at least 1, got 3072.5"),
    ({"hidden_size": 770, "word_embed_proj_dim": ...}, "hidden_size 770 is not a multiple of 12 heads"),
    ({"head_dim": 32}, "head_dim 32 differs from hidden_size / num_attention_heads (64)"),
])
def test_opt_variants_it_cannot_represent_are_one_line(capsys, tmp_path, changes, words):
    path = variant(tmp_path, "opt_125m", **changes)
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=words)


# ------------------------------------------------------------------------------------------------ GPT-J, CodeGen

def test_gpt_j_6b_by_hand():
    """GPTJBlock: one LayerNorm, attention (q/k/v/out_proj 4096 -> 4096, no biases, RoPE over 64 of each 256-dim
    head) and MLP (fc_in 4096 -> 16384, fc_out back, biased) side by side; ln_f; an untied lm_head with a bias."""
    s = hf("gpt_j_6b")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_rope_head_dim, a.qk_nope_head_dim) == ("mha", 16, 16, 64, 192)
    assert (a.qkv_bias, a.o_bias, s.norms_per_layer, s.tie_word_embeddings) == (False, False, 1, False)
    assert (s.ffn.intermediate_size, s.ffn.gated, s.max_context, s.dtypes.weights) == (16384, False, 2048, "bf16")
    assert (s.norm_vectors, s.ffn.mlp_bias, s.head_bias, s.position_embeddings) == (2, True, True, 0)
    d, L, f, V = 4096, 28, 16384, 50400
    # q/k/v/out; fc_in, fc_out and their biases; ln_1's weight and bias; ln_f's; wte; lm_head and its bias
    total = L * (4 * d * d + 2 * d * f + f + d + 2 * d) + 2 * d + 2 * V * d + V
    assert params(s) == total == 6_050_882_784                      # GPTJForCausalLM's sum of parameters
    # 6,050,140,160 before: the LayerNorm, MLP and lm_head biases (742,624) were said in the description
    assert total - (L * (d + f + d) + d + V) == 6_050_140_160 and s.description == ""
    # the model card's n_parameters, 6,053,381,344, is 2,498,560 (0.04%) more than the module tree
    assert 6_053_381_344 - total == 2_498_560
    assert per_token(s) == 28 * 16 * 256 * 2 * 2 == 458_752


def test_gpt_j_defaults_and_keys_the_engines_hard_wire(tmp_path):
    # GPTJConfig(rotary_dim=64) where the file gives none; n_inner widens the MLP (4 d where null)
    assert load_spec(variant(tmp_path, "gpt_j_6b", rotary_dim=...)).attention.qk_rope_head_dim == 64
    wide = load_spec(variant(tmp_path, "gpt_j_6b", n_inner=8192))
    assert params(hf("gpt_j_6b")) - params(wide) == 28 * (2 * 4096 + 1) * (16384 - 8192)   # fc_in's bias too
    # GPTJAttention's Linears are bias=False whatever an attention_bias key says
    assert params(load_spec(variant(tmp_path, "gpt_j_6b", attention_bias=True))) == params(hf("gpt_j_6b"))


@pytest.mark.parametrize("changes,words", [
    ({"tie_word_embeddings": True}, "a tied head (tie_word_embeddings) is not read: vLLM's GPTJForCausalLM refuses it"),
    ({"rotary": False}, "rotary false is not modelled"),
    ({"rotary": "yes"}, "rotary must be true or false, got 'yes'"),
    ({"rotary_dim": None}, "rotary_dim null is not modelled: GPTJAttention's sin/cos table is then hidden_size"),
    ({"rotary_dim": 63}, "rotary_dim 63 is not modelled: RoPE turns pairs of dims"),
    ({"rotary_dim": 0}, "rotary_dim 0 is not modelled"),
    ({"rotary_dim": 512}, "rotary_dim 512 exceeds head_dim 256"),
    ({"n_head": 3}, "hidden_size 4096 is not a multiple of 3 heads"),
    ({"n_inner": 0}, "n_inner must be a whole number of at least 1, got 0"),
])
def test_gpt_j_variants_it_cannot_represent_are_one_line(capsys, tmp_path, changes, words):
    path = variant(tmp_path, "gpt_j_6b", **changes)
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=words)


def test_codegen_reads_gpt_j_keys_alike(tmp_path):
    """CodeGenConfig has GPT-J's keys and attribute_map; CodeGenAttention fuses q, k, v into one bias-free qkv_proj
    (the same 3 d^2), the MLP and lm_head are GPT-J's. No released CodeGen config was in the corpora: GPT-J's file
    relabelled stands in. transformers alone builds CodeGen: a tied head is read (the lm_head's bias stays apart)."""
    s = load_spec(variant(tmp_path, "gpt_j_6b", model_type="codegen", architectures=["CodeGenForCausalLM"]))
    assert params(s) == 6_050_882_784 and s.description == hf("gpt_j_6b").description
    tied = load_spec(variant(tmp_path, "gpt_j_6b", model_type="codegen", tie_word_embeddings=True))
    # the tied head's matrix is wte; its bias of 50400 stays (CodeGenForCausalLM: nn.Linear(n_embd, vocab_size))
    assert tied.head_bias and params(s) - params(tied) == 50400 * 4096
    assert weights_report(tied).params.head == 50400


def test_codegen_rotary_dim_null_is_refused_as_gpt_j_s(capsys, tmp_path):
    """CodeGenAttention with rotary_dim None: ``pos_embd_dim = self.rotary_dim or self.embed_dim`` builds a sin/cos
    table of hidden_size (4096) and applies it to each whole head (256): the broadcast fails for any model of more than
    one head. It was read as RoPE over the whole head (qk_rope_head_dim 256), a model no engine runs."""
    path = variant(tmp_path, "gpt_j_6b", model_type="codegen", rotary_dim=None)
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words="model_type codegen: rotary_dim null is not modelled: "
                                              "CodeGenAttention's sin/cos table is then hidden_size (4096)")


def test_codegen_heads_must_split_into_four_shards(capsys, tmp_path):
    # CodeGenAttention: mp_num = 4 shards of q, v and k, each of n_head / 4 whole heads; 2 heads of 2048 do not split
    path = variant(tmp_path, "gpt_j_6b", model_type="codegen", n_head=2)
    refused(capsys, "kv", path, words="model_type codegen: 2 heads do not split into CodeGenAttention's 4 shards")


# ------------------------------------------------------------------------------------------------ BLOOM

def test_bloom_560m_by_hand():
    """BloomBlock: two LayerNorms, query_key_value 1024 -> 3072 and dense with biases, ALiBi; dense_h_to_4h 1024 ->
    4096 and back with biases; word_embeddings_layernorm after the embedding; the head tied."""
    s = hf("bloom_560m")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_nope_head_dim, a.qk_rope_head_dim) == ("mha", 16, 16, 64, 0)
    assert (a.qkv_bias, a.o_bias, s.ffn.intermediate_size, s.ffn.gated) == (True, True, 4096, False)
    assert (s.norms_per_layer, s.tie_word_embeddings, s.max_context) == (2, True, None)
    assert (s.embedding_norm, s.norm_vectors, s.ffn.mlp_bias, s.position_embeddings) == (True, 2, True, 0)
    d, L, f, V = 1024, 24, 4096, 250880
    # query_key_value, dense and their biases; dense_h_to_4h, dense_4h_to_h and theirs; two LayerNorms of weight and
    # bias; ln_f; word_embeddings (the head tied to it) and word_embeddings_layernorm (weight and bias)
    total = L * (4 * d * d + 4 * d + 2 * d * f + f + d + 2 * 2 * d) + 2 * d + V * d + 2 * d
    assert params(s) == total == 559_214_592                  # the checkpoint's 293 tensors
    # 559,039,488 before: the LayerNorm and MLP biases, ln_f's and the embedding LayerNorm (175,104) said, not counted
    assert total - (L * (2 * d + f + d) + d + 2 * d) == 559_039_488 and s.description == ""
    assert per_token(s) == 24 * 16 * 64 * 2 * 2 == 98_304


def test_bloom_176b_under_its_older_key_names(tmp_path):
    """BLOOM-176B's file names its width n_embed and its heads num_attention_heads (BloomConfig reads both);
    70 layers of 14336, 112 heads of 128: 176,247,271,424 parameters with what the spec leaves out."""
    s = load_spec(variant(tmp_path, "bloom_560m", hidden_size=..., n_head=..., n_embed=14336, n_layer=70,
                          num_attention_heads=112))
    d, L, f, V = 14336, 70, 4 * 14336, 250880
    assert params(s) == L * (4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d) + 2 * d + V * d + 2 * d == 176_247_271_424
    assert per_token(s) == 70 * 112 * 128 * 2 * 2 == 4_014_080                   # 3.8 MiB a token


def test_bloom_n_embed_wins_and_seq_length_is_the_context(tmp_path):
    # BloomConfig: hidden_size = n_embed where n_embed is given; BLOOMZ's seq_length (vLLM's max_model_len key)
    s = load_spec(variant(tmp_path, "bloom_560m", n_embed=2048, seq_length=2048))
    assert (s.hidden_size, s.attention.qk_nope_head_dim, s.max_context) == (2048, 128, 2048)


@pytest.mark.parametrize("changes,words", [
    ({"n_inner": 8192}, "n_inner 8192 is not modelled: BloomMLP is 4 x hidden_size (4096) wide"),
    ({"intermediate_size": 2048}, "intermediate_size 2048 is not modelled: BloomMLP is 4 x hidden_size (4096)"),
    ({"n_embed": 1000}, "hidden_size 1000 is not a multiple of 16 heads"),
    ({"n_embed": "1024"}, "n_embed must be a whole number of at least 1, got '1024'"),
    ({"n_head": 0}, "n_head must be a whole number of at least 1, got 0"),
])
def test_bloom_variants_it_cannot_represent_are_one_line(capsys, tmp_path, changes, words):
    path = variant(tmp_path, "bloom_560m", **changes)
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=words)


# ------------------------------------------------------------------------------------------------ MPT

def test_mpt_7b_by_hand():
    """MptBlock: norm_1 (no bias), Wqkv 4096 -> 12288 and out_proj without biases, ALiBi; norm_2, up_proj 4096 ->
    16384 and down_proj back without biases; norm_f; the head tied to wte. Nothing uncounted."""
    s = hf("mpt_7b")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_nope_head_dim, a.qk_rope_head_dim) == ("mha", 32, 32, 128, 0)
    assert (a.qkv_bias, a.o_bias, s.ffn.intermediate_size, s.ffn.gated) == (False, False, 16384, False)
    assert (s.norms_per_layer, s.tie_word_embeddings, s.max_context, s.description) == (2, True, 2048, "")
    d, L, V = 4096, 32, 50432
    assert params(s) == L * (4 * d * d + 2 * d * 4 * d + 2 * d) + d + V * d == 6_649_286_656     # the card's "6.7B"
    assert per_token(s) == 32 * 32 * 128 * 2 * 2 == 524_288


def test_mpt_30b_by_hand(tmp_path):
    """MPT-30B's sizes (d_model 7168, 64 heads, 48 layers, max_seq_len 8192) on MPT-7B's file: 29,957,200,896, the
    card's "29.95B"; 48 x 64 x 112 x 2 x 2 bytes of K/V a token."""
    s = load_spec(variant(tmp_path, "mpt_7b", d_model=7168, n_heads=64, n_layers=48, max_seq_len=8192))
    d, L, V = 7168, 48, 50432
    assert params(s) == L * (12 * d * d + 2 * d) + d + V * d == 29_957_200_896
    assert (per_token(s), s.max_context) == (48 * 64 * 112 * 2 * 2, 8192)


def test_mpt_attn_config_left_out_takes_the_class_defaults(tmp_path):
    # MptAttentionConfig(attn_type="multihead_attention", alibi=True, prefix_lm=False, qk_ln=False); a kv_n_heads
    # equal to n_heads builds the same attention in both engines
    assert load_spec(variant(tmp_path, "mpt_7b", attn_config=...)).attention == hf("mpt_7b").attention
    kv = load_spec(variant(tmp_path, "mpt_7b", attn_config={"kv_n_heads": 32, "attn_type": "multihead_attention"}))
    assert kv.attention == hf("mpt_7b").attention


@pytest.mark.parametrize("changes,words", [
    ({"attn_config": {"attn_type": "multiquery_attention"}}, "attn_config.attn_type 'multiquery_attention' is not "
                                                             "modelled"),
    ({"attn_config": {"attn_type": "grouped_query_attention", "kv_n_heads": 8}},
     "attn_config.attn_type 'grouped_query_attention' is not modelled"),
    ({"attn_config": {"kv_n_heads": 8}}, "attn_config.kv_n_heads 8 beside n_heads 32 is not modelled"),
    ({"attn_config": {"kv_n_heads": "8"}}, "attn_config.kv_n_heads must be a whole number of at least 1, got '8'"),
    ({"attn_config": {"alibi": False}}, "attn_config.alibi false (positions without ALiBi"),
    ({"attn_config": {"alibi": "yes"}}, "attn_config.alibi must be true or false, got 'yes'"),
    ({"attn_config": {"rope": True}}, "attn_config.rope (RoPE in place of ALiBi) is not modelled"),
    ({"attn_config": {"prefix_lm": True}}, "attn_config.prefix_lm (bidirectional attention over a prefix"),
    ({"attn_config": {"qk_ln": True}}, "attn_config.qk_ln (q/k LayerNorms: vLLM builds them"),
    # llm-foundry's q/k norms of head_dim (build_norm(head_dim) when qk_gn): neither engine builds them; read before
    ({"attn_config": {"qk_gn": True}}, "attn_config.qk_gn (q/k norms of head_dim: neither transformers' nor vLLM's"),
    ({"attn_config": {"qk_gn": "yes"}}, "attn_config.qk_gn must be true or false, got 'yes'"),
    ({"attn_config": "torch"}, "attn_config must be a mapping, got 'torch'"),
    ({"ffn_config": {"ffn_type": "mptgeglu"}}, "ffn_config {'ffn_type': 'mptgeglu'} is not modelled"),
    # llm-foundry's resolve_ffn_hidden_size: ffn_hidden_size wins over expansion_ratio (an 8192-wide MLP); both engines
    # build 4 x 4096 = 16384 whatever it says. It was read as 16384, the checkpoint's MLP half that
    ({"ffn_config": {"ffn_type": "mptmlp", "ffn_hidden_size": 8192}},
     "ffn_config.ffn_hidden_size 8192 is not modelled (llm-foundry's MLP width; transformers' and vLLM's MPT build "
     "16384)"),
    ({"expansion_ratio": 2}, "expansion_ratio 2 is not modelled (transformers' MptMLP is 4 x d_model"),
    ({"expansion_ratio": 2.5}, "expansion_ratio must be a whole number of at least 1, got 2.5"),
    ({"no_bias": False}, "no_bias false is not modelled"),
    ({"tie_word_embeddings": False}, "an untied head (tie_word_embeddings false) is not read"),
    ({"d_model": ...}, "model_type mpt: has no hidden_size, which sizes the model"),
])
def test_mpt_variants_the_engines_build_differently_are_one_line(capsys, tmp_path, changes, words):
    path = variant(tmp_path, "mpt_7b", **changes)
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=words)


# ------------------------------------------------------------------------------------------------ GPT-Neo

def test_gpt_neo_125m_by_hand():
    """GPTNeoBlock: ln_1, q/k/v_proj without biases and out_proj with one, no RoPE; ln_2, c_fc 768 -> 3072 and
    c_proj back with biases; global and local layers alternating (the local ones masked to a window of 256, cached
    in full: test below); wpe of 2048 rows; the head tied to wte."""
    s = hf("gpt_neo_125m")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_nope_head_dim, a.qk_rope_head_dim) == ("mha", 12, 12, 64, 0)
    assert (a.qkv_bias, a.o_bias) == (False, True)
    assert (s.ffn.intermediate_size, s.norms_per_layer, s.tie_word_embeddings, s.max_context) == (3072, 2, True, 2048)
    assert (s.position_embeddings, s.norm_vectors, s.ffn.mlp_bias, s.head_bias) == (2048, 2, True, False)
    d, L, f, V = 768, 12, 3072, 50257
    # q/k/v/out_proj and out_proj's bias (o_bias); c_fc, c_proj and their biases; ln_1, ln_2 weight and bias; ln_f; wte
    # (the head tied to it); wpe of max_position_embeddings rows
    total = L * (4 * d * d + d + 2 * d * f + f + d + 2 * 2 * d) + 2 * d + V * d + 2048 * d
    assert params(s) == total == 125_198_592
    # 123,560,448 before: the position table and the LayerNorm and MLP biases, 1,638,144, were said in the description
    assert total - (2048 * d + L * (2 * d + f + d) + d) == 123_560_448
    assert s.description.endswith("read as full: transformers, the engine that builds GPT-Neo, caches every token of "
                                  "every layer")
    assert per_token(s) == 12 * 12 * 64 * 2 * 2 == 36_864


def test_gpt_neo_local_layers_cache_every_token_as_transformers_does():
    """GPTNeoSelfAttention makes a layer local in its mask alone (``bias ^ tril(bias, -window_size)``): its keys and
    values go to the same cache as a global layer's (``layer_past.update``, a DynamicCache() that GPTNeoModel builds
    without a window), and no engine with a windowed cache builds GPT-Neo (vLLM's and SGLang's registries have no
    GPTNeoForCausalLM). Read as 256-token sliding layers, the six local layers held 256 tokens at 2048: 42,467,328 B
    a sequence, 44% under the 75,497,472 transformers holds."""
    s = hf("gpt_neo_125m")
    assert (s.layer_types, s.attention.sliding_window) == (None, None)
    one = 12 * 64 * 2 * 2                                          # heads x head_dim x (K, V) x 2 bytes, a layer
    assert kv_report(s, context=2048).per_sequence.total == 12 * 2048 * one == 75_497_472
    assert s.description.startswith("6 of the 12 layers are local (a 256-token window in GPTNeoSelfAttention's "
                                    "mask), read as full: transformers")


def test_gpt_neo_all_global_layers(tmp_path):
    # attention_types [[["global"], 12]] expands to 12 global layers: nothing local to say
    s = load_spec(variant(tmp_path, "gpt_neo_125m", attention_types=[[["global"], 12]], attention_layers=...))
    assert (s.layer_types, s.attention.sliding_window) == (None, None)
    assert kv_report(s, context=2048).per_sequence.total == 12 * 2048 * 12 * 64 * 2 * 2
    assert s.description == ""


@pytest.mark.parametrize("changes,words", [
    ({"attention_types": "global"}, "attention_types must be a list of [[layer types], repeats] pairs, got 'global'"),
    ({"attention_types": [[["global", "local"], -1]]}, "attention_types must be a list of [[layer types], repeats]"),
    ({"attention_types": [[["global", "sparse"], 6]], "attention_layers": ...},
     "attention type 'sparse' is not modelled (global and local are)"),
    ({"attention_types": [[["global", "local"], 5]], "attention_layers": ...},
     "attention_types gives 10 layers for num_layers 12"),
    # a repeat count of 10**12 is compared, not unrolled: one line at once
    ({"attention_types": [[["global"], 10**12]], "attention_layers": ...},
     "attention_types gives 1000000000000 layers for num_layers 12"),
    ({"attention_layers": ["local", "global"] * 6}, "attention_layers disagrees with attention_types"),
    ({"window_size": 0}, "window_size must be a whole number of at least 1, got 0"),
    ({"window_size": "256"}, "window_size must be a whole number of at least 1, got '256'"),
    ({"num_layers": 10**9}, "num_layers must be at most"),
])
def test_gpt_neo_variants_it_cannot_represent_are_one_line(capsys, tmp_path, changes, words):
    path = variant(tmp_path, "gpt_neo_125m", **changes)
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=words)


# ------------------------------------------------------------------------------------------------ keys none reads

@pytest.mark.parametrize("name,layers", [("opt_125m", 12), ("gpt_j_6b", 28), ("bloom_560m", 24), ("mpt_7b", 32),
                                         ("gpt_neo_125m", 12)])
def test_a_window_no_engine_of_the_family_reads_is_not_read(tmp_path, name, layers):
    """OPTAttention, GPTJAttention, CodeGenAttention, BloomAttention, MptAttention and GPTNeoSelfAttention (and vLLM's
    OPT, GPT-J, BLOOM and MPT) read no ``sliding_window`` or ``layer_types``: every layer keeps every token whatever
    such a key says. Read as Mistral's, a stray window of 128 cut OPT-125m's 2,048-token sequence from 12 layers x
    2,048 tokens to 12 x 128."""
    base = kv_report(hf(name), context=2048).per_sequence.total
    for changes in ({"sliding_window": 128}, {"sliding_window": 128, "layer_types": ["sliding_attention"] * layers}):
        s = load_spec(variant(tmp_path, name, **changes))
        assert (s.layer_types, s.attention.sliding_window) == (None, None)
        assert kv_report(s, context=2048).per_sequence.total == base
    assert kv_report(hf("opt_125m"), context=2048).per_sequence.total == 12 * 2048 * 12 * 64 * 2 * 2


# ------------------------------------------------------------------------------------------------ module names

@pytest.mark.parametrize("name,mt,attn,ffn,embed", [
    ("opt_125m", "opt", "model.decoder.layers.0.self_attn.q_proj", "model.decoder.layers.0.fc1",
     "model.decoder.embed_tokens"),
    ("gpt_j_6b", "gptj", "transformer.h.0.attn.q_proj", "transformer.h.0.mlp.fc_in", "transformer.wte"),
    ("bloom_560m", "bloom", "transformer.h.0.self_attention.query_key_value", "transformer.h.0.mlp.dense_h_to_4h",
     "transformer.word_embeddings"),
    ("mpt_7b", "mpt", "transformer.blocks.0.attn.Wqkv", "transformer.blocks.0.ffn.up_proj", "transformer.wte"),
    ("gpt_neo_125m", "gpt_neo", "transformer.h.0.attn.attention.q_proj", "transformer.h.0.mlp.c_fc",
     "transformer.wte"),
])
def test_module_names_as_the_checkpoints_have_them(name, mt, attn, ffn, embed):
    c = cfg(name)
    names = _module_names(spec_dict_from_hf_config(c, "m"), mt, checkpoint_layout(c))
    assert (names["attention"][0], names["dense_ffn"][0], names["embed"]) == (attn, ffn, [embed])


def test_a_list_naming_opt_mlp_modules_keeps_them_at_16_bits(tmp_path):
    # compressed-tensors FP8 on every Linear but OPT's fc1/fc2: under Llama's names (mlp.up_proj) the patterns
    # matched nothing and the MLP was priced at one byte a weight
    weights = {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True, "dynamic": False}
    quant = {"quant_method": "compressed-tensors", "format": "float-quantized", "ignore": ["lm_head", "re:.*fc1",
             "re:.*fc2"], "config_groups": {"g": {"targets": ["Linear"], "weights": weights}}}
    s = load_spec(variant(tmp_path, "opt_125m", quantization_config=quant))
    assert s.quantization.components == ("attention",)


# ------------------------------------------------------------------------------------------------ through the CLI

@pytest.mark.parametrize("name,kv,total", [
    ("opt_125m", 36_864, 125_239_296), ("opt_6_7b", 524_288, 6_658_473_984), ("gpt_j_6b", 458_752, 6_050_882_784),
    ("bloom_560m", 98_304, 559_214_592), ("mpt_7b", 524_288, 6_649_286_656), ("gpt_neo_125m", 36_864, 125_198_592),
])
def test_kv_weights_and_specs_show_through_the_cli(capsys, name, kv, total):
    """The per-token KV and the total worked out above, through kv, weights and specs show (--json)."""
    path = str(FIXTURES / name)
    code, out, _, _ = run(capsys, "kv", path, "--context", "2k", "--json")
    assert code in (0, None) and json.loads(out)["kv_bytes_per_token"] == kv
    code, out, _, _ = run(capsys, "weights", path, "--json")
    assert code in (0, None) and json.loads(out)["params_total"] == total
    code, out, _, _ = run(capsys, "specs", "show", path)
    assert code in (0, None) and "are not counted" not in out
    assert ("norm_vectors: 1" if name == "mpt_7b" else "norm_vectors: 2") in out
