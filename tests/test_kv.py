"""KV-cache formulas against numbers worked out by hand, and their invariants."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.errors import SpecError
from mlacalc.kv import kv_elements_per_token_layer, kv_report
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec

from helpers import make_spec


def test_deepseek_v3_latent_cache_per_token():
    # DeepSeek-V3 config: 61 layers, kv_lora_rank 512, qk_rope_head_dim 64; bf16 = 2 bytes.
    r = kv_report(load_spec("deepseek-v3"), context=1)
    assert r.per_token_layer.latent == 512 * 2
    assert r.per_token_layer.rope_key == 64 * 2
    assert r.per_token.total == 61 * (512 + 64) * 2  # 70,272 bytes
    assert r.per_token.k == r.per_token.v == 0


def test_deepseek_v3_128k_sequence():
    # 131,072 tokens x 70,272 bytes = 9,210,691,584 bytes (8.58 GiB) for one sequence.
    r = kv_report(load_spec("deepseek-v3"), context=128 * 1024, batch=3)
    assert r.per_sequence.total == 131072 * 61 * 576 * 2
    assert r.total.total == 3 * 131072 * 61 * 576 * 2


def test_llama_style_gqa_cache():
    # DeepSeek-67B: 95 layers, 8 KV heads of 128 dims, K and V, bf16.
    r = kv_report(load_spec("deepseek-67b"), context=1)
    assert r.per_token.total == 95 * 2 * 8 * 128 * 2  # 389,120 bytes
    assert r.per_token.k == r.per_token.v == 95 * 8 * 128 * 2


def test_deepseek_v2_93_percent_reduction_vs_67b():
    # DeepSeek-V2 paper: 93.3% less KV cache than DeepSeek 67B, with V2's cache at ~6 bits per element.
    v2 = kv_report(load_spec("deepseek-v2"), context=1, kv_bits=6).per_token.total   # 60 x 576 x 6/8 = 25,920
    b67 = kv_report(load_spec("deepseek-67b"), context=1).per_token.total            # 389,120
    assert v2 == 60 * 576 * 6 / 8
    assert round(100 * (1 - v2 / b67), 1) == 93.3


def test_naive_mla_cache_stores_per_head_k_and_v():
    # Decompressed cache: 128 heads x (128 + 64) for K, 128 heads x 128 for V.
    e = kv_elements_per_token_layer(load_spec("deepseek-v3").attention, "naive")
    assert (e.k, e.v, e.latent) == (128 * 192, 128 * 128, 0)


def test_kv_shared_drops_the_v_cache():
    # GQA2-(192+64)-S2: 2 KV heads of 192 + 64 dims, value = part of the key: 2 x 256 = 512 elements.
    spec = make_spec({"kind": "gqa", "num_heads": 8, "num_kv_heads": 2, "qk_nope_head_dim": 192,
                      "qk_rope_head_dim": 64, "v_head_dim": 192, "kv_shared": True})
    e = kv_elements_per_token_layer(spec.attention)
    assert (e.k, e.v) == (512, 0)


def test_fp8_and_bits():
    spec = load_spec("deepseek-v3")
    assert kv_report(spec, 1, kv_bits=8).per_token.total == 61 * 576
    assert kv_report(spec, 1, kv_bits=4).per_token.total == 61 * 576 / 2


def test_paged_blocks_round_up():
    # 65 tokens in blocks of 64 -> 128 token slots per layer.
    spec = load_spec("deepseek-v3")
    r = kv_report(spec, context=65, block_size=64)
    assert r.per_sequence.total == 128 * 61 * 576 * 2


def test_sliding_window_layers_cap_tokens():
    # 4 layers, window 100, every 2nd layer global: at 1000 tokens layers hold 100, 1000, 100, 1000.
    spec = make_spec({"kind": "mha", "num_heads": 2, "head_dim": 4, "sliding_window": 100, "global_every": 2},
                     layers=4)
    r = kv_report(spec, context=1000)
    per_token_layer = 2 * (2 * 4) * 2  # K and V, 2 heads x 4 dims, 2 bytes
    assert r.per_sequence.total == per_token_layer * (100 + 1000 + 100 + 1000)


def test_tp_splits_kv_heads_and_replicates_when_fewer():
    spec = load_spec("deepseek-67b")  # 8 KV heads
    full = kv_report(spec, 1000).total.total
    assert kv_report(spec, 1000, parallel=Parallelism(tp=4)).per_gpu.total == full / 4
    assert kv_report(spec, 1000, parallel=Parallelism(tp=8)).per_gpu.total == full / 8
    # 16 ranks, 8 heads: each rank still keeps one head -> 1/8, not 1/16.
    assert kv_report(spec, 1000, parallel=Parallelism(tp=16)).per_gpu.total == full / 8


def test_tp_does_not_split_the_mla_latent_but_dp_attention_splits_sequences():
    spec = load_spec("deepseek-v3")
    full = kv_report(spec, 1000, batch=16).total.total
    assert kv_report(spec, 1000, batch=16, parallel=Parallelism(tp=8)).per_gpu.total == full
    dp = kv_report(spec, 1000, batch=16, parallel=Parallelism(tp=8, dp_attention=True))
    assert dp.per_gpu.total == full / 8 and dp.batch_per_gpu == 2


def test_pp_splits_layers():
    # 61 layers over 4 stages of ceil(61/4) = 16 layers: the fullest stage holds 16 layers.
    spec = load_spec("deepseek-v3")
    r = kv_report(spec, 10, parallel=Parallelism(pp=4))
    assert r.per_gpu.total == 10 * 16 * 576 * 2


def test_tp_that_does_not_divide_heads_is_an_error():
    with pytest.raises(SpecError, match="tp"):
        kv_report(load_spec("deepseek-67b"), 10, parallel=Parallelism(tp=3))


# ---- invariants -------------------------------------------------------------------------------------------

heads_kv = st.integers(1, 16).flatmap(lambda kv: st.tuples(st.just(kv), st.integers(1, 8).map(lambda g: kv * g)))


@settings(max_examples=60, deadline=None)
@given(heads_kv, st.integers(1, 256), st.integers(0, 64), st.integers(1, 4096))
def test_gqa_with_kv_heads_equal_heads_equals_mha(hk, hd, rope, ctx):
    _, heads = hk
    rope = min(rope, hd)
    base = {"num_heads": heads, "head_dim": hd, "rope_dim": rope}
    gqa = make_spec({"kind": "gqa", "num_kv_heads": heads, **base})
    mha = make_spec({"kind": "mha", **base})
    assert kv_report(gqa, ctx).total == kv_report(mha, ctx).total


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 64), st.integers(1, 256), st.integers(1, 4096))
def test_gqa_with_one_kv_head_equals_mqa(heads, hd, ctx):
    gqa = make_spec({"kind": "gqa", "num_heads": heads, "num_kv_heads": 1, "head_dim": hd})
    mqa = make_spec({"kind": "mqa", "num_heads": heads, "head_dim": hd})
    assert kv_report(gqa, ctx).total == kv_report(mqa, ctx).total


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["deepseek-v3", "deepseek-67b", "deepseek-v2"]), st.integers(1, 10**6), st.integers(1, 64),
       st.integers(2, 5))
def test_linear_in_context_and_batch(model, ctx, batch, k):
    spec = load_spec(model)
    one = kv_report(spec, ctx, batch).total.total
    assert kv_report(spec, ctx * k, batch).total.total == k * one
    assert kv_report(spec, ctx, batch * k).total.total == k * one


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 256), st.integers(1, 1024), st.integers(0, 128))
def test_mla_cache_independent_of_heads(heads, rank, rope):
    def spec(h):
        return make_spec({"kind": "mla", "num_heads": h, "kv_lora_rank": rank, "qk_nope_head_dim": 64,
                          "qk_rope_head_dim": rope, "v_head_dim": 64})
    assert kv_report(spec(heads), 100).total == kv_report(spec(heads + 7), 100).total


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5000), st.sampled_from([16, 64, 256]))
def test_paged_never_smaller_and_within_one_block(ctx, block):
    spec = load_spec("deepseek-v3")
    exact = kv_report(spec, ctx).per_sequence.total
    paged = kv_report(spec, ctx, block_size=block).per_sequence.total
    per_token = kv_report(spec, 1).per_token.total
    assert exact <= paged < exact + block * per_token


# ---- audit 5: invariants across the built-in zoo (property-tested; all held) ----------------------------------

ZOO = ["deepseek-67b", "deepseek-v3", "deepseek-v3.2", "gemma-3-27b", "gpt-oss-20b", "kimi-linear-48b-a3b",
       "llama-3.1-8b", "llama-4-scout", "minicpm3-4b", "mistral-7b", "qwen2.5-7b", "qwen3-next-80b-a3b"]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["deepseek-67b", "llama-3.1-8b", "qwen2.5-7b", "variant-gqa2-128", "llama-2-7b"]),
       st.sampled_from([2, 4, 8, 16, 32]), st.integers(1, 65536))
def test_tp_divides_gqa_kv_by_the_smaller_of_tp_and_kv_heads(model, tp, ctx):
    """Each rank keeps max(1, g / tp) of g KV heads (replicated past g): the KV a GPU holds is total / min(tp, g)."""
    spec = load_spec(model)
    try:
        par = Parallelism(tp=tp).check(spec)
    except SpecError:
        return                                   # query heads that do not split over tp
    whole = kv_report(spec, ctx).per_gpu.total
    assert kv_report(spec, ctx, parallel=par).per_gpu.total == whole / min(tp, spec.attention.num_kv_heads)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["deepseek-v3", "deepseek-v2", "minicpm3-4b", "kimi-k2"]), st.sampled_from([2, 4, 8]),
       st.integers(1, 65536))
def test_tp_never_divides_an_mla_latent(model, tp, ctx):
    spec = load_spec(model)
    assert kv_report(spec, ctx, parallel=Parallelism(tp=tp)).per_gpu == kv_report(spec, ctx).per_gpu


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(ZOO), st.integers(1, 200_000))
def test_fp8_halves_the_bf16_cache_but_not_indexer_keys_or_states(model, ctx):
    """Indexer keys stay fp8 with their scales and linear-attention states at their own dtype; the rest halves,
    except on DSA, whose 8-bit cache is FlashMLA's fp8-ds rows (kv_storage): 512 fp8 latents + 4 fp32 scales and
    the 64 RoPE dims still bf16, 656 B where bf16 takes 1,152."""
    spec = load_spec(model)
    b16, b8 = (kv_report(spec, ctx, kv_bits=bits).per_sequence for bits in (16, 8))
    assert b8.indexer == b16.indexer and b8.state == b16.state
    if spec.attention is not None and spec.attention.kind == "dsa":
        assert 1152 * (b8.total - b8.indexer - b8.state) == 656 * (b16.total - b16.indexer - b16.state)
    else:
        assert 2 * (b8.total - b8.indexer - b8.state) == b16.total - b16.indexer - b16.state


def test_an_fp8_cache_on_dsa_is_fp8_ds_rows():
    """DeepSeek-V3.2 at --kv-dtype fp8 (or 8 bits, or dtypes.kv: fp8): vLLM keeps any fp8 cache as fp8_ds_mla, so the
    row is 512 fp8 latents + 4 x 4 scale bytes + 64 x 2 RoPE bytes = 656 B, plus the indexer's 128 fp8 + 4-byte
    scale = 132: 788 B a token and layer (a flat fp8 row, 576 + 132 = 708, is kept by no engine)."""
    from mlacalc.kv import kv_storage

    spec = load_spec("deepseek-v3.2")
    assert kv_storage(spec, 8) == (8, "fp8-ds") and kv_storage(spec, None, "fp8-ds") == (8, "fp8-ds")
    assert kv_storage(load_spec("deepseek-v3"), 8) == (8, None)  # dense MLA keeps a flat fp8 row
    for kw in (dict(kv_bits=8), dict(kv_format="fp8-ds")):
        assert kv_report(spec, 1024, **kw).per_token_layer.total == 788


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 10**6), st.integers(1, 10**6))
def test_sliding_window_saturates_at_the_window(a, b):
    """Mistral-7B slides a 4,096-token window on every layer: past it the cache stops growing."""
    spec = load_spec("mistral-7b")
    lo, hi = sorted((a, b))
    kv = [kv_report(spec, c).per_sequence.total for c in (lo, hi)]
    assert kv[0] <= kv[1] and (lo < 4096 or kv[0] == kv[1])
    assert kv_report(spec, hi).per_sequence.total == kv_report(spec, min(hi, 4096)).per_sequence.total


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(ZOO), st.integers(2, 12), st.integers(1, 65536))
def test_pipeline_fullest_stage_is_between_an_even_share_and_the_whole(model, pp, ctx):
    """The fullest of pp stages of ceil(L / pp) layers holds at least 1/pp of the cache and never more than all of
    it; the stages' layers sum to the model's. A pp whose runs leave stages empty is refused (Parallelism.check)."""
    from hypothesis import assume
    from mlacalc.parallel import filled_stages

    spec = load_spec(model)
    assume(filled_stages(spec.num_layers, pp) == pp)
    whole = kv_report(spec, ctx).per_gpu.total
    stage = kv_report(spec, ctx, parallel=Parallelism(pp=pp)).per_gpu.total
    assert whole / pp * (1 - 1e-12) <= stage <= whole * (1 + 1e-12)
