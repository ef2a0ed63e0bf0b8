"""The 2025-2026 multimodal wrappers of section 29's last row (docs/zoo-facts.md section 33): PaddleOCR-VL
(``paddleocr_vl``), HunyuanOCR (``hunyuan_vl``), MiniCPM-V 4.6 (``minicpmv4_6``) and EXAONE 4.5 (``exaone4_5``) read
as the decoder family each wraps; ERNIE-4.5-VL (``ernie4_5_vl_moe``, ``ernie4_5_moe_vl``) refused by name;
MiniMax-M3 (``minimax_m3_vl``), refused by name in that round, read since as its own decoder (section 39,
tests/test_minimax_m3.py). Numbers worked out by hand in each test from the fixtures
(tests/fixtures/hf/{paddleocr_vl,hunyuan_ocr,minicpm_v_4_6,exaone_4_5_33b}, SOURCE.md each).

The vision towers are left out, as for every wrapper this tool reads (the reading's description says so); the model
cards count them, so a card sits above the decoder by its tower. KV: layers x K/V heads x head_dim x (K, V) x 2 bytes
(bf16), every layer at context 1."""

import copy

import pytest

from mlacalc.kv import kv_report
from mlacalc.params import weights_report
from mlacalc.spec import load_spec

from helpers import fixture_config as cfg
from helpers import hf_fixture as hf
from helpers import refused, write_config


def params(spec) -> int:
    return weights_report(spec).params.total


def per_token(spec) -> float:
    return kv_report(spec, context=1).per_token.total


def nested(name: str, text_type: str, keep: tuple[str, ...]) -> dict:
    """A flat fixture as transformers 5 saves it: the decoder's keys under text_config (model_type ``text_type``),
    the wrapper's ``keep`` keys at the top."""
    flat = cfg(name)
    top = {k: flat[k] for k in keep if k in flat}
    text = {k: v for k, v in flat.items() if k not in keep and k != "model_type"}
    return {**top, "text_config": {**text, "model_type": text_type}}


def refused_everywhere(capsys, path: str, words: str) -> None:
    for command in (("kv", path), ("weights", path), ("specs", "show", path), ("kv", path, "--json")):
        refused(capsys, *command, words=words)


# ------------------------------------------------------------------------------------------------ PaddleOCR-VL

def paddle_by_hand(tied: bool) -> int:
    """ERNIE-4.5-0.3B's decoder (Ernie4_5DecoderLayer under PaddleOCRAttention, use_bias false): q 1024 -> 16 x 128,
    k and v 1024 -> 2 x 128, o back, a gated MLP of 3072, two RMSNorms; the final norm; embedding and head of
    103424 x 1024."""
    d, L, V = 1024, 18, 103424
    layer = d * 2048 + 2 * d * 256 + 2048 * d + 3 * d * 3072 + 2 * d
    assert layer == 14_157_824
    return L * layer + d + V * d * (1 if tied else 2)


def test_paddleocr_vl_is_ernie_4_5_0_3b_by_hand():
    """The release's flat file (PaddleOCRVLConfig folds the top-level keys into PaddleOCRTextConfig(Ernie4_5Config)):
    its head is its own matrix (tie_word_embeddings false), 105,906,176 more than ERNIE-4.5-0.3B's tied 360,748,032.
    Card: "PaddleOCR-VL-0.9B", "a NaViT-style dynamic resolution visual encoder with the ERNIE-4.5-0.3B language
    model"; the decoder here is 0.467 B, the tower (27 SigLIP layers of 1152) and projector the rest."""
    s = hf("paddleocr_vl")
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_rope_head_dim) == ("gqa", 16, 2, 128, 128)
    assert not (a.qkv_bias or a.o_bias or a.qk_norm) and s.ffn.intermediate_size == 3072 and s.ffn.gated
    assert (s.num_layers, s.vocab_size, s.tie_word_embeddings, s.max_context) == (18, 103424, False, 131072)
    assert params(s) == paddle_by_hand(tied=False) == 466_654_208
    assert paddle_by_hand(tied=True) == 360_748_032                   # ERNIE-4.5-0.3B's, tests/fixtures/hf
    assert params(hf("ernie_4_5_0_3b")) == 360_748_032
    assert per_token(s) == 18 * 2 * 128 * 2 * 2 == 18_432
    assert s.description == "the text decoder of paddleocr_vl (read as ernie4_5); the vision tower is left out"


def test_paddleocr_vl_nested_ties_by_the_wrappers_flag(tmp_path):
    """transformers 5 saves text_config apart, and ties the head by the wrapper's tie_word_embeddings (vLLM's
    paddleocr_vl.py drops the text_config's before merging it). Loading the flat release and saving it leaves the
    release's false at the top and PaddleOCRTextConfig's default true in text_config: read by the text_config's, the
    head was tied, 105,906,176 parameters short. Without a top-level flag the wrapper's class default (true) holds."""
    c = nested("paddleocr_vl", "paddleocr_vl_text", ("architectures", "model_type", "tie_word_embeddings",
                                                     "vision_config", "image_token_id"))
    c["text_config"]["tie_word_embeddings"] = True
    assert params(load_spec(write_config(tmp_path, c))) == paddle_by_hand(tied=False)
    del c["tie_word_embeddings"]
    c["text_config"]["tie_word_embeddings"] = False
    assert params(load_spec(write_config(tmp_path, c))) == paddle_by_hand(tied=True)
    del c["text_config"]["model_type"]                               # PaddleOCRVLConfig builds its text class anyway
    assert params(load_spec(write_config(tmp_path, c))) == paddle_by_hand(tied=True)


def test_paddleocr_vl_use_bias_is_refused(tmp_path, capsys):
    """use_bias biases q, k, v, o (PaddleOCRAttention) and the MLP (Ernie4_5MLP): the spec has no MLP bias."""
    path = write_config(tmp_path, {**cfg("paddleocr_vl"), "use_bias": True})
    refused_everywhere(capsys, path, "model_type ernie4_5: biases on every projection")


# ------------------------------------------------------------------------------------------------ HunyuanOCR

def test_hunyuan_ocr_is_hunyuan_dense_by_hand():
    """HunyuanOCR (flat remote-code file; HunYuanVLConfig folds its keys into HunYuanVLTextConfig, vLLM builds
    hunyuan_v1.py's dense decoder): q 1024 -> 16 x 128, k and v 1024 -> 8 x 128, o back, q/k RMSNorms of 128, a gated
    MLP of 3584, two norms; tied embedding of 120818 x 1024. Card: "1B" with the 27-layer ViT of 1152."""
    s = hf("hunyuan_ocr")
    a = s.attention
    assert (a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_norm, a.kv_share_layers) == (16, 8, 128, True, 1)
    assert (s.ffn.kind, s.ffn.intermediate_size, s.tie_word_embeddings, s.max_context) == ("dense", 3584, True, 32768)
    d = 1024
    layer = d * 2048 + 2 * d * 1024 + 2048 * d + 2 * 128 + 3 * d * 3584 + 2 * d
    assert params(s) == 24 * layer + d + 120818 * d == 539_010_048
    assert per_token(s) == 24 * 8 * 128 * 2 * 2 == 98_304


@pytest.mark.parametrize("top, text, tied", [(False, True, True), (True, False, False)])
def test_hunyuan_ocr_nested_ties_by_its_text_configs_flag(tmp_path, top, text, tied):
    """Unlike PaddleOCR-VL's, HunyuanOCR's head is tied by the text_config's flag in both engines: transformers'
    HunYuanVLConfig.__post_init__ writes ``kwargs.setdefault("tie_word_embeddings",
    self.text_config.tie_word_embeddings)`` over its own field ("it must be mirrored here from the text config"), and
    vLLM's HunYuanVLConfig (vllm/transformers_utils/configs/hunyuan_vl.py, registered for hunyuan_vl) answers every
    attribute its text_config holds from the text_config (``__getattribute__``), so hunyuan_vision.py's
    ``self.config.tie_word_embeddings`` is the text_config's. Read by the wrapper's flag, a nested file saying false at
    the top and true in text_config was priced with a head of 120,818 x 1,024 = 123,717,632 that neither engine
    builds, and the reverse file 123,717,632 short."""
    c = nested("hunyuan_ocr", "hunyuan_vl_text", ("architectures", "model_type", "tie_word_embeddings",
                                                  "vision_config", "image_token_id"))
    c["tie_word_embeddings"], c["text_config"]["tie_word_embeddings"] = top, text
    d, V = 1024, 120818
    layer = d * 2048 + 2 * d * 1024 + 2048 * d + 2 * 128 + 3 * d * 3584 + 2 * d      # as by hand above
    expected = 24 * layer + d + V * d * (1 if tied else 2)
    assert expected == (539_010_048 if tied else 662_727_680)
    assert params(load_spec(write_config(tmp_path, c))) == expected


def test_hunyuan_ocr_without_use_qk_norm_counts_the_norms_transformers_builds(tmp_path):
    """transformers' HunYuanDenseV1Attention builds query_layernorm and key_layernorm whatever the file says; a file
    without use_qk_norm (transformers 5 keeps it out of text_config) is read with them: 24 x 2 x 128 = 6,144."""
    c = nested("hunyuan_ocr", "hunyuan_vl_text", ("architectures", "model_type", "tie_word_embeddings",
                                                  "vision_config", "image_token_id"))
    del c["text_config"]["use_qk_norm"]
    s = load_spec(write_config(tmp_path, c))
    assert s.attention.qk_norm and params(s) == params(hf("hunyuan_ocr")) == 539_010_048


@pytest.mark.parametrize("top, words", [
    ({"num_hidden_layers": 2}, "num_hidden_layers 2 at the top level and 24 in text_config"),
    ({"vocab_size": 5}, "vocab_size 5 at the top level and 120818 in text_config"),
    ({"num_experts": 8}, "num_experts 8 at the top level and 1 in text_config"),
    ({"use_qk_norm": False}, "use_qk_norm False at the top level and True in text_config"),
    ({"use_cla": True}, "use_cla True at the top level and False in text_config"),
])
def test_hunyuan_ocr_nested_with_other_sizes_at_the_top_is_refused(tmp_path, capsys, top, words):
    """A nested HunyuanOCR file giving a sizing key at the top level other than its text_config does: transformers'
    HunYuanVLConfig builds its text config from ``{**text_config, **top_level_text_fields}`` (the top level wins:
    2 layers), vLLM's HunYuanVLConfig answers from the text_config what it holds and from the top level what it does
    not (num_experts 8 there builds experts, use_qk_norm false drops the q/k norms). It was read as the text_config
    alone, 539,010,048, without a word; the same key given equal at both levels changes nothing."""
    c = nested("hunyuan_ocr", "hunyuan_vl_text", ("architectures", "model_type", "tie_word_embeddings",
                                                  "vision_config", "image_token_id"))
    refused_everywhere(capsys, write_config(tmp_path, {**c, **top}), f"model_type hunyuan_vl: {words}")
    same = {**c, "num_hidden_layers": 24, "vocab_size": 120818}
    assert params(load_spec(write_config(tmp_path, same))) == 539_010_048


@pytest.mark.parametrize("change, words", [
    ({"use_qk_norm": False}, "use_qk_norm false: transformers' HunYuanDenseV1Attention builds q/k norms"),
    ({"use_cla": True, "cla_share_factor": 2}, "use_cla true: vLLM's HunYuan decoder shares K/V across layers"),
    ({"num_experts": 8, "moe_topk": 2}, "num_experts 8: transformers' HunYuanVL is the dense-only variant"),
])
def test_hunyuan_ocr_what_the_engines_build_differently_is_refused(tmp_path, capsys, change, words):
    refused_everywhere(capsys, write_config(tmp_path, {**cfg("hunyuan_ocr"), **change}), words)


# ------------------------------------------------------------------------------------------------ MiniCPM-V 4.6

def test_minicpm_v_4_6_is_qwen3_5_0_8b_by_hand():
    """MiniCPM-V 4.6 (text_config qwen3_5_text, read as qwen3_next): Qwen3.5-0.8B's decoder with a vocabulary of
    248094 (Qwen3.5's 248320). 6 full layers (every 4th): q 1024 -> 8 x 256 twice (the output gate), k and v
    1024 -> 2 x 256, o 2048 -> 1024, q/k norms of 256; 18 Gated DeltaNet layers: in_proj_qkv 1024 -> 2 x 2048 + 2048,
    in_proj_z 1024 -> 2048, in_proj_b/a 2 x 1024 x 16, conv 6144 x 4, A_log and dt_bias 2 x 16, norm 128, out_proj
    2048 -> 1024; MLP 3 x 1024 x 3584 and two norms on every layer; tied embedding. The checkpoint holds no MTP
    tensors (mtp_num_hidden_layers 1 is not counted). Card: 1.3B with SigLIP2-400M."""
    s = hf("minicpm_v_4_6")
    assert s.layer_types == ("linear", "linear", "linear", "full") and s.tie_word_embeddings and s.mtp_layers == 0
    full = 1024 * 4096 + 2 * 1024 * 512 + 2048 * 1024 + 2 * 256
    gdn = 1024 * 6144 + 1024 * 2048 + 2 * 1024 * 16 + 6144 * 4 + 2 * 16 + 128 + 2048 * 1024
    mlp = 3 * 1024 * 3584 + 2 * 1024
    assert params(s) == 6 * full + 18 * gdn + 24 * mlp + 248094 * 1024 + 1024 == 752_161_600
    assert per_token(s) == 6 * 2 * 256 * 2 * 2 == 12_288
    assert s.description == "the text decoder of minicpmv4_6 (read as qwen3_next); the vision tower is left out"


# ------------------------------------------------------------------------------------------------ EXAONE 4.5

def test_exaone_4_5_33b_is_exaone_4_0s_decoder_by_hand():
    """EXAONE 4.5 (text_config exaone4_5_text, read as exaone4): EXAONE-4.0-32B's block (q 5120 -> 40 x 128, k and v
    -> 8 x 128, o back, q/k norms of 128, a gated MLP of 27392, two post-norms) on 64 layers, three 4096-token
    sliding layers to one global, with a vocabulary of 153600 and an untied head. "33B" counts the 28-layer vision
    encoder too."""
    s = hf("exaone_4_5_33b")
    a = s.attention
    assert (a.num_heads, a.num_kv_heads, a.v_head_dim, a.qk_norm, a.sliding_window) == (40, 8, 128, True, 4096)
    assert s.layer_types == ("sliding", "sliding", "sliding", "full") and not s.tie_word_embeddings
    d = 5120
    layer = d * 5120 + 2 * d * 1024 + 5120 * d + 2 * 128 + 3 * d * 27392 + 2 * d
    assert params(s) == 64 * layer + d + 2 * 153600 * d == 32_527_504_384
    assert per_token(s) == 64 * 8 * 128 * 2 * 2 == 262_144
    # 48 sliding layers hold 4096 tokens at most: at 32768 tokens, 16 x 32768 + 48 x 4096 tokens of 4096 B each
    r = kv_report(s, context=32768)
    assert r.per_sequence.k + r.per_sequence.v == (16 * 32768 + 48 * 4096) * 8 * 128 * 2 * 2


def test_exaone_4_5_text_config_without_a_model_type_is_exaone4(tmp_path):
    """Exaone4_5_Config builds its text config as exaone4 where it names none (and renames exaone4_5_text)."""
    c = copy.deepcopy(cfg("exaone_4_5_33b"))
    del c["text_config"]["model_type"]
    assert params(load_spec(write_config(tmp_path, c))) == 32_527_504_384
    c["text_config"]["model_type"] = "exaone4"
    assert params(load_spec(write_config(tmp_path, c))) == 32_527_504_384


# ------------------------------------------------------------------------------------------------ refused by name

def minimax_m3(**text) -> dict:
    """MiniMax-M3's wrapper as its release writes it (MiniMaxM3VLConfig: "The snapshot bundles its sub-configs with
    their original model_types (e.g. ... minimax_m2 for the LLM)"); the text keys as a Rust port's test transcribes
    them (code corpus file id 65940870648)."""
    freq = [0, 0, 0] + [1] * 57
    tc = {"model_type": "minimax_m2", "hidden_size": 6144, "intermediate_size": 3072, "num_hidden_layers": 60,
          "num_attention_heads": 64, "num_key_value_heads": 4, "head_dim": 128, "vocab_size": 200064,
          "rotary_dim": 64, "use_qk_norm": True, "tie_word_embeddings": False, "dense_intermediate_size": 12288,
          "shared_intermediate_size": 3072, "num_local_experts": 128, "num_experts_per_tok": 4, "n_shared_experts": 1,
          "moe_layer_freq": freq, "sparse_attention_config": {
              "use_sparse_attention": True, "sparse_index_dim": 128, "sparse_num_index_heads": 4,
              "sparse_topk_blocks": 16, "sparse_block_size": 128, "sparse_attention_freq": freq}}
    return {"architectures": ["MiniMaxM3VLForConditionalGeneration"], "model_type": "minimax_m3_vl",
            "text_config": {**tc, **text}, "vision_config": {"hidden_size": 1280}}


@pytest.mark.parametrize("text", [
    {},
    # transformers 5's names for the MLP pattern: without moe_layer_freq the text_config's minimax_m2 was read as
    # MiniMax-M2 (443,789,054,976 parameters, no sparse attention, no dense layers) without a word, then refused by
    # name (section 33); read as MiniMaxM3VLTextConfig builds it since (section 39)
    {"moe_layer_freq": None, "mlp_layer_types": ["dense"] * 3 + ["sparse"] * 57},
    {"model_type": "minimax_m3_vl_text"},
    {"model_type": None},
])
def test_minimax_m3_vl_is_its_own_decoder_whatever_its_text_config_calls_itself(tmp_path, text):
    """MiniMaxM3VLConfig pops the text_config's model_type and builds MiniMaxM3VLTextConfig: the release's text keys
    (without sparse_local_block, which takes the class's 1) read as MiniMax-M3's decoder, 426,174,565,632 parameters
    (tests/test_minimax_m3.py works it out by hand), never as MiniMax-M2's 443,789,054,976."""
    assert params(load_spec(write_config(tmp_path, minimax_m3(**text)))) == 426_174_565_632


def ernie_vl_text() -> dict:
    """ERNIE-4.5-VL-28B-A3B's text sizes (Ernie4_5_VLMoeTextConfig's defaults, "baidu/ERNIE-4.5-VL-28B-A3B-PT")."""
    return {"hidden_size": 2560, "intermediate_size": 12288, "num_hidden_layers": 28, "num_attention_heads": 20,
            "num_key_value_heads": 4, "vocab_size": 103424, "moe_num_experts": 64, "moe_k": 6,
            "moe_intermediate_size": [1536, 512], "moe_num_shared_experts": 2, "tie_word_embeddings": True}


@pytest.mark.parametrize("config", [
    {"model_type": "ernie4_5_vl_moe", "text_config": {**ernie_vl_text(), "model_type": "ernie4_5_vl_moe_text"},
     "vision_config": {"depth": 32}},
    {"model_type": "ernie4_5_vl_moe", "text_config": ernie_vl_text(), "vision_config": {"depth": 32}},
    {"model_type": "ernie4_5_vl_moe", **ernie_vl_text(), "vision_config": {"depth": 32}},          # flat
    # Baidu's remote code, as vLLM ernie45_vl.py reads it (moe_num_experts per modality)
    {"model_type": "ernie4_5_moe_vl", **ernie_vl_text(), "moe_num_experts": [64, 64],
     "vision_config": {"depth": 32}},
])
def test_ernie_4_5_vl_is_refused_by_name(tmp_path, capsys, config):
    refused_everywhere(capsys, write_config(tmp_path, config), "ERNIE-4.5-VL's modality-isolated MoE")


def test_glm_image_is_refused_by_name(tmp_path, capsys):
    """GLM-Image's decoder is GLM-4.1V's, but its lm_head has vision_vocab_size (16512) rows beside an embedding of
    vocab_size (168064): GlmImageTextConfig's defaults, text_config named as the wrapper builds it or not at all."""
    text = {"vocab_size": 168064, "vision_vocab_size": 16512, "hidden_size": 4096, "intermediate_size": 13696,
            "num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 2, "attention_bias": True}
    for named in ({"model_type": "glm_image_text"}, {}):
        config = {"model_type": "glm_image", "text_config": {**text, **named}, "vision_config": {"depth": 40},
                  "vq_config": {"embed_dim": 2048}}
        refused_everywhere(capsys, write_config(tmp_path, config), "GLM-Image's output head over vision_vocab_size")


def test_hrm_text_is_refused_by_name(tmp_path, capsys):
    """HRM-Text (HrmTextConfig's defaults): two stacks of 16 layers run 2 x (3 + 1) times, one KV slot a run. It was
    refused on its first unknown key (H_cycles), which named no reason."""
    config = {"model_type": "hrm_text", "vocab_size": 151808, "hidden_size": 1536, "intermediate_size": 4096,
              "num_hidden_layers": 16, "num_attention_heads": 12, "head_dim": 128, "H_cycles": 2, "L_cycles": 3,
              "tie_word_embeddings": False}
    refused_everywhere(capsys, write_config(tmp_path, config), "HRM's recurrent H and L stacks")


def test_step3p7_marking_sparse_layers_is_refused_not_read_as_step3p5(tmp_path, capsys):
    """Step-3.7 (step3p7 around a step3p5 text_config) is read as Step-3.5. One transformers version of
    Step3p7TextConfig (models/step3p7/configuration_step3p7.py, the one that takes MiniMax-M3's
    sparse_attention_config) builds the lightning indexer on the layers ``layer_types`` marks ``minimax_m3_sparse``
    (refused before this round: "layer type(s) minimax_m3_sparse are not modelled") and derives those from
    ``sparse_attention_freq`` only where layer_types is None, after filling layer_types with full_attention itself;
    vLLM's step3p7.py builds the text_config as its Step3p5 decoder, which reads no such block. A block whose
    sparse_attention_freq marks layers asks for an indexer neither engine builds: refused as that, in one line. A
    block marking no layer changes nothing; a block or a freq of the wrong type is one line, not a traceback (a freq
    of 5 ended in TypeError) or a read (a block "yes" was skipped without a word, a freq "x" refused as sparse)."""
    from helpers import fixture_config

    text = fixture_config("step_3_5_flash")
    L = text["num_hidden_layers"]
    wrapped = {"model_type": "step3p7", "vision_config": {"hidden_size": 1536}, "text_config": text}
    dense = params(load_spec(write_config(tmp_path, wrapped)))
    assert dense == params(hf("step_3_5_flash"))
    off = {**text, "sparse_attention_config": {"sparse_attention_freq": [0] * L, "sparse_topk_blocks": 16}}
    assert params(load_spec(write_config(tmp_path, {**wrapped, "text_config": off}))) == dense
    unused = {**text, "sparse_attention_config": {"use_sparse_attention": False, "sparse_attention_freq": [1] * L}}
    assert params(load_spec(write_config(tmp_path, {**wrapped, "text_config": unused}))) == dense
    on = {**text, "sparse_attention_config": {"sparse_attention_freq": [0] * 3 + [1] * (L - 3)}}
    refused_everywhere(capsys, write_config(tmp_path, {**wrapped, "text_config": on}),
                       "model_type step3p5: sparse_attention_config.sparse_attention_freq marks layers for "
                       "MiniMax-M3's lightning indexer, which neither engine builds")
    marked = {**text, "layer_types": ["minimax_m3_sparse"] + text["layer_types"][1:]}
    refused_everywhere(capsys, write_config(tmp_path, {**wrapped, "text_config": marked}),
                       "layer type(s) minimax_m3_sparse are not modelled")


@pytest.mark.parametrize("block, words", [
    ({"sparse_attention_freq": 5}, "sparse_attention_config.sparse_attention_freq must be a list of 0 and 1, one a "
                                   "layer, got 5"),
    ({"sparse_attention_freq": "x"}, "sparse_attention_freq must be a list of 0 and 1, one a layer, got 'x'"),
    ({"sparse_attention_freq": [0, 2]}, "sparse_attention_freq must be a list of 0 and 1, one a layer, got [0, 2]"),
    ("yes", "model_type step3p5: sparse_attention_config must be a mapping, got 'yes'"),
])
def test_step3p5_sparse_attention_config_of_the_wrong_type_is_one_line(tmp_path, capsys, block, words):
    from helpers import fixture_config

    text = {**fixture_config("step_3_5_flash"), "sparse_attention_config": block}
    wrapped = {"model_type": "step3p7", "vision_config": {"hidden_size": 1536}, "text_config": text}
    path = write_config(tmp_path, wrapped)
    refused_everywhere(capsys, path, words)
