"""Apple's OpenELM (model_type openelm) and Nemotron-NAS's per-block K/V heads, read as ``attention.layer_heads``,
worked out by hand on the fixtures (tests/fixtures/hf/openelm_*: SOURCE.md says which are copied and which assembled).

What an OpenELM layer holds (Apple's modeling_openelm.py, code corpus file id 2573748740): ``qkv_proj`` ``d x (q + 2
kv) h``, ``out_proj`` ``q h x d`` (no biases), ``q_norm`` and ``k_norm`` of ``h`` (normalize_qk_projections), a gated
FFN ``proj_1`` ``d x 2f`` and ``proj_2`` ``f x d``, ``attn_norm`` and ``ffn_norm`` of d. The model: the token
embedding ``V d``, shared with the output (share_input_output_layers), a final norm d. Per layer q, kv and f come from
Apple's configuration_openelm.py (file id 2824045709): ``make_divisible(v, divisor) = max(divisor, int(v + divisor /
2) // divisor * divisor)``, one divisor more where that is under ``0.9 v``."""

import json
from pathlib import Path

import pytest

from mlacalc.hf import openelm_layer_heads, openelm_make_divisible, openelm_multipliers
from mlacalc.kv import kv_report
from mlacalc.parallel import Parallelism
from mlacalc.params import param_counts
from mlacalc.spec import load_spec
from mlacalc.step import Step, step_ops

from helpers import refused, run, hf_fixture as hf, fixture_config as config, write_config as write

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
V = 32000


def runs(*pairs) -> list:
    """[value] * count for each (value, count): a per-layer list written by its runs."""
    return [v for v, n in pairs for _ in range(n)]


# --- Apple's rules ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("v,divisor,out", [
    (640.0, 256, 768),        # int(640 + 128) = 768 = 3 x 256
    (857.6, 256, 1024),       # int(985.6) // 256 = 3 -> 768, under 0.9 x 857.6 = 771.84: one more, 1024
    (806.4, 256, 768),        # int(934.4) // 256 = 3 -> 768, over 725.76: kept
    (4485.12, 256, 4608),     # 1.1B's layer 13 FFN, 2.19 x 2048: int(4613.12) // 256 = 18 -> 4608
    (4730.88, 256, 4608),     # layer 14, 2.31 x 2048: int(4858.88) // 256 = 18 -> 4608 (two layers alike)
    (10.0, 256, 256),         # at least one divisor
])
def test_make_divisible_is_mobilenets_rule(v, divisor, out):
    assert openelm_make_divisible(v, divisor) == out


def test_multipliers_expand_as_numpy_linspace_rounded():
    # OpenELM-1.1B-Instruct's file (the MLX copy, field for field) holds __post_init__'s expansion of (0.5, 4.0)
    assert openelm_multipliers([0.5, 4.0], 28) == config("openelm_1_1b_instruct")["ffn_multipliers"] == [
        0.5, 0.63, 0.76, 0.89, 1.02, 1.15, 1.28, 1.41, 1.54, 1.67, 1.8, 1.93, 2.06, 2.19, 2.31, 2.44, 2.57, 2.7, 2.83,
        2.96, 3.09, 3.22, 3.35, 3.48, 3.61, 3.74, 3.87, 4.0]
    assert openelm_multipliers(2.5, 3) == [2.5, 2.5, 2.5]            # a number: every layer
    assert openelm_multipliers([1, 2, 3], 3) == [1, 2, 3]            # one a layer: as given


def test_heads_from_qkv_multipliers_match_the_released_lists():
    # 1.1B-Instruct: 2048 x m over divisor 64 x 4 = 256; layer 0 m 0.5: 1024 -> 16 heads, 4 K/V heads; layer 27 m 1.0:
    # 2048 -> 32 and 8. The file's lists (MLX copy):
    cfg = config("openelm_1_1b_instruct")
    q = runs((16, 3), (20, 7), (24, 8), (28, 6), (32, 4))
    assert cfg["num_query_heads"] == q and cfg["num_kv_heads"] == [h // 4 for h in q]
    assert openelm_layer_heads(2048, 64, [0.5, 1.0], 4, 28) == [[h, h // 4] for h in q]


# --- the four models by hand ----------------------------------------------------------------------------------

# (fixture, layers, d, head_dim, query heads by runs, FFN widths). Widths: make_divisible(m x d, 256) of the expanded
# ffn_multipliers; 270M's worked out here (1280 x 0.5 = 640 -> 768, x 0.73 = 934.4 -> int(1062.4) // 256 = 4 -> 1024,
# ..., x 4.0 = 5120), the others as a GTEN converter's MODELS_CONFIG lists them (code corpus file id 2777741477)
MODELS = [
    ("openelm_270m", 16, 1280, 64, runs((12, 5), (16, 7), (20, 4)),
     [768, 1024, 1280, 1536, 1792, 2048, 2560, 2816, 3072, 3328, 3584, 3840, 4352, 4608, 4864, 5120]),
    ("openelm_450m", 20, 1536, 64, runs((12, 3), (16, 7), (20, 6), (24, 4)),
     [768, 1024, 1280, 1536, 1792, 2304, 2560, 2816, 3072, 3328, 3584, 3840, 4096, 4352, 4608, 5120, 5376, 5632,
      5888, 6144]),
    ("openelm_1_1b_instruct", 28, 2048, 64, runs((16, 3), (20, 7), (24, 8), (28, 6), (32, 4)),
     [1024, 1280, 1536, 1792, 2048, 2304, 2560, 2816, 3072, 3328, 3584, 3840, 4096, 4608, 4608, 5120, 5376, 5632,
      5888, 6144, 6400, 6656, 6912, 7168, 7424, 7680, 7936, 8192]),
    ("openelm_3b", 36, 3072, 128, runs((12, 4), (16, 14), (20, 12), (24, 6)),
     [1536, 1792, 2048, 2560, 2816, 3072, 3328, 3584, 4096, 4352, 4608, 4864, 5120, 5632, 5888, 6144, 6400, 6656,
      7168, 7424, 7680, 7936, 8192, 8704, 8960, 9216, 9472, 9728, 10240, 10496, 10752, 11008, 11264, 11776, 12032,
      12288]),
]
TOTALS = {"openelm_270m": 271_527_168, "openelm_450m": 457_179_136, "openelm_1_1b_instruct": 1_079_891_456,
          "openelm_3b": 3_036_647_424}


@pytest.mark.parametrize("name,L,d,h,q,widths", MODELS)
def test_reads_each_layers_heads_and_width(name, L, d, h, q, widths):
    s = hf(name)
    a = s.attention
    assert (s.num_layers, s.hidden_size, s.vocab_size, s.tie_word_embeddings, s.max_context) == (L, d, V, True, 2048)
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_rope_head_dim, a.qk_nope_head_dim, a.v_head_dim) == \
        ("gqa", max(q), max(q) // 4, h, 0, h)                         # RoPE over the whole head
    assert a.qk_norm and not a.qkv_bias and not a.o_bias
    assert a.layer_heads == tuple((x, x // 4) for x in q)              # num_gqa_groups 4: 4 query heads a K/V head
    assert s.ffn.layer_widths == tuple(widths) and s.ffn.intermediate_size == max(widths) and s.ffn.gated
    assert "openelm" in s.description


@pytest.mark.parametrize("name,L,d,h,q,widths", MODELS)
def test_parameters_by_hand(name, L, d, h, q, widths):
    layers = sum(d * (x + 2 * (x // 4)) * h + x * h * d + 2 * h + 3 * d * f + 2 * d for x, f in zip(q, widths))
    total = layers + V * d + d                                        # tied embedding, final norm
    assert total == TOTALS[name]                                      # the names: 270M, 450M, 1.1B, 3B
    assert param_counts(hf(name)).total == total


@pytest.mark.parametrize("name,L,d,h,q,widths", MODELS)
def test_kv_per_token_by_hand(name, L, d, h, q, widths):
    # K and V of each layer's K/V heads (a quarter of its query heads), 2 bytes each
    assert kv_report(hf(name), context=1).per_token.total == sum(2 * (x // 4) * h * 2 for x in q)


def test_270m_kv_at_its_context_and_over_two_stages():
    s = hf("openelm_270m")
    # 5 x 3 + 7 x 4 + 4 x 5 = 63 K/V heads of 64: 63 x 64 x 2 x 2 = 16,128 B a token, 2048 tokens
    assert kv_report(s, 2048).per_sequence.total == 2048 * 63 * 64 * 2 * 2 == 33_030_144
    # pp 2: layers 0-7 hold 5 x 3 + 3 x 4 = 27 K/V heads, layers 8-15 4 x 4 + 4 x 5 = 36: the fullest stage's
    assert kv_report(s, 2048, parallel=Parallelism(pp=2)).per_gpu.total == 2048 * 36 * 64 * 2 * 2


def test_270m_decode_step_by_hand():
    s = hf("openelm_270m")
    q = runs((12, 5), (16, 7), (20, 4))
    ops = {o.name: o for o in step_ops(s, Step("decode", 4, 1000))}
    # qkv_proj: 2 T d (q + 2 kv) 64 a layer, T = 4 tokens; o_proj 2 T (q 64) d; the core 2 q (64 + 64) per pair, 1001
    # keys a sequence
    assert ops["qkv_proj"].flops == sum(2 * 4 * 1280 * (x + 2 * (x // 4)) * 64 for x in q)
    assert ops["o_proj"].flops == sum(2 * 4 * x * 64 * 1280 for x in q)
    assert ops["attn_core"].flops == sum(2 * 4 * x * 1001 * 128 for x in q)
    # the FFN at each layer's width: 2 T 3 d f summed
    assert ops["ffn"].flops == pytest.approx(sum(2 * 4 * 3 * 1280 * f for f in MODELS[0][5]))


def test_tensor_parallelism_is_refused_naming_the_layer(capsys):
    # every OpenELM has a layer of 3 or 5 K/V heads: no tp above 1 shares them all evenly
    refused(capsys, "kv", str(FIXTURES / "openelm_270m"), "--tp", "2",
            words="--tp: 2 ranks cannot share layer 0's 3 KV heads evenly")
    refused(capsys, "kv", str(FIXTURES / "openelm_1_1b_instruct"), "--tp", "4",
            words="--tp: 4 ranks cannot share layer 3's 5 KV heads evenly")
    refused(capsys, "kv", str(FIXTURES / "openelm_1_1b_instruct"), "--tp", "8",
            words="--tp: 8 ranks cannot split layer 3's 20 query heads")
    # data-parallel attention splits no head
    code, out, _, _ = run(capsys, "kv", str(FIXTURES / "openelm_270m"), "--tp", "2", "--dp-attention", "--json")
    assert code == 0 and json.loads(out)["kv_bytes_per_gpu"] == 4096 * 63 * 64 * 2 * 2


def test_as_gives_each_layer_the_targets_kv_heads(capsys):
    def kv(target):
        code, out, _, _ = run(capsys, "kv", str(FIXTURES / "openelm_270m"), "--as", target, "--context", "1", "--json")
        assert code == 0
        return json.loads(out)["kv_bytes_per_token"]

    assert kv("mha") == (5 * 12 + 7 * 16 + 4 * 20) * 64 * 2 * 2        # one K/V head a query head
    assert kv("mqa") == 16 * 64 * 2 * 2
    assert kv("gqa:4") == 16 * 4 * 64 * 2 * 2                          # 12, 16 and 20 heads each over 4
    refused(capsys, "kv", str(FIXTURES / "openelm_270m"), "--as", "gqa:8",
            words="attention.layer_heads[0]: 12 heads must be a multiple of 8 K/V heads")


def test_cli_end_to_end(capsys):
    path = str(FIXTURES / "openelm_3b")
    for args in (("kv", path, "--context", "2k"), ("weights", path), ("roofline", path, "--gpu", "h100", "-c", "2k"),
                 ("fit", path, "--gpu", "h100", "--context", "2k"), ("specs", "show", path),
                 ("compare", path, str(FIXTURES / "openelm_270m"), "-c", "2k"),
                 ("kv", path, "--pp", "3", "--json", "-c", "2k"), ("weights", path, "--pp", "2", "--json"),
                 ("roofline", path, "--gpu", "h100", "--phase", "prefill", "-c", "2k", "--json")):
        code, out, err, _ = run(capsys, *args)
        assert code == 0 and err == "" and out, (args, err)
    code, out, _, _ = run(capsys, "compare", path, str(FIXTURES / "openelm_270m"), "--context", "2k", "--json")
    rows = json.loads(out)["models"]
    assert [r["attention_pattern"] for r in rows] == ["4 GQA-3 + 14 GQA-4 + 12 GQA-5 + 6 GQA-6",
                                                      "5 GQA-3 + 7 GQA-4 + 4 GQA-5"]


# --- refusals of malformed configs, one line each ----------------------------------------------------------

@pytest.mark.parametrize("change,words", [
    ({"num_query_heads": runs((12, 6), (16, 6), (20, 4))}, "num_query_heads [12, 12, 12, 12,"),
    ({"num_kv_heads": [3] * 16}, "contradicts qkv_multipliers"),
    ({"qkv_multipliers": [0.5, 0.75, 1.0]}, "qkv_multipliers must be a number or two numbers"),
    ({"ffn_multipliers": [1.0] * 5}, "ffn_multipliers must be a number, two numbers or one a layer (16), got 5"),
    ({"ffn_multipliers": [0.5, "4"]}, "ffn_multipliers must hold positive numbers"),
    ({"qkv_multipliers": -1}, "qkv_multipliers must hold positive numbers"),
    ({"model_dim": 0}, "model_dim must be a whole number of at least 1"),
    ({"num_transformer_layers": "16"}, "num_transformer_layers must be a whole number"),
    ({"num_transformer_layers": 10**6}, "num_transformer_layers must be at most 10,000"),
    ({"share_input_output_layers": "yes"}, "share_input_output_layers must be true or false"),
    ({"sliding_window": 512}, "key sliding_window is not one OpenELM's config has"),
    ({"quantization": {"group_size": 64, "bits": 4}}, "quantized checkpoints of OpenELM"),
])
def test_malformed_configs_are_refused_in_one_line(capsys, tmp_path, change, words):
    refused(capsys, "kv", write(tmp_path, config("openelm_270m") | change), words=words)


def test_lists_a_config_leaves_out_are_derived(tmp_path):
    """OpenELMConfig derives the head lists whatever the file says; a file without them reads the same."""
    cfg = config("openelm_450m")
    for k in ("num_query_heads", "num_kv_heads"):
        cfg.pop(k)
    assert load_spec(write(tmp_path, cfg)).attention == hf("openelm_450m").attention


def test_training_is_refused_in_one_line(capsys):
    refused(capsys, "train", str(FIXTURES / "openelm_270m"), words="is not modelled")


# --- Nemotron-NAS: n_heads_in_group per block ---------------------------------------------------------------

SUPER = "llama_3_3_nemotron_super_49b"


def test_nas_kv_heads_that_differ_by_block_are_read(tmp_path):
    """Super-49B with block 1's n_heads_in_group 16 (DeciLMAttention: 64 // 16 = 4 K/V heads) and block 2's 64 (1):
    read as attention.layer_heads, null on its 31 no_op layers, instead of refused."""
    cfg = config(SUPER)
    cfg["block_configs"][1]["attention"]["n_heads_in_group"] = 16
    cfg["block_configs"][2]["attention"]["n_heads_in_group"] = 64
    s, base = load_spec(write(tmp_path, cfg)), hf(SUPER)
    assert s.layer_heads[0] == (64, 8) and s.layer_heads[1] == (64, 4) and s.layer_heads[2] == (64, 1)
    assert s.layer_heads[6] is None and s.layer_type(6) == "ffn"        # attention no_op
    assert (s.attention.num_heads, s.attention.num_kv_heads) == (64, 8)
    # K/V: 47 layers of 8 heads, one of 4, one of 1, 128 each, K and V at 2 bytes (49 layers of 8 before)
    assert kv_report(s, 1).per_token.total == (47 * 8 + 4 + 1) * 128 * 2 * 2
    assert kv_report(base, 1).per_token.total == 49 * 8 * 128 * 2 * 2
    # k and v: 2 x 8192 x 128 a K/V head fewer
    assert param_counts(base).total - param_counts(s).total == 2 * 8192 * 128 * ((8 - 4) + (8 - 1))


def test_nas_replace_with_linear_is_still_refused(capsys, tmp_path):
    cfg = config(SUPER)
    cfg["block_configs"][11]["attention"] = {"no_op": False, "replace_with_linear": True}
    refused(capsys, "weights", write(tmp_path, cfg), words="replace_with_linear")


@pytest.mark.parametrize("key,words", [
    # OpenELMConfig keeps an explicit None (only an absent key takes __init__'s default), and then:
    # q_heads // None in __post_init__ (TypeError) -- was read as the default 1, an MHA cache 4x the model's
    # (270M: 63 x 4 = 252 K/V heads, 64,512 B a token, not 16,128)
    ("num_gqa_groups", "num_gqa_groups must be a whole number of at least 1, got None"),
    # `if config.ffn_with_glu` is false for None: proj_1 d x f, an ungated FFN -- was read as the default, gated
    ("ffn_with_glu", "ffn_with_glu must be true or false, got None"),
    ("share_input_output_layers", "share_input_output_layers must be true or false, got None"),
    # make_divisible(None x m, ...), np.linspace(..., num=None), a multiplier neither a number nor a list: raised
    ("model_dim", "model_dim must be a whole number of at least 1, got None"),
    ("num_transformer_layers", "num_transformer_layers must be a whole number of at least 1, got None"),
    ("qkv_multipliers", "qkv_multipliers must hold positive numbers, got None"),
    ("ffn_multipliers", "ffn_multipliers must hold positive numbers, got None"),
])
def test_a_null_size_key_is_refused_not_read_as_its_default(capsys, tmp_path, key, words):
    refused(capsys, "kv", write(tmp_path, config("openelm_270m") | {key: None}), words=words)


def test_null_keys_that_size_nothing_are_still_read(tmp_path):
    # num_query_heads None is OpenELMConfig's own default (derived in __post_init__); bookkeeping keys change no size
    cfg = config("openelm_270m") | {"num_query_heads": None, "num_kv_heads": None, "bos_token_id": None}
    assert param_counts(load_spec(write(tmp_path, cfg))).total == 271_527_168


def test_pretrained_config_bookkeeping_keys_are_read(tmp_path):
    """Keys PretrainedConfig saves beside OpenELMConfig's own when set (a fine-tune's ``pad_token_id``, a
    ``tokenizer_class``, ``output_attentions``...) size nothing: the other readers take them (hf.GENERIC_KEYS), this
    one refused them as keys "OpenELM's config" does not have."""
    cfg = config("openelm_270m") | {"pad_token_id": 0, "tokenizer_class": "LlamaTokenizer", "return_dict": True,
                                    "output_attentions": False, "output_hidden_states": False,
                                    "id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}, "problem_type": None}
    assert param_counts(load_spec(write(tmp_path, cfg))).total == 271_527_168


def test_nas_config_without_its_layer_count_is_refused_in_one_line(capsys, tmp_path):
    # block_configs is read against num_hidden_layers: without it the reader raised KeyError (a traceback)
    cfg = config(SUPER)
    cfg.pop("num_hidden_layers")
    refused(capsys, "kv", write(tmp_path, cfg), words="has no num_hidden_layers")
