"""Invariants of the attention families and key rules, as property tests (hypothesis)."""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

import mlacalc
from mlacalc.attention import layer_groups, pattern
from mlacalc.attention.keys import KeyRule
from mlacalc.kv import kv_report
from mlacalc.params import param_counts
from mlacalc.spec import load_spec
from mlacalc.step import Step, step_ops

from helpers import make_spec

MLA = {"kind": "mla", "num_heads": 8, "q_lora_rank": 64, "kv_lora_rank": 32, "qk_nope_head_dim": 16,
       "qk_rope_head_dim": 8, "v_head_dim": 16}
DSA = MLA | {"kind": "dsa", "index_n_heads": 4, "index_head_dim": 128, "index_topk": 64}
GDN = {"kind": "gated_deltanet", "num_k_heads": 2, "num_v_heads": 4, "head_k_dim": 16, "head_v_dim": 16,
       "conv_kernel_size": 4}
contexts = st.integers(1, 5000)


def ops(spec, phase, batch, context, form=None):
    return {o.name: o for o in step_ops(spec, Step(phase, batch, context), mla_form=form)}


@settings(max_examples=40, deadline=None)
@given(context=st.integers(1, 63), batch=st.integers(1, 8), phase=st.sampled_from(["decode", "prefill"]))
def test_dsa_with_topk_at_least_the_context_attends_like_mla(context, batch, phase):
    mla, dsa = make_spec(MLA), make_spec(DSA)       # top-64 >= every visible key (decode: context + 1)
    for form in ("absorbed", "decompressed"):       # in the same form (DSA prefills absorbed, MLA decompressed)
        a, b = ops(mla, phase, batch, context, form)["attn_core"], ops(dsa, phase, batch, context, form)["attn_core"]
        assert a.flops == b.flops


@settings(max_examples=40, deadline=None)
@given(context=contexts)
def test_dsa_kv_is_mla_kv_plus_one_132_byte_indexer_key_per_token_and_layer(context):
    mla, dsa = kv_report(make_spec(MLA), context), kv_report(make_spec(DSA), context)
    assert dsa.per_sequence.total == mla.per_sequence.total + 2 * context * 132


@settings(max_examples=40, deadline=None)
@given(context=contexts, window=st.integers(1, 6000))
def test_a_window_or_chunk_no_shorter_than_the_context_changes_nothing(context, window):
    base = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 32}
    full = kv_report(make_spec(base), context).per_sequence.total
    for extra in ({"sliding_window": window}, {"chunk_size": window}):
        held = kv_report(make_spec(base | extra), context).per_sequence.total
        assert held == full if window >= context else held < full


@settings(max_examples=40, deadline=None)
@given(c1=contexts, c2=contexts)
def test_hybrid_kv_is_affine_in_context_with_a_constant_state(c1, c2):
    spec = make_spec({"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 32}, layers=4,
                     layer_types=["linear", "full"], linear_attention=GDN)
    r1, r2 = kv_report(spec, c1), kv_report(spec, c2)
    assert r1.per_sequence.state == r2.per_sequence.state > 0
    assert r2.per_sequence.total - r1.per_sequence.total == r1.per_token.total * (c2 - c1)


def test_a_repeating_layer_pattern_equals_the_written_out_list():
    short = make_spec({"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 32, "sliding_window": 8},
                      layers=4, layer_types=["sliding", "full"])
    long = replace(short, layer_types=("sliding", "full", "sliding", "full"))
    assert kv_report(short, 100) == kv_report(long, 100)
    assert param_counts(short) == param_counts(long)
    assert pattern(short) == "2 GQA-2 sliding-8 + 2 GQA-2"


@settings(max_examples=30, deadline=None)
@given(prior=st.integers(0, 300), new=st.integers(1, 40), size=st.integers(1, 64))
def test_key_rules_sum_what_they_count_one_query_at_a_time(prior, new, size):
    for rule in (KeyRule(), KeyRule(window=size), KeyRule(chunk=size), KeyRule(topk=size), KeyRule(fixed=size),
                 KeyRule(chunk=size, topk=max(1, size // 2))):
        assert rule.pairs(prior, new) == sum(rule.keys(p) for p in range(prior, prior + new))
        assert rule.held(prior + new) >= rule.keys(prior + new - 1) or rule.topk is not None
        # a kernel steps through every pair, and a top-k rule's whole index list (topk a query) even when shorter
        want = new * rule.topk if rule.topk is not None else rule.pairs(prior, new)
        assert rule.slots(prior, new) == want >= rule.pairs(prior, new)


def test_a_topk_rule_hands_its_kernel_topk_slots_at_a_short_context():
    # 3 queries at positions 10-12 (11-13 visible keys) under top-2048: 36 pairs, 3 x 2048 = 6,144 slots
    rule = KeyRule(topk=2048)
    assert rule.pairs(10, 3) == 11 + 12 + 13 and rule.slots(10, 3) == 6144


def test_layer_groups_cover_every_layer_once():
    for name in ("qwen3-next-80b-a3b", "kimi-linear-48b-a3b", "gpt-oss-20b", "llama-4-scout", "deepseek-v3"):
        spec = load_spec(name)
        assert sum(n for n, _, _ in layer_groups(spec)) == spec.num_layers


def test_kda_layers_are_refused_for_training_in_one_line():
    """Gated DeltaNet and Mamba-2 layers are sized for training (tests/test_train_linear.py); KDA's saved tensors are
    not pinned, so Kimi-Linear is refused, naming what is missing."""
    import pytest

    with pytest.raises(mlacalc.SpecError, match="training memory of KDA layers is not modelled: what "
                                                "flash-linear-attention's chunk_kda keeps"):
        mlacalc.train_memory("kimi-linear-48b-a3b", seq=1024)


def test_gated_deltanet_decode_cost_by_hand():
    # one linear layer (2 key heads, 4 value heads of 16 x 16, conv kernel 4) and one full layer; batch 1 decode
    spec = make_spec({"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 32}, layers=2,
                     layer_types=["linear", "full"], linear_attention=GDN)
    core = ops(spec, "decode", 1, 100)["linear_core"]
    conv_dim = 2 * 2 * 16 + 4 * 16                                      # q, k (2 x 32) and v (64): 128 channels
    # 7 d_k d_v FLOPs per value head (S k, rank-one update, decay, q S) + 2 x conv_dim x K for the convolution
    assert core.flops == 4 * 7 * 16 * 16 + 2 * conv_dim * 4 == 8192
    # the state (4 x 16 x 16) and the conv's last 3 inputs (128 x 3), bf16, read and written once
    assert core.kv_bytes == 2 * (4 * 16 * 16 + conv_dim * 3) * 2 == 5632
