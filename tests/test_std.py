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
from mlacalc.activations import ActivationConfig, layer_activations
from mlacalc.attention import tokens_held
from mlacalc.attention.dsa import index_cache_bytes
from mlacalc.capacity import activation_workspace, fit, served_params_per_gpu
from mlacalc.costs import OpCost, matmul
from mlacalc.hardware import load_hardware
from mlacalc.kv import format_bits, kv_report
from mlacalc.parallel import Parallelism
from mlacalc.params import (Params, active_non_embedding, bytes_per_weight, ffn_params, param_counts, params_per_gpu,
                            weight_bytes, weights_report)
from mlacalc.spec import builtin_names, load_spec
from mlacalc.step import Step, attn_core_cost, decode_rows, gemm_bits, roofline, step_ops, time_ops, touched_experts
from mlacalc.training import TrainRun, model_states, stage_memory, zero3_units

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
    """Linear in the micro-batch but for what no token dimension sizes: DeepSeek-V2-Lite's router keeps an fp32 copy of
    its 64 x 2048 weight each forward (ffn.router fp32-linear), whatever the micro-batch."""
    spec = load_spec(model)
    const = 4 * 64 * 2048 if model == "deepseek-v2-lite" else 0
    for kernel in ("fused", "eager"):
        one = layer_activations(spec, spec.num_layers - 1, ActivationConfig(mb, 256, kernel=kernel))
        many = layer_activations(spec, spec.num_layers - 1, ActivationConfig(mb * k, 256, kernel=kernel))
        assert many.total - const == k * (one.total - const)


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


# ---------------------------------------------------------------------------------------------------------
# Hand-worked numbers for formulas no test had worked out
# ---------------------------------------------------------------------------------------------------------

def test_ffn_params_by_hand():
    # Llama-3.1-8B's MLP (config.json: hidden 4,096, intermediate 14,336): gate, up and down, 3 d f
    assert ffn_params(4096, 14336, gated=True) == 3 * 4096 * 14336 == 176_160_768
    # an ungated 4h MLP (GPT-2 style): up and down, 2 d f
    assert ffn_params(768, 3072, gated=False) == 2 * 768 * 3072
    # gpt-oss's experts (d = f = 2,880) carry biases: gate and up 2 f, down d
    assert ffn_params(2880, 2880, gated=True, bias=True) == 3 * 2880 * 2880 + 2 * 2880 + 2880


def test_matmul_cost_by_hand():
    # 3 layers of a 4-token x 8 by 8 x 16 matmul, fp8 weights (1 B), bf16 activations (2 B)
    o = matmul("x", tokens=4, k=8, n=16, wb=1, ab=2, layers=3)
    assert o.flops == 2 * 4 * 8 * 16 * 3 == 3072               # a multiply-add is 2 FLOPs
    assert o.weight_bytes == 8 * 16 * 1 * 3 == 384             # the weights read once a layer
    assert o.act_bytes == 4 * (8 + 16) * 2 * 3 == 576          # the input read, the output written
    assert (o.bytes, o.launches, o.out_width) == (384 + 576, 3, 16)


def test_bytes_per_weight_by_hand():
    # fp8 matrices (DeepSeek-V3's checkpoint), embedding/head/router/norms kept at bf16 (tech report 3.3.1)
    w = bytes_per_weight(8)
    assert (w.attention, w.routed_experts, w.mtp) == (1, 1, 1)
    assert (w.embed, w.head, w.router, w.norms) == (2, 2, 2, 2)
    # int4: half a byte a matrix weight; fp32 everything 4 bytes (max(16, 32) bits)
    assert bytes_per_weight(4).dense_ffn == 0.5
    # (but hash routing's int64 expert ids, 8 bytes whatever the dtype)
    assert set(bytes_per_weight(32).as_dict().values()) - {bytes_per_weight(32).total} == {4.0, 8.0}
    assert bytes_per_weight(32).hash_tables == 8 and bytes_per_weight(8).fp32 == 4
    # weight_bytes prices each part at its width: 1,000 attention weights at fp8 and 10 norms at bf16
    assert weight_bytes(Params(attention=1000, norms=10), 8).total == 1000 * 1 + 10 * 2


def test_gemm_bits_by_hand():
    # fp8 weights run W8A8 GEMMs; int4 weights are dequantised to bf16 (W4A16); fp32 runs at the fp32 rate
    assert [gemm_bits(b) for b in (8, 4, 16, 32)] == [8, 16, 16, 32]


def test_time_ops_by_hand():
    # a round card: 1,000 GB/s, 100 TFLOP/s bf16, 10 TFLOP/s fp32, 5 us a kernel launch
    hw = dataclasses.replace(H200, mem_bandwidth_gb_s=1000.0, bf16_tflops=100.0, fp32_tflops=10.0,
                             kernel_launch_us=5.0, fp8_tflops=0.0)
    gemm = OpCost("g", "matmul", flops=1e9, weight_bytes=1e6, launches=2)        # 1e9 / 1e14 = 10 us > 1 us
    copy = OpCost("c", "memory", act_bytes=4e6, flops=1e6, launches=1)           # 4e6 / 1e12 = 4 us > 0.1 us
    g, c = time_ops((gemm, copy), hw, weight_bits=16)
    assert (g.bound, c.bound) == ("compute", "memory")
    assert g.time_s == pytest.approx(1e9 / 100e12 + 2 * 5e-6, rel=1e-12)       # 10 us + two launches
    assert c.time_s == pytest.approx(4e6 / 1000e9 + 5e-6, rel=1e-12)            # 4 us + one launch


def test_decode_rows_by_hand():
    # DeepSeek-V3 (128 query heads): 4 sequences x 2 query tokens (one MTP draft) x 128 heads
    assert decode_rows(load_spec("deepseek-v3"), 4, 2) == 4 * 2 * 128 == 1024


def test_tokens_held_by_hand():
    # a global and a sliding layer (window 100), paged in blocks of 16: 1,000 -> 1,008 tokens; the window's 100 keys
    # start anywhere in a block, so ceil(99 / 16) + 1 = 8 blocks = 128 (vLLM's SlidingWindowManager), not 7 x 16
    spec = make_spec({"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64, "sliding_window": 100},
                     layer_types=["full", "sliding"])
    assert tokens_held(spec, 1000) == [1000, 100]
    assert tokens_held(spec, 1000, 16) == [63 * 16, 8 * 16] == [1008, 128]


def test_dsa_index_key_and_fp8_ds_bits_by_hand():
    spec = load_spec("deepseek-v3.2")
    # indexer key (config.json index_head_dim 128): 128 fp8 values + one fp32 scale per 128 values
    assert index_cache_bytes(spec.attention) == 128 + 4 * 1 == 132
    # FlashMLA's fp8-ds token: 512 fp8 latent values, 4 fp32 scales (one per 128), 64 bf16 RoPE values = 656 B
    # for the 512 + 64 = 576 values of a token: 656 x 8 / 576 bits an element
    assert 512 + 4 * 4 + 64 * 2 == 656
    assert format_bits(spec, "fp8-ds") == pytest.approx(656 * 8 / 576, rel=1e-12)


def test_attn_core_cost_by_hand():
    # tiny MHA: 2 layers, 4 heads x 64 (d_k = d_v = 64); one sequence decodes 1 token after 9 cached
    spec = make_spec({"kind": "mha", "num_heads": 4, "head_dim": 64})
    o = attn_core_cost(spec, seqs=1, prior=9, new=1, kv_bits=16)
    pairs = 10 * 2                                           # the new token attends 9 + 1 keys, in each of 2 layers
    assert o.flops == 2 * 4 * pairs * (64 + 64) == 20480     # Q K^T and P V: 2 H P (d_k + d_v)
    assert o.kv_bytes == pairs * (4 * 64 + 4 * 64) * 2 == 20480     # each key's K and V read once, bf16
    assert o.act_bytes == 1 * 2 * 4 * (64 + 64) * 2 == 2048  # the query in, the output out, per layer


def test_touched_experts_by_hand():
    # 2 tokens each pick 2 of 8 experts: one token misses an expert with probability 6/8,
    # so 8 (1 - (3/4)^2) = 3.5 experts are hit on average
    assert touched_experts(8, 2, 2) == pytest.approx(8 * (1 - 0.75**2)) == 3.5
    assert touched_experts(8, 2, 0) == 0.0


def test_activation_workspace_by_hand():
    # tiny MHA (d = 256, 4 heads x 64, gated FFN 512), 8 tokens on one GPU, bf16 (2 B)
    spec = make_spec({"kind": "mha", "num_heads": 4, "head_dim": 64})
    ws = activation_workspace(spec, tokens=8, tp=1)
    assert ws.residual == 2 * 8 * 256 * 2 == 8192            # residual stream and normed input, 2 T d
    assert ws.attention == 8 * 4 * (64 + 64) * 2 == 8192     # queries and attention output, T H (d_qk + d_v)
    assert ws.ffn == 8 * 2 * 512 * 2 == 16384                # gate and up, 2 T f
    assert activation_workspace(spec, tokens=8, tp=2).attention == 8192 / 2


def test_active_non_embedding_and_served_params_by_hand():
    # tiny MHA with one MTP module: per layer attention 4 x 256^2, FFN 3 x 256 x 512, two norms of 256
    spec = make_spec({"kind": "mha", "num_heads": 4, "head_dim": 64}, mtp_layers=1)
    layer = 4 * 256 * 256 + 3 * 256 * 512 + 2 * 256
    assert active_non_embedding(spec) == 2 * layer + 256     # two layers and the final norm
    # the MTP module (DeepSeek-V3 report 2.2): two norms, eh_proj 2d x d, one layer like the last
    mtp = 2 * 256 + 2 * 256 * 256 + layer
    assert served_params_per_gpu(spec, Parallelism(), q_tokens=1).mtp == 0          # not loaded without drafts
    assert served_params_per_gpu(spec, Parallelism(), q_tokens=2).mtp == mtp


def test_model_states_and_zero3_units_by_hand():
    # 1,000 attention parameters, mixed precision (2 + 2 + 12 B a parameter), ZeRO-1 over 4 data-parallel ranks
    s = model_states(Params(attention=1000), "mixed", 1, Parallelism(dp=4))
    assert (s.weights, s.gradients, s.optimizer) == (2 * 1000, 2 * 1000, 12 * 1000 / 4)
    # ZeRO-3: all three sharded
    s3 = model_states(Params(attention=1000), "mixed", 3, Parallelism(dp=4))
    assert s3.total == 16 * 1000 / 4
    # ZeRO-3's units of the tiny MHA on one stage: each layer, the embedding, the head with the final norm
    spec = make_spec({"kind": "mha", "num_heads": 4, "head_dim": 64})
    layer = 4 * 256 * 256 + 3 * 256 * 512 + 2 * 256
    units = zero3_units(spec, Parallelism(), range(2), param_counts(spec), first=True, last=True)
    assert units == [layer, layer, 1000 * 256, 1000 * 256 + 256]
