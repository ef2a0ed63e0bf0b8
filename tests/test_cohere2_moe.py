"""Cohere2-MoE (model_type cohere2_moe: Command A+, North Mini Code), refused before on its first unknown key
(expert_selection_fn), worked out by hand on two assembled fixtures (tests/fixtures/hf/north_mini_code_1_0,
command_a_plus_05_2026; their SOURCE.md says where each value comes from).

What a layer holds (transformers models/cohere2_moe/modular_cohere2_moe.py; vLLM and SGLang cohere2_moe.py): one
LayerNorm (RMSNorm where rms_norm_eps is given) of d before attention and MLP side by side; q_proj d x H x 128, k_proj and
v_proj d x KV x 128, o_proj H x 128 x d, no biases, no q/k norm; on a dense layer (the first first_k_dense_replace) a
gated MLP of prefix_dense_intermediate_size, else a router E x d without bias, E gated experts of intermediate_size
(MixtralExperts), top k, and one shared MLP of intermediate_size x num_shared_experts. The embedding is the head (tied);
a final norm. Sliding layers keep sliding_window tokens, full layers every token."""

from pathlib import Path

import pytest

from mlacalc.hf import cohere2_moe_layer_types
from mlacalc.kv import kv_report
from mlacalc.params import weights_report as weights
from mlacalc.spec import load_spec

from helpers import fixture_config as config, hf_fixture as hf, refused, run, write_config as write

FIXTURES = Path(__file__).parent / "fixtures" / "hf"


def read(tmp_path, cfg):
    """The spec read from ``cfg`` written as a config.json."""
    return load_spec(write(tmp_path, cfg))


# North Mini Code 1.0: 49 layers of d 2048, 32 heads and 4 K/V heads of 128, one dense layer of 3072, then 128 experts
# of 768 (top 8, no shared expert); vocabulary 262144, tied
N_D, N_L, N_V = 2048, 49, 262144
N_ATTN = 2 * N_D * 32 * 128 + 2 * N_D * 4 * 128                     # q, o; k, v
N_DENSE = N_ATTN + 3 * N_D * 3072 + N_D                              # gated MLP, one norm
N_EXPERT = 3 * N_D * 768
N_MOE = N_ATTN + 128 * N_EXPERT + 128 * N_D + N_D                    # experts, router, one norm
N_TOTAL = N_DENSE + 48 * N_MOE + N_V * N_D + N_D                     # tied embedding, final norm

# Command A+: 32 layers of d 4096, 128 heads and 8 K/V heads of 128 (q is 16384 wide), 128 experts of 4096 (top 8) and
# a shared MLP of 4 x 4096 on every layer; vocabulary 262144, tied
P_D, P_L, P_V = 4096, 32, 262144
P_ATTN = 2 * P_D * 128 * 128 + 2 * P_D * 8 * 128
P_EXPERT = 3 * P_D * 4096
P_LAYER = P_ATTN + (128 + 4) * P_EXPERT + 128 * P_D + P_D
P_TOTAL = P_L * P_LAYER + P_V * P_D + P_D


def test_layer_types_with_a_dense_prefix_of_its_own_pattern():
    """Cohere2MoeConfig.__post_init__ without layer_types: the dense prefix on prefix_dense_sliding_window_pattern (1:
    every prefix layer full), the rest on sliding_window_pattern counted from the first MoE layer. Worked out: 6 layers,
    one dense, patterns 1 and 4 -> F, then s s s F, s; no prefix -> s s s F s s; prefix 2 of pattern 2 -> s F, then
    s s s F."""
    F, s = "full_attention", "sliding_attention"
    assert cohere2_moe_layer_types(6, 1, 1, 4) == [F, s, s, s, F, s]
    assert cohere2_moe_layer_types(6, 0, 1, 4) == [s, s, s, F, s, s]
    assert cohere2_moe_layer_types(6, 2, 2, 4) == [s, F, s, s, s, F]
    # North: full at 0, 4, ..., 48 (the release's layer_types), not Cohere2's 3, 7, ..., 47
    north = cohere2_moe_layer_types(49, 1, 1, 4)
    assert [i for i, t in enumerate(north) if t == F] == list(range(0, 49, 4)) and north.count(F) == 13
    assert config("north_mini_code_1_0")["layer_types"] == north


def test_north_mini_code_by_hand():
    """30,484,303,872 parameters: the Hub's "30B" (a GGUF card's "~30.5B"). Active 2,768,345,088 (8 experts a MoE layer,
    one embedding row; the tied head is the embedding, not counted again): the GGUF card's "~2.7B"; Cohere's "3B
    active" is 3,305,213,952 with the tied embedding counted as the head (not checked against Cohere's own count)."""
    s = hf("north_mini_code_1_0")
    a, f = s.attention, s.ffn
    assert (a.kind, a.num_heads, a.num_kv_heads, a.v_head_dim, a.sliding_window) == ("gqa", 32, 4, 128, 4096)
    assert not a.qk_norm and not a.qkv_bias and not a.o_bias
    assert (f.num_experts, f.experts_per_token, f.expert_intermediate_size, f.num_shared_experts) == (128, 8, 768, 0)
    assert (f.first_dense_layers, f.intermediate_size) == (1, 3072)
    assert s.tie_word_embeddings and s.norms_per_layer == 1 and s.mtp_layers == 0
    assert [s.layer_type(i) for i in range(49)].count("full") == 13
    w = weights(s)
    assert w.params.total == N_TOTAL == 30_484_303_872
    active = N_DENSE + 48 * (N_ATTN + 8 * N_EXPERT + 128 * N_D + N_D) + N_D + N_D
    assert w.active.total == active == 2_768_345_088
    assert active - N_D + N_V * N_D == 3_305_213_952


def test_north_mini_code_kv_by_hand_and_the_prefix_pattern():
    """4 K/V heads of 128: 2,048 B a token a layer at bf16, 100,352 B a token over 49 layers. At its 500,000-token
    context the 13 full layers hold every token and the 36 sliding ones 4,096: 13,613,989,888 B, not the 50,176,000,000
    of 49 full layers. The dense prefix's own pattern makes layer 0 full: read with Cohere2's pattern on every layer
    (3, 7, ..., 47 full: 12) the cache would be one full layer less, 12,598,378,496 B."""
    s = hf("north_mini_code_1_0")
    assert kv_report(s, context=1).per_token.total == 49 * 4 * 128 * 2 * 2 == 100_352
    at = kv_report(s, context=500_000).per_sequence.total
    assert at == (13 * 500_000 + 36 * 4096) * 2048 == 13_613_989_888
    assert s.max_context == 500_000
    cohere2 = (12 * 500_000 + 37 * 4096) * 2048
    assert at - cohere2 == (500_000 - 4096) * 2048 == 1_015_611_392


@pytest.mark.parametrize("key", ["layer_types", "head_dim", "prefix_dense_sliding_window_pattern",
                                 "num_shared_experts"])
def test_north_keys_left_out_take_the_class_defaults(tmp_path, key):
    """A key left out takes Cohere2MoeConfig's default: layer_types derived as __post_init__ does (the same 13 full
    layers), head_dim 128 (not 2048 / 32 = 64), the prefix pattern 1, no shared expert. The same count and cache."""
    s = read(tmp_path, {k: v for k, v in config("north_mini_code_1_0").items() if k != key})
    assert weights(s).params.total == N_TOTAL
    assert kv_report(s, context=500_000).per_sequence.total == 13_613_989_888


def test_north_prefix_width_and_mlp_layer_types(tmp_path):
    """prefix_dense_intermediate_size null: the dense layer is intermediate_size (768) wide, 3 x 2048 x (3072 - 768)
    fewer parameters. mlp_layer_types (transformers 5.10 writes it) that agree with first_k_dense_replace: the same."""
    cfg = config("north_mini_code_1_0")
    assert weights(read(tmp_path, cfg | {"prefix_dense_intermediate_size": None})).params.total == \
        N_TOTAL - 3 * N_D * (3072 - 768) == 30_470_148_096
    types = ["dense"] + ["sparse"] * 48
    assert weights(read(tmp_path, cfg | {"mlp_layer_types": types})).params.total == N_TOTAL


def test_command_a_plus_by_hand():
    """218,254,938,112 parameters: the card's "218B" (the Hub's 219B is the wrapper, vision tower included). Active
    23,907,672,064 (8 routed experts and the 4-wide shared MLP a layer, one embedding row); with the tied embedding
    counted as the head, 24,981,409,792: the card's "25B"."""
    s = hf("command_a_plus_05_2026")
    a, f = s.attention, s.ffn
    assert (a.num_heads, a.num_kv_heads, a.v_head_dim, a.sliding_window) == (128, 8, 128, 4096)
    assert s.layer_types == ("sliding", "sliding", "sliding", "full")
    assert (f.num_experts, f.experts_per_token, f.expert_intermediate_size, f.num_shared_experts) == (128, 8, 4096, 4)
    assert f.first_dense_layers == 0 and s.tie_word_embeddings and s.norms_per_layer == 1
    w = weights(s)
    assert P_ATTN == 142_606_336 and w.params.total == P_TOTAL == 218_254_938_112
    active = P_L * (P_ATTN + (8 + 4) * P_EXPERT + 128 * P_D + P_D) + P_D + P_D
    assert w.active.total == active == 23_907_672_064
    assert active - P_D + P_V * P_D == 24_981_409_792


def test_command_a_plus_kv_at_long_context():
    """8 K/V heads of 128: 4,096 B a token a layer, 131,072 B over 32 layers. At 128K the 8 full layers hold 131,072
    tokens and the 24 sliding ones 4,096: 4,697,620,480 B a sequence (4.4 GiB), a quarter of 32 full layers' 16 GiB;
    at its 200,000-token limit 6,956,253,184 B."""
    s = hf("command_a_plus_05_2026")
    assert kv_report(s, context=1).per_token.total == 32 * 8 * 128 * 2 * 2 == 131_072
    assert kv_report(s, context=131072).per_sequence.total == (8 * 131072 + 24 * 4096) * 4096 == 4_697_620_480
    assert kv_report(s, context=200_000).per_sequence.total == (8 * 200_000 + 24 * 4096) * 4096 == 6_956_253_184


def test_command_a_plus_through_its_cohere2_vision_wrapper(tmp_path):
    """The release is a cohere2_vision wrapper whose text_config is this decoder: read through it, the same decoder."""
    cfg = {"architectures": ["Cohere2VisionForConditionalGeneration"], "model_type": "cohere2_vision",
           "text_config": config("command_a_plus_05_2026"), "vision_config": {"model_type": "siglip_vision_model"},
           "tie_word_embeddings": True}
    s, want = read(tmp_path, cfg), hf("command_a_plus_05_2026")
    assert (s.attention, s.ffn, s.layer_types) == (want.attention, want.ffn, want.layer_types)
    assert weights(s).params.total == P_TOTAL and "cohere2_vision" in s.description


@pytest.mark.parametrize("changes,words", [
    ({"attention_bias": True}, "q/k/v/o biases (attention_bias true) are not modelled: vLLM's and SGLang's"),
    ({"tie_word_embeddings": False}, "an untied head (tie_word_embeddings false) is not modelled"),
    ({"expert_selection_fn": "relu"}, "expert_selection_fn 'relu' is not softmax or sigmoid"),
    ({"shared_expert_combination_strategy": "max"}, "shared_expert_combination_strategy 'max' is not average or sum"),
    ({"first_k_dense_replace": 50}, "first_k_dense_replace 50 is past the 49 layers"),
    ({"mlp_layer_types": ["dense"] * 2 + ["sparse"] * 47},
     "mlp_layer_types has 2 leading dense layers but first_k_dense_replace is 1"),
    ({"mlp_layer_types": ["sparse", "dense"] + ["sparse"] * 47},
     "mlp_layer_types other than leading dense layers then sparse ones"),
    ({"prefix_dense_intermediate_size": "3072"}, "prefix_dense_intermediate_size must be a whole number of at least 1"),
    ({"prefix_dense_sliding_window_pattern": 0}, "prefix_dense_sliding_window_pattern must be a whole number of at "
                                                 "least 1, got 0"),
    ({"layer_types": ["full_attention"] * 48}, "layer_types has 48 entries for 49 layers"),
    ({"num_experts": 0}, "num_experts is 0: an MoE layer without experts"),
])
def test_what_the_reader_cannot_represent_is_one_line(capsys, tmp_path, changes, words):
    """Where transformers', vLLM's and SGLang's Cohere2-MoE would build different weights from the file, or none of them
    builds what it says, the reading refuses: one line, exit 2, for kv, weights and specs show."""
    path = write(tmp_path, config("north_mini_code_1_0") | changes)
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=words)


@pytest.mark.parametrize("family,total", [("north_mini_code_1_0", N_TOTAL), ("command_a_plus_05_2026", P_TOTAL)])
def test_through_the_cli(capsys, family, total):
    """kv, weights and specs show on the fixture folders, JSON out: the hand-worked numbers, exit 0."""
    import json

    path = str(FIXTURES / family)
    code, out, _, _ = run(capsys, "weights", path, "--json")
    assert code in (0, None) and json.loads(out)["params_total"] == total
    code, out, _, _ = run(capsys, "kv", path, "--context", "128k", "--json")
    assert code in (0, None) and json.loads(out)["kv_bytes_per_sequence"] == \
        kv_report(hf(family), context=131072).per_sequence.total
    code, out, _, _ = run(capsys, "specs", "show", path)
    assert code in (0, None) and "sliding_window: 4096" in out
