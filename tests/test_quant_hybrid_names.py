"""Quantization ignore lists against the linear-attention modules of hybrids (mlacalc.hf.LINEAR_MODULES).

A linear-attention block's weights are part of the ``attention`` component, priced at one width. Its modules had no
names to test an ignore list against, so a list that kept them in bf16 (``re:.*linear_attn.*``) or named them one by
one (ModelOpt's ``exclude_modules``) was not seen: they were priced at the quantized width, or the list was refused
for covering "part" of the attention. Names as the checkpoints (and vLLM's prefixes) spell them: Qwen3-Next
``linear_attn.in_proj_qkvz/in_proj_ba/out_proj`` (Qwen3.5 ``in_proj_qkv/z/b/a``), Kimi-Linear's KDA at ``self_attn``
(``q/k/v_proj``, ``f_a/f_b/g_a/g_b/b_proj``, ``o_proj``), Granite-4.0-H's ``mamba.in_proj/out_proj``, MiniMax's
lightning ``self_attn.qkv_proj/output_gate/out_proj``, and Nemotron-H's one ``backbone.layers.N.mixer`` a layer."""

import json
from pathlib import Path

import pytest

from mlacalc import api
from mlacalc.errors import SpecError
from mlacalc.spec import load_spec

from helpers import refused

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
NVFP4_BITS = 4 + 8 / 16         # e2m1 values and one e4m3 scale per 16


def _with_quant(tmp_path: Path, family: str, quant: dict, hf_quant_file: dict | None = None,
                name: str = "model") -> Path:
    """A folder holding ``family``'s config.json with ``quant`` as its quantization_config, or with
    ``hf_quant_file`` beside it as hf_quant_config.json."""
    cfg = json.loads((FIXTURES / family / "config.json").read_text())
    if hf_quant_file is None:
        cfg["quantization_config"] = quant
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    if hf_quant_file is not None:
        (d / "hf_quant_config.json").write_text(json.dumps(hf_quant_file))
    return d


def _ct_nvfp4(ignore: list[str]) -> dict:
    """A compressed-tensors NVFP4 block (llm-compressor's NVFP4 scheme on every Linear) with ``ignore``."""
    w = {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16, "symmetric": True,
         "dynamic": False}
    return {"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized", "ignore": ignore,
            "config_groups": {"group_0": {"targets": ["Linear"], "weights": w, "input_activations": None}}}


def _modelopt_nvfp4(exclude: list[str]) -> dict:
    return {"producer": {"name": "modelopt", "version": "0.29.0"},
            "quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": None, "group_size": 16,
                             "exclude_modules": exclude}}


# ---- Nemotron-H: the bytes moved ------------------------------------------------------------------------------

# Nemotron-H-8B (tests/fixtures/hf/nemotron_h_8b): 52 layers "M-M-M-M*-...": 24 Mamba-2, 4 attention, 24 MLP
NEMOTRON_M, NEMOTRON_ATTN = 24, 4
PATTERN = "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-"


def test_nemotron_h_mixers_a_modelopt_list_excludes_are_priced_in_bf16(tmp_path):
    # ModelOpt's exclude list names every mixer projection of the Mamba and attention layers, as the Nemotron-3-Nano
    # NVFP4 hf_quant_config.json does (backbone.layers.4.mixer.in_proj, backbone.layers.5.mixer.q_proj, ...)
    exclude = ["lm_head"]
    for i, c in enumerate(PATTERN):
        projs = {"M": ("in_proj", "out_proj"), "*": ("q_proj", "k_proj", "v_proj", "o_proj")}.get(c, ())
        exclude += [f"backbone.layers.{i}.mixer.{p}" for p in projs]
    s = load_spec(str(_with_quant(tmp_path, "nemotron_h_8b", {}, _modelopt_nvfp4(exclude))))
    assert s.quantization.components == ("dense_ffn",)          # the ReLU² MLPs (mixer.up_proj/down_proj) only
    d, inner, groups, state, heads, kernel = 4096, 8192, 8, 128, 128, 4
    # a Mamba-2 mixer: in_proj d x (2 I + 2 G N + H), the convolution's (I + 2 G N) channels x 4 and their biases,
    # dt_bias, A_log, D, the gated norm over I, out_proj I x d
    mamba = (d * (2 * inner + 2 * groups * state + heads) + (inner + 2 * groups * state) * (kernel + 1)
             + 3 * heads + inner + inner * d)
    attention = d * 32 * 128 + 2 * d * 8 * 128 + 32 * 128 * d       # q, k, v (8 KV heads of 128), o
    assert (mamba, attention) == (109_635_968, 41_943_040)
    params = NEMOTRON_M * mamba + NEMOTRON_ATTN * attention
    w = api.weights(s)
    assert w.params.attention == params == 2_799_035_392
    # the mixers in bf16: 5,598,070,784 B; before, the Llama names (model.layers.N.self_attn.q_proj) matched none of
    # the list and every mixer was priced at NVFP4's 4.5 bits: 1,574,457,408 B, 4,023,613,376 B short
    assert w.bytes.attention == params * 2 == 5_598_070_784
    assert params * NVFP4_BITS / 8 == 1_574_457_408
    # the MLPs are quantized: 24 layers x (up + down) 2 x 4096 x 21504 at 4.5 bits
    assert w.bytes.dense_ffn == 24 * 2 * d * 21504 * NVFP4_BITS / 8


def test_nemotron_h_a_list_that_excludes_some_layers_is_refused(tmp_path, capsys):
    # Nemotron-3-Nano's real list excludes the mixers of some layers only: one attention component at two widths
    exclude = ["lm_head", "backbone.layers.0.mixer.in_proj", "backbone.layers.0.mixer.out_proj"]
    d = _with_quant(tmp_path, "nemotron_h_8b", {}, _modelopt_nvfp4(exclude))
    refused(capsys, "weights", str(d), words="leaves part of the attention unquantized "
                                             "(backbone.layers.0.mixer.in_proj)")


# ---- Qwen3-Next / Qwen3.5: Gated DeltaNet ------------------------------------------------------------------------

def test_qwen3_next_a_list_keeping_the_deltanet_in_bf16_is_seen(tmp_path, capsys):
    # re:.*linear_attn.* kept the 36 DeltaNet layers in bf16 and matched no name: the attention was priced at 4.5
    # bits; now the list covers part of the attention component (the 12 gated-attention layers stay NVFP4), which
    # is refused in one line rather than priced at one wrong width
    d = _with_quant(tmp_path, "qwen3_next_80b_a3b", _ct_nvfp4(["lm_head", "re:.*linear_attn.*", "re:.*mlp.gate$"]))
    refused(capsys, "weights", str(d), words="leaves part of the attention unquantized "
                                             "(model.layers.0.linear_attn.in_proj_qkvz)")
    # the reverse: only the full layers' self_attn ignored was priced all in bf16, DeltaNet weights included; then
    # refused; now the 12 full layers' q, k, v, o are kept in bf16 and the DeltaNet stays NVFP4
    d2 = _with_quant(tmp_path, "qwen3_next_80b_a3b", _ct_nvfp4(["lm_head", "re:.*self_attn.*"]), name="b")
    s = load_spec(str(d2))
    assert s.quantization.unquantized == ("q", "k", "v", "o") and "attention" in s.quantization.components
    w = api.weights(s)
    assert w.bytes.attention_unquantized == w.params.attention_unquantized * 2


def test_qwen3_next_a_per_layer_exclude_list_covers_the_whole_attention(tmp_path):
    # FINAL-Bench/Darwin-9B-MFP4's hf_quant_config.json shape: model.layers.N.linear_attn* on the DeltaNet layers,
    # model.layers.N.self_attn* on the full ones. Qwen3-Next's 48 layers repeat [linear x 3, full]; the layer pattern
    # was read as that period and then "full", so layers 4..47 had self_attn names and this list was refused
    exclude = ["lm_head"] + [f"model.layers.{i}.{'self_attn' if i % 4 == 3 else 'linear_attn'}*" for i in range(48)]
    s = load_spec(str(_with_quant(tmp_path, "qwen3_next_80b_a3b", {}, _modelopt_nvfp4(exclude))))
    assert "attention" not in s.quantization.components
    w = api.weights(s)
    assert w.bytes.attention == w.params.attention * 2
    assert w.bytes.routed_experts == w.params.routed_experts * NVFP4_BITS / 8


def test_qwen3_5_names_its_deltanet_projections_apart(tmp_path, capsys):
    # Qwen3.5 checkpoints split the fused projections (in_proj_qkv, in_proj_z, in_proj_b, in_proj_a): a list naming
    # them all, with the full layers' self_attn, leaves the attention in bf16
    ignore = ["lm_head", "re:.*linear_attn\\.(in_proj_qkv|in_proj_z|in_proj_b|in_proj_a|out_proj)$",
              "re:.*self_attn.*"]
    s = load_spec(str(_with_quant(tmp_path, "qwen3_5_4b", _ct_nvfp4(ignore))))
    assert "attention" not in s.quantization.components
    # Qwen3-Next's fused names are not Qwen3.5's modules: only out_proj matches, part of the attention
    ignore = ["lm_head", "re:.*linear_attn\\.(in_proj_qkvz|in_proj_ba|out_proj)$", "re:.*self_attn.*"]
    refused(capsys, "weights", str(_with_quant(tmp_path, "qwen3_5_4b", _ct_nvfp4(ignore), name="b")),
            words="model_type qwen3_5_text: quantization_config leaves part of the attention unquantized")


# ---- Kimi-Linear, Granite-4.0-H, MiniMax ---------------------------------------------------------------------------

@pytest.mark.parametrize("family, ignore, first", [
    # KDA's gates only (its own modules at self_attn): the MLA layers and KDA's q/k/v/o stay quantized
    ("kimi_linear_48b_a3b", ["re:.*self_attn\\.(f_a_proj|f_b_proj|g_a_proj|g_b_proj|b_proj)$"],
     "model.layers.0.self_attn.f_a_proj"),
    # Granite-4.0-H's Mamba-2 mixers
    ("granite_4_0_h_tiny", ["re:.*mamba.*"], "model.layers.0.mamba.in_proj"),
    # MiniMax-M1's lightning layers
    ("minimax_m1", ["re:.*self_attn\\.(qkv_proj|output_gate|out_proj)$"], "model.layers.0.self_attn.qkv_proj"),
])
def test_a_list_covering_only_the_linear_layers_is_seen(tmp_path, capsys, family, ignore, first):
    # before: no name matched, every linear layer priced at the quantized width without a word
    d = _with_quant(tmp_path, family, _ct_nvfp4(["lm_head"] + ignore))
    refused(capsys, "weights", str(d), words=f"leaves part of the attention unquantized ({first})")


@pytest.mark.parametrize("family, ignore", [
    ("kimi_linear_48b_a3b", ["re:.*self_attn.*"]),                 # MLA and KDA both sit at self_attn
    ("granite_4_0_h_tiny", ["re:.*self_attn.*", "re:.*mamba.*"]),
    ("minimax_m1", ["re:.*self_attn.*"]),                           # lightning and softmax layers alike
])
def test_a_list_covering_every_mixer_leaves_the_attention_in_bf16(tmp_path, family, ignore):
    s = load_spec(str(_with_quant(tmp_path, family, _ct_nvfp4(["lm_head"] + ignore))))
    assert "attention" not in s.quantization.components
    w = api.weights(s)
    assert w.bytes.attention == w.params.attention * 2
