"""Quantization ignore lists against each checkpoint's own layer paths, attention, embedding and head names
(mlacalc.hf.ATTN_NAMES) and a multimodal wrapper's prefixes (mlacalc.hf.checkpoint_layout).

Every family's attention was named Llama's ``model.layers.N.self_attn.q_proj``, its head ``lm_head``, under no wrapper
prefix. So a list naming Falcon's ``self_attention``, InternLM2's ``attention.wqkv`` and ``output``, DBRX's
``transformer.blocks.N.norm_attn_norm.attn.Wqkv``, or a Llama-4 / Gemma-3 / Qwen2.5-VL checkpoint's
``language_model.model.layers.N`` / ``model.language_model.layers.N``, matched nothing: what the checkpoint keeps at
16 bits was priced quantized, and a list covering part of a component was not refused. Names as transformers (4.51,
4.52+, 5.25 modeling files) and the remote modeling code build them. FP8 weights here carry one scale per output
channel (not counted): 1 byte a quantized weight, 2 a bf16 one."""

import json
import re
from pathlib import Path

import pytest

from mlacalc import api
from mlacalc.errors import SpecError
from mlacalc.hf import _module_names, checkpoint_layout, spec_dict_from_hf_config
from mlacalc.spec import load_spec

FIXTURES = Path(__file__).parent / "fixtures" / "hf"


def _cfg(family: str) -> dict:
    return json.loads((FIXTURES / family / "config.json").read_text())


def _write(tmp_path: Path, cfg: dict, name: str = "model") -> str:
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    return str(d)


def _with_quant(tmp_path: Path, family: str, quant: dict, **top) -> str:
    return _write(tmp_path, _cfg(family) | {"quantization_config": quant} | top)


def _names(cfg: dict, mt: str) -> dict[str, list[str]]:
    return _module_names(spec_dict_from_hf_config(cfg, "m"), mt, checkpoint_layout(cfg))


def _ct(ignore: list[str], strategy: str = "channel", **w) -> dict:
    """llm-compressor's FP8 scheme (e4m3 weights) on every Linear but ``ignore``."""
    weights = {"num_bits": 8, "type": "float", "strategy": strategy, "symmetric": True, "dynamic": False} | w
    return {"quant_method": "compressed-tensors", "format": "float-quantized", "ignore": ignore,
            "config_groups": {"group_0": {"targets": ["Linear"], "weights": weights}}}


# ---- multimodal wrappers: the text decoder's path as the checkpoint's transformers built it -----------------------

# Llama-4 Scout (tests/fixtures/hf/llama_4_scout): 48 layers, d 5120, 40 query heads and 8 KV heads of 128:
# q and o 5120 x 5120, k and v 5120 x 1024 a layer
SCOUT_ATTN = 48 * 5120 * (5120 + 1024 + 1024 + 5120)


def test_llama4_attention_a_list_names_under_language_model_stays_bf16(tmp_path):
    # llm-compressor's Llama-4 FP8_BLOCK recipe (docs.vllm.ai/projects/llm-compressor key-models/llama4/fp8-example:
    # ignore re:.*lm_head, re:.*self_attn, re:.*router, re:.*vision_model.*, re:.*multi_modal_projector.*) as
    # config.json carries it: the modules it left out, by name (compressed-tensors writes the matched names, as
    # allenai/olmOCR-7B-0825-FP8's "model.visual.blocks.0.attn.qkv"). Llama4ForConditionalGeneration holds the text
    # model at language_model.model (transformers 4.51 to 5.25). Before: no name matched model.layers.N.self_attn,
    # the attention was priced fp8-block, 1 byte + a 4-byte scale per 128 x 128 block
    ignore = [f"language_model.model.layers.{i}.self_attn.{p}" for i in range(48)
              for p in ("q_proj", "k_proj", "v_proj", "o_proj")]
    ignore += [f"language_model.model.layers.{i}.feed_forward.router" for i in range(48)]
    ignore += ["language_model.lm_head", "multi_modal_projector.linear_1", "vision_model.model.layers.0.mlp.fc1"]
    spec = load_spec(_with_quant(tmp_path, "llama_4_scout",
                                 _ct(ignore, "block", block_structure=[128, 128])))
    assert SCOUT_ATTN == 3_019_898_880
    assert "attention" not in spec.quantization.components
    w = api.weights(spec)
    assert w.bytes.attention == 2 * SCOUT_ATTN == 6_039_797_760
    assert SCOUT_ATTN + SCOUT_ATTN // (128 * 128) * 4 == 3_020_636_160   # the price before
    assert "routed_experts" in spec.quantization.components


def test_llama4_names_keep_the_language_model_path_in_every_transformers_version():
    cfg = _cfg("llama_4_scout")
    for version in ("4.51.0.dev0", "4.57.1", "5.25.0"):
        names = _names(cfg | {"transformers_version": version}, "llama4_text")
        assert names["attention"][0] == "language_model.model.layers.0.self_attn.q_proj"
        assert names["router"][0] == "language_model.model.layers.0.feed_forward.router"
        assert names["embed"] == ["language_model.model.embed_tokens"]
        assert names["head"] == ["language_model.lm_head"]


@pytest.mark.parametrize("family, mt", [("gemma_3_27b", "gemma3_text"), ("mistral_small_3_1_24b", "mistral")])
def test_gemma3_and_mistral3_move_the_text_model_at_transformers_4_52(family, mt):
    # transformers 4.52's VLM refactor: Gemma3/Mistral3ForConditionalGeneration's _checkpoint_conversion_mapping
    # "^language_model.model" -> "model.language_model", "^language_model.lm_head" -> "lm_head"
    cfg = _cfg(family)
    old = _names(cfg | {"transformers_version": "4.50.0.dev0"}, mt)
    new = _names(cfg | {"transformers_version": "4.52.0"}, mt)
    assert old["attention"][0] == "language_model.model.layers.0.self_attn.q_proj"
    assert old["head"] == ["language_model.lm_head"]
    assert new["attention"][0] == "model.language_model.layers.0.self_attn.q_proj"
    assert new["head"] == ["lm_head"]
    assert len(old["attention"]) == len(new["attention"])


def test_qwen_vl_text_model_moves_under_model_language_model():
    # Qwen2_5_VLForConditionalGeneration: "^model" -> "model.language_model" from 4.52; Qwen3-VL was born so
    cfg = _cfg("qwen2_5_vl_7b")
    assert _names(cfg | {"transformers_version": "4.49.0"}, "qwen2")["attention"][0] == \
        "model.layers.0.self_attn.q_proj"
    assert _names(cfg, "qwen2")["attention"][0] == "model.language_model.layers.0.self_attn.q_proj"   # 4.54.0
    assert _names(_cfg("qwen3_vl_8b"), "qwen3")["dense_ffn"][0] == "model.language_model.layers.0.mlp.gate_proj"


# Qwen2.5-VL-7B (tests/fixtures/hf/qwen2_5_vl_7b): 28 layers, d 3584, 28 heads and 4 KV heads of 128, q/k/v biased
QWEN25VL_ATTN = 28 * (3584 * (3584 + 512 + 512 + 3584) + (3584 + 512 + 512))


def test_qwen2_5_vl_gptq_dynamic_rule_over_the_new_path_keeps_attention_bf16(tmp_path):
    # GPTQModel's dynamic "-:" keys are regexes vLLM re.match-es against the module names (gptq_utils); written
    # against the in-memory model of transformers >= 4.52 they start model.language_model. Before: the anchored rule
    # missed model.layers.N and the attention was priced at 4 bits
    q = {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False, "sym": True,
         "dynamic": {r"-:model\.language_model\.layers\.\d+\.self_attn\..*": {}}}
    spec = load_spec(_with_quant(tmp_path, "qwen2_5_vl_7b", q))
    assert spec.quantization.components == ("dense_ffn",)
    assert QWEN25VL_ATTN == 822_212_608
    assert api.weights(spec).bytes.attention == 2 * QWEN25VL_ATTN


VISION_ONLY = ["re:.*lm_head", "re:.*vision_model.*", "re:.*vision_tower.*", "re:.*visual.*",
               "re:.*multi_modal_projector.*", "re:.*mm_projector.*", "re:.*merger.*", "re:.*patch_embed.*",
               "re:vision_model.*", "re:model[.]visual.*", "vision_tower", "multi_modal_projector"]


@pytest.mark.parametrize("family", ["llama_4_scout", "gemma_3_27b", "mistral_small_3_1_24b", "qwen2_5_vl_7b",
                                    "qwen3_vl_8b", "internvl3_1b"])
def test_patterns_naming_only_vision_modules_quantize_the_whole_decoder(tmp_path, family):
    # the vision patterns of llm-compressor's VLM examples and recipes (RedHatAI Llama-3.2-90B-Vision FP8-dynamic
    # recipe.yaml: re:multi_modal_projector.*, re:vision_model.*; nm-testing llava FP8 re:vision_tower.*) name no
    # module of the text decoder: every decoder component stays quantized, nothing is refused
    bare = load_spec(_with_quant(tmp_path, family, _ct(["lm_head"]), ))
    spec = load_spec(_write(tmp_path, _cfg(family) | {"quantization_config": _ct(VISION_ONLY)}, "vision"))
    assert spec.quantization.components == bare.quantization.components
    assert "attention" in spec.quantization.components
    assert "head" not in spec.quantization.components


def test_angelslim_qwen2_5_vl_fp8_reads_with_its_vision_and_embedding_names_left_out():
    # tests/fixtures/hf/qwen2_5_vl_32b_fp8: ignored_layers model.visual.*, model.language_model.embed_tokens,
    # model.lm_head, lm_head; per-tensor fp8 on every text Linear. 64 layers, d 5120, 40 + 2 x 8 heads of 128
    # (q/k/v biased), MLP 3 x 5120 x 27648
    spec = load_spec(str(FIXTURES / "qwen2_5_vl_32b_fp8"))
    assert spec.quantization.components == ("attention", "dense_ffn")
    w = api.weights(spec)
    attn = 64 * (5120 * (5120 + 1024 + 1024 + 5120) + (5120 + 1024 + 1024))
    assert w.params.attention == attn == 4_026_990_592
    assert w.bytes.attention == attn                                  # 1 byte each
    assert w.bytes.dense_ffn == 64 * 3 * 5120 * 27648 == 27_179_089_920


# ---- attention, embedding and head names of other layouts ---------------------------------------------------------

def test_each_family_names_its_attention_and_layers_as_its_checkpoints_do():
    cases = [  # (fixture, model_type, first attention Linear, embedding, head)
        ("gpt2", "gpt2", "transformer.h.0.attn.c_attn", "transformer.wte", "lm_head"),
        ("falcon_7b", "falcon", "transformer.h.0.self_attention.query_key_value", "transformer.word_embeddings",
         "lm_head"),
        ("glm_4_9b_chat", "chatglm", "transformer.encoder.layers.0.self_attention.query_key_value",
         "transformer.embedding.word_embeddings", "transformer.output_layer"),
        ("qwen_7b", "qwen", "transformer.h.0.attn.c_attn", "transformer.wte", "lm_head"),
        ("exaone_3_5_2_4b", "exaone", "transformer.h.0.attn.attention.q_proj", "transformer.wte", "lm_head"),
        ("dbrx_instruct", "dbrx", "transformer.blocks.0.norm_attn_norm.attn.Wqkv", "transformer.wte", "lm_head"),
        ("internlm2_5_7b", "internlm2", "model.layers.0.attention.wqkv", "model.tok_embeddings", "output"),
        ("baichuan2_7b_chat", "baichuan", "model.layers.0.self_attn.W_pack", "model.embed_tokens", "lm_head"),
        ("phi_3_5_mini", "phi3", "model.layers.0.self_attn.qkv_proj", "model.embed_tokens", "lm_head"),
        ("minicpm3_4b", "minicpm3", "model.layers.0.self_attn.q_a_proj", "model.embed_tokens", "lm_head"),
    ]
    for family, mt, attn, embed, head in cases:
        names = _names(_cfg(family), mt)
        assert (names["attention"][0], names["embed"], names["head"]) == (attn, [embed], [head]), family
    # the DBRX FFN and the chatglm MLP under their layer paths
    assert _names(_cfg("dbrx_instruct"), "dbrx")["router"][0] == "transformer.blocks.0.ffn.router.layer"
    assert _names(_cfg("glm_4_9b_chat"), "chatglm")["dense_ffn"][0] == \
        "transformer.encoder.layers.0.mlp.dense_h_to_4h"
    # MiniCPM3's MLA (remote modeling_minicpm.py MiniCPMAttention, as DeepSeek-V2's)
    assert _names(_cfg("minicpm3_4b"), "minicpm3")["attention"][:5] == [
        f"model.layers.0.self_attn.{p}" for p in ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj",
                                                   "o_proj")]


# Falcon-7B (tests/fixtures/hf/falcon_7b): 32 layers, d 4544, 71 query heads and 1 KV head of 64, no biases:
# query_key_value 4544 x (4544 + 2 x 64), dense 4544 x 4544
FALCON_ATTN = 32 * (4544 * (4544 + 128) + 4544 * 4544)


def test_falcon_self_attention_kept_bf16_by_its_own_name(tmp_path):
    # before: re:.*self_attention.* named nothing (self_attn), the attention was priced at 1 byte a weight
    spec = load_spec(_with_quant(tmp_path, "falcon_7b", _ct(["lm_head", "re:.*self_attention.*"])))
    assert spec.quantization.components == ("dense_ffn",)
    assert FALCON_ATTN == 1_340_080_128
    assert api.weights(spec).bytes.attention == 2 * FALCON_ATTN == 2_680_160_256


# InternLM2.5-7B (tests/fixtures/hf/internlm2_5_7b): 32 layers, d 4096, 32 heads and 8 KV heads of 128:
# wqkv 4096 x (4096 + 2 x 1024), wo 4096 x 4096; untied output head 92544 x 4096
INTERNLM_ATTN = 32 * (4096 * 6144 + 4096 * 4096)
INTERNLM_HEAD = 92544 * 4096


def test_internlm2_attention_and_output_head_kept_bf16_by_their_names(tmp_path):
    # compressed-tensors names each left-out module: before, model.layers.N.attention.wqkv/wo and output (the head)
    # matched nothing and were priced at 1 byte: 1,342,177,280 + 379,060,224 B
    ignore = [f"model.layers.{i}.attention.{p}" for i in range(32) for p in ("wqkv", "wo")] + ["output"]
    spec = load_spec(_with_quant(tmp_path, "internlm2_5_7b", _ct(ignore)))
    assert spec.quantization.components == ("dense_ffn",)
    w = api.weights(spec)
    assert (INTERNLM_ATTN, INTERNLM_HEAD) == (1_342_177_280, 379_060_224)
    assert w.bytes.attention == 2 * INTERNLM_ATTN == 2_684_354_560
    assert w.bytes.head == 2 * INTERNLM_HEAD == 758_120_448


def test_dbrx_list_naming_one_layers_wqkv_is_refused_as_partly_quantized(tmp_path):
    # before: transformer.blocks.0.norm_attn_norm.attn.Wqkv matched nothing, all 40 layers' attention priced fp8
    cfg = _with_quant(tmp_path, "dbrx_instruct", _ct(["lm_head", "transformer.blocks.0.norm_attn_norm.attn.Wqkv"]))
    with pytest.raises(SpecError, match=re.escape("part of the attention unquantized "
                                                  "(transformer.blocks.0.norm_attn_norm.attn.Wqkv)")):
        load_spec(cfg)


# ---- Mllama's cross-attention layers: cross_attn, not self_attn ----------------------------------------------------

# Llama-3.2-11B-Vision's text model (tests/fixtures/hf/llama_3_2_11b_vision): 40 layers, d 4096, 32 heads and 8 KV
# heads of 128; cross_attention_layers 3, 8, ..., 38 (8 layers). Every layer's attention, self or cross, has q and o
# 4096 x 4096 and k and v 4096 x 1024 (MllamaTextSelfAttention, MllamaTextCrossAttention)
MLLAMA_LAYER_ATTN = 4096 * (4096 + 1024 + 1024 + 4096)
MLLAMA_CROSS = [3, 8, 13, 18, 23, 28, 33, 38]


def _mllama_attention(i: int) -> str:
    return "cross_attn" if i in MLLAMA_CROSS else "self_attn"


def test_mllama_cross_attention_layers_are_named_cross_attn_in_both_layouts():
    # MllamaCrossAttentionDecoderLayer.cross_attn (transformers modeling_mllama.py; vLLM mllama.py prefix
    # f"{prefix}.cross_attn"), under language_model.model.layers.N before transformers 4.52, model.language_model after
    cfg = _cfg("llama_3_2_11b_vision")
    old = _names(cfg | {"transformers_version": "4.45.0.dev0"}, "mllama")["attention"]
    new = _names(cfg | {"transformers_version": "4.52.4"}, "mllama")["attention"]
    assert old[12:16] == [f"language_model.model.layers.3.cross_attn.{p}" for p in ("q_proj", "k_proj", "v_proj",
                                                                                  "o_proj")]
    assert new[12] == "model.language_model.layers.3.cross_attn.q_proj"
    assert old[0] == "language_model.model.layers.0.self_attn.q_proj"
    assert not any(".3.self_attn" in n for n in old)
    assert sum("cross_attn" in n for n in old) == 8 * 4 and len(old) == 40 * 4


def test_mllama_list_naming_each_layers_own_attention_keeps_all_of_it_bf16(tmp_path):
    # a list that names each layer's attention module as the checkpoint has it (unsloth's Llama-3.2-11B-Vision
    # llm_int8_skip_modules names language_model.model.layers.8.cross_attn.o_proj and so on). Before: the 8 cross
    # layers were named self_attn, their cross_attn entries matched nothing, and the list was refused as a partly
    # quantized attention (32 of 40 layers hit)
    ignore = [f"language_model.model.layers.{i}.{_mllama_attention(i)}" for i in range(40)]
    ignore += ["re:.*lm_head", "re:multi_modal_projector.*", "re:vision_model.*"]
    spec = load_spec(_with_quant(tmp_path, "llama_3_2_11b_vision", _ct(ignore)))
    assert spec.quantization.components == ("dense_ffn",)
    assert MLLAMA_LAYER_ATTN == 41_943_040
    assert api.weights(spec).bytes.attention == 2 * 40 * MLLAMA_LAYER_ATTN == 3_355_443_200


def test_mllama_list_leaving_out_only_the_cross_attention_is_refused(tmp_path):
    # GPTQModel's MLlamaQModel leaves the cross-attention unquantized ("we currently do not support quantizing cross
    # attention layer"): re:.*cross_attn.* keeps 8 layers' attention in bf16, the other 32 quantized. Before: it
    # matched nothing and all 40 were priced at 1 byte: 40 x 41,943,040 = 1,677,721,600 B, where the checkpoint
    # holds 8 x 41,943,040 x 2 + 32 x 41,943,040 = 2,013,265,920 B
    assert 8 * MLLAMA_LAYER_ATTN * 2 + 32 * MLLAMA_LAYER_ATTN == 2_013_265_920
    cfg = _with_quant(tmp_path, "llama_3_2_11b_vision", _ct(["re:.*lm_head", "re:.*cross_attn.*"]))
    with pytest.raises(SpecError, match=re.escape("part of the attention unquantized "
                                                  "(language_model.model.layers.3.cross_attn.q_proj)")):
        load_spec(cfg)
    # and the other way: re:.*self_attn.* (llm-compressor's Llama-4 recipe pattern) kept all 40 layers bf16
    # (3,355,443,200 B) though the 8 cross layers were quantized
    cfg = _write(tmp_path, _cfg("llama_3_2_11b_vision") | {"quantization_config": _ct(["re:.*self_attn.*"])}, "self")
    with pytest.raises(SpecError, match="part of the attention unquantized"):
        load_spec(cfg)


def test_mllama_vision_only_list_quantizes_every_layers_attention(tmp_path):
    # llm-compressor's mllama_example.py: ignore re:.*lm_head, re:multi_modal_projector.*, re:vision_model.* (the
    # RedHatAI Llama-3.2-Vision FP8-dynamic recipes leave out the same): the decoder's 40 attentions at 1 byte
    ignore = ["re:.*lm_head", "re:multi_modal_projector.*", "re:vision_model.*"]
    spec = load_spec(_with_quant(tmp_path, "llama_3_2_11b_vision", _ct(ignore)))
    assert "attention" in spec.quantization.components
    assert api.weights(spec).bytes.attention == 40 * MLLAMA_LAYER_ATTN == 1_677_721_600


# ---- DSA's lightning indexer: self_attn.indexer.wq_b / wk --------------------------------------------------------

# DeepSeek-V3.2 (tests/fixtures/hf/deepseek_v32): 61 layers, d 7168, 128 heads, q latent 1536, KV latent 512, RoPE
# 64, nope 128, v 128; indexer 64 heads of 128 (DeepSeek-V3.2-Exp inference/model.py Indexer)
V32_MLA = (7168 * 1536 + 1536 + 1536 * 128 * (128 + 64)        # q_a_proj, q_a_layernorm, q_b_proj
           + 7168 * (512 + 64) + 512 + 512 * 128 * (128 + 128)  # kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj
           + 128 * 128 * 7168)                                  # o_proj
V32_INDEXER = 1536 * 64 * 128 + 7168 * 128 + 2 * 128 + 7168 * 64  # wq_b, wk, k_norm (weight, bias), weights_proj
MLA_PROJS = ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj")


def _v32_fp8(tmp_path: Path, keep: list[str], name: str) -> str:
    cfg = _cfg("deepseek_v32")
    return _write(tmp_path, cfg | {"quantization_config": cfg["quantization_config"] | {"modules_to_not_convert": keep}},
                  name)


def test_dsa_indexer_linears_are_named_in_the_attention():
    for family, mt in (("deepseek_v32", "deepseek_v32"), ("glm_5", "glm_moe_dsa")):
        attn = _names(_cfg(family), mt)["attention"]
        assert attn[:7] == [f"model.layers.0.self_attn.{p}" for p in MLA_PROJS + ("indexer.wq_b", "indexer.wk")]
        assert not any("weights_proj" in n for n in attn)     # never quantized (vLLM, SGLang: quant_config=None)


def test_dsa_list_keeping_the_mla_projections_but_not_the_indexer_bf16_is_refused(tmp_path):
    # every MLA projection of every layer left out, the indexer's wq_b and wk quantized. Before: the indexer had no
    # names, every attention name was hit and all of it was priced bf16: 2 x 61 x 201,066,752 = 24,530,143,744 B,
    # where the indexer's 61 x 13,500,416 wq_b + wk weights are fp8
    assert V32_MLA + V32_INDEXER == 201_066_752
    assert 1536 * 64 * 128 + 7168 * 128 == 13_500_416
    mla_only = [f"model.layers.{i}.self_attn.{p}" for i in range(61) for p in MLA_PROJS]
    with pytest.raises(SpecError, match=re.escape("part of the attention unquantized (model.layers.0.self_attn.q_a_proj)")):
        load_spec(_v32_fp8(tmp_path, mla_only, "mla"))
    # the indexer alone kept in bf16 (re:.*indexer.*): before it matched nothing, all priced fp8-block
    with pytest.raises(SpecError, match=re.escape("(model.layers.0.self_attn.indexer.wq_b)")):
        load_spec(_v32_fp8(tmp_path, ["re:.*indexer.*"], "indexer"))


def test_dsa_list_naming_the_mla_projections_and_the_indexer_keeps_the_attention_bf16(tmp_path):
    keep = [f"model.layers.{i}.self_attn.{p}" for i in range(61)
            for p in MLA_PROJS + ("indexer.wq_b", "indexer.wk", "indexer.weights_proj")]
    spec = load_spec(_v32_fp8(tmp_path, keep, "all"))
    assert "attention" not in spec.quantization.components
    assert api.weights(spec).bytes.attention == 2 * 61 * (V32_MLA + V32_INDEXER) == 24_530_143_744
