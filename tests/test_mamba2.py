"""Mamba-2 layers (mlacalc/attention/mamba2.py) and one-block-per-layer models (Nemotron-H's ffn layers), worked
out by hand on tiny specs, and their invariants as property tests.

The tiny Mamba-2 block: 4 heads of 16 channels (I = 64), 2 groups of B and C with a 32-dim state, a width-4
convolution over I + 2 x 2 x 32 = 192 channels."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.attention import family, layer_groups, pattern
from mlacalc.errors import SpecError
from mlacalc.kv import kv_report
from mlacalc.params import param_counts, params_per_gpu, weights_report
from mlacalc.parallel import Parallelism
from mlacalc.step import Step, step_ops

from helpers import lightning_blocks, make_spec, mamba_blocks

GQA = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 32}
M2 = {"kind": "mamba2", "num_k_heads": 2, "num_v_heads": 4, "head_k_dim": 32, "head_v_dim": 16,
      "conv_kernel_size": 4, "conv_bias": True}
CONV_DIM = 4 * 16 + 2 * 2 * 32          # x (H P = 64), B and C (G N = 64 each): 192 channels
HIDDEN = 256


def hybrid(**extra):
    """Two layers, Mamba-2 then attention, each with its gated FFN of 512 (Bamba's and Granite-4.0-H's layout)."""
    return make_spec(GQA, layers=2, layer_types=["linear", "full"], linear_attention=M2 | extra.pop("block", {}),
                     **extra)


def one_block(ffn: dict | None = None, **extra):
    """Nemotron-H's layout, 4 layers of one block each: Mamba-2, MLP, attention, MLP (pattern "M-*-"); a non-gated
    MLP of 512 unless ``ffn`` is given."""
    return make_spec(GQA, layers=4, layer_types=["linear", "ffn", "full", "ffn"], linear_attention=M2,
                     ffn=ffn or {"kind": "dense", "intermediate_size": 512, "gated": False}, norms_per_layer=1,
                     **extra)


def ops(spec, phase, batch, context, tp=1):
    return {o.name: o for o in step_ops(spec, Step(phase, batch, context), Parallelism(tp=tp))}


# ------------------------------------------------------------------------------------------------ state and weights

def test_mamba2_state_per_sequence_by_hand():
    # SSM state H x P x N = 4 x 16 x 32 = 2048 elements, conv state (K - 1) x conv_dim = 3 x 192 = 576, bf16
    r = kv_report(hybrid(), context=1000)
    assert r.per_sequence.state == (4 * 16 * 32 + 3 * 192) * 2 == 5248
    assert r.per_token.state == 0                                      # nothing grows with the context
    # the SSM state at fp32 (vLLM's Nemotron-H default), the convolution at the model's bf16
    fp32 = kv_report(hybrid(dtypes={"ssm_state": "fp32"}), context=1000)
    assert fp32.per_sequence.state == 4 * 16 * 32 * 4 + 3 * 192 * 2 == 9344
    # an explicit state_bits sets both (the API's and --state-dtype's meaning: every linear-attention state)
    assert kv_report(hybrid(dtypes={"ssm_state": "fp32"}), 1000, state_bits=8).per_sequence.state == 2048 + 576


def test_mamba2_mixer_weights_by_hand():
    # in_proj 256 x (2 x 64 + 2 x 2 x 32 + 4) = 256 x 260; conv 192 x 4 (+ 192 biases); dt_bias, A_log, D: 4 each;
    # gated norm 64; out_proj 64 x 256 (transformers NemotronHMamba2Mixer, BambaMixer)
    p = family(hybrid().linear_attention).projections(hybrid().linear_attention, HIDDEN)
    assert p == {"in_proj": 256 * 260, "conv": 192 * 4, "dt_bias": 4, "A_log": 4, "D": 4, "norm": 64,
                 "out_proj": 64 * 256, "conv_bias": 192}
    biased = hybrid(block={"proj_bias": True}).linear_attention
    extra = sum(family(biased).projections(biased, HIDDEN).values()) - sum(p.values())
    assert extra == 260 + 256                                          # in_proj's and out_proj's biases


def test_hybrid_parameter_total_by_hand():
    mixer = 256 * 260 + 192 * 4 + 192 + 3 * 4 + 64 + 64 * 256          # 83,980
    attn = 256 * 128 + 2 * 256 * 64 + 128 * 256                        # q, k, v, o: 98,304
    ffn = 3 * 256 * 512                                                # gated, every layer
    total = mixer + attn + 2 * ffn + 2 * 2 * 256 + 256 + 2 * 1000 * 256    # 2 norms a layer, final norm, embed + head
    assert param_counts(hybrid()).total == total == 1_481_996


def test_one_block_per_layer_counts_each_block_once():
    # "M-*-": the Mamba-2 layer and the attention layer have no FFN, the two MLP layers no mixer; one norm each;
    # non-gated MLP (up, down) of 512
    s = one_block()
    assert [s.has_mixer(i) for i in range(4)] == [True, False, True, False]
    assert [s.has_ffn(i) for i in range(4)] == [False, True, False, True]
    assert (s.num_ffn_layers, s.num_dense_layers, s.num_blocks) == (2, 2, 4)
    mixer, attn, mlp = 83_980, 98_304, 2 * 256 * 512
    assert param_counts(s).total == mixer + attn + 2 * mlp + 4 * 256 + 256 + 2 * 1000 * 256 == 1_219_852
    assert sum(n for n, _, _ in layer_groups(s)) == 2 and pattern(s) == "1 Mamba-2 + 1 GQA-2"
    # KV: only the attention layer caches (2 KV heads x 32 x K, V x bf16 = 256 B a token); the Mamba-2 layer's state
    r = kv_report(s, context=100)
    assert r.per_token.total == 256 and r.per_sequence.total == 100 * 256 + 5248


def test_one_block_moe_layers_are_the_ffn_layers_only():
    s = one_block(ffn={"kind": "moe", "intermediate_size": 64, "num_experts": 4, "experts_per_token": 2,
                       "expert_intermediate_size": 64, "gated": False})
    assert [s.is_moe_layer(i) for i in range(4)] == [False, True, False, True]
    assert (s.num_moe_layers, s.num_dense_layers) == (2, 0)
    p = param_counts(s)
    assert p.routed_experts == 2 * 4 * 2 * 256 * 64 and p.router == 2 * 4 * 256 and p.dense_ffn == 0


def test_ffn_layers_alone_are_not_a_model():
    with pytest.raises(SpecError, match="needs at least one attention layer"):
        make_spec(GQA, layers=2, layer_types=["linear", "ffn"], linear_attention=M2)


@pytest.mark.parametrize("field,value", [("proj_bias", True), ("conv_bias", True), ("chunk_size", 64)])
def test_mamba2_fields_are_refused_on_other_linear_kinds(field, value):
    gdn = {"kind": "gated_deltanet", "num_k_heads": 2, "num_v_heads": 4, "head_k_dim": 16, "head_v_dim": 16}
    with pytest.raises(SpecError, match=f"linear_attention.{field}: only applies to kind mamba2"):
        make_spec(GQA, layers=2, layer_types=["linear", "full"], linear_attention=gdn | {field: value})


def test_mamba2_groups_must_divide_the_heads():
    with pytest.raises(SpecError, match="must split evenly into num_k_heads"):
        hybrid(block={"num_k_heads": 3})


# ------------------------------------------------------------------------------------------------ cost (roofline)

def test_mamba2_decode_cost_by_hand():
    # per token: 5 P N FLOPs a head (decay, rank-one update, read-out) and 2 x conv_dim x K for the convolution
    core = ops(hybrid(), "decode", 1, 100)["linear_core"]
    assert core.flops == 4 * 5 * 16 * 32 + 2 * 192 * 4 == 11_776
    # the state (2048 + 576 elements, bf16) read and written once
    assert core.kv_bytes == 2 * 5248
    # in_proj is one GEMM of 260 outputs: z, x (64 each), B, C (64 each), dt (4)
    assert ops(hybrid(), "decode", 1, 100)["linear_in_proj"].flops == 2 * 256 * 260


def test_mamba2_prefill_cost_by_hand():
    # chunked SSD, chunks of Q = 16: per head 4 P N (chunk states, their read-out) + 2 Q P (diagonal blocks), per
    # group 2 Q N (C B^T), plus the convolution; 50 tokens, a fresh sequence (the state is written, not read)
    core = ops(hybrid(block={"chunk_size": 16}), "prefill", 1, 50)["linear_core"]
    per_token = 4 * (4 * 16 * 32 + 2 * 16 * 16) + 2 * 2 * 16 * 32 + 2 * 192 * 4
    assert per_token == 13_824 and core.flops == 50 * per_token
    assert core.kv_bytes == 5248


def test_one_block_layers_all_reduce_once_a_block():
    # TP=2: 4 blocks, each ending in a row-parallel projection: 4 all-reduces of T d bf16 activations, each
    # sending 2 (n - 1) / n T d x 2 bytes; a layer of attention + FFN would have two
    comm = ops(one_block(), "decode", 2, 100, tp=2)["comm"]
    assert comm.launches == 4 and comm.comm_bytes == 4 * 2 * 0.5 * 2 * 256 * 2
    assert ops(hybrid(), "decode", 2, 100, tp=2)["comm"].launches == 4


def test_tp_splits_the_mamba2_heads():
    s = hybrid()
    whole, half = params_per_gpu(s, Parallelism()), params_per_gpu(s, Parallelism(tp=2))
    assert half.attention == whole.attention / 2          # every mixer tensor (and the GQA projections) by heads
    with pytest.raises(Exception, match="cannot split 4 Mamba-2 heads"):
        weights_report(s, parallel=Parallelism(tp=8))
    # the state splits with the heads too
    assert kv_report(s, 100, parallel=Parallelism(tp=2)).per_gpu.state == 5248 / 2


# ------------------------------------------------------------------------------------------------ properties

@settings(max_examples=60, deadline=None)
@given(block=st.one_of(mamba_blocks, lightning_blocks), c1=st.integers(1, 10**6), c2=st.integers(1, 10**6))
def test_state_space_layers_state_does_not_depend_on_the_context(block, c1, c2):
    """Mamba-2 and lightning layers hold a constant state a sequence, whatever the context."""
    s = make_spec(GQA, layers=2, layer_types=["linear", "full"], linear_attention=block)
    assert kv_report(s, c1).per_sequence.state == kv_report(s, c2).per_sequence.state > 0


@settings(max_examples=60, deadline=None)
@given(block=mamba_blocks, context=st.integers(1, 10**5), batch=st.integers(1, 512))
def test_mamba2_state_is_linear_in_the_batch(block, context, batch):
    s = make_spec(GQA, layers=2, layer_types=["linear", "full"], linear_attention=block)
    one, many = kv_report(s, context), kv_report(s, context, batch)
    assert many.total.state == batch * one.per_sequence.state


@settings(max_examples=60, deadline=None)
@given(block=mamba_blocks)
def test_mamba2_state_is_ssm_plus_conv_state(block):
    # H P N + (K - 1)(H P + 2 G N) elements, bf16 (vLLM MambaStateShapeCalculator.mamba2_state_shape at tp=1)
    s = make_spec(GQA, layers=2, layer_types=["linear", "full"], linear_attention=block)
    h, p, g, n, k = (block[x] for x in ("num_v_heads", "head_v_dim", "num_k_heads", "head_k_dim", "conv_kernel_size"))
    assert kv_report(s, 10).per_sequence.state == 2 * (h * p * n + (k - 1) * (h * p + 2 * g * n))


@settings(max_examples=40, deadline=None)
@given(pattern_=st.lists(st.sampled_from(["linear", "full", "ffn"]), min_size=2, max_size=12))
def test_one_block_parameters_are_the_sum_of_their_blocks(pattern_):
    # every layer is its one block and its norm: mixers, MLPs and norms add up to the total whatever the order
    if "full" not in pattern_ or "ffn" not in pattern_:
        return
    s = make_spec(GQA, layers=len(pattern_), layer_types=pattern_, norms_per_layer=1,
                  linear_attention=M2 if "linear" in pattern_ else None,
                  ffn={"kind": "dense", "intermediate_size": 512, "gated": False})
    mixer, attn, mlp = 83_980, 98_304, 2 * 256 * 512
    want = sum({"linear": mixer, "full": attn, "ffn": mlp}[t] for t in pattern_) + len(pattern_) * 256
    assert param_counts(s).total == want + 256 + 2 * 1000 * 256
