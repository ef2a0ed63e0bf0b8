"""Tencent Hy3 (model_type hy_v3: Hy3-preview, Hy3), refused before on its first unknown key (enable_moe_fp32_combine),
worked out by hand on the fixture (tests/fixtures/hf/hy3: tencent/Hy3's config.json transcribed whole; SOURCE.md).

What a Hy3 layer holds (transformers models/hy_v3/modular_hy_v3.py; vLLM hy_v3.py, hy_v3_mtp.py): q_proj d x 64 x 128,
k_proj and v_proj d x 8 x 128, o_proj 64 x 128 x d, no biases; q_norm and k_norm of head_dim 128 (ApertusAttention);
input_layernorm and post_attention_layernorm of d. Layer 0 (first_k_dense_replace 1) has a gated MLP of 13312; layers 1
to 79 a router 192 x d (no bias; its expert_bias of 192 floats is not counted, as DeepSeek-V3's correction bias), 192
gated experts of 1536, top 8, and one shared MLP of 1536 (shared_mlp). Embedding and an untied lm_head of 120832 x d,
a final norm. One MTP layer (model.layers.80): enorm, hnorm, eh_proj 2d x d and a MoE decoder layer, counted apart."""

from pathlib import Path

import pytest

from mlacalc.kv import kv_report
from mlacalc.params import weights_report as weights
from mlacalc.spec import load_spec

from helpers import fixture_config as config, hf_fixture as hf, refused, run, write_config as write

D, L, V = 4096, 80, 120832
HEADS, KV_HEADS, HEAD = 64, 8, 128
DENSE, EXPERTS, TOP, WIDTH = 13312, 192, 8, 1536

ATTN = D * HEADS * HEAD + 2 * D * KV_HEADS * HEAD + HEADS * HEAD * D + 2 * HEAD     # q, k, v, o, q_norm, k_norm
EXPERT = 3 * D * WIDTH                                                              # gate, up, down
DENSE_LAYER = ATTN + 3 * D * DENSE + 2 * D
MOE_LAYER = ATTN + (EXPERTS + 1) * EXPERT + EXPERTS * D + 2 * D                     # 192 routed + 1 shared, router
TOTAL = DENSE_LAYER + (L - 1) * MOE_LAYER + 2 * V * D + D                           # untied head, final norm


def hf_path(tmp_path, cfg):
    """The spec read from ``cfg`` written as a config.json."""
    return load_spec(write(tmp_path, cfg))


def test_hy3_by_hand():
    """295,033,528,320 parameters: the card's "295B". Active 20,180,791,296 (8 routed and the shared expert a MoE layer,
    the head, one embedding row); the card's "21B activated" is 0.8 B more: counting the whole embedding table instead
    of one row gives 20,675,715,072, which rounds to 21B (not checked against Tencent's own count). The MTP layer,
    3,752,608,000 here (two norms, eh_proj 2d x d, a MoE layer, as params.py counts DeepSeek-V3's), is the card's
    "3.8B MTP layer parameters"; its final_layernorm (d) is not counted."""
    s = hf("hy3")
    a, f = s.attention, s.ffn
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_nope_head_dim + a.qk_rope_head_dim) == ("gqa", 64, 8, 128)
    assert a.qk_norm and not a.qkv_bias and not a.o_bias and a.sliding_window is None
    assert (f.num_experts, f.experts_per_token, f.expert_intermediate_size, f.num_shared_experts) == (192, 8, 1536, 1)
    assert (f.first_dense_layers, f.intermediate_size, f.router_bias) == (1, 13312, False)
    assert not s.tie_word_embeddings and s.norms_per_layer == 2 and s.mtp_layers == 1
    assert ATTN == 75_497_728 and DENSE_LAYER == 239_083_776 and MOE_LAYER == 3_719_045_376
    w = weights(s)
    assert w.params.total == TOTAL == 295_033_528_320
    active = DENSE_LAYER + (L - 1) * (ATTN + (TOP + 1) * EXPERT + EXPERTS * D + 2 * D) + V * D + D + D
    assert w.active.total == active == 20_180_791_296
    assert active - D + V * D == 20_675_715_072                     # the whole embedding table: the card's "21B"
    assert w.mtp_params == 2 * D + 2 * D * D + MOE_LAYER == 3_752_608_000
    assert s.max_context == 262144


def test_hy3_kv_cache_by_hand():
    """Every layer full attention (no window), 8 K/V heads of 128: 80 x 8 x 128 x (K, V) x 2 bytes = 327,680 B a token
    at bf16; at its 256K context 80 GiB a sequence."""
    s = hf("hy3")
    assert kv_report(s, context=1).per_token.total == 80 * 8 * 128 * 2 * 2 == 327_680
    assert kv_report(s, context=262144).per_sequence.total == 327_680 * 262144 == 85_899_345_920


@pytest.mark.parametrize("key", ["head_dim", "num_key_value_heads", "moe_intermediate_size", "expert_hidden_dim",
                                 "first_k_dense_replace", "qk_norm", "tie_word_embeddings", "num_shared_experts"])
def test_hy3_keys_left_out_take_the_class_defaults(tmp_path, key):
    """A key left out takes HYV3Config's default (vLLM's class agrees on these): head_dim 128, not 4096 / 64 = 64;
    8 K/V heads, not 64; experts of 1536 (from whichever of the two width keys is left); one dense layer; q/k norms;
    an untied head; one shared expert. The same 295,033,528,320."""
    cfg = config("hy3")
    del cfg[key]
    assert weights(hf_path(tmp_path, cfg)).params.total == TOTAL


def test_hy3_mlp_layer_types_as_transformers_writes_them(tmp_path):
    """transformers' HYV3Config gives the dense layers as mlp_layer_types; two dense layers (with vLLM's
    first_k_dense_replace 2 beside them) turn layer 1's MoE into a dense MLP: TOTAL - MOE_LAYER + DENSE_LAYER."""
    cfg = config("hy3") | {"mlp_layer_types": ["dense"] + ["sparse"] * 79}
    assert weights(hf_path(tmp_path, cfg)).params.total == TOTAL
    cfg |= {"mlp_layer_types": ["dense"] * 2 + ["sparse"] * 78, "first_k_dense_replace": 2}
    assert weights(hf_path(tmp_path, cfg)).params.total == TOTAL - MOE_LAYER + DENSE_LAYER == 291_553_566_720


@pytest.mark.parametrize("changes,words", [
    ({"attention_bias": True}, "q/k/v/o biases (attention_bias true) are not modelled: vLLM's HYV3 builds none"),
    ({"mlp_bias": True}, "MLP biases (mlp_bias true) are not modelled"),
    ({"qk_norm": False}, "qk_norm false: transformers' HYV3Attention builds q_norm and k_norm whatever it says"),
    ({"qk_norm": "yes"}, "model_type hy_v3: qk_norm must be true or false, got 'yes'"),
    ({"expert_hidden_dim": 2048}, "moe_intermediate_size 1536 and expert_hidden_dim 2048 differ"),
    ({"expert_hidden_dim": "1536"}, "expert_hidden_dim must be a whole number of at least 1, got '1536'"),
    ({"sliding_window": 4096}, "a sliding window (sliding_window, layer_types) is not modelled"),
    ({"mlp_layer_types": ["dense"] * 2 + ["sparse"] * 78},
     "mlp_layer_types has 2 leading dense layers but first_k_dense_replace is 1"),
    ({"mlp_layer_types": ["sparse", "dense"] + ["sparse"] * 78},
     "mlp_layer_types other than leading dense layers then sparse ones"),
    ({"first_k_dense_replace": 80}, "80 dense layers of 80 leave no MoE layer"),
    ({"num_experts": 0}, "num_experts is 0: an MoE layer without experts"),
])
def test_hy3_what_the_reader_cannot_represent_is_one_line(capsys, tmp_path, changes, words):
    """Where transformers' and vLLM's Hy3 would build different weights from the file, or neither builds what it says,
    the reading refuses: one line, exit 2, for kv, weights and specs show."""
    path = write(tmp_path, config("hy3") | changes)
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=words)


def test_hy3_shared_expert_count_of_zero_is_refused(capsys, tmp_path):
    """num_shared_experts 0: vLLM's HYV3MoEFused builds no shared MLP (``if config.num_shared_experts > 0``), but
    transformers' HYV3MoE builds HYV3MLP(intermediate_size=1536 x 0) and HYV3MLP takes ``intermediate_size or
    config.intermediate_size``: a shared MLP of 13312, 3 x 4096 x 13312 = 163,577,856 parameters a MoE layer. Read
    before as vLLM's (TOTAL - 79 x 3 x 4096 x 1536 = 293,542,453,248, no word); refused now, one line."""
    assert TOTAL - 79 * EXPERT == 293_542_453_248 and 3 * D * DENSE == 163_577_856
    path = write(tmp_path, config("hy3") | {"num_shared_experts": 0})
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words="num_shared_experts 0: transformers' HYV3MoE builds a shared MLP of "
                                              "intermediate_size (13312)")


@pytest.mark.parametrize("changes,drop,words", [
    # vLLM builds 2 dense layers, transformers 1 (mlp_layer_types absent: HYV3Config's default, one dense layer)
    ({"first_k_dense_replace": 2}, None, "2 dense layers from first_k_dense_replace alone"),
    # vLLM builds none (every layer MoE), transformers still 1
    ({"first_k_dense_replace": 0}, None, "0 dense layers from first_k_dense_replace alone"),
    # transformers builds 2, vLLM 1 (first_k_dense_replace absent: vLLM's HYV3Config default 1)
    ({"mlp_layer_types": ["dense"] * 2 + ["sparse"] * 78}, "first_k_dense_replace",
     "2 dense layers from mlp_layer_types alone"),
])
def test_hy3_dense_prefix_from_one_engine_key_alone_is_refused(capsys, tmp_path, changes, drop, words):
    """transformers' HYV3 takes its dense layers from mlp_layer_types alone (one where it is absent; it has no
    first_k_dense_replace), vLLM's from first_k_dense_replace alone (1 where absent; it reads no mlp_layer_types).
    Where only one key is given and says other than one dense layer, the engines build different weights: 2 dense
    layers are TOTAL - MOE_LAYER + DENSE_LAYER = 291,553,566,720 in one and TOTAL in the other. Read before as whichever
    key was given, no word; refused now. One dense layer from either key alone (the release) is read, both agree."""
    assert TOTAL - MOE_LAYER + DENSE_LAYER == 291_553_566_720
    cfg = {k: v for k, v in (config("hy3") | changes).items() if k != drop}
    path = write(tmp_path, cfg)
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=words)
    one = {k: v for k, v in config("hy3").items() if k != "first_k_dense_replace"} | \
        {"mlp_layer_types": ["dense"] + ["sparse"] * 79}
    assert weights(hf_path(tmp_path, one)).params.total == TOTAL


def test_hy3_through_the_cli(capsys):
    """kv, weights and specs show on the fixture folder, JSON out: the hand-worked numbers, exit 0."""
    import json

    path = str(Path(__file__).parent / "fixtures" / "hf" / "hy3")
    code, out, _, _ = run(capsys, "kv", path, "--context", "256k", "--json")
    assert code in (0, None) and json.loads(out)["kv_bytes_per_sequence"] == 85_899_345_920
    code, out, _, _ = run(capsys, "weights", path, "--json")
    assert code in (0, None) and json.loads(out)["params_total"] == TOTAL and json.loads(out)["params_mtp"] == \
        3_752_608_000
    code, out, _, _ = run(capsys, "specs", "show", path)
    assert code in (0, None) and "qk_norm: true" in out
