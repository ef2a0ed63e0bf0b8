"""DeepSeek-OCR and DeepSeek-VL2 (``model_type`` deepseek_vl_v2): the text decoder under ``language_config``.

The family is chosen as vLLM chooses it (vllm-project/vllm vllm/model_executor/models/deepseek_vl2.py,
DeepseekVLV2ForCausalLM.__init__; code-corpus file id 74293414): topk_method "noaux_tc" -> DeepseekV3ForCausalLM,
not use_mla -> DeepseekForCausalLM (the V1 MoE, plain attention: vllm deepseek.py DeepseekAttention, head_dim =
hidden_size // num_attention_heads), else DeepseekV2ForCausalLM (MLA).

DeepSeek-OCR's whole config.json is tests/fixtures/hf/deepseek_ocr (its SOURCE.md). No whole config.json of
DeepSeek-VL2-Tiny, -Small or DeepSeek-VL2 is in the corpora; their language_config keys are pinned below as alibaba
rtp-llm's DeepSeek-VL2 test transcribes them ("test_official_sparse_configs_preserve_variant_defaults", code-corpus
file id 57557901473), nothing else invented.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import refused
from mlacalc.errors import SpecError
from mlacalc.hf import _module_names, checkpoint_layout, spec_dict_from_hf_config
from mlacalc.kv import kv_report
from mlacalc.params import weights_report as weights
from mlacalc.spec import load_spec

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
OCR = FIXTURES / "deepseek_ocr"


def _ocr() -> dict:
    return json.loads((OCR / "config.json").read_text())


def _write(tmp_path: Path, cfg: dict) -> str:
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return str(tmp_path)


def _with_language(tmp_path: Path, top: bool = True, **changes) -> str:
    """DeepSeek-OCR's file with keys of its language_config replaced (a value of ... deletes the key), and their
    top-level copies alike unless ``top`` is false (the release's code reads those, vLLM language_config)."""
    cfg = _ocr()
    for key, value in changes.items():
        for where in (cfg["language_config"], cfg) if top else (cfg["language_config"],):
            if value is ...:
                where.pop(key, None)
            else:
                where[key] = value
    return _write(tmp_path, cfg)


def _vl2(language: dict, **top) -> dict:
    """A deepseek_vl_v2 config around ``language``: VL2's config.json names no architectures (vLLM users pass
    --hf-overrides '{"architectures": ["DeepseekVLV2ForCausalLM"]}'), the vision tower's keys are not read."""
    return {"model_type": "deepseek_vl_v2", "tile_tag": "2D", "global_view_pos": "head",
            "vision_config": {"model_name": "siglip_so400m_patch14_384", "width": 1152, "layers": 27},
            "projector_config": {"projector_type": "downsample_mlp_gelu", "input_dim": 1152},
            "language_config": language, "torch_dtype": "bfloat16"} | top


# ------------------------------------------------------------------------------------- DeepSeek-OCR (the fixture)

# DeepSeek-OCR's decoder, every tensor in its checkpoint (the SOURCE.md's tensor list, code-corpus 63052762923 and
# 67433323869): d 1280, 12 layers, vocabulary 129280
D, L, V = 1280, 12, 129280
EMBED = HEAD = V * D                                   # embed_tokens and the untied lm_head, 129280 x 1280 each
ATTN = 4 * D * D                                       # q, k, v, o: 1280 x 1280 each (10 heads of 128), no biases
NORMS = L * 2 * D + D                                  # input and post-attention RMSNorms, the final norm
DENSE = 3 * D * 6848                                   # layer 0 (first_k_dense_replace 1): gate, up, down of 6848
MOE = 64 * D + 64 * 3 * D * 896 + 3 * D * (2 * 896)    # router 64 x 1280, 64 experts of 896, shared of 2 x 896
DECODER = EMBED + HEAD + L * ATTN + NORMS + DENSE + (L - 1) * MOE


def test_deepseek_ocr_decoder_is_the_v1_moe_with_mha_under_language_config():
    """use_mla false: vLLM builds DeepseekForCausalLM, MHA over heads of 1280 / 10 = 128, RoPE over the whole head.
    The MLA keys' zeros and nulls (qk_nope_head_dim 0, qk_rope_head_dim 0, v_head_dim 0, kv_lora_rank null) are not
    read: before, the reader refused the model_type by name."""
    s = load_spec(str(OCR))
    a, f = s.attention, s.ffn
    assert (s.num_layers, s.hidden_size, s.vocab_size, s.tie_word_embeddings) == (12, 1280, 129280, False)
    assert (a.kind, a.num_heads, a.num_kv_heads, a.v_head_dim) == ("mha", 10, 10, 1280 // 10)
    assert (a.qk_nope_head_dim, a.qk_rope_head_dim, a.kv_lora_rank, a.q_lora_rank) == (0, 128, None, None)
    assert not (a.qkv_bias or a.o_bias or a.qk_norm)
    assert (f.kind, f.num_experts, f.experts_per_token, f.num_shared_experts) == ("moe", 64, 6, 2)
    assert (f.expert_intermediate_size, f.intermediate_size, f.first_dense_layers) == (896, 6848, 1)
    assert s.max_context == 8192 and s.dtypes.weights == "bf16" and s.mtp_layers == 0
    assert s.description == ("the text decoder of deepseek_vl_v2 (language_config read as deepseek: use_mla false, "
                             "vLLM's DeepseekForCausalLM); the vision encoders, the projector and the image_newline "
                             "and view_seperator rows are left out")


def test_deepseek_ocr_parameters_are_the_checkpoints_decoder_tensors():
    assert DECODER == 2_934_734_080
    p = weights(load_spec(str(OCR))).params
    assert (p.embed, p.head, p.attention, p.norms) == (EMBED, HEAD, L * ATTN, NORMS)
    assert (p.dense_ffn, p.router, p.routed_experts, p.shared_experts) == \
        (DENSE, 11 * 64 * D, 11 * 64 * 3 * D * 896, 11 * 3 * D * 1792)
    assert p.total == DECODER


def test_deepseek_ocr_decoder_and_towers_sum_to_the_checkpoint():
    """What the reader leaves out, worked out from the same tensor list: SAM-ViT-B (12 blocks of 768, global attention
    at 2, 5, 8, 11 with 127-row relative positions, 27 rows elsewhere, neck and two stride-2 convolutions), CLIP-L/14
    (24 layers of 1024, fused qkv, MLP 4096, 257 positions), the linear projector 2048 -> 1280 and two learned rows.
    With the decoder: the checkpoint's 6,672,212,480 bf16 bytes ("total_size from model.safetensors.index.json")."""
    block = 2 * 768 + (2304 * 768 + 2304) + (768 * 768 + 768) + 2 * 768 + (3072 * 768 + 3072) + (768 * 3072 + 768)
    sam = 64 * 64 * 768 + (768 * 3 * 16 * 16 + 768) + 12 * block + 8 * 2 * 27 * 64 + 4 * 2 * 127 * 64 + \
        (256 * 768 + 2 * 256 + 256 * 256 * 9 + 2 * 256) + 512 * 256 * 9 + 1024 * 512 * 9
    layer = 2 * 1024 + (3072 * 1024 + 3072) + (1024 * 1024 + 1024) + 2 * 1024 + (4096 * 1024 + 4096) + \
        (1024 * 4096 + 1024)
    clip = 1024 + 1024 * 3 * 14 * 14 + 257 * 1024 + 2 * 1024 + 24 * layer
    rest = (1280 * 2048 + 1280) + 1280 + 1280            # projector; image_newline, view_seperator
    assert (sam, clip, rest) == (95_569_152, 303_177_728, 2_625_280)
    decoder = weights(load_spec(str(OCR))).params.total
    assert 2 * (decoder + sam + clip + rest) == 6_672_212_480


def test_deepseek_ocr_kv_is_ten_k_and_ten_v_heads_of_128_on_12_layers():
    # 12 layers x 10 heads x 128 x (K, V) x 2 bytes
    assert kv_report(load_spec(str(OCR)), context=1).per_token.total == 12 * 10 * 128 * 2 * 2 == 61_440


def test_top_level_copies_that_agree_with_language_config_change_nothing(tmp_path):
    """The file repeats language_config's keys at the top level; vLLM builds the decoder from language_config alone
    (DeepseekVLV2Config: text_config = DeepseekV2Config(**language_config)). Copies that agree, and top-level keys
    that size nothing (token ids, rm_head), change nothing."""
    cfg = _ocr() | {"bos_token_id": 7, "eos_token_id": 8, "rm_head": True, "lm_head": False}
    assert weights(load_spec(_write(tmp_path, cfg))).params.total == DECODER


# DeepSeek-OCR's release code builds the decoder from the TOP level: its modeling_deepseekocr.py declares
# `class DeepseekOCRConfig(DeepseekV2Config)` and `DeepseekOCRModel(DeepseekV2Model).__init__(config)` on that config
# (code-corpus file ids 17685560866, 11150405776: copies of the release's file), language_config being one more
# attribute. With 24 layers at the top level it builds 12 more layers of attention, two norms and the MoE:
MORE_LAYERS = 12 * (ATTN + 2 * D + MOE)


@pytest.mark.parametrize("top,words", [
    ({"num_hidden_layers": 24}, "num_hidden_layers is 24 at the top level"),
    ({"hidden_size": 2048}, "hidden_size is 2048 at the top level"),
    ({"n_shared_experts": 0}, "n_shared_experts is 0 at the top level"),
    ({"use_mla": True}, "use_mla is True at the top level"),
    ({"tie_word_embeddings": True}, "tie_word_embeddings is True at the top level"),
])
def test_top_level_copy_that_disagrees_with_language_config_is_one_line(capsys, tmp_path, top, words):
    """Before, the top level was not read: 2,934,734,080 parameters whatever it said, where the release's own code
    builds 24 layers from num_hidden_layers 24 (5,739,377,920). Which one the checkpoint holds cannot be told."""
    assert DECODER + MORE_LAYERS == 5_739_377_920
    refused(capsys, "weights", _write(tmp_path, _ocr() | top),
            words=f"model_type deepseek_vl_v2: {words}, which DeepSeek-OCR's own DeepseekOCRConfig builds the decoder "
                  "from,")


def test_a_size_the_top_level_gives_and_language_config_leaves_out_is_one_line(capsys, tmp_path):
    """language_config without first_k_dense_replace: vLLM's class default 0 (every layer MoE: 3,135,601,920
    parameters, as read before) against the top level's 1 (2,934,734,080), the release's own reading."""
    assert DECODER - DENSE + MOE == 3_135_601_920
    refused(capsys, "weights", _with_language(tmp_path, top=False, first_k_dense_replace=...),
            words="first_k_dense_replace is 1 at the top level, which DeepSeek-OCR's own DeepseekOCRConfig builds the "
                  "decoder from, and not given in language_config")


def test_with_use_mla_false_the_mla_keys_never_reach_the_reading(tmp_path):
    """DeepseekAttention reads no MLA width (nor head_dim: transformers' DeepseekV2Config sets it to
    qk_rope_head_dim): whatever they hold, the heads are 1280 / 10 = 128 wide."""
    for odd in ({"v_head_dim": 0, "qk_nope_head_dim": 0}, {"kv_lora_rank": 512, "q_lora_rank": 1536},
                {"v_head_dim": 64, "head_dim": 64}, {"v_head_dim": 128.0}):
        s = load_spec(_with_language(tmp_path, **odd))
        assert (s.attention.kind, s.attention.v_head_dim, s.attention.kv_lora_rank) == ("mha", 128, None), odd


@pytest.mark.parametrize("key", ["kv_lora_rank", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
                                 "head_dim"])
@pytest.mark.parametrize("value", ["x", "NaN", -1, 1.5, True, [], {"a": 1}])
def test_a_dropped_mla_width_that_is_no_width_is_one_line(capsys, tmp_path, key, value):
    """With use_mla false the MLA widths are not read, but one that is no whole number (a string, NaN, -1, 1.5, a
    bool, a list, a mapping) is a broken file, not a width to skip: the DeepseekV2Config vLLM builds declares each an
    int or None (transformers 5 checks it). Before: read as if absent, 2,934,734,080 parameters."""
    path = _with_language(tmp_path, **{key: value})
    if value == "NaN":             # JSON's NaN, not the string "NaN"
        Path(path, "config.json").write_text(Path(path, "config.json").read_text().replace('"NaN"', "NaN"))
    refused(capsys, "weights", path,
            words=f"model_type deepseek_vl_v2: language_config.{key} must be a whole number of at least 0 or null")


# use_mla false: the releases' own code builds plain attention on use_mla alone (modeling_deepseekv2.py
# DeepseekV2DecoderLayer: "mha_" + attn_implementation -> LlamaAttention; code-corpus file ids 67124163279,
# 1237564379), current vLLM on the head widths alone (deepseek_v2.py DeepseekV2DecoderLayer: use_mha =
# config.model_type == "deepseek" or qk_nope_head_dim == qk_rope_head_dim == 0, the text config's model_type being
# deepseek_v2; its DeepseekForCausalLM is a DeepseekV2ForCausalLM; code-corpus file ids 66991402925, 62653025771).
# Left out, the widths are transformers' DeepseekV2Config defaults, 128 and 64: MLA there.
@pytest.mark.parametrize("widths,shown", [
    ({"qk_rope_head_dim": 64}, "qk_nope_head_dim 0 and qk_rope_head_dim 64"),
    ({"qk_nope_head_dim": 128, "qk_rope_head_dim": 64}, "qk_nope_head_dim 128 and qk_rope_head_dim 64"),
    ({"qk_nope_head_dim": ..., "qk_rope_head_dim": ...}, "qk_nope_head_dim not given and qk_rope_head_dim not given"),
])
def test_use_mla_false_beside_mla_head_widths_is_one_line(capsys, tmp_path, widths, shown):
    """Before: read as plain attention whatever the widths said, 2,934,734,080 parameters and 61,440 B a token, where
    vLLM builds MLA attention. Which one the checkpoint holds cannot be told from the file."""
    (tmp_path / "ocr").mkdir()
    words = f"model_type deepseek_vl_v2: language_config has use_mla false and {shown}"
    refused(capsys, "kv", _with_language(tmp_path / "ocr", **widths), words=words)
    vl2 = {k: v for k, v in (VL2_TINY | widths).items() if v is not ...}
    refused(capsys, "weights", _write(tmp_path, _vl2(vl2)), words=words)


def test_kv_heads_fewer_than_query_heads_read_as_gqa(tmp_path):
    # DeepseekAttention's num_kv_heads: 12 layers x 2 K/V heads of 128 x (K, V) x 2 bytes
    s = load_spec(_with_language(tmp_path, num_key_value_heads=2))
    assert s.attention.kind == "gqa" and kv_report(s, context=1).per_token.total == 12 * 2 * 128 * 2 * 2


# ------------------------------------------------------------------------- DeepSeek-VL2-Tiny, -Small, DeepSeek-VL2

# language_config as rtp-llm's test transcribes each release (code-corpus file id 57557901473)
VL2_TINY = {"hidden_size": 1280, "intermediate_size": 6848, "num_hidden_layers": 12, "num_attention_heads": 10,
            "num_key_value_heads": 10, "vocab_size": 129280, "max_position_embeddings": 4096, "n_routed_experts": 64,
            "num_experts_per_tok": 6, "moe_intermediate_size": 896, "n_shared_experts": 2, "first_k_dense_replace": 1,
            "n_group": 1, "topk_group": 1, "topk_method": "greedy", "q_lora_rank": None, "kv_lora_rank": None,
            "qk_nope_head_dim": 0, "qk_rope_head_dim": 0, "v_head_dim": 0, "use_mla": False}
VL2_SMALL = {"hidden_size": 2048, "intermediate_size": 10944, "num_hidden_layers": 27, "num_attention_heads": 16,
             "num_key_value_heads": 16, "vocab_size": 129280, "max_position_embeddings": 4096, "n_routed_experts": 64,
             "num_experts_per_tok": 6, "moe_intermediate_size": 1408, "n_shared_experts": 2,
             "first_k_dense_replace": 1, "n_group": 1, "topk_group": 1, "topk_method": "greedy", "q_lora_rank": None}
VL2 = {"hidden_size": 2560, "intermediate_size": 12288, "vocab_size": 129280, "max_position_embeddings": 4096,
       "n_routed_experts": 72, "num_experts_per_tok": 6, "moe_intermediate_size": 1536, "n_shared_experts": 2,
       "first_k_dense_replace": 1, "n_group": 1, "topk_group": 1, "topk_method": "noaux_tc", "scoring_func": "sigmoid",
       "norm_topk_prob": True, "routed_scaling_factor": 2.0, "q_lora_rank": None}


def test_vl2_tiny_is_deepseek_ocrs_decoder_with_a_4k_context(tmp_path):
    """DeepSeek-OCR's decoder is DeepSeek-VL2-Tiny's DeepSeek-3B-MoE: the same sizes, MHA (use_mla false)."""
    s = load_spec(_write(tmp_path, _vl2(VL2_TINY)))
    assert s.attention.kind == "mha" and s.max_context == 4096
    assert weights(s).params.total == DECODER
    assert kv_report(s, context=1).per_token.total == 61_440


def test_vl2_small_without_use_mla_is_mla_of_the_class_widths(tmp_path):
    """No use_mla and no MLA width in the transcription: DeepSeek-VL2's DeepseekV2Config gives use_mla=True, and it
    and transformers' class alike kv_lora_rank 512, qk_rope_head_dim 64, qk_nope_head_dim 128, v_head_dim 128 (the
    MLA of DeepSeek-V2-Lite, tests/fixtures/hf/deepseek_v2, whose sizes VL2-Small's language model shares but for the
    vocabulary). KV: one latent of 512 and one RoPE key of 64 a layer, 27 x 576 x 2 bytes."""
    s = load_spec(_write(tmp_path, _vl2(VL2_SMALL)))
    a = s.attention
    assert (a.kind, a.num_heads, a.q_lora_rank, a.kv_lora_rank, a.qk_rope_head_dim, a.qk_nope_head_dim,
            a.v_head_dim) == ("mla", 16, None, 512, 64, 128, 128)
    assert kv_report(s, context=1).per_token.total == 27 * (512 + 64) * 2 == 31_104
    assert "use_mla not given, true in DeepSeek-VL2's DeepseekV2Config" in s.description
    lite = load_spec(str(FIXTURES / "deepseek_v2"))
    # the same model but for 129280 - 102400 more rows in the embedding and in the untied head
    assert weights(s).params.total - weights(lite).params.total == 2 * (129280 - 102400) * 2048


def test_vl2_small_with_use_mla_said_reads_the_same(tmp_path):
    said = _vl2(VL2_SMALL | {"use_mla": True, "kv_lora_rank": 512, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128,
                             "v_head_dim": 128})
    (tmp_path / "said").mkdir()
    said = load_spec(_write(tmp_path / "said", said))
    left_out = load_spec(_write(tmp_path, _vl2(VL2_SMALL)))
    assert said.attention == left_out.attention and weights(said).params.total == weights(left_out).params.total


def test_vl2_without_its_layer_and_head_counts_is_refused(tmp_path):
    """rtp-llm's transcription of DeepSeek-VL2's language_config gives neither num_hidden_layers nor
    num_attention_heads: DeepSeek-VL2's DeepseekV2Config defaults them to 30 and 32, transformers' (which vLLM now
    builds) to 32 and 32, so the file is not sized by a guess."""
    with pytest.raises(SpecError, match="language_config has no num_hidden_layers, which sizes the model"):
        load_spec(_write(tmp_path, _vl2(VL2)))


def test_vl2_noaux_tc_reads_as_deepseek_v3_mla(tmp_path):
    """topk_method noaux_tc: vLLM's DeepseekV3ForCausalLM. With the 30 layers and 32 heads rtp-llm expects, KV is
    30 x (512 + 64) x 2 bytes; 30 - 1 MoE layers of 72 experts."""
    s = load_spec(_write(tmp_path, _vl2(VL2 | {"num_hidden_layers": 30, "num_attention_heads": 32})))
    assert (s.attention.kind, s.attention.num_heads, s.attention.kv_lora_rank) == ("mla", 32, 512)
    assert (s.ffn.num_experts, s.ffn.experts_per_token, s.num_moe_layers) == (72, 6, 29)
    assert kv_report(s, context=1).per_token.total == 30 * 576 * 2 == 34_560
    assert "(language_config read as deepseek_v3: topk_method noaux_tc" in s.description


def test_noaux_tc_with_use_mla_false_is_refused(tmp_path):
    # vLLM builds the MLA DeepseekV3ForCausalLM on topk_method alone; the file says plain attention
    with pytest.raises(SpecError, match="topk_method noaux_tc .* and use_mla false"):
        load_spec(_write(tmp_path, _vl2(VL2_TINY | {"topk_method": "noaux_tc"})))


# --------------------------------------------------------------------------------------- malformed language_config

@pytest.mark.parametrize("language,words", [
    (None, "language_config must be a mapping (the text decoder's config), got None"),
    ([], "language_config must be a mapping (the text decoder's config), got []"),
    ("deepseek_v2", "language_config must be a mapping (the text decoder's config), got 'deepseek_v2'"),
    (7, "language_config must be a mapping (the text decoder's config), got 7"),
    ({}, "language_config has no num_hidden_layers, which sizes the model"),
])
def test_language_config_that_is_not_a_decoder_is_one_line(capsys, tmp_path, language, words):
    refused(capsys, "kv", _write(tmp_path, _ocr() | {"language_config": language}), words=f"deepseek_vl_v2: {words}")


def test_a_wrapper_without_language_config_is_one_line(capsys, tmp_path):
    # vLLM would build DeepseekV2Config() of the class defaults (a 4096-wide model no release is)
    cfg = _ocr()
    del cfg["language_config"]
    refused(capsys, "weights", _write(tmp_path, cfg), words="language_config must be a mapping")


@pytest.mark.parametrize("key", ["num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size",
                                 "num_key_value_heads", "n_routed_experts", "n_shared_experts"])
@pytest.mark.parametrize("command", ["kv", "weights", "fit"])
def test_missing_size_is_one_line_naming_it(capsys, tmp_path, key, command):
    """Sizes DeepSeek-VL2's DeepseekV2Config and transformers' default differently. num_key_value_heads: 32 against
    the query heads; n_routed_experts, n_shared_experts: None (dense, no shared expert) against 64 and 2. Without
    n_shared_experts DeepSeek-OCR read 2,859,040,000 parameters, its shared experts (11 x 3 x 1280 x 1792) left out."""
    assert DECODER - 11 * 3 * 1280 * 1792 == 2_859_040_000
    refused(capsys, command, _with_language(tmp_path, **{key: ...}),
            words=f"model_type deepseek_vl_v2: language_config has no {key}, which sizes the model")


@pytest.mark.parametrize("value", ["false", 0, 1, None, [], {"a": 1}])
def test_use_mla_that_is_not_true_or_false_is_one_line(capsys, tmp_path, value):
    # "false" was a truthy string: vLLM's `not use_mla` would build MLA from a file that says plain attention
    refused(capsys, "kv", _with_language(tmp_path, use_mla=value),
            words=f"model_type deepseek_vl_v2: language_config.use_mla must be true or false, got {value!r}")


def test_topk_method_that_is_not_a_string_is_one_line(capsys, tmp_path):
    refused(capsys, "kv", _with_language(tmp_path, topk_method=7),
            words="language_config.topk_method must be a string, got 7")


def test_bad_size_inside_language_config_is_one_line(capsys, tmp_path):
    refused(capsys, "weights", _with_language(tmp_path, num_attention_heads="10"),
            words="num_attention_heads must be a whole number of at least 1, got '10'")
    refused(capsys, "kv", _with_language(tmp_path, hidden_size=1281),
            words="hidden_size 1281 is not a multiple of 10 heads")


def test_mla_language_config_with_a_null_latent_is_one_line(capsys, tmp_path):
    # use_mla true with kv_lora_rank null: no class default fills a null, and MLA has no latent width
    refused(capsys, "kv", _write(tmp_path, _vl2(VL2_SMALL | {"use_mla": True, "kv_lora_rank": None})),
            words="has no kv_lora_rank")


# ------------------------------------------------------------------------------------- checkpoint module names

def test_module_names_follow_each_release_checkpoint():
    """DeepSeek-OCR keeps the decoder at model.layers.N / lm_head (its tensor list); DeepSeek-VL2 under language.
    (vLLM's hf_to_vllm_mapper "language." -> "language_model."; rtp-llm's language.model.embed_tokens,
    language.lm_head), its config naming no architectures."""
    ocr = _ocr()
    names = _module_names(spec_dict_from_hf_config(ocr, "m"), "deepseek", checkpoint_layout(ocr))
    assert names["head"] == ["lm_head"] and "model.layers.0.self_attn.q_proj" in names["attention"]
    vl2 = _vl2(VL2_SMALL)
    names = _module_names(spec_dict_from_hf_config(vl2, "m"), "deepseek_v2", checkpoint_layout(vl2))
    assert names["head"] == ["language.lm_head"]
    assert "language.model.layers.0.self_attn.kv_a_proj_with_mqa" in names["attention"]


def test_an_fp8_list_keeping_the_ocr_head_and_attention_bf16_prices_them_at_16_bits(tmp_path):
    """An llm-compressor FP8 scheme on every Linear but the attention and the head, by the checkpoint's names: those
    stay at 2 bytes a parameter, the experts go to 1."""
    ignore = [f"model.layers.{i}.self_attn.{p}" for i in range(12) for p in ("q_proj", "k_proj", "v_proj", "o_proj")]
    quant = {"quant_method": "compressed-tensors", "format": "float-quantized", "ignore": ignore + ["lm_head"],
             "config_groups": {"group_0": {"targets": ["Linear"], "weights": {
                 "num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True, "dynamic": False}}}}
    s = load_spec(_write(tmp_path, _ocr() | {"quantization_config": quant}))
    assert "attention" not in s.quantization.components and "routed_experts" in s.quantization.components
    b = weights(s).bytes
    assert (b.attention, b.head) == (2 * L * ATTN, 2 * HEAD)
