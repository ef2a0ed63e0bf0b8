"""LFM2's gated short convolutions (mlacalc/attention/short_conv.py) and the LFM2 readers (lfm2, lfm2_moe, the lfm2-vl
wrapper), worked out by hand on a tiny spec and on the real configs (tests/fixtures/hf/{lfm2_1_2b, lfm2_350m,
lfm2_8b_a1b}), and their invariants.

The tiny short-convolution block: c = 256 channels (the model width), a causal depthwise convolution of L = 3 taps,
beside one GQA layer of 4 heads of 64 over 2 KV heads."""

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.attention import family, pattern
from mlacalc.attention.base import StepShape
from mlacalc.capacity import fit
from mlacalc.errors import SpecError
from mlacalc.hardware import hardware_from_dict
from mlacalc.hf import lfm2_ffn_width
from mlacalc.kv import kv_report
from mlacalc.params import param_counts, params_per_gpu, weights_report
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.step import Step, step_ops

from helpers import make_spec, refused, run, hf_fixture as hf, fixture_config as config

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
GQA = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64}
SC = {"kind": "short_conv", "num_v_heads": 256, "conv_kernel_size": 3}
HIDDEN = 256
# the tiny block's parameters: in_proj 256 x (3 x 256), conv 256 x 3, out_proj 256 x 256; no biases
BLOCK = 256 * 768 + 256 * 3 + 256 * 256
STATE = 256 * (3 - 1) * 2                  # c x (L - 1) inputs of B x kept, bf16: 1,024 B


def hybrid(block: dict | None = None, **extra):
    """Two layers, a short convolution then attention, each with its gated FFN of 512 (LFM2's layout)."""
    return make_spec(GQA, layers=2, layer_types=["linear", "full"], linear_attention=SC | (block or {}), **extra)


def edited(tmp_path, name: str, **changes) -> str:
    """A fixture's config.json with keys replaced (a value of ... deletes the key), written to ``tmp_path``."""
    cfg = config(name)
    for k, v in changes.items():
        if v is ...:
            del cfg[k]
        else:
            cfg[k] = v
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return str(tmp_path)


def ops(spec, phase, batch, context, tp=1):
    return {o.name: o for o in step_ops(spec, Step(phase, batch, context), Parallelism(tp=tp))}


# ------------------------------------------------------------------------------------------------ state and KV

def test_short_conv_state_per_sequence_by_hand():
    # vLLM short_conv_state_shape: (conv_kernel - 1, conv_dim / tp) = 2 x 256, at the model dtype (bf16); no
    # recurrent state
    r = kv_report(hybrid(), context=1000)
    assert r.per_sequence.state == 256 * 2 * 2 == STATE == 1024
    assert r.per_token.state == 0
    assert r.per_sequence.total == 1000 * 2 * 64 * 2 * 2 + STATE          # the GQA layer's K and V, then the state
    assert kv_report(hybrid(dtypes={"state": "fp32"}), 1000).per_sequence.state == 256 * 2 * 4
    # a one-tap convolution keeps no inputs
    assert kv_report(hybrid({"conv_kernel_size": 1}), 1000).per_sequence.state == 0


def test_lfm2_1_2b_state_and_kv_by_hand():
    # the release's full_attn_idxs [2, 5, 8, 10, 12, 14]: 6 GQA layers, the other 16 - 6 = 10 short convolutions
    idxs = config("lfm2_1_2b")["full_attn_idxs"]
    conv_layers = 16 - len(idxs)
    s = hf("lfm2_1_2b")
    assert [i for i in range(16) if s.layer_type(i) == "full"] == idxs == [2, 5, 8, 10, 12, 14]
    assert conv_layers == 10 and s.count_layers("linear") == 10
    state = conv_layers * 2048 * (3 - 1) * 2                  # hidden 2048 channels x (conv_L_cache 3 - 1), bf16
    kv = len(idxs) * 8 * (2048 // 32) * 2 * 2                 # 8 KV heads of 2048 / 32 = 64, K and V, bf16
    r = kv_report(s, context=32_768)
    assert r.per_sequence.state == state == 81_920
    assert r.per_token.total == kv == 12_288
    assert r.per_sequence.total == kv * 32_768 + state
    assert pattern(s) == "10 short conv + 6 GQA-8"


def test_lfm2_8b_a1b_state_and_kv_by_hand():
    # layer_types: full_attention at 2, 6, 10, 14, 18, 21; 18 conv layers of 2048 channels, conv_L_cache 3
    s = hf("lfm2_8b_a1b")
    assert [i for i, t in enumerate(config("lfm2_8b_a1b")["layer_types"]) if t == "full_attention"] == \
        [i for i in range(24) if s.layer_type(i) == "full"] == [2, 6, 10, 14, 18, 21]
    r = kv_report(s, context=4096, batch=3)
    assert r.per_sequence.state == 18 * 2048 * 2 * 2 == 147_456
    assert r.per_token.total == 6 * 8 * 64 * 2 * 2
    assert r.total.total == 3 * (6 * 8 * 64 * 2 * 2 * 4096 + 147_456)


# ------------------------------------------------------------------------------------------------ weights

def test_short_conv_weights_by_hand():
    b = hybrid().linear_attention
    assert family(b).projections(b, HIDDEN) == {"in_proj": 256 * 768, "conv": 256 * 3, "out_proj": 256 * 256}
    # LFM2's conv_bias: in_proj (3 c), the convolution (c) and out_proj (d)
    biased = hybrid({"proj_bias": True, "conv_bias": True}).linear_attention
    assert sum(family(biased).projections(biased, HIDDEN).values()) == BLOCK + 3 * 256 + 256 + 256


def test_lfm2_1_2b_parameters_by_hand():
    """LFM2-1.2B: hidden 2048, vocab 65536 tied, 16 layers. Short conv (10): in_proj 2048 x 6144, conv 2048 x 3,
    out_proj 2048^2. GQA (6): q and out_proj 2048^2, k and v 2048 x 512, q/k norms of 64. MLP on every layer:
    block_ff_dim 12288 -> int(2 x 12288 / 3) = 8192 -> x 1.0 -> rounded up to 256: 8192; w1, w3, w2 of 2048 x 8192.
    Two norms a layer, embedding_norm. The card's "Parameters 1,170,340,608", exactly."""
    d = 2048
    conv = d * 3 * d + d * 3 + d * d
    attn = 2 * d * d + 2 * d * 512 + 2 * 64
    total = 10 * conv + 6 * attn + 16 * 3 * d * 8192 + 16 * 2 * d + d + 65536 * d
    assert weights_report(hf("lfm2_1_2b")).params.total == total == 1_170_340_608


def test_lfm2_350m_parameters_by_hand():
    # hidden 1024, 16 heads of 64 over 8 KV heads, block_ff_dim 6656 -> 4437 -> 4608; the card's 354,483,968
    d = 1024
    conv = d * 3 * d + d * 3 + d * d
    attn = 2 * d * d + 2 * d * 512 + 2 * 64
    total = 10 * conv + 6 * attn + 16 * 3 * d * 4608 + 16 * 2 * d + d + 65536 * d
    assert weights_report(hf("lfm2_350m")).params.total == total == 354_483_968


def test_lfm2_8b_a1b_parameters_by_hand():
    """LFM2-8B-A1B: hidden 2048, 24 layers (18 short conv, 6 GQA as LFM2-1.2B's), tied vocab 65536. FFN: layers 0 and
    1 dense MLPs of intermediate_size 7168 as given (Lfm2MoeMLP: no adjustment); layers 2-23 32 experts of 1792
    (w1, w3, w2) and a 2048 x 32 router; expert_bias is a buffer, not counted. 8,339,929,856: the card's "8.3B total".
    Active: 4 of 32 experts, one embedding row: 1,423,524,608 (the card's "1.5B active" counts the tied head's
    matmul too: + 65536 x 2048 = 1,557,740,288)."""
    d = 2048
    conv = d * 3 * d + d * 3 + d * d
    attn = 2 * d * d + 2 * d * 512 + 2 * 64
    expert = 3 * d * 1792
    total = 18 * conv + 6 * attn + 2 * 3 * d * 7168 + 22 * (32 * expert + d * 32) + 24 * 2 * d + d + 65536 * d
    w = weights_report(hf("lfm2_8b_a1b"))
    assert w.params.total == total == 8_339_929_856
    assert w.active.total == total - 22 * 28 * expert - 65536 * d + d == 1_423_524_608
    s = hf("lfm2_8b_a1b")
    assert [s.is_moe_layer(i) for i in range(4)] == [False, False, True, True] and s.num_moe_layers == 22


@pytest.mark.parametrize("changes,card", [
    # LFM2-700M: hidden 1536, 24 heads of 64 over 8 KV heads, block_ff_dim 10240 -> 6826 -> 6912 (its released
    # shape; no copy of the file is in the corpora, the card's exact total is the check): "742,489,344"
    ({"hidden_size": 1536, "block_dim": 1536, "conv_dim": 1536, "conv_dim_out": 1536, "num_attention_heads": 24,
      "num_heads": 24, "block_ff_dim": 10240}, 742_489_344),
    # LFM2-2.6B: hidden 2048, 30 layers, 22 conv + 8 attention (the card), an MLP of 10752 with the adjustment off
    # (LFM2.5-2.6B's file as a test in the corpus loads it: block_ff_dim 10752, 22 conv and 8 attention layers;
    # which 8 layers attend changes no count): "2,569,272,320"
    ({"num_hidden_layers": 30, "full_attn_idxs": [2, 6, 10, 14, 18, 21, 25, 28], "block_ff_dim": 10752,
      "block_auto_adjust_ff_dim": False}, 2_569_272_320),
])
def test_lfm2_700m_and_2_6b_match_their_cards_exactly(tmp_path, changes, card):
    s = load_spec(edited(tmp_path, "lfm2_1_2b", **changes))
    d, L = s.hidden_size, s.num_layers
    convs, attns = s.count_layers("linear"), s.count_layers("full")
    kv_width = 8 * 64
    by_hand = convs * (4 * d * d + 3 * d) + attns * (2 * d * d + 2 * d * kv_width + 128) + \
        L * (3 * d * s.ffn.intermediate_size + 2 * d) + d + 65536 * d
    assert weights_report(s).params.total == by_hand == card


@pytest.mark.parametrize("width,adjust,multiplier,multiple,built", [
    (12288, True, 1.0, 256, 8192),      # LFM2-1.2B: int(8192.0), already a multiple of 256
    (6656, True, 1.0, 256, 4608),       # LFM2-350M: int(4437.33) = 4437 -> 18 x 256
    (10240, True, 1.0, 256, 6912),      # LFM2-700M: 6826 -> 27 x 256
    (10752, False, 1.0, 256, 10752),    # LFM2-2.6B: no adjustment
    (12288, True, 1.3, 256, 10752),     # 8192 -> int(1.3 x 8192) = 10649 -> 42 x 256
    (6656, True, None, 256, 4437),      # no multiplier: transformers leaves it unrounded
])
def test_lfm2_mlp_width_is_transformers_adjustment(width, adjust, multiplier, multiple, built):
    assert lfm2_ffn_width(width, adjust, multiplier, multiple) == built


def test_block_ff_dim_wins_over_intermediate_size_and_tie_embedding_over_tie_word_embeddings(tmp_path):
    # Lfm2Config: intermediate_size = kwargs.get("block_ff_dim", intermediate_size); 6000 unread beside 12288
    s = load_spec(edited(tmp_path, "lfm2_1_2b", intermediate_size=6000))
    assert s.ffn.intermediate_size == 8192
    # without block_ff_dim: int(2 x 6000 / 3) = 4000 -> rounded up to 256: 4096
    assert load_spec(edited(tmp_path, "lfm2_1_2b", intermediate_size=6000, block_ff_dim=...)).ffn.intermediate_size \
        == 4096
    # tie_embedding false unties the head whatever tie_word_embeddings says: one more 65536 x 2048 matrix
    untied = load_spec(edited(tmp_path, "lfm2_1_2b", tie_embedding=False, tie_word_embeddings=True))
    assert weights_report(untied).params.total == 1_170_340_608 + 65536 * 2048
    # lfm2_moe has no block_ff_dim: its dense layers take intermediate_size as given
    cfg = config("lfm2_8b_a1b") | {"block_ff_dim": 12288}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert load_spec(str(tmp_path)).ffn.intermediate_size == 7168


def test_lfm2_vl_wrapper_reads_its_text_config(tmp_path):
    # Lfm2VlConfig (model_type "lfm2-vl"): text_config.get("model_type", "lfm2"); the vision tower left out
    text = {k: v for k, v in config("lfm2_1_2b").items() if k not in ("model_type", "architectures")}
    cfg = {"architectures": ["Lfm2VlForConditionalGeneration"], "model_type": "lfm2-vl", "text_config": text,
           "vision_config": {"model_type": "siglip2_vision_model", "hidden_size": 1152}, "downsample_factor": 2}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    s = load_spec(str(tmp_path))
    assert weights_report(s).params.total == 1_170_340_608
    assert "the text decoder of lfm2-vl" in s.description and "vision tower is left out" in s.description


# ------------------------------------------------------------------------------------------------ cost

def test_short_conv_decode_cost_by_hand():
    o = ops(hybrid(), "decode", 1, 100)
    # per token: B * x and C * conv (c multiplies each) and the convolution's multiply-add per channel and tap
    assert o["linear_core"].flops == 2 * 256 + 2 * 256 * 3 == 2048
    assert o["linear_core"].kv_bytes == 2 * STATE                 # the state read and written once
    assert o["linear_core"].act_bytes == 8 * 256 * 2              # 2c + c, c + c, 2c + c values, bf16
    assert o["linear_core"].launches == 3                         # B * x, causal_conv1d_update, C * conv
    assert o["linear_in_proj"].flops == 2 * 256 * 768              # B, C and x
    assert o["o_proj"].flops == 2 * 256 * 256 + 2 * 256 * 256     # out_proj of the conv layer, o of the attention
    shape = StepShape(block=hybrid().linear_attention, rules=(), seqs=1, prior=1, new=1, heads=0, head_share=1,
                      kv_share=1, layers=1, wb=2, hb=2, ab=2, kb=2, kv_bits=16, form=None, core_launches=2)
    a = family(SC["kind"]).attention_ops(hybrid(), shape)
    assert (a.norm_width, a.norm_count) == (0, 0)                 # no norm inside the block


def test_short_conv_prefill_is_the_same_work_a_token():
    o = ops(hybrid(), "prefill", 2, 50)
    assert o["linear_core"].flops == 2 * 50 * (2 * 256 + 2 * 256 * 3)
    assert o["linear_core"].kv_bytes == 2 * STATE                 # two fresh sequences: each state written once


def test_lfm2_1_2b_decode_conv_flops_by_hand():
    # 10 conv layers x (2 x 2048 gates + 2 x 2048 x 3 taps) a token
    o = ops(hf("lfm2_1_2b"), "decode", 1, 100)
    assert o["linear_core"].flops == 10 * (2 * 2048 + 2 * 2048 * 3) == 163_840
    assert o["linear_in_proj"].flops == 10 * 2 * 2048 * 3 * 2048


def test_tp_splits_the_channels_and_replicates_out_proj_bias():
    s = hybrid({"proj_bias": True, "conv_bias": True})
    b, fam = s.linear_attention, family(s.linear_attention)
    per_rank = fam.projections_per_rank(b, HIDDEN, Parallelism(tp=2))
    whole = fam.projections(b, HIDDEN)
    assert per_rank["out_proj_bias"] == whole["out_proj_bias"] == 256
    assert per_rank["in_proj"] == whole["in_proj"] / 2 and per_rank["conv"] == 256 * 3 / 2
    assert per_rank["in_proj_bias"] == 768 / 2 and per_rank["conv_bias"] == 128
    attn = (256 * 256 + 2 * 256 * 128 + 256 * 256) / 2               # q, k, v, o of the GQA layer, 2 KV heads split
    assert params_per_gpu(s, Parallelism(tp=2)).attention == sum(per_rank.values()) + attn
    assert kv_report(s, 100, parallel=Parallelism(tp=2)).per_gpu.state == STATE / 2
    assert ops(s, "decode", 4, 100, tp=2)["linear_in_proj"].flops == 2 * 4 * 256 * 768 / 2
    with pytest.raises(Exception, match="cannot split 256 short-convolution channels"):
        fam.check_split(b, 3)


# ------------------------------------------------------------------------------------------------ fit

TOY_GPU = hardware_from_dict({"name": "toy", "memory_bytes": 10_000_000, "mem_bandwidth_gb_s": 1000,
                              "bf16_tflops": 100, "interconnect_gb_s": 100}, "toy")


def test_fit_counts_the_state_a_sequence():
    s = hybrid()
    f = fit(s, TOY_GPU, context=100, workspace_bytes=0)
    params = BLOCK + (2 * 256 * 256 + 2 * 256 * 128) + 2 * 3 * 256 * 512 + 2 * 2 * 256 + 256 + 2 * 1000 * 256
    assert f.weights == params * 2
    per_seq = 100 * 2 * 64 * 2 * 2 + STATE                        # the GQA layer's 100 tokens, the conv state
    assert f.kv_bytes_per_seq == per_seq
    assert f.max_batch == int((0.9 * 10_000_000 - params * 2) // per_seq)


# ------------------------------------------------------------------------------------------------ properties

blocks = st.fixed_dictionaries({"conv_kernel_size": st.integers(1, 8), "conv_bias": st.booleans(),
                                "proj_bias": st.booleans()})


@settings(max_examples=60, deadline=None)
@given(block=blocks, c1=st.integers(1, 10**6), c2=st.integers(1, 10**6))
def test_state_does_not_depend_on_the_context_and_is_the_last_inputs(block, c1, c2):
    s = hybrid(block)
    assert kv_report(s, c1).per_sequence.state == kv_report(s, c2).per_sequence.state == \
        256 * (block["conv_kernel_size"] - 1) * 2


@settings(max_examples=60, deadline=None)
@given(block=blocks, tp=st.sampled_from([1, 2]), batch=st.integers(1, 64))
def test_the_ranks_together_hold_the_state_once(block, tp, batch):
    # the channels split over the ranks: tp GPUs hold one sequence's state exactly once between them
    s = hybrid(block)
    whole = kv_report(s, 10, batch).total.state
    assert kv_report(s, 10, batch, parallel=Parallelism(tp=tp)).per_gpu.state * tp == whole


@settings(max_examples=60, deadline=None)
@given(block=blocks)
def test_block_parameters_are_four_squares_and_the_taps(block):
    # c = d: in_proj 3 d^2, out_proj d^2, conv d L, biases 3 d + d (proj) and d (conv)
    s = hybrid(block)
    b = s.linear_attention
    k = block["conv_kernel_size"]
    expected = 4 * 256 * 256 + 256 * k + (4 * 256 if block["proj_bias"] else 0) + (256 if block["conv_bias"] else 0)
    assert sum(family(b).projections(b, HIDDEN).values()) == expected
    assert param_counts(s).attention == expected + 2 * 256 * 256 + 2 * 256 * 128


@settings(max_examples=40, deadline=None)
@given(block=blocks, new=st.integers(1, 64), batch=st.integers(1, 8))
def test_conv_flops_are_linear_in_the_tokens(block, new, batch):
    s = hybrid(block)
    one = ops(s, "decode", 1, 10)["linear_core"].flops
    assert ops(s, "prefill" if new > 1 else "decode", batch, new if new > 1 else 10)["linear_core"].flops == \
        one * batch * new


# ------------------------------------------------------------------------------------------------ spec rules

@pytest.mark.parametrize("block,words", [
    ({"num_k_heads": 128}, "short_conv has one channel a head"),
    ({"head_v_dim": 2}, "short_conv has one channel a head"),
    ({"num_v_heads": 128, "num_k_heads": 128}, "short_conv's channels (128) must equal hidden_size (256)"),
    ({"dt_rank": 16}, "linear_attention.dt_rank: only applies to kind mamba1, not short_conv"),
    ({"chunk_size": 64}, "linear_attention.chunk_size: only applies to kind mamba2 or lightning, not short_conv"),
    ({"num_v_heads": "x"}, "linear_attention.num_v_heads: expected a whole number"),
])
def test_bad_short_conv_blocks_are_refused(block, words):
    with pytest.raises(SpecError, match=re.escape(words)):
        hybrid(block)


# ------------------------------------------------------------------------------------------------ bad config.json

@pytest.mark.parametrize("name,changes,words", [
    ("lfm2_1_2b", {"conv_L_cache": 0}, "conv_L_cache must be a whole number of at least 1, got 0"),
    ("lfm2_1_2b", {"conv_L_cache": "3"}, "conv_L_cache must be a whole number of at least 1"),
    ("lfm2_1_2b", {"full_attn_idxs": [2, 5, 16]}, "full_attn_idxs names layer 16, outside the 16 layers (0 to 15)"),
    ("lfm2_1_2b", {"full_attn_idxs": [-1]}, "full_attn_idxs names layer -1, outside the 16 layers"),
    ("lfm2_1_2b", {"full_attn_idxs": []}, "a pattern of conv layers alone"),
    ("lfm2_1_2b", {"layer_types": ["conv"] * 15 + ["full_attention"]},
     "layer_types and full_attn_idxs name different attention layers"),
    ("lfm2_350m", {"layer_types": ["conv"] * 15 + ["sliding_attention"]},
     "layer_types entry 'sliding_attention' is not full_attention or conv"),
    ("lfm2_350m", {"layer_types": ["conv", "full_attention"]}, "layer_types names 2 layers for num_hidden_layers 16"),
    ("lfm2_350m", {"conv_dim": 2048}, "conv_dim 2048 differs from hidden_size 1024"),
    ("lfm2_350m", {"head_dim": 128}, "head_dim 128 differs from hidden_size / num_attention_heads (64)"),
    ("lfm2_350m", {"block_ffn_dim_multiplier": None}, "transformers builds the MLP 4437 wide, vLLM rounds it up"),
    ("lfm2_350m", {"block_ffn_dim_multiplier": "x"}, "block_ffn_dim_multiplier must be a positive number or null"),
    ("lfm2_350m", {"block_ffn_dim_multiplier": 1e-9}, "the MLP's width comes to 0"),
    ("lfm2_350m", {"conv_bias": "no"}, "conv_bias must be true or false"),
    ("lfm2_350m", {"quantization_config": {"quant_method": "fp8"}}, "quantized checkpoints of LFM2"),
    ("lfm2_8b_a1b", {"layer_types": ...}, "model_type lfm2_moe: without layer_types its layer pattern is unknown"),
    ("lfm2_8b_a1b", {"num_dense_layers": 25}, "num_dense_layers 25 exceeds num_hidden_layers 24"),
    ("lfm2_8b_a1b", {"num_experts": 0}, "num_experts is 0"),
])
def test_bad_lfm2_configs_are_one_line(capsys, tmp_path, name, changes, words):
    refused(capsys, "kv", edited(tmp_path, name, **changes), words=words)


def test_a_config_without_a_pattern_is_all_attention(tmp_path):
    # Lfm2Config: full_attn_idxs None -> list(range(num_hidden_layers)): every layer attention, no conv
    s = load_spec(edited(tmp_path, "lfm2_1_2b", full_attn_idxs=...))
    assert s.count_layers("full") == 16 and s.linear_attention is None
    assert kv_report(s, 1).per_sequence.state == 0


# ------------------------------------------------------------------------------------------------ CLI

@pytest.mark.parametrize("name,per_token,state", [
    ("lfm2_1_2b", 6 * 8 * 64 * 2 * 2, 10 * 2048 * 2 * 2),
    ("lfm2_350m", 6 * 8 * 64 * 2 * 2, 10 * 1024 * 2 * 2),
    ("lfm2_8b_a1b", 6 * 8 * 64 * 2 * 2, 18 * 2048 * 2 * 2),
])
def test_kv_shows_the_state_a_sequence_and_the_kv_a_token(capsys, name, per_token, state):
    path = str(FIXTURES / name)
    code, out, _, _ = run(capsys, "kv", path, "--context", "4k", "--json")
    kv = json.loads(out)
    assert code in (0, None) and kv["kv_bytes_per_token"] == per_token and kv["parts_per_token"]["state"] == 0
    assert kv["kv_bytes_per_sequence"] == per_token * 4096 + state == kv["parts_per_gpu"]["total"]
    assert kv["parts_per_gpu"]["state"] == state
    code, out, _, _ = run(capsys, "kv", path, "--context", "4k")
    assert "linear-attn state" in out


@pytest.mark.parametrize("name,total", [("lfm2_1_2b", 1_170_340_608), ("lfm2_350m", 354_483_968),
                                        ("lfm2_8b_a1b", 8_339_929_856)])
def test_weights_json_and_table(capsys, name, total):
    code, out, _, _ = run(capsys, "weights", str(FIXTURES / name), "--json")
    w = json.loads(out)
    assert code in (0, None) and w["params_total"] == total and w["weight_bytes_total"] == 2 * total
    code, out, _, _ = run(capsys, "weights", str(FIXTURES / name))
    assert "short conv parameters per linear layer" in out and "in_proj" in out


def test_specs_show_an_lfm2_model(capsys):
    code, out, _, _ = run(capsys, "specs", "show", str(FIXTURES / "lfm2_1_2b"), "--json")
    d = json.loads(out)
    assert d["linear_attention"] == {"kind": "short_conv", "num_k_heads": 2048, "num_v_heads": 2048, "head_k_dim": 1,
                                     "head_v_dim": 1, "conv_kernel_size": 3, "proj_bias": False, "conv_bias": False,
                                     "chunk_size": None, "dt_rank": None, "mixer_norms": None,
                                     "gated_norm": True}
    assert d["attention"]["qk_norm"] and d["ffn"]["intermediate_size"] == 8192 and d["tie_word_embeddings"]


@pytest.mark.parametrize("engine", ["mlacalc", "vllm", "sglang"])
def test_fit_of_lfm2_through_the_cli(capsys, engine):
    code, out, _, _ = run(capsys, "fit", str(FIXTURES / "lfm2_8b_a1b"), "--gpu", "h200", "--tp", "2", "--context",
                          "32k", "--engine", engine, "--json")
    f = json.loads(out)["fits"][0]
    kv, state = 6 * 8 * 64 * 2 * 2 * 32_768, 18 * 2048 * 2 * 2
    budget = f["memory_per_gpu"]["kv_budget"]
    if engine == "vllm":
        # vLLM pages the hybrid (mlacalc.vllm_hybrid): an attention token on one of 2 GPUs 2 x 4 heads x 64 x 2 B =
        # 1,024 B, a convolution's state 1024 channels x 2 x 2 B = 4,096 B: blocks of 16 tokens (16 x 1,024 B is one
        # page); 6 attention and 18 convolution layers in groups of 6: 1 + 3 groups, a block id 6 pages of 16,384 B;
        # a request at 32k holds 32,768 / 16 = 2,048 blocks + 3 states
        assert code in (0, None) and f["kv_bytes_per_seq_per_gpu"] == (2048 + 3) * 6 * 16_384
        assert f["max_batch"] == int(budget // (6 * 16_384)) // (2048 + 3)
        return
    if engine == "sglang":
        # SGLang splits the budget (mlacalc.sglang.SglangHybridPool): state slots of 18 x 4,096 B = 73,728 B (no
        # recurrent state) take 0.9 / 1.9 of it, tokens of 6 x 1,024 B the rest; three slots a running request
        slots = int(budget * 0.9 / 1.9 // 73_728)
        tokens = int((budget - slots * 73_728) // 6144)
        assert code in (0, None) and f["kv_bytes_per_seq_per_gpu"] == 32_768 * 6144 + 73_728
        assert f["max_batch"] == min(tokens // 32_768, slots // 3)
        return
    assert code in (0, None) and f["kv_bytes_per_seq_per_gpu"] == (kv + state) / 2    # KV heads and channels split
    assert f["max_batch"] == int(budget // f["kv_bytes_per_seq_per_gpu"])


def test_roofline_of_lfm2(capsys):
    code, out, _, _ = run(capsys, "roofline", str(FIXTURES / "lfm2_1_2b"), "--gpu", "h200", "--batch", "8",
                          "--context", "8k", "--json")
    r = json.loads(out)
    core = {o["name"]: o for o in r["ops"]}["linear_core"]
    assert code in (0, None) and core["flops"] == 8 * 163_840


@pytest.mark.parametrize("args,words", [
    (("train", "lfm2_1_2b"), "training memory of short conv layers is not modelled"),
    (("profile", "lfm2_1_2b"), "lfm2_1_2b has linear layers; profile builds and runs attention layers"),
    (("profile", "lfm2_8b_a1b", "--whole-step"), "--whole-step does not build linear layers"),
    (("kv", "lfm2_1_2b", "--tp", "3"), "cannot split"),
])
def test_what_is_not_modelled_is_one_line(capsys, args, words):
    cmd, model, *rest = args
    refused(capsys, cmd, str(FIXTURES / model), *rest, words=words)
