"""Quantization ignore lists against each family's own FFN, router and shared-expert module names (mlacalc.hf.FFN_NAMES).

Every family's FFN was named as Llama's ``mlp.gate_proj`` / ``mlp.experts.N.gate_proj`` / ``mlp.shared_experts``, so
a list written against the checkpoint's real names (Mixtral ``block_sparse_moe.experts.N.w1``, Llama-4
``feed_forward.shared_expert``, Hunyuan ``mlp.shared_mlp``, Granite ``shared_mlp.input_linear``, DBRX
``ffn.experts.mlp``) matched nothing: the modules it keeps at 16 bits were priced quantized, and a list that does cover
part of a component was not refused. Names as transformers and vLLM build them (vLLM mixtral.py, llama4.py,
hunyuan_v1.py, granitemoehybrid.py, dbrx.py). Weights here are FP8 with one scale per output channel (not counted):
1 byte a quantized weight, 2 a bf16 one."""

import json
from pathlib import Path

import pytest

from mlacalc import api
from mlacalc.errors import SpecError
from mlacalc.hf import _module_names, spec_dict_from_hf_config
from mlacalc.spec import load_spec

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
NVFP4_BITS = 4 + 8 / 16         # e2m1 values and one e4m3 scale per 16


def _with_quant(tmp_path: Path, family: str, quant: dict, name: str = "model") -> str:
    cfg = json.loads((FIXTURES / family / "config.json").read_text())
    cfg["quantization_config"] = quant
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    return str(d)


def _names(family: str, mt: str) -> dict[str, list[str]]:
    """The module names mlacalc tests ignore lists against, for a fixture's config.json."""
    cfg = json.loads((FIXTURES / family / "config.json").read_text())
    return _module_names(spec_dict_from_hf_config(cfg, family), mt)


def _ct_fp8(ignore: list[str]) -> dict:
    """llm-compressor's FP8 scheme (e4m3 weights, one scale per output channel) on every Linear but ``ignore``."""
    w = {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True, "dynamic": False}
    return {"quant_method": "compressed-tensors", "format": "float-quantized", "ignore": ignore,
            "config_groups": {"group_0": {"targets": ["Linear"], "weights": w}}}


# ---- Mixtral: block_sparse_moe.gate, block_sparse_moe.experts.N.w1/w2/w3 -------------------------------------------

# Mixtral-8x7B (tests/fixtures/hf/mixtral): 32 layers, d 4096, 8 experts of 14336, gate/up/down (w1, w3, w2)
MIXTRAL_EXPERTS = 32 * 8 * 3 * 4096 * 14336


def test_mixtral_routers_ignored_by_llm_compressors_pattern_have_their_real_name(tmp_path):
    # llm-compressor's Mixtral FP8 example (examples/quantization_w8a8_fp8, Mixtral-8x7B-Instruct-v0.1-FP8):
    # ignore=["lm_head", "re:.*block_sparse_moe.gate"]; the pattern named no module before (the router was
    # model.layers.N.mlp.gate); now the routers, and only them: the experts' w1/w2/w3 stay FP8
    spec = load_spec(_with_quant(tmp_path, "mixtral", _ct_fp8(["lm_head", "re:.*block_sparse_moe.gate"])))
    names = _names("mixtral", "mixtral")
    assert names["router"][0] == "model.layers.0.block_sparse_moe.gate"
    assert names["routed_experts"][:3] == ["model.layers.0.block_sparse_moe.experts.0.w1",
                                           "model.layers.0.block_sparse_moe.experts.0.w2",
                                           "model.layers.0.block_sparse_moe.experts.0.w3"]
    w = api.weights(spec)
    assert w.params.routed_experts == MIXTRAL_EXPERTS == 45_097_156_608
    assert w.bytes.routed_experts == MIXTRAL_EXPERTS                   # 1 byte each


def test_mixtral_experts_a_list_keeps_in_bf16_are_priced_in_bf16(tmp_path):
    # an attention-only NVFP4 export: ModelOpt's exclude_modules as globs over the real module names
    # (model.layers.N.block_sparse_moe*). Before: no name matched, the experts were priced at 4.5 bits:
    # 25,367,150,592 B where the checkpoint holds 90,194,313,216 B of bf16 experts
    q = {"quant_method": "modelopt", "quant_algo": "NVFP4", "group_size": 16,
         "exclude_modules": ["lm_head", "model.layers.*.block_sparse_moe*"]}
    spec = load_spec(_with_quant(tmp_path, "mixtral", q))
    assert spec.quantization.components == ("attention",)
    w = api.weights(spec)
    assert w.bytes.routed_experts == 2 * MIXTRAL_EXPERTS == 90_194_313_216
    assert MIXTRAL_EXPERTS * NVFP4_BITS / 8 == 25_367_150_592           # the price before


def test_mixtral_a_list_naming_one_projection_of_the_experts_is_refused(tmp_path):
    # "re:.*w2$" keeps every expert's down projection (w2) in bf16: part of the routed experts at two widths,
    # refused; before it matched no name and all experts were priced at one width
    with pytest.raises(SpecError, match=r"part of the routed_experts unquantized "
                                        r"\(model.layers.0.block_sparse_moe.experts.0.w2\)"):
        load_spec(_with_quant(tmp_path, "mixtral", _ct_fp8(["lm_head", "re:.*w2$"])))


# ---- Llama-4, Hunyuan, Granite-4.0-H, DBRX: shared experts and experts under their own names -----------------------

@pytest.mark.parametrize("family, ignore, component, params", [
    # Llama-4-Scout (48 MoE layers, d 5120): feed_forward.shared_expert, a gated MLP of 8192 (Llama4TextMoe)
    ("llama_4_scout", ["re:.*lm_head", "re:.*self_attn", "re:.*router", "re:.*feed_forward.shared_expert.*"],
     "shared_experts", 48 * 3 * 5120 * 8192),
    # Hunyuan-A13B (32 layers, d 4096): mlp.shared_mlp of intermediate_size 3072 x num_shared_expert 1, and its
    # router mlp.gate.wg (HunYuanSparseMoeBlock)
    ("hunyuan_a13b", ["lm_head", "re:.*mlp.gate.wg$", "re:.*shared_mlp.*"], "shared_experts", 32 * 3 * 4096 * 3072),
    # Granite-4.0-H-Tiny (40 layers, d 1536): shared_mlp.input_linear d -> 2 x 1024, output_linear 1024 -> d
    ("granite_4_0_h_tiny", ["lm_head", "re:.*block_sparse_moe.router.*", "re:.*shared_mlp.*"], "shared_experts",
     40 * 3 * 1536 * 1024),
    # DBRX-Instruct (40 blocks, d 6144): ffn.experts.mlp holds 16 experts' w1, v1, w2 of 10752
    ("dbrx_instruct", ["lm_head", "re:.*ffn.experts.*"], "routed_experts", 40 * 16 * 3 * 6144 * 10752),
])
def test_ffn_modules_a_list_keeps_in_bf16_are_priced_in_bf16(tmp_path, family, ignore, component, params):
    # before: the pattern matched none of the Llama names (mlp.shared_experts.*, mlp.experts.N.*_proj) and the
    # component was priced at FP8's 1 byte a weight, half its size
    spec = load_spec(_with_quant(tmp_path, family, _ct_fp8(ignore)))
    assert component not in spec.quantization.components
    w = api.weights(spec)
    assert getattr(w.params, component) == params
    assert getattr(w.bytes, component) == 2 * params
    # the list leaves the rest quantized: the routed experts (or, for DBRX, the attention) at 1 byte a weight
    other = "attention" if component == "routed_experts" else "routed_experts"
    assert getattr(w.bytes, other) == getattr(w.params, other)


@pytest.mark.parametrize("family, mt, router, expert, shared", [
    ("qwen1_5_moe_a2_7b", "qwen2_moe", ["mlp.gate", "mlp.shared_expert_gate"], "mlp.experts.0.gate_proj",
     "mlp.shared_expert.gate_proj"),
    ("gpt_oss_20b", "gpt_oss", ["mlp.router"], "mlp.experts", None),
    ("llama_4_scout", "llama4_text", ["feed_forward.router"], "feed_forward.experts",
     "feed_forward.shared_expert.gate_proj"),
    ("granite_3_0_1b_a400m", "granitemoe", ["block_sparse_moe.router.layer"], "block_sparse_moe.input_linear", None),
    ("deepseek_v3", "deepseek_v3", ["mlp.gate"], "mlp.experts.0.gate_proj", "mlp.shared_experts.gate_proj"),
    ("minimax_m2", "minimax_m2", ["block_sparse_moe.gate"], "block_sparse_moe.experts.0.w1", None),
])
def test_each_family_names_its_router_experts_and_shared_expert(family, mt, router, expert, shared):
    names = _names(family, mt)
    layer = names["routed_experts"][0].split(".")[2]                  # the first MoE layer
    at = f"model.layers.{layer}."
    assert [n.removeprefix(at) for n in names["router"] if n.startswith(at)] == router
    assert names["routed_experts"][0] == at + expert
    assert (names["shared_experts"][0] if shared else None) == (shared and at + shared)


def test_dense_mlps_under_other_names():
    # InternLM2 feed_forward.w1/w3/w2, Phi-3 mlp.gate_up_proj (fused), GPT-2 mlp.c_fc (under transformer.h, GPT2Model)
    for family, mt, first in [("internlm2_5_7b", "internlm2", "model.layers.0.feed_forward.w1"),
                              ("phi_3_5_mini", "phi3", "model.layers.0.mlp.gate_up_proj"),
                              ("gpt2", "gpt2", "transformer.h.0.mlp.c_fc")]:
        names = _names(family, mt)
        assert names["dense_ffn"][0] == first
