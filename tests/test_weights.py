"""Parameter counts against hand-worked numbers and the papers' totals."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.spec import load_spec
from mlacalc.parallel import Parallelism
from mlacalc.params import attention_projections, param_counts, params_per_gpu, weight_bytes, \
    weights_report

from helpers import make_spec


def test_tiny_mha_by_hand():
    # d=256, 4 heads x 64, vocab 1000, 2 layers, gated FFN 512, untied head.
    spec = make_spec({"kind": "mha", "num_heads": 4, "head_dim": 64})
    attn = 4 * 256 * 256                 # q, k, v, o: each 256 x 256
    ffn = 3 * 256 * 512                  # gate, up, down
    norms = 2 * 256 * 2 + 256            # two per layer, and the final one
    embed = head = 1000 * 256
    p = param_counts(spec)
    assert p.attention == 2 * attn and p.dense_ffn == 2 * ffn and p.norms == norms
    assert p.total == embed + head + 2 * (attn + ffn) + norms


def test_gqa_and_kv_shared_projections():
    # 8 heads x 32 dims, 2 KV heads: q 256x256, k and v 256x64 each, o 256x256; kv_shared drops v.
    a = {"kind": "gqa", "num_heads": 8, "num_kv_heads": 2, "head_dim": 32}
    assert attention_projections(make_spec(a)) == {"q": 65536, "k": 16384, "v": 16384, "o": 65536}
    assert "v" not in {k for k, v in attention_projections(make_spec(a | {"kv_shared": True})).items() if v}


def test_mla_projections_deepseek_v3():
    # DeepSeek-V3: d=7168, q_lora 1536, kv_lora 512, 128 heads, nope 128, rope 64, v 128.
    p = attention_projections(load_spec("deepseek-v3"))
    assert p["q_down"] == 7168 * 1536
    assert p["q_up"] == 1536 * 128 * (128 + 64)
    assert p["kv_down"] == 7168 * (512 + 64)
    assert p["kv_up"] == 512 * 128 * (128 + 128)
    assert p["o"] == 128 * 128 * 7168
    assert p["q_norm"] == 1536 and p["kv_norm"] == 512


@pytest.mark.parametrize("model,total_b,active_b", [
    ("deepseek-v3", 671, 37),   # DeepSeek-V3 report: 671B total, 37B activated (MTP module apart)
    ("deepseek-v2", 236, 21),   # DeepSeek-V2 paper: 236B total, 21B activated
    ("deepseek-67b", 67, 67),
])
def test_paper_totals(model, total_b, active_b):
    r = weights_report(load_spec(model))
    assert round(r.params.total / 1e9) == total_b
    assert round(r.active.total / 1e9) == active_b


def test_fp8_bytes_keep_embeddings_in_bf16():
    spec = make_spec({"kind": "mha", "num_heads": 4, "head_dim": 64})
    p = param_counts(spec)
    b = weight_bytes(p, 8)
    assert b.attention == p.attention and b.embed == 2 * p.embed and b.norms == 2 * p.norms


def test_tp_splits_heads_but_replicates_mla_down_projections():
    spec = load_spec("deepseek-v3")
    one = params_per_gpu(spec, Parallelism())
    tp8 = params_per_gpu(spec, Parallelism(tp=8))
    a = attention_projections(spec)
    replicated = a["q_down"] + a["kv_down"] + a["q_norm"] + a["kv_norm"]
    split = a["q_up"] + a["kv_up"] + a["o"]
    assert tp8.attention == pytest.approx(61 * (replicated + split / 8))
    assert one.attention == 61 * (replicated + split)


def test_ep_splits_routed_experts():
    spec = load_spec("deepseek-v3")
    full = param_counts(spec).routed_experts
    assert params_per_gpu(spec, Parallelism(dp=8, ep=8)).routed_experts == pytest.approx(full / 8)


def test_dp_attention_holds_the_whole_embedding_and_a_vocab_split_head():
    """Under data-parallel attention each rank embeds its own sequences' tokens from a whole table (SGLang:
    ``VocabParallelEmbedding(enable_tp=not is_dp_attention_enabled())``; vLLM's DP ranks hold whole models), as
    the roofline's embed op reads it; the head stays vocab-split over the TP group (SGLang's ParallelLMHead
    without --enable-dp-lm-head). Audit 5: the embedding was counted 1/tp, DeepSeek-V3 at tp 8 holding 1.51 GiB
    less than it does, and ``fit`` at 32k reported 128 sequences instead of 120."""
    spec = load_spec("deepseek-v3")
    v, d = 129280, 7168
    g = params_per_gpu(spec, Parallelism(tp=8, dp_attention=True, ep=8))
    assert g.embed == v * d and g.head == v * d / 8
    assert params_per_gpu(spec, Parallelism(tp=8)).embed == v * d / 8


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([1, 2, 4, 8]))
def test_per_gpu_never_exceeds_total_and_parts_sum(tp):
    spec = load_spec("deepseek-67b")
    g = params_per_gpu(spec, Parallelism(tp=tp))
    assert g.total <= param_counts(spec).total
    assert g.total == pytest.approx(sum(v for k, v in g.as_dict().items() if k != "total"))
