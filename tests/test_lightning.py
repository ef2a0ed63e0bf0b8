"""Lightning attention layers (mlacalc/attention/lightning.py: MiniMax-Text-01, MiniMax-M1), worked out by hand on a
tiny spec, and their invariants as property tests.

The tiny lightning block: 4 heads of 32 dims (H d = 128), beside a GQA layer of 4 query / 2 KV heads of 32, in a
model of width 256."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.attention import family, pattern
from mlacalc.errors import SpecError
from mlacalc.kv import kv_report
from mlacalc.params import param_counts, params_per_gpu, weights_report
from mlacalc.parallel import Parallelism
from mlacalc.step import Step, step_ops

from helpers import lightning_blocks, make_spec, refused

GQA = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 32}
LIGHTNING = {"kind": "lightning", "num_k_heads": 4, "num_v_heads": 4, "head_k_dim": 32, "head_v_dim": 32}
HIDDEN = 256
MINIMAX_M1 = __file__.rsplit("/", 1)[0] + "/fixtures/hf/minimax_m1"


def hybrid(**block):
    """Two layers, lightning then GQA, each with a gated FFN of 512 (MiniMax's layout, shrunk)."""
    return make_spec(GQA, layers=2, layer_types=["linear", "full"], linear_attention=LIGHTNING | block)


def ops(spec, phase, batch, context, tp=1):
    return {o.name: o for o in step_ops(spec, Step(phase, batch, context), Parallelism(tp=tp))}


# ------------------------------------------------------------------------------------------------ state and weights

def test_lightning_state_per_sequence_by_hand():
    # one 32 x 32 matrix a head: 4 x 32 x 32 = 4096 elements, bf16 (vLLM linear_attention_state_dtype: the model
    # dtype), no convolution state
    r = kv_report(hybrid(), context=1000)
    assert r.per_sequence.state == 4 * 32 * 32 * 2 == 8192
    assert r.per_token.state == 0
    # the GQA layer: 2 KV heads x 32 x (K, V) x 2 bytes = 256 B a token
    assert r.per_token.total == 256 and r.per_sequence.total == 1000 * 256 + 8192
    assert kv_report(hybrid(), 1000, state_bits=32).per_sequence.state == 4 * 32 * 32 * 4


def test_lightning_conv_width_defaults_to_none():
    # no conv_kernel_size in the spec: lightning has no short convolution, so 1 (no inputs kept), not the other
    # kinds' 4; a spec dumped and loaded back keeps it
    s = hybrid()
    assert s.linear_attention.conv_kernel_size == 1
    assert family(s.linear_attention).state_elements(s.linear_attention) == (4096, 0)


def test_lightning_weights_by_hand():
    # qkv_proj 256 x 3 x 128, output_gate 256 x 128, the RMSNorm over all heads 128, out_proj 128 x 256 (vLLM
    # MiniMaxText01LinearAttention, transformers MiniMaxLightningAttention); no biases, no convolution
    b = hybrid().linear_attention
    assert family(b).projections(b, HIDDEN) == {"qkv_proj": 256 * 384, "output_gate": 256 * 128, "norm": 128,
                                                "out_proj": 128 * 256}


def test_hybrid_parameter_total_by_hand():
    lightning = 256 * 384 + 256 * 128 + 128 + 128 * 256                # 163,968
    attn = 256 * 128 + 2 * 256 * 64 + 128 * 256                        # q, k, v, o: 98,304
    ffn = 3 * 256 * 512
    total = lightning + attn + 2 * ffn + 2 * 2 * 256 + 256 + 2 * 1000 * 256
    assert param_counts(hybrid()).total == total == 1_561_984
    assert pattern(hybrid()) == "1 lightning + 1 GQA-2"


@pytest.mark.parametrize("block,words", [
    ({"num_v_heads": 8}, "lightning has one head dim for q, k and v and as many value heads as key heads"),
    ({"head_v_dim": 64}, "lightning has one head dim for q, k and v"),
    ({"conv_kernel_size": 4}, "linear_attention.conv_kernel_size: lightning attention has no short convolution"),
    ({"proj_bias": True}, "linear_attention.proj_bias: only applies to kind mamba2 or mamba1 or short_conv, not lightning"),
    ({"conv_bias": True}, "linear_attention.conv_bias: only applies to kind mamba2 or mamba1 or short_conv, not lightning"),
])
def test_lightning_fields_it_cannot_take_are_refused(block, words):
    with pytest.raises(SpecError, match=words):
        hybrid(**block)


def test_chunk_size_is_refused_on_kinds_without_chunks():
    gdn = {"kind": "gated_deltanet", "num_k_heads": 2, "num_v_heads": 4, "head_k_dim": 16, "head_v_dim": 16}
    with pytest.raises(SpecError, match="chunk_size: only applies to kind mamba2 or lightning, not gated_deltanet"):
        make_spec(GQA, layers=2, layer_types=["linear", "full"], linear_attention=gdn | {"chunk_size": 64})


# ------------------------------------------------------------------------------------------------ cost (roofline)

def test_lightning_decode_cost_by_hand():
    # per token and head: kv = decay kv + k^T v, o = q kv: 5 d^2 FLOPs (decay 1, update 2, read-out 2); no
    # convolution; the state (4096 elements, bf16) read and written once
    core = ops(hybrid(), "decode", 1, 100)["linear_core"]
    assert core.flops == 4 * 5 * 32 * 32 == 20_480
    assert core.kv_bytes == 2 * 8192
    # q, k, v and the output gate in one GEMM of 4 x 128 outputs
    assert ops(hybrid(), "decode", 1, 100)["linear_in_proj"].flops == 2 * 256 * 512


def test_lightning_prefill_cost_by_hand():
    # blocks of B = 16: per token and head 4 d^2 (q kv and the block's k^T v) + 4 B d (the masked q k^T and its
    # product with v inside the block); 50 tokens of a fresh sequence: the state is written, not read
    core = ops(hybrid(chunk_size=16), "prefill", 1, 50)["linear_core"]
    per_token = 4 * (4 * 32 * 32 + 4 * 16 * 32)
    assert per_token == 24_576 and core.flops == 50 * per_token
    assert core.kv_bytes == 8192
    # without a block the vLLM default of 256
    default = ops(hybrid(), "prefill", 1, 50)["linear_core"]
    assert default.flops == 50 * 4 * (4 * 32 * 32 + 4 * 256 * 32)


def test_tp_splits_the_lightning_heads_and_its_norm():
    s = hybrid()
    whole, half = params_per_gpu(s, Parallelism()), params_per_gpu(s, Parallelism(tp=2))
    assert half.attention == whole.attention / 2          # every lightning tensor, the norm too (MiniMaxText01RMSNormTP)
    with pytest.raises(Exception, match="cannot split 4 linear-attention key heads"):
        weights_report(s, parallel=Parallelism(tp=8))
    assert kv_report(s, 100, parallel=Parallelism(tp=2)).per_gpu.state == 8192 / 2


def test_minimax_m1_state_splits_over_eight_ranks():
    # 64 heads over TP=8: 8 heads a rank, 70 x 8 x 128 x 128 x 2 bytes = 18,350,080 B of state a sequence a rank
    from mlacalc.spec import load_spec

    r = kv_report(load_spec(MINIMAX_M1), 4096, parallel=Parallelism(tp=8))
    assert r.per_gpu.state == 70 * 8 * 128 * 128 * 2 == 18_350_080


# ------------------------------------------------------------------------------------------------ bad --set values

@pytest.mark.parametrize("setting,words", [
    ("linear_attention.head_k_dim=-128", "linear_attention.head_k_dim: must be at least 1, got -128"),
    ("linear_attention.conv_kernel_size=4", "lightning attention has no short convolution"),
    ("linear_attention.num_v_heads=32", "lightning has one head dim for q, k and v"),
    ("linear_attention.chunk_size=0", "linear_attention.chunk_size: must be at least 1, got 0"),
    ("linear_attention.kind=lightening", "linear_attention.kind: must be one of"),
])
def test_bad_lightning_settings_are_one_line(capsys, setting, words):
    for cmd in ("kv", "weights", "roofline"):
        refused(capsys, cmd, MINIMAX_M1, "--set", setting, words=words)


# ------------------------------------------------------------------------------------------------ properties

@settings(max_examples=60, deadline=None)
@given(block=lightning_blocks)
def test_lightning_state_is_one_square_matrix_a_head(block):
    # H d d elements, bf16 (vLLM MambaStateShapeCalculator.linear_attention_state_shape at tp=1), nothing else
    s = make_spec(GQA, layers=2, layer_types=["linear", "full"], linear_attention=block)
    h, d = block["num_v_heads"], block["head_k_dim"]
    assert kv_report(s, 10).per_sequence.state == 2 * h * d * d


@settings(max_examples=60, deadline=None)
@given(block=lightning_blocks, batch=st.integers(1, 64), context=st.integers(1, 10**5))
def test_lightning_decode_flops_grow_with_the_batch_not_the_context(block, batch, context):
    s = make_spec(GQA, layers=2, layer_types=["linear", "full"], linear_attention=block)
    one = ops(s, "decode", 1, context)["linear_core"].flops
    assert ops(s, "decode", batch, context)["linear_core"].flops == batch * one
    assert ops(s, "decode", 1, context + 1000)["linear_core"].flops == one


def test_a_lightning_spec_dumped_loads_back_the_same():
    # specs show --json writes conv_kernel_size 1 and chunk_size null; loading that back gives the same spec
    from mlacalc.spec import load_spec, spec_from_dict, spec_to_dict

    s = load_spec(MINIMAX_M1)
    assert spec_from_dict(spec_to_dict(s)) == s
