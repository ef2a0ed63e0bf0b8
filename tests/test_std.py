"""The standard's audit: hand-worked numbers for formulas no test worked out, and property tests of the invariants
the calculator must keep (each stated in words in its name).

Conventions: every expected number is computed in front of the reader from the spec's sizes, with the config or
paper it comes from in a comment; property tests draw small specs (``helpers.make_spec``) or built-in ones and keep
their example counts low so the suite stays fast.
"""

import dataclasses
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import make_spec
from mlacalc.activations import ActivationConfig, layer_activations, megatron_layer_bytes
from mlacalc.capacity import activation_workspace, fit
from mlacalc.costs import KVCache, matmul
from mlacalc.hardware import load_hardware
from mlacalc.kv import kv_report
from mlacalc.parallel import Parallelism
from mlacalc.params import (Params, ffn_params, param_counts, params_per_gpu, stage_params, weight_bytes,
                            weights_report)
from mlacalc.spec import builtin_names, load_spec
from mlacalc.step import Step, roofline, step_ops, touched_experts
from mlacalc.training import TrainRun, model_states, stage_memory

FAST = settings(max_examples=25, deadline=None)
H200 = load_hardware("h200")


def _parts_sum(obj) -> float:
    """The sum of a breakdown's own fields (not its ``total``)."""
    return sum(getattr(obj, f.name) for f in fields(obj) if isinstance(getattr(obj, f.name), (int, float))
               and not isinstance(getattr(obj, f.name), bool))


# ---------------------------------------------------------------------------------------------------------
# Strategies: small conventional and MLA models
# ---------------------------------------------------------------------------------------------------------

# (query heads, a tp that divides them); head dims a multiple of 2 so a rope share fits
heads_tp = st.sampled_from([1, 2, 4, 8, 16]).flatmap(lambda h: st.tuples(st.just(h),
                                                                           st.sampled_from([t for t in (1, 2, 4, 8)
                                                                                            if h % t == 0])))
head_dims = st.sampled_from([16, 32, 64, 128])
layers_ = st.integers(1, 4)


def conventional(kind: str, heads: int, kv: int | None, hd: int, layers: int, ffn: dict | None = None):
    a = {"kind": kind, "num_heads": heads, "head_dim": hd}
    if kv is not None:
        a["num_kv_heads"] = kv
    return make_spec(a, layers=layers, hidden=heads * hd, ffn=ffn)


def mla(heads: int, rank: int = 64, rope: int = 16, layers: int = 2):
    return make_spec({"kind": "mla", "num_heads": heads, "kv_lora_rank": rank, "q_lora_rank": 96,
                      "qk_nope_head_dim": 32, "qk_rope_head_dim": rope, "v_head_dim": 32}, layers=layers)


def _numbers(ops) -> list[tuple]:
    """An op list as comparable numbers (names and every cost)."""
    return [(o.name, o.flops, o.weight_bytes, o.act_bytes, o.kv_bytes, o.comm_bytes, o.launches) for o in ops]


def _train(spec, tp: int = 1, micro_batch: int = 1, seq: int = 64, kernel: str = "fused"):
    run = TrainRun(micro_batch=micro_batch, seq=seq, kernel=kernel, parallel=Parallelism(tp=tp))
    return [(s.states.as_dict(), s.activations.as_dict(), s.workspace.as_dict()) for s in stage_memory(spec, run)]


# ---------------------------------------------------------------------------------------------------------
# GQA with kv_heads == heads is MHA; with kv_heads == 1 it is MQA (every calculator, not only the KV cache)
# ---------------------------------------------------------------------------------------------------------

@FAST
@given(heads_tp, head_dims, layers_, st.sampled_from(["prefill", "decode"]), st.integers(1, 2048))
def test_gqa_with_kv_heads_equal_heads_is_mha_in_weights_roofline_kv_and_training(ht, hd, layers, phase, ctx):
    heads, tp = ht
    gqa = conventional("gqa", heads, heads, hd, layers)
    mha = conventional("mha", heads, None, hd, layers)
    par = Parallelism(tp=tp)
    assert param_counts(gqa) == param_counts(mha)
    assert params_per_gpu(gqa, par) == params_per_gpu(mha, par)
    assert kv_report(gqa, ctx, 3, parallel=par).per_gpu == kv_report(mha, ctx, 3, parallel=par).per_gpu
    step = Step(phase, 3, ctx)
    assert _numbers(step_ops(gqa, step, par)) == _numbers(step_ops(mha, step, par))
    assert _train(gqa, tp) == _train(mha, tp)


@FAST
@given(heads_tp, head_dims, layers_, st.sampled_from(["prefill", "decode"]), st.integers(1, 2048))
def test_gqa_with_one_kv_head_is_mqa_in_weights_roofline_kv_and_training(ht, hd, layers, phase, ctx):
    heads, tp = ht
    gqa = conventional("gqa", heads, 1, hd, layers)
    mqa = conventional("mqa", heads, None, hd, layers)
    par = Parallelism(tp=tp)
    assert param_counts(gqa) == param_counts(mqa)
    assert params_per_gpu(gqa, par) == params_per_gpu(mqa, par)
    assert kv_report(gqa, ctx, 3, parallel=par).per_gpu == kv_report(mqa, ctx, 3, parallel=par).per_gpu
    step = Step(phase, 3, ctx)
    assert _numbers(step_ops(gqa, step, par)) == _numbers(step_ops(mqa, step, par))
    for kernel in ("fused", "eager"):
        assert _train(gqa, tp, kernel=kernel) == _train(mqa, tp, kernel=kernel)


# ---------------------------------------------------------------------------------------------------------
# Linear in context and batch
# ---------------------------------------------------------------------------------------------------------

MODELS = ["llama-3.1-8b", "deepseek-v3", "qwen2.5-7b", "minicpm3-4b", "variant-gqa2-128"]   # global attention only


@FAST
@given(st.sampled_from(MODELS), st.integers(1, 10**5), st.integers(1, 64), st.integers(2, 5))
def test_decode_kv_bytes_are_linear_in_batch_and_affine_in_context(model, ctx, batch, k):
    # decode writes the new token's entry and reads all C + 1 keys once: kv bytes = B x per-token x (C + 2); with
    # sliding layers it is affine only past the window, so global-attention models are drawn here
    spec = load_spec(model)

    def kv(c, b):
        return sum(o.kv_bytes for o in step_ops(spec, Step("decode", b, c)))

    assert kv(ctx, batch * k) == pytest.approx(k * kv(ctx, batch), rel=1e-12)
    d1 = kv(ctx + 1000, batch) - kv(ctx, batch)
    d2 = kv(ctx + 2000, batch) - kv(ctx + 1000, batch)
    assert d1 == pytest.approx(d2, rel=1e-9) and d1 > 0
    # the step reads what the KV report says C + 1 tokens hold, and writes what one token adds
    held = kv_report(spec, ctx + 1, batch).total.total + kv_report(spec, 1, batch).total.total
    assert kv(ctx, batch) == pytest.approx(held, rel=1e-12)


@FAST
@given(st.sampled_from(["llama-3.1-8b", "deepseek-v2-lite", "mixtral-8x7b"]), st.integers(1, 4), st.integers(2, 3))
def test_training_activations_are_linear_in_the_micro_batch(model, mb, k):
    spec = load_spec(model)
    for kernel in ("fused", "eager"):
        one = layer_activations(spec, spec.num_layers - 1, ActivationConfig(mb, 256, kernel=kernel))
        many = layer_activations(spec, spec.num_layers - 1, ActivationConfig(mb * k, 256, kernel=kernel))
        assert many.total == k * one.total


# ---------------------------------------------------------------------------------------------------------
# Breakdowns: parts sum to their total, for every breakdown type, on every built-in model
# ---------------------------------------------------------------------------------------------------------

BUILTIN = [n for n in builtin_names() if not n.startswith("variant")]


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(BUILTIN), st.sampled_from([1, 8]), st.integers(1, 32768))
def test_every_breakdown_sums_its_parts(model, tp, ctx):
    spec = load_spec(model)
    try:
        par = Parallelism(tp=tp).check(spec)
    except Exception:
        par = Parallelism()
    r = kv_report(spec, ctx, 2, parallel=par)
    for c in (r.per_token_layer, r.per_token, r.per_sequence, r.total, r.per_gpu):
        assert c.total == pytest.approx(_parts_sum(c), rel=1e-12)
    w = weights_report(spec, parallel=par)
    for p in (w.params, w.active, w.bytes, w.per_gpu_params, w.per_gpu_bytes):
        assert p.total == pytest.approx(_parts_sum(p), rel=1e-12)
    ops = step_ops(spec, Step("decode", 2, ctx), par)
    for o in ops:
        assert o.bytes == o.weight_bytes + o.act_bytes + o.kv_bytes
    rl = roofline(spec, H200, Step("decode", 2, ctx), par, analyse_attention=False)
    assert rl.total_flops == pytest.approx(sum(o.flops for o in ops), rel=1e-12)
    assert rl.total_bytes == pytest.approx(sum(o.bytes for o in ops), rel=1e-12)
    ws = activation_workspace(spec, 512, tp)
    assert ws.total == ws.residual + ws.attention + ws.ffn


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(["llama-3.1-8b", "deepseek-v2-lite", "mixtral-8x7b", "qwen2.5-7b"]),
       st.sampled_from([0, 1, 2, 3]), st.sampled_from(["none", "selective", "full"]))
def test_training_breakdowns_sum_their_parts(model, zero, recompute):
    spec = load_spec(model)
    run = TrainRun(micro_batch=1, seq=512, zero=zero, recompute=recompute, parallel=Parallelism(dp=4))
    for s in stage_memory(spec, run):
        for part in (s.states, s.activations, s.workspace):
            assert part.total == pytest.approx(_parts_sum(part), rel=1e-12)
            assert part.as_dict()["total"] == part.total
        assert s.total == pytest.approx(s.states.total + s.activations.total + s.workspace.total, rel=1e-12)
        la = layer_activations(spec, 0, run.activation_config())
        assert la.total == pytest.approx(_parts_sum(la), rel=1e-12)


# ---------------------------------------------------------------------------------------------------------
# Tensor parallelism conserves totals: split parts x tp == whole, replicated parts equal
# ---------------------------------------------------------------------------------------------------------

@FAST
@given(heads_tp, head_dims, layers_, st.integers(1, 4096), st.integers(1, 8))
def test_tp_splits_weights_kv_and_flops_without_losing_or_adding_any(ht, hd, layers, ctx, batch):
    heads, tp = ht
    spec = conventional("gqa", heads, heads, hd, layers)            # KV heads divide over every tp drawn
    one, par = Parallelism(), Parallelism(tp=tp)
    whole, split = params_per_gpu(spec, one), params_per_gpu(spec, par)
    for name in ("embed", "attention", "dense_ffn", "head"):
        assert getattr(split, name) * tp == pytest.approx(getattr(whole, name), rel=1e-12), name
    assert split.norms == whole.norms                                # RMSNorm weights are replicated
    kv1, kvt = kv_report(spec, ctx, batch), kv_report(spec, ctx, batch, parallel=par)
    assert kvt.per_gpu.total * tp == pytest.approx(kv1.total.total, rel=1e-12)
    for phase in ("prefill", "decode"):
        f1 = {o.name: o for o in step_ops(spec, Step(phase, batch, ctx), one)}
        ft = {o.name: o for o in step_ops(spec, Step(phase, batch, ctx), par)}
        for name in ("qkv_proj", "attn_core", "o_proj", "ffn", "lm_head"):
            assert ft[name].flops * tp == pytest.approx(f1[name].flops, rel=1e-12), name
        for name in ("kv_write", "attn_core"):
            assert ft[name].kv_bytes * tp == pytest.approx(f1[name].kv_bytes, rel=1e-12), name
        assert ft["norms"].flops == f1["norms"].flops                 # every GPU normalises every token


@FAST
@given(st.sampled_from([1, 2, 4, 8]), st.integers(1, 4096), st.integers(1, 8))
def test_tp_replicates_the_mla_latent_and_its_down_projections(tp, ctx, batch):
    spec = mla(8)
    kv1, kvt = kv_report(spec, ctx, batch), kv_report(spec, ctx, batch, parallel=Parallelism(tp=tp))
    assert kvt.per_gpu == kv1.total                                   # the latent belongs to no head
    a1 = params_per_gpu(spec, Parallelism()).attention
    at = params_per_gpu(spec, Parallelism(tp=tp)).attention
    d, h = 256, 8
    replicated = d * 96 + 96 + d * (64 + 16) + 64                    # q_down, q_norm, kv_down, kv_norm (per layer)
    split = 96 * h * (32 + 16) + 64 * h * (32 + 32) + h * 32 * d      # q_up, kv_up, o
    assert a1 == 2 * (replicated + split)
    assert at == pytest.approx(2 * (replicated + split / tp), rel=1e-12)


# ---------------------------------------------------------------------------------------------------------
# MLA: absorbed and decompressed forms hold and read the same cache
# ---------------------------------------------------------------------------------------------------------

@FAST
@given(st.sampled_from(["deepseek-v3", "deepseek-v2-lite", "minicpm3-4b", "variant-mla"]),
       st.sampled_from(["prefill", "decode"]), st.integers(1, 8192), st.integers(1, 16), st.sampled_from([1, 8]))
def test_mla_absorbed_and_decompressed_read_and_write_the_same_kv_bytes(model, phase, ctx, batch, tp):
    spec = load_spec(model)
    try:
        par = Parallelism(tp=tp).check(spec)
    except Exception:
        par = Parallelism()
    step = Step(phase, batch, ctx)
    ab = step_ops(spec, step, par, mla_form="absorbed")
    de = step_ops(spec, step, par, mla_form="decompressed")
    assert sum(o.kv_bytes for o in ab) == pytest.approx(sum(o.kv_bytes for o in de), rel=1e-12)
    assert [o for o in ab if o.name == "kv_write"] == [o for o in de if o.name == "kv_write"]


@settings(max_examples=8, deadline=None)
@given(st.sampled_from(["deepseek-v2-lite", "minicpm3-4b"]), st.integers(1, 65536))
def test_mla_form_does_not_change_what_fits(model, ctx):
    spec = load_spec(model)
    a, d = fit(spec, H200, ctx, mla_form="absorbed"), fit(spec, H200, ctx, mla_form="decompressed")
    assert (a.max_batch, a.kv_bytes_per_seq, a.max_context) == (d.max_batch, d.kv_bytes_per_seq, d.max_context)


# ---------------------------------------------------------------------------------------------------------
# Sliding windows cap the cache
# ---------------------------------------------------------------------------------------------------------

@FAST
@given(st.integers(1, 512), st.integers(0, 4096), st.integers(1, 4096))
def test_an_all_sliding_model_holds_a_constant_cache_past_its_window_and_so_fits_a_constant_batch(w, extra, more):
    spec = make_spec({"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64, "sliding_window": w},
                     layer_types=["sliding", "sliding"])
    at = kv_report(spec, w + extra).total
    assert kv_report(spec, w + extra + more).total == at
    assert at.total == 2 * w * 2 * (2 * 64) * 2      # layers x window x K and V of 2 heads x 64 dims x bf16


# ---------------------------------------------------------------------------------------------------------
# fit: the largest batch grows with memory and shrinks with context
# ---------------------------------------------------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(st.sampled_from(["llama-3.1-8b", "deepseek-v2-lite", "mistral-7b", "gemma-3-27b"]),
       st.integers(1, 1 << 17), st.integers(1, 1 << 17), st.floats(40, 200), st.floats(1.0, 2.0))
def test_fits_largest_batch_is_monotone_in_memory_and_antitone_in_context(model, c1, c2, gib, more):
    spec = load_spec(model)
    small = dataclasses.replace(H200, memory_bytes=gib * 2**30)
    big = dataclasses.replace(H200, memory_bytes=gib * more * 2**30)
    lo, hi = sorted((c1, c2))
    b_short, b_long = fit(spec, small, lo).max_batch, fit(spec, small, hi).max_batch
    assert b_long <= b_short
    assert fit(spec, big, lo).max_batch >= b_short
