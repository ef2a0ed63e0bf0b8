"""Four decoder families the generic reader refused on their first non-Llama key (docs/zoo-facts.md sections 29, 31):
NVIDIA's Nemotron-4 and Minitron (``nemotron``, refused on ``norm_eps``), OLMo-1 (``olmo``, on ``clip_qkv``), FlexOlmo
(``flex_olmo``, on ``norm_topk_prob``; read as ``olmoe``) and VaultGemma (``vaultgemma``, on
``attn_logit_softcapping``), and the spec field two of them need, ``norm_vectors`` (vectors of hidden_size each layer
norm and the final norm holds: Nemotron's LayerNorm1P a weight and a bias, OLMo-1's LayerNorm none).

Every total below is worked out from the fixture's config.json (tests/fixtures/hf/<folder>/SOURCE.md says where each
file was read) and the modelling classes: transformers ``models/<type>/modeling_*.py`` and vLLM
``model_executor/models/<type>.py``. KV: layers x K/V heads x head_dim x 2 (K and V) x 2 bytes (bf16) a token."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from mlacalc.errors import SpecError
from mlacalc.kv import kv_report
from mlacalc.params import param_counts, weights_report
from mlacalc.spec import load_spec, spec_from_dict

from helpers import make_spec, refused, run

FIXTURES = Path(__file__).parent / "fixtures" / "hf"


def hf(folder: str):
    return load_spec(str(FIXTURES / folder / "config.json"))


def edited(folder: str, **changes) -> dict:
    """A fixture's keys with some replaced (a value of ... deletes the key)."""
    cfg = json.loads((FIXTURES / folder / "config.json").read_text())
    for key, value in changes.items():
        if value is ...:
            del cfg[key]
        else:
            cfg[key] = value
    return cfg


def write(tmp_path, cfg: dict) -> str:
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return str(tmp_path)


def params(spec) -> int:
    return weights_report(spec).params.total


def kv_token(spec) -> float:
    return kv_report(spec, context=1).per_token.total


# ------------------------------------------------------------------------------------------ Nemotron-4, Minitron

def nemotron_layer(d: int, heads: int, kv: int, head: int, f: int) -> int:
    """One NemotronDecoderLayer: q, k, v, o (no biases), up_proj and down_proj (relu2, no gate), and two
    NemotronLayerNorm1P of a weight and a bias each."""
    return d * heads * head + 2 * d * kv * head + heads * head * d + 2 * d * f + 2 * (2 * d)


def test_minitron_8b_by_hand():
    """Minitron-8B-Base: 48 query heads of head_dim 128 (6144 wide, not 4096 / 48) and 8 K/V heads; RoPE over half
    of each head; an untied head; LayerNorm1P with a bias."""
    s = hf("minitron_8b_base")
    a, f = s.attention, s.ffn
    assert (a.kind, a.num_heads, a.num_kv_heads, a.v_head_dim) == ("gqa", 48, 8, 128)
    assert (a.qk_rope_head_dim, a.qk_nope_head_dim, a.qkv_bias, a.o_bias, a.qk_norm) == (64, 64, False, False, False)
    assert (f.kind, f.intermediate_size, f.gated) == ("dense", 16384, False)
    assert (s.norms_per_layer, s.norm_vectors, s.tie_word_embeddings, s.max_context) == (2, 2, False, 4096)
    d, L, V = 4096, 32, 256000
    layer = 4096 * 6144 + 2 * 4096 * 1024 + 6144 * 4096 + 2 * 4096 * 16384 + 4 * 4096
    assert layer == nemotron_layer(d, 48, 8, 128, 16384) == 192_954_368
    total = L * layer + 2 * V * d + 2 * d          # embed_tokens, lm_head; the final LayerNorm1P's weight and bias
    assert params(s) == total == 8_271_699_968     # the bf16 pytorch_model.bin's "16.5 GB": 16,543,399,936 bytes
    assert kv_token(s) == 32 * 8 * 128 * 2 * 2 == 131_072


def test_minitron_4b_by_hand():
    s = hf("minitron_4b_base")
    a = s.attention
    assert (a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim) == (24, 8, 128, 64)
    d, L, V = 3072, 32, 256000
    total = L * nemotron_layer(d, 24, 8, 128, 9216) + 2 * V * d + 2 * d
    assert params(s) == total == 4_190_509_056     # "8.38 GB" of bf16 pytorch_model.bin: 8,381,018,112 bytes
    assert kv_token(s) == 32 * 8 * 128 * 2 * 2 == 131_072


def test_nemotron_4_340b_by_hand():
    """Nemotron-4-340B (mgoin's Hugging Face conversion): the rotary fraction only as rope_percent/rope_percentage
    0.5, which vLLM reads and which agree with transformers' default 0.5: 96 of 192 dims."""
    s = hf("nemotron_4_340b_base")
    a = s.attention
    assert (a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim, a.qk_nope_head_dim) == (96, 8, 192, 96, 96)
    d, L, V = 18432, 96, 256000
    layer = nemotron_layer(d, 96, 8, 192, 73728)
    assert layer == 339_738_624 + 56_623_104 + 339_738_624 + 2_717_908_992 + 73_728 == 3_454_083_072
    assert params(s) == L * layer + 2 * V * d + 2 * d == 341_029_195_776        # "340B"
    assert kv_token(s) == 96 * 8 * 192 * 2 * 2 == 589_824


def test_nemotron_layernorm_biases_are_counted():
    """The norms' share of Minitron-8B: 32 layers x 2 LayerNorm1P x (weight + bias) x 4096, and the final one's
    8192. Read as RMSNorms (one vector each) it was 266,240 short."""
    p = param_counts(hf("minitron_8b_base"))
    assert p.norms == 32 * 2 * 2 * 4096 + 2 * 4096 == 532_480


def test_nemotron_kv_channels_is_the_head_width_where_both_engines_agree(tmp_path):
    """Nemotron-Mini-4B-Instruct's file gives kv_channels 128 and no head_dim (vLLM's NemotronConfig: head_dim or
    kv_channels; transformers': hidden / heads = 3072 / 24 = 128): the same heads."""
    s = load_spec(write(tmp_path, edited("minitron_4b_base", head_dim=..., kv_channels=128)))
    assert replace(hf("minitron_4b_base"), name=s.name, source=s.source) == s
    assert (s.attention.v_head_dim, params(s)) == (128, 4_190_509_056)


@pytest.mark.parametrize("changes,rope", [
    ({"partial_rotary_factor": ...}, 64),                                      # NemotronConfig's 0.5 of 128
    ({"partial_rotary_factor": ..., "rope_percent": 0.5}, 64),                 # vLLM's key, agreeing with the default
    ({"partial_rotary_factor": 0.25, "rope_percentage": 0.25}, 32),            # both engines 0.25
    ({"partial_rotary_factor": 1.0}, 128),
])
def test_nemotron_rotary_dims(tmp_path, changes, rope):
    a = load_spec(write(tmp_path, edited("minitron_8b_base", **changes))).attention
    assert (a.qk_rope_head_dim, a.qk_nope_head_dim) == (rope, 128 - rope)


@pytest.mark.parametrize("changes,words", [
    # vLLM heads of 96, transformers' of 3072 / 24 = 128: the served model is not known
    ({"head_dim": ..., "kv_channels": 96}, "model_type nemotron: kv_channels 96 without head_dim: vLLM builds heads of "
                                           "96, transformers' NemotronConfig of hidden_size // num_attention_heads "
                                           "(85)"),
    ({"bias": True}, "model_type nemotron: bias true beside attention_bias false: vLLM biases q/k/v/o"),
    # vLLM reads rope_percent before partial_rotary_factor, transformers partial_rotary_factor alone
    ({"rope_percent": 0.25}, "model_type nemotron: partial_rotary_factor 0.5 and rope_percent 0.25 disagree (RoPE over "
                             "64 or 32 of 128 dims)"),
    ({"partial_rotary_factor": ..., "rope_percentage": 0.25},
     "model_type nemotron: rope_percentage 0.25 without partial_rotary_factor: vLLM rotates 32 of 128 dims, "
     "transformers' NemotronConfig its default 0.5 (64)"),
    ({"mlp_bias": True}, "model_type nemotron: MLP biases (mlp_bias) are not modelled"),
    # Minitron-8B as first released: no head_dim, 4096 / 48 heads is no whole width
    ({"head_dim": ...}, "model_type nemotron: hidden_size 4096 is not a multiple of 48 heads and head_dim is not given"),
    ({"rope_percent": "half"}, "model_type nemotron: rope_percent must be a number above 0 and at most 1, got 'half'"),
    ({"kv_channels": 0, "head_dim": ...}, "model_type nemotron: kv_channels must be a whole number of at least 1"),
])
def test_nemotron_keys_the_engines_read_differently_are_one_line(capsys, tmp_path, changes, words):
    path = write(tmp_path, edited("minitron_8b_base", **changes))
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=words)


def test_nemotron_attention_bias_biases_q_k_v_and_o(tmp_path):
    """NemotronAttention: q/k/v/o bias=attention_bias (vLLM: attention_bias or bias): 6144 + 2 x 1024 + 4096 a
    layer more."""
    s = load_spec(write(tmp_path, edited("minitron_8b_base", attention_bias=True)))
    assert (s.attention.qkv_bias, s.attention.o_bias) == (True, True)
    assert params(s) == 8_271_699_968 + 32 * (6144 + 2 * 1024 + 4096)


# --------------------------------------------------------------------------------------------------------- OLMo-1

def test_olmo_1b_by_hand():
    """OLMo-1B-hf: MHA 16 x 128, a gated MLP of 8192, the head tied to the embedding, and LayerNorms without a weight
    or a bias (OlmoLayerNorm; vLLM nn.LayerNorm(elementwise_affine=False, bias=False)): no norm parameters at all."""
    s = hf("olmo_1b")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim) == ("mha", 16, 16, 128, 128)
    assert (a.qkv_bias, a.o_bias, s.ffn.gated, s.ffn.intermediate_size) == (False, False, True, 8192)
    assert (s.norms_per_layer, s.norm_vectors, s.tie_word_embeddings, s.max_context) == (2, 0, True, 2048)
    d, L, V = 2048, 16, 50304
    total = L * (4 * d * d + 3 * d * 8192) + V * d
    assert params(s) == total == 1_176_764_416 and param_counts(s).norms == 0
    # AMD-OLMo-1B-SFT (the same shape) stores it fp32 in 4,707,070,632 bytes: a 12,968-byte safetensors header, far
    # less than the 33 x 2048 x 4 = 270,336 bytes a weight on each LayerNorm would take
    header = 4_707_070_632 - 4 * total
    assert header == 12_968 and header < (2 * L + 1) * d * 4
    assert kv_token(s) == 16 * 16 * 128 * 2 * 2 == 131_072


def test_olmo_1_7_7b_by_hand():
    """OLMo-1.7-7B (OLMo 7B April 2024): OLMo-7B's shape with clip_qkv 8.0 (a clamp on the q/k/v outputs, no size)
    and 4096 positions; untied."""
    s = hf("olmo_1_7_7b")
    d, L, V = 4096, 32, 50304
    total = L * (4 * d * d + 3 * d * 11008) + 2 * V * d
    assert params(s) == total == 6_888_095_744      # the Open LLM Leaderboard's 6.888
    assert (s.norm_vectors, s.max_context) == (0, 4096)
    assert kv_token(s) == 32 * 32 * 128 * 2 * 2 == 524_288


def test_olmo_attention_bias_biases_q_k_v_and_o(tmp_path):
    """OlmoAttention (LlamaAttention) and vLLM's both bias q/k/v/o by attention_bias: 4 x 4096 a layer more."""
    s = load_spec(write(tmp_path, edited("olmo_1_7_7b", attention_bias=True)))
    assert params(s) == 6_888_095_744 + 32 * 4 * 4096


@pytest.mark.parametrize("changes,words", [
    ({"num_key_value_heads": 8}, "model_type olmo: num_key_value_heads 8 differs from num_attention_heads 32 "
                                 "(transformers' OlmoAttention builds k/v of 8 heads, vLLM's of all 32)"),
    ({"head_dim": 64}, "model_type olmo: head_dim 64 differs from hidden_size / num_attention_heads (128), which "
                       "vLLM's OlmoAttention builds whatever the file says"),
    ({"hidden_size": 4097}, "model_type olmo: hidden_size 4097 is not a multiple of 32 heads"),
])
def test_olmo_keys_the_engines_read_differently_are_one_line(capsys, tmp_path, changes, words):
    path = write(tmp_path, edited("olmo_1_7_7b", **changes))
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=words)


# ------------------------------------------------------------------------------------------------------- FlexOlmo

def test_flexolmo_7x7b_by_hand():
    """FlexOlmo-7x7B-1T: OLMo-2-7B's attention (MHA 32 x 128, q/k norms) and 7 gated experts of 11008, all 7
    active; two RMSNorms a layer (after attention and the MoE), a bias-free router; untied. Read as olmoe."""
    s = hf("flexolmo_7x7b_1t")
    a, f = s.attention, s.ffn
    assert (a.kind, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_norm, a.qkv_bias) == ("mha", 32, 32, 128, True,
                                                                                         False)
    assert (f.kind, f.num_experts, f.experts_per_token, f.expert_intermediate_size) == ("moe", 7, 7, 11008)
    assert (s.norms_per_layer, s.norm_vectors, s.description) == (2, 1, "read as olmoe")
    d, L, V, E = 4096, 32, 100352, 7
    # q, k, v, o; q/k norms as the spec counts them (per head: 2 x 128); experts; router; two norms
    layer = 4 * d * d + 2 * 128 + E * 3 * d * 11008 + E * d + 2 * d
    assert params(s) == L * layer + 2 * V * d + d == 33_270_411_264           # "33B total parameters"
    # the checkpoint's q/k norms span the whole projections (vLLM FlexOlmoAttention: RMSNorm of 32 x 128 each)
    assert L * (2 * 4096 - 2 * 128) == 253_952
    assert kv_token(s) == 32 * 32 * 128 * 2 * 2 == 524_288


def test_flexolmo_class_defaults_fill_what_a_file_leaves_out(tmp_path):
    """FlexOlmoConfig's num_experts_per_tok 5 (OlmoeConfig's is 8), vocabulary 100352 (OLMoE's 50304)."""
    s = load_spec(write(tmp_path, edited("flexolmo_7x7b_1t", num_experts_per_tok=..., vocab_size=...)))
    assert (s.ffn.experts_per_token, s.vocab_size) == (5, 100352)


@pytest.mark.parametrize("changes,words", [
    ({"attention_bias": True}, "model_type flex_olmo: attention_bias true: transformers' FlexOlmoAttention biases "
                               "q/k/v/o, vLLM's builds none"),
    ({"head_dim": 64}, "model_type flex_olmo: head_dim 64 differs from hidden_size / num_attention_heads (128)"),
    ({"num_experts": 0}, "model_type olmoe: num_experts is 0"),
])
def test_flexolmo_keys_the_engines_read_differently_are_one_line(capsys, tmp_path, changes, words):
    path = write(tmp_path, edited("flexolmo_7x7b_1t", **changes))
    for command in (("kv",), ("weights",), ("specs", "show")):
        refused(capsys, *command, path, words=words)


# ----------------------------------------------------------------------------------------------------- VaultGemma

def test_vaultgemma_1b_by_hand():
    """VaultGemma-1B: Gemma-2's decoder without its post-attention and post-feedforward norms (2 RMSNorms a layer, not
    4), MHA of 4 heads of 256 (1024 wide beside a 1152-wide model), a gated GELU MLP of 6912, tied; every layer full
    attention (layer_types), sliding_window 512 unused."""
    s = hf("vaultgemma_1b")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.v_head_dim, a.sliding_window) == ("mha", 4, 4, 256, None)
    assert (s.norms_per_layer, s.norm_vectors, s.tie_word_embeddings, s.max_context) == (2, 1, True, 1024)
    assert all(s.layer_type(i) == "full" for i in range(26))
    d, L, V = 1152, 26, 256000
    layer = 3 * d * 1024 + 1024 * d + 3 * d * 6912 + 2 * d
    assert params(s) == L * layer + V * d + d == 1_038_741_120     # the Hub's BF16 safetensors count, exactly
    assert kv_token(s) == 26 * 4 * 256 * 2 * 2 == 106_496
    # a 1024-token sequence: every layer holds all of it
    assert kv_report(s, context=1024).per_sequence.total == 26 * 1024 * 4 * 256 * 2 * 2


def test_vaultgemma_without_layer_types_alternates_as_its_class_does(tmp_path):
    """VaultGemmaConfig without layer_types: layer i slides when (i + 1) % 2 (Gemma-2's rule), over sliding_window
    512 here. At 4096 tokens: 13 full layers hold 4096, 13 sliding layers 512, each 4 x 256 x 2 x 2 bytes a token."""
    s = load_spec(write(tmp_path, edited("vaultgemma_1b", layer_types=...)))
    a = s.attention
    assert (a.sliding_window, a.global_every) == (512, 2)
    assert [s.layer_type(i) for i in range(4)] == ["sliding", "full", "sliding", "full"]
    assert kv_report(s, context=4096).per_sequence.total == 13 * (4096 + 512) * 4 * 256 * 2 * 2 == 245_366_784
    assert params(s) == 1_038_741_120                        # the window changes no weight


def test_vaultgemma_class_defaults(tmp_path):
    """VaultGemmaConfig's head_dim 256 and tied head where the file gives none (Gemma2Config's)."""
    s = load_spec(write(tmp_path, edited("vaultgemma_1b", head_dim=...)))        # the file has no tie key either
    assert (s.attention.v_head_dim, s.tie_word_embeddings) == (256, True)


def test_vaultgemma_attention_bias_biases_q_k_v_and_o(tmp_path):
    s = load_spec(write(tmp_path, edited("vaultgemma_1b", attention_bias=True)))
    assert params(s) == 1_038_741_120 + 26 * (3 * 1024 + 1152)


def test_vaultgemma_unknown_layer_type_is_one_line(capsys, tmp_path):
    path = write(tmp_path, edited("vaultgemma_1b", layer_types=["linear_attention"] * 25 + ["moe"]))
    refused(capsys, "kv", path, words="model_type vaultgemma: layer type(s) moe are not modelled")


# ------------------------------------------------------------------------------- the CLI on the seven fixtures

FOLDERS = ["minitron_8b_base", "minitron_4b_base", "nemotron_4_340b_base", "olmo_1b", "olmo_1_7_7b",
           "flexolmo_7x7b_1t", "vaultgemma_1b"]


@pytest.mark.parametrize("folder", FOLDERS)
def test_cli_reads_each_fixture(capsys, folder):
    """kv, weights and specs show, as tables and as JSON, end with exit 0; the JSON is the spec's own numbers."""
    path = str(FIXTURES / folder)
    for command in (("kv", path, "--context", "1024"), ("weights", path), ("specs", "show", path)):
        code, out, err, _ = run(capsys, *command)
        assert code in (0, None) and err == "" and out
    code, out, _, _ = run(capsys, "specs", "show", path, "--json")
    assert json.loads(out)["norm_vectors"] == hf(folder).norm_vectors
    code, out, _, _ = run(capsys, "weights", path, "--json")
    assert code in (0, None) and json.dumps(json.loads(out)).count(str(params(hf(folder)))) >= 1


# ---------------------------------------------------------------------------------- the spec field norm_vectors

def test_norm_vectors_scales_the_layer_and_final_norms():
    """A 2-layer model of width 256: two norms a layer and a final one, 5 x 256 values at 1 vector each, twice that at
    2 (a LayerNorm's weight and bias), none at 0; nothing else changes."""
    gqa = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64}
    counts = {n: param_counts(make_spec(gqa, norm_vectors=n)) for n in (0, 1, 2)}
    assert [counts[n].norms for n in (0, 1, 2)] == [0, 5 * 256, 2 * 5 * 256]
    assert counts[0].total == counts[1].total - 5 * 256 == counts[2].total - 2 * 5 * 256


def test_norm_vectors_leave_q_k_norms_alone():
    """A q/k norm is the family's (RMSNorm of head_dim a side): norm_vectors 0 removes the block norms only."""
    qk = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64, "qk_norm": True}
    assert param_counts(make_spec(qk, norm_vectors=0)).attention - \
        param_counts(make_spec(qk, norm_vectors=1)).attention == 0
    assert param_counts(make_spec(qk, norm_vectors=0)).norms == 0


@pytest.mark.parametrize("value", [3, -1, 1.5, "two"])
def test_norm_vectors_out_of_range_is_refused(value):
    with pytest.raises(SpecError, match="norm_vectors"):
        spec_from_dict({"name": "tiny", "num_layers": 2, "hidden_size": 256, "vocab_size": 1000,
                        "attention": {"kind": "mha", "num_heads": 4, "head_dim": 64},
                        "ffn": {"kind": "dense", "intermediate_size": 512}, "norm_vectors": value})


def test_the_roofline_reads_the_norm_weights_the_spec_counts():
    """The step's ``norms`` op reads each norm's weights once: at bf16 (2 bytes) 5 x 256 x 2 bytes for one vector a
    norm, twice that for two, none for zero; its activations are the same (the norms are computed all the same)."""
    from mlacalc.step import Step, step_ops

    gqa = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64}
    ops = {n: next(o for o in step_ops(make_spec(gqa, norm_vectors=n), Step("decode", 1, 100))
                   if o.name == "norms") for n in (0, 1, 2)}
    assert [ops[n].weight_bytes for n in (0, 1, 2)] == [0, 5 * 256 * 2, 2 * 5 * 256 * 2]
    assert ops[0].flops == ops[1].flops == ops[2].flops and ops[0].act_bytes == ops[2].act_bytes


def test_the_multi_gpu_runner_refuses_norms_it_does_not_build():
    from mlacalc.profiler.layout import check_supported

    gqa = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64}
    check_supported(make_spec(gqa), 2)
    with pytest.raises(SpecError, match="norm_vectors=2"):
        check_supported(make_spec(gqa, norm_vectors=2), 2)


def test_zero3_gathers_the_head_with_the_final_norms_vectors():
    """ZeRO-3's last unit is the output head with the final norm (torchtitan's ``[norm, output]``), and that norm
    holds ``norm_vectors`` vectors of d like every other: the unit was head + one d whatever the norm held.
    Minitron-8B (bf16, one stage): its 256,000 x 4,096 head and the final LayerNorm1P's weight and bias, 2 x 4,096,
    outweigh a layer (192,954,368). OLMo-1.7-7B's final LayerNorm has no parameters: its head alone,
    50,304 x 4,096 = 206,045,184, above its layer's 4 x 4,096^2 + 3 x 4,096 x 11,008 = 202,375,168."""
    from mlacalc.parallel import Parallelism
    from mlacalc.training import TrainRun, stage_memory, zero3_units

    run3 = TrainRun(micro_batch=1, seq=4096, zero=3, parallel=Parallelism(dp=8))
    minitron = stage_memory(hf("minitron_8b_base"), run3)[0].workspace
    assert minitron.zero3_gather == 2 * (256_000 * 4096 + 2 * 4096) == 2_097_168_384     # was 2 x (... + 4,096)
    olmo = stage_memory(hf("olmo_1_7_7b"), run3)[0].workspace
    assert 50_304 * 4096 == 206_045_184 > 4 * 4096 ** 2 + 3 * 4096 * 11_008 == 202_375_168
    assert olmo.zero3_gather == 2 * 206_045_184                                          # was 2 x (... + 4,096)
    # the tiny model's units (2 layers of width 256, vocabulary 1,000): the last one's norm at 0, 1 and 2 vectors
    gqa = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64}
    for n in (0, 1, 2):
        spec = make_spec(gqa, norm_vectors=n)
        assert zero3_units(spec, Parallelism(), range(2), param_counts(spec), first=False, last=True)[-1] == \
            1000 * 256 + n * 256


@pytest.mark.parametrize("folder,vectors", [("minitron_8b_base", 2), ("olmo_1b", 0)])
def test_whole_step_profiling_refuses_norms_it_does_not_build(capsys, folder, vectors):
    """``profile --whole-step`` builds RMSNorms of one weight vector (torch's rms_norm) and holds them against the
    calculator's norms op, which reads norm_vectors vectors of d a norm: Minitron's LayerNorm1P bias and OLMo-1's
    weightless LayerNorm were run as RMSNorms, refused before looking for a GPU as the sharded runner refuses them."""
    refused(capsys, "profile", str(FIXTURES / folder), "--whole-step", "--layers", "2",
            words=f"norm_vectors: ({vectors}) is not built by --whole-step")


def test_nemotron_kv_channels_equal_to_the_floored_width_is_read(tmp_path):
    """kv_channels 85 beside hidden 4,096 and 48 heads: vLLM builds heads of kv_channels (85), transformers' of
    hidden_size // num_attention_heads (4,096 // 48 = 85): the same model, read, where it was refused with a line
    that named the two widths as 85 and 85. Per layer: q 4,096 x 4,080, k and v 4,096 x 680 each, o 4,080 x 4,096,
    up and down 2 x 4,096 x 16,384, two LayerNorm1P of 2 x 4,096."""
    s = load_spec(write(tmp_path, edited("minitron_8b_base", head_dim=..., kv_channels=85)))
    assert (s.attention.v_head_dim, s.attention.qk_rope_head_dim) == (85, 42)        # int(85 x 0.5)
    layer = 4096 * 4080 + 2 * 4096 * 680 + 4080 * 4096 + 2 * 4096 * 16384 + 4 * 4096
    assert params(s) == 32 * layer + 2 * 256_000 * 4096 + 2 * 4096
    assert kv_token(s) == 32 * 8 * 85 * 2 * 2
