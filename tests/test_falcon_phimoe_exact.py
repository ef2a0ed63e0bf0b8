"""Falcon and Phi-3.5-MoE counted as their checkpoints hold them (docs/zoo-facts.md section 35): the LayerNorms' biases
(``norm_vectors`` 2), Falcon's MLP biases under ``bias`` (``ffn.mlp_bias``), Phi-3.5-MoE's lm_head bias
(``head_bias``), and Falcon's remote-code configs (``RefinedWebModel``, ``RefinedWeb``) read as ``falcon``.

Sources: transformers models/falcon/modeling_falcon.py (FalconLinear(bias=config.bias) for query_key_value, dense,
dense_h_to_4h, dense_4h_to_h; LayerNorm for input_layernorm / post_attention_layernorm / ln_attn / ln_mlp / ln_f), vLLM
model_executor/models/falcon.py (the same modules; FalconMLP 4 x hidden_size wide; lm_head tied unless
tie_word_embeddings is false), transformers models/phimoe and vLLM phimoe.py (nn.LayerNorm with weight and bias;
vLLM's q/k/v/o and lm_head biased whatever the file says). bf16 KV: layers x K/V heads x head_dim x 2 x 2 bytes."""

import json
from pathlib import Path

import pytest

from mlacalc.kv import kv_report
from mlacalc.params import weights_report as weights
from mlacalc.spec import load_spec

from helpers import fixture_config, refused, write_config
from helpers import hf_fixture as hf

FIXTURES = Path(__file__).parent / "fixtures" / "hf"


def test_falcon_7b_counts_its_layernorm_biases():
    """Falcon-7B (fixture falcon_7b): 32 layers of d 4544, 71 query heads and one K/V head of 64 (multi_query), the
    MLP 4 d wide, one LayerNorm a layer (parallel_attn), bias false, the head tied. The loaded model's module tree
    (kimborgen/falcon-llm README.md, FalconForCausalLM printed for 7b): query_key_value 4544 -> 4672, dense 4544 ->
    4544, dense_h_to_4h 4544 -> 18176 and back, input_layernorm (4544,) elementwise_affine, ln_f, lm_head 4544 ->
    65024 (tied to word_embeddings: FalconConfig's default tie_word_embeddings, vLLM's falcon.py skips lm_head)."""
    d, V = 4544, 65024
    layer = d * (71 * 64 + 2 * 64) + d * d + 2 * d * 4 * d + 2 * d        # + the LayerNorm's weight and bias
    total = 32 * layer + V * d + 2 * d                                     # + ln_f's weight and bias
    assert total == 6_921_720_704
    s = hf("falcon_7b")
    assert s.norm_vectors == 2 and not s.ffn.mlp_bias
    assert weights(s).params.total == total
    # before: a weight a norm, the biases 32 x 4544 + 4544 = 149,952 left out
    assert total - (32 + 1) * d == 6_921_570_752
    assert kv_report(s, context=1).per_token.total == 32 * 1 * 64 * 2 * 2 == 8_192


def test_falcon_40b_matches_its_safetensors_index_but_the_stored_head():
    """Falcon-40B (fixture falcon_40b): 60 layers of d 8192, 128 query heads of 64 in 8 K/V groups
    (new_decoder_architecture), ln_attn and ln_mlp a layer, the head tied. Its model.safetensors.index.json says
    total_size 83,671,941,120 B (quoted with the config in code-corpus file id 51932210696): 41,835,970,560 bf16
    parameters, which is the model counted here plus one more 65024 x 8192 matrix, the lm_head the checkpoint stores
    beside word_embeddings and both engines tie on load (vLLM falcon.py: load_weights skips "lm_head." when
    tie_word_embeddings)."""
    d, V = 8192, 65024
    layer = d * (128 + 2 * 8) * 64 + d * d + 2 * d * 4 * d + 2 * 2 * d    # qkv, dense, MLP, 2 LayerNorms
    total = 60 * layer + V * d + 2 * d
    assert total == 41_303_293_952
    assert 83_671_941_120 // 2 == total + V * d                            # the stored copy of the tied head
    s = hf("falcon_40b")
    assert (s.norms_per_layer, s.norm_vectors) == (2, 2)
    assert weights(s).params.total == total
    assert kv_report(s, context=1).per_token.total == 60 * 8 * 64 * 2 * 2 == 122_880


# Falcon-RW-1B's sizing keys as a Go port's test transcribes its config.json (code-corpus file id 62865112815:
# "falcon-rw config"): MHA (multi_query false), sequential attention and MLP (parallel_attn false), ALiBi, bias true
FALCON_RW_1B = {"model_type": "falcon", "architectures": ["FalconForCausalLM"], "hidden_size": 2048,
                "num_hidden_layers": 24, "num_attention_heads": 32, "multi_query": False,
                "new_decoder_architecture": False, "parallel_attn": False, "alibi": True, "bias": True,
                "layer_norm_epsilon": 1e-5, "vocab_size": 50304}


def test_falcon_bias_true_counts_the_mlp_biases_too(tmp_path):
    """``bias`` true (Falcon-RW-1B) biases query_key_value (3 d), dense (d), dense_h_to_4h (4 d) and dense_4h_to_h (d):
    the MLP's 5 d a layer were left out before (24 x 5 x 2048 = 245,760). Two LayerNorms a layer (input_layernorm,
    post_attention_layernorm), weight and bias; ALiBi, no rotary dims; the head tied."""
    d, V = 2048, 50304
    layer = 3 * d * d + 3 * d + d * d + d + 2 * d * 4 * d + 4 * d + d + 2 * 2 * d
    total = 24 * layer + V * d + 2 * d
    assert total == 1_311_625_216                                          # the card's "1.3B"
    s = load_spec(write_config(tmp_path, FALCON_RW_1B))
    assert (s.attention.kind, s.attention.qk_rope_head_dim, s.norms_per_layer) == ("mha", 0, 2)
    assert s.ffn.mlp_bias and s.attention.qkv_bias and s.attention.o_bias
    assert weights(s).params.total == total
    assert total - 24 * 5 * d - (2 * 24 + 1) * d == 1_311_279_104          # what was counted before
    assert kv_report(s, context=1).per_token.total == 24 * 32 * 64 * 2 * 2 == 196_608


def test_falcon_ffn_width_other_than_4x_is_refused(tmp_path, capsys):
    """transformers' FalconMLP is ffn_hidden_size wide, vLLM's 4 x hidden_size whatever the file says: another width
    is one line, exit 2. 4 x hidden_size itself (Falcon-11B's 16384 at 4096) is read."""
    cfg = fixture_config("falcon_40b") | {"ffn_hidden_size": 4 * 8192}
    assert load_spec(write_config(tmp_path, cfg)).ffn.intermediate_size == 32768
    bad = write_config(tmp_path, cfg | {"ffn_hidden_size": 20480})
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, bad, words="model_type falcon: ffn_hidden_size 20480 differs from 4 x hidden_size")


def test_falcon_num_ln_in_parallel_attn_builds_two_layernorms_at_2_and_one_otherwise(tmp_path):
    """FalconDecoderLayer (transformers and vLLM alike) under parallel_attn: ``num_ln_in_parallel_attn == 2`` builds
    ln_attn and ln_mlp, any other value one input_layernorm (None is 2 under new_decoder_architecture). Falcon-11B's 1
    and a 3 are one LayerNorm a layer; was 3 counted as three. Falcon-40B's shape: one LayerNorm fewer a layer is
    60 x 2 x 8192 = 983,040 parameters (weight and bias)."""
    d, L, one_ln = 8192, 60, 41_303_293_952 - 60 * 2 * 8192
    cfg = fixture_config("falcon_40b")
    for n, lns in ((None, 2), (2, 2), (1, 1), (3, 1)):
        s = load_spec(write_config(tmp_path, cfg | {"num_ln_in_parallel_attn": n}))
        assert s.norms_per_layer == lns, n
        assert weights(s).params.total == one_ln + (lns - 1) * L * 2 * d, n
    # without new_decoder_architecture a 2 builds ln_attn and ln_mlp too (both __init__s test the value alone)
    s7 = load_spec(write_config(tmp_path, fixture_config("falcon_7b") | {"num_ln_in_parallel_attn": 2}))
    assert weights(s7).params.total == 6_921_720_704 + 32 * 2 * 4544


def test_falcon_untied_head_counts_its_own_matrix(tmp_path):
    """tie_word_embeddings false (Falcon-11B's; vLLM's falcon.py: "only Falcon-11B doesn't share lm_head weight")
    adds the lm_head, V x d, to Falcon-40B's count."""
    d, V = 8192, 65024
    cfg = fixture_config("falcon_40b") | {"tie_word_embeddings": False}
    assert weights(load_spec(write_config(tmp_path, cfg))).params.total == 41_303_293_952 + V * d


def test_refinedwebmodel_is_falcon_7b():
    """Falcon-7B-Instruct's file as first released (fixture falcon_7b_instruct_rw: model_type RefinedWebModel, n_head,
    n_layer, no new_decoder_architecture) is Falcon-7B's model: vLLM's RWConfig reads n_head/n_layer by its
    attribute_map, transformers' convert_custom_code_checkpoint.py renames them. The same count and KV."""
    s = hf("falcon_7b_instruct_rw")
    assert (s.num_layers, s.attention.num_heads, s.attention.num_kv_heads, s.norms_per_layer) == (32, 71, 1, 1)
    d = 4544
    layer = d * (71 * 64 + 2 * 64) + d * d + 2 * d * 4 * d + 2 * d
    assert weights(s).params.total == 32 * layer + 65024 * d + 2 * d == 6_921_720_704
    assert kv_report(s, context=1).per_token.total == 8_192
    assert "read as falcon" in s.description


def _refinedweb_40b() -> dict:
    """Falcon-40B's keys in the remote code's names, as its first config.json had them (model_type RefinedWeb,
    n_head 128, n_head_kv 8, n_layer 60, no new_decoder_architecture; the TT-Metal dump in code-corpus file id
    5862211615 shows the same n_* keys beside the converted ones)."""
    cfg = fixture_config("falcon_7b_instruct_rw") | {"model_type": "RefinedWeb", "hidden_size": 8192, "n_head": 128,
                                                    "n_head_kv": 8, "n_layer": 60}
    del cfg["multi_query"]
    return cfg


def test_refinedweb_is_falcon_40b(tmp_path):
    """RefinedWeb: the remote code builds the new decoder (grouped K/V of n_head_kv, ln_attn and ln_mlp); vLLM's
    RWConfig forces it at hidden_size 8192. Falcon-40B's count and KV."""
    s = load_spec(write_config(tmp_path, _refinedweb_40b()))
    assert (s.attention.num_heads, s.attention.num_kv_heads, s.norms_per_layer) == (128, 8, 2)
    assert weights(s).params.total == 41_303_293_952
    assert kv_report(s, context=1).per_token.total == 60 * 8 * 64 * 2 * 2


def test_refinedweb_where_vllm_builds_another_decoder_is_refused(tmp_path, capsys):
    """Where vLLM's RWConfig (the file's new_decoder_architecture, else true only at hidden_size 8192) and the remote
    code (RefinedWeb: the new decoder; RefinedWebModel: the old) disagree, and where a default differs between the
    RWConfig copies (multi_query) or a size is missing (n_head_kv), one line, exit 2."""
    cases = [
        (_refinedweb_40b() | {"hidden_size": 4096, "n_head": 64}, "new_decoder_architecture not given at hidden_size "
                                                                  "4096"),
        ({k: v for k, v in fixture_config("falcon_7b_instruct_rw").items() if k != "multi_query"},
         "does not say multi_query"),
        ({k: v for k, v in _refinedweb_40b().items() if k != "n_head_kv"}, "has no n_head_kv"),
    ]
    for cfg, words in cases:
        path = write_config(tmp_path, cfg)
        for command in (("kv",), ("weights",), ("specs", "show")):
            refused(capsys, *command, path, words=words)


def test_phi_3_5_moe_counts_layernorm_and_head_biases():
    """Phi-3.5-MoE-instruct (fixture phi_3_5_moe_instruct): 32 layers of d 4096, 32 query and 8 K/V heads of 128,
    q/k/v/o biased; 16 gated experts of 6400 (w1, w3, w2) under a bias-free router; input_layernorm and
    post_attention_layernorm with weight and bias; the final norm; an untied lm_head with a bias of 32064. The
    r/LocalLLaMA count (SOURCE.md): 41,873,153,344, exact. Before: 41,872,855,040, 298,304 short (32 x 2 x 4096 +
    4096 LayerNorm biases and the head's 32064)."""
    d, V, expert = 4096, 32064, 3 * 4096 * 6400
    attention = d * 4096 + 2 * d * 1024 + 4096 * d + (4096 + 2 * 1024 + d)
    layer = attention + 16 * expert + d * 16 + 2 * 2 * d
    total = 32 * layer + 2 * V * d + 2 * d + V
    assert total == 41_873_153_344
    s = hf("phi_3_5_moe_instruct")
    assert (s.norm_vectors, s.head_bias) == (2, True)
    assert weights(s).params.total == total
    assert total - (32 * 2 * d + d + V) == 41_872_855_040
    assert kv_report(s, context=1).per_token.total == 32 * 8 * 128 * 2 * 2 == 131_072


@pytest.mark.parametrize("key", ["attention_bias", "lm_head_bias"])
def test_phi_3_5_moe_bias_flags_vllm_ignores_are_refused(tmp_path, capsys, key):
    """vLLM's PhiMoE builds the q/k/v/o and lm_head biases whatever the file says, transformers by attention_bias and
    lm_head_bias (PhimoeConfig: both false): false, or left out, is one line, exit 2."""
    cfg = json.loads((FIXTURES / "phi_3_5_moe_instruct" / "config.json").read_text())
    for bad in (cfg | {key: False}, {k: v for k, v in cfg.items() if k != key}):
        path = write_config(tmp_path, bad)
        for command in (("kv",), ("weights",), ("specs", "show")):
            refused(capsys, *command, path, words=f"model_type phimoe: {key} false")


def test_class_defaults_a_file_leaves_out(tmp_path):
    """FalconConfig: multi_query=True (a Falcon-7B file without it was read as MHA: 71 K/V heads), num_kv_heads None
    is num_attention_heads under new_decoder_architecture (was refused as missing); PhimoeConfig:
    num_key_value_heads=8 (was read as 32, MHA). Found by bench/fuzz_cli.py --drops."""
    d = 4544
    no_mq = {k: v for k, v in fixture_config("falcon_7b").items() if k != "multi_query"}
    s = load_spec(write_config(tmp_path, no_mq))
    assert s.attention.num_kv_heads == 1 and weights(s).params.total == 6_921_720_704
    assert kv_report(s, context=1).per_token.total == 32 * 1 * 64 * 2 * 2
    no_kv = {k: v for k, v in fixture_config("falcon_40b").items() if k != "num_kv_heads"}
    s40 = load_spec(write_config(tmp_path, no_kv))
    assert (s40.attention.kind, s40.attention.num_kv_heads) == ("mha", 128)
    d = 8192                                                   # query_key_value grows by 2 x (128 - 8) heads of 64
    assert weights(s40).params.total == 41_303_293_952 + 60 * d * 2 * (128 - 8) * 64
    phimoe = json.loads((FIXTURES / "phi_3_5_moe_instruct" / "config.json").read_text())
    del phimoe["num_key_value_heads"]
    sp = load_spec(write_config(tmp_path, phimoe))
    assert sp.attention.num_kv_heads == 8 and weights(sp).params.total == 41_873_153_344
