"""MiniMax-M3 (``minimax_m3_vl``, decoder ``minimax_m3_vl_text``) read with MiniMax Sparse Attention (the ``msa``
family, mlacalc/attention/msa.py; docs/zoo-facts.md section 39). Numbers worked out by hand from the release's
config.json (tests/fixtures/hf/minimax_m3, SOURCE.md): d 6144, 60 layers, 64 query heads and 4 K/V heads of 128, a 4-head
lightning indexer of 128 dims on layers 3-59 choosing 16 key blocks of 128 tokens, dense MLPs of 12288 on layers 0-2,
128 experts of 3072 (top 4) and one shared expert of 3072 on layers 3-59, vocabulary 200064, untied head."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings, strategies as st

from mlacalc.attention import pattern
from mlacalc.attention.msa import BlockTopK
from mlacalc.errors import SpecError
from mlacalc.kv import kv_report
from mlacalc.parallel import Parallelism
from mlacalc.params import weights_report
from mlacalc.spec import load_spec, spec_from_dict, spec_to_dict
from mlacalc.step import Step, step_ops

from helpers import fixture_config, hf_fixture, refused, write_config

D, L, V = 6144, 60, 200064
SPARSE = 57                       # layers 3-59 run the indexer (sparse_attention_freq [0, 0, 0, 1 x 57])


def release():
    return hf_fixture("minimax_m3")


def text_variant(tmp_path, **changes) -> str:
    """The release's config.json with text_config keys changed (``...`` removes one); sparse_attention_config keys
    as ``sparse__<key>``."""
    c = fixture_config("minimax_m3")
    t, s = c["text_config"], c["text_config"]["sparse_attention_config"]
    for k, v in changes.items():
        where, key = (s, k[len("sparse__"):]) if k.startswith("sparse__") else (t, k)
        if v is ...:
            where.pop(key, None)
        else:
            where[key] = v
    return write_config(tmp_path, c)


def by_op(ops) -> dict:
    return {o.name: o for o in ops}


# ------------------------------------------------------------------------------------------------------ the reading

def test_release_reads_as_three_gqa_layers_and_57_msa_layers():
    s = release()
    a = s.attention
    assert (a.kind, a.num_heads, a.num_kv_heads, a.qk_head_dim, a.v_head_dim, a.qk_norm) == ("msa", 64, 4, 128, 128,
                                                                                              True)
    assert (a.index_n_heads, a.index_head_dim, a.index_topk_blocks, a.index_block_size) == (4, 128, 16, 128)
    assert a.index_layers == (0, 0, 0) + (1,) * SPARSE
    assert pattern(s) == "3 GQA-4 + 57 MSA (GQA-4, top-16 x 128)"
    assert s.attention_block(0).kind == "gqa" and s.attention_block(0).index_n_heads is None
    assert s.attention_block(3) is a
    f = s.ffn
    assert (f.kind, f.intermediate_size, f.num_experts, f.experts_per_token, f.expert_intermediate_size,
            f.num_shared_experts, f.shared_width, f.first_dense_layers) == ("moe", 12288, 128, 4, 3072, 1, 3072, 3)
    # num_nextn_predict_layers 1 and num_mtp_modules 7 name MTP modules the release's weight map does not hold
    assert s.mtp_layers == 0 and s.max_context == 1_048_576 and not s.tie_word_embeddings
    assert "MTP modules the config names" in s.description and "vision tower is left out" in s.description


def test_parameter_total_by_hand_against_the_release_tensors():
    """Each layer by hand (the release's tensor list: q_proj [8192, 6144], k_proj/v_proj [512, 6144], o_proj
    [6144, 8192], q_norm/k_norm [128]; layers 3-59 index_q_proj [512, 6144], index_k_proj [128, 6144],
    index_q_norm/index_k_norm [128], gate [128, 6144], 128 experts' w1/w3 [3072, 6144] and w2 [6144, 3072],
    shared_experts gate/up [3072, 6144] and down; layers 0-2 mlp gate/up [12288, 6144] and down)."""
    attention = D * 64 * 128 + 2 * D * 4 * 128 + 64 * 128 * D + 2 * 128
    assert attention == 106_955_008
    indexer = D * 4 * 128 + D * 128 + 2 * 128
    assert indexer == 3_932_416
    dense_mlp = 3 * D * 12288
    moe = 128 * 3 * D * 3072 + 3 * D * 3072 + 128 * D          # experts, shared expert, router (its bias a buffer)
    assert moe == 7_305_166_848
    norms = 2 * D
    layers = 3 * (attention + dense_mlp + norms) + SPARSE * (attention + indexer + moe + norms)
    total = layers + V * D + V * D + D                          # embedding, untied head, final norm
    assert total == 426_174_565_632
    assert weights_report(release()).params.total == total
    # The release's 23,416 tensors hold 427,040,140,160 parameters (a public model report's count of its
    # safetensors, code corpus file id 62774369633). The rest, also by hand: the CLIP tower (patch_embedding
    # [1280, 3, 2, 14, 14], pre_layrnorm, 32 layers of q/k/v/out 1280 x 1280 with biases, fc1 1280 -> 5120 and fc2
    # back with biases, two LayerNorms), the projectors (multi_modal_projector 1280 -> 6144 -> 6144 and
    # patch_merge_mlp 24576 -> 6144 -> 6144, biased) and the routers' e_score_correction_bias (57 x 128)
    vision = 1280 * 3 * 2 * 14 * 14 + 2 * 1280 + 32 * (4 * (1280 * 1280 + 1280) + 1280 * 5120 + 5120 +
                                                        5120 * 1280 + 1280 + 4 * 1280)
    projectors = (1280 * D + D) + (D * D + D) + (4 * D * D + D) + (D * D + D)
    assert (vision, projectors) == (631_185_920, 234_381_312)
    assert total + vision + projectors + SPARSE * 128 == 427_040_140_160


def test_active_parameters_by_hand():
    """Per token: every attention and indexer weight, the dense MLPs, the routers, the shared experts, 4 of 128 routed
    experts, one embedding row and the head."""
    r = weights_report(release())
    expected = 426_174_565_632 - V * D + D - SPARSE * 124 * 3 * D * 3072
    assert r.active.total == expected == 24_733_279_488
    assert r.plain_layers == 3
    assert "3 layers without the indexer" in r.to_json()["attention_per_layer_is"]


def test_kv_bytes_per_token_by_hand_at_two_contexts():
    """bf16 K and V: 4 heads x 128 x 2 x 2 B = 2,048 B a layer on all 60 layers; the indexer's key, 128 bf16 values
    = 256 B, on the 57 sparse layers. Every token stays cached on every layer (the indexer scores all of them)."""
    kv = 60 * 4 * 128 * 2 * 2
    indexer = SPARSE * 128 * 2
    assert (kv, indexer) == (122_880, 14_592)
    for context in (1, 131_072):
        r = kv_report(release(), context)
        assert r.per_sequence.k + r.per_sequence.v == kv * context
        assert r.per_sequence.indexer == indexer * context
        assert r.per_sequence.total == (kv + indexer) * context
    assert kv_report(release(), 131_072).per_sequence.total == 18_018_729_984
    # fp8 K/V: 1,024 B a layer; the indexer's keys stay bf16 (vLLM's indexer_kv_dtype is its own setting, "bf16")
    assert kv_report(release(), 1, kv_bits=8).per_token.total == 60 * 1024 + indexer


def test_kv_per_gpu_keeps_the_indexer_whole_on_every_rank():
    """TP 8 over 4 K/V heads: each rank holds one K/V head (a quarter: vLLM replicates each over 2 ranks) and the whole
    indexer cache (one head, vLLM's MiniMaxM3IndexerCache on every rank)."""
    per_token = 122_880 // 4 + 14_592
    assert per_token == 45_312
    r = kv_report(release(), 131_072, parallel=Parallelism(tp=8))
    assert r.per_gpu.total == per_token * 131_072 == 5_939_134_464
    assert r.per_gpu.indexer == 14_592 * 131_072
    assert kv_report(release(), 131_072, parallel=Parallelism(tp=2)).per_gpu.total == (122_880 // 2 + 14_592) * 131_072


def test_attended_keys_per_query_by_hand():
    """16 blocks of 128: a query attends every key while it sees at most 16 blocks (positions 0..2047), then 15
    whole earlier blocks (1,920 keys) and its own block up to itself."""
    r = BlockTopK(block=128, blocks=16)
    assert [r.keys(p) for p in (0, 127, 2047)] == [1, 128, 2048]
    assert r.keys(2048) == 15 * 128 + 0 + 1 == 1921
    assert r.keys(2048 + 127) == 15 * 128 + 127 + 1 == 2048
    assert r.keys(131_072) == 1921 and r.keys(131_071) == 2048
    # a prefill of 4,096 from an empty cache: positions 0..2047 attend p + 1 (2,098,176 pairs); 2048..4095 attend
    # 1,920 each (3,932,160) plus their own block's 1..128 over 16 blocks (16 x 8,256 = 132,096)
    assert r.pairs(0, 4096) == 2048 * 2049 // 2 + 2048 * 1920 + 16 * (128 * 129 // 2) == 6_162_432
    assert r.read(0, 4096) == 4096                      # every block is some query's own: each key read once
    assert r.read(131_072, 1) == 1921                   # decode: the query's own 1,921 keys


def test_decode_roofline_by_hand():
    """One decode token over 131,072 cached tokens, one GPU: the 3 dense layers attend 131,073 keys, the 57 sparse
    layers 1,921 (15 x 128 + (131072 mod 128) + 1); the core does 2 x 64 heads x (128 + 128) FLOPs a key and reads
    each attended key's K and V (2,048 B). The indexer scores all 131,073 keys with 4 heads of 128 on the 57 sparse
    layers (2 x 4 x 128 FLOPs a key) and reads each key's 256-byte index entry once."""
    ops = by_op(step_ops(release(), Step("decode", batch=1, context=131_072)))
    keys = 3 * 131_073 + SPARSE * 1921
    assert keys == 502_716
    assert ops["attn_core"].flops == 2 * 64 * keys * 256
    assert ops["attn_core"].kv_bytes == keys * 2048
    assert ops["indexer"].flops == 2 * SPARSE * 131_073 * 4 * 128
    assert ops["indexer"].kv_bytes == SPARSE * 131_073 * 256
    assert ops["index_write"].kv_bytes == SPARSE * 256
    # the index projections: d x (4 x 128 + 128) a token on each sparse layer
    assert ops["index_proj"].flops == 2 * SPARSE * D * (4 * 128 + 128)


def test_prefill_roofline_at_tp8_by_hand():
    """A 4,096-token prompt at TP 8: 8 query heads and one index head (4 over 8 ranks, like the K/V heads) a GPU. The
    dense layers' pairs are 4096 x 4097 / 2; the sparse layers' 6,162,432 (test above), each read once."""
    ops = by_op(step_ops(release(), Step("prefill", batch=1, context=4096), Parallelism(tp=8)))
    dense_pairs, sparse_pairs = 4096 * 4097 // 2, 6_162_432
    assert ops["attn_core"].flops == 2 * 8 * (3 * dense_pairs + SPARSE * sparse_pairs) * 256
    assert ops["indexer"].flops == 2 * 1 * SPARSE * dense_pairs * 128
    # the index key is one head every rank holds and reads whole: 4,096 keys of 256 B a sparse layer, and each rank
    # writes every token's key; the index_q rows of its one index head and all of index_k (replicated)
    assert ops["indexer"].kv_bytes == SPARSE * 4096 * 256
    assert ops["index_write"].kv_bytes == SPARSE * 4096 * 256
    assert ops["index_proj"].weight_bytes == SPARSE * 2 * (D * 128 + D * 128)
    assert ops["index_proj"].flops == 2 * SPARSE * 4096 * D * (128 + 128)


def test_weights_per_gpu_at_tp8_by_hand():
    """A sparse layer's attention on one of 8 ranks: q and o by query heads (1/8), k, v and index_q like the K/V heads
    (a quarter: replicated over 2 ranks each), index_k, the q/k and index norms whole."""
    from mlacalc.attention import family

    a = release().attention
    per = family(a).projections_per_rank(a, D, Parallelism(tp=8))
    assert per == {"q": D * 8192 / 8, "k": D * 512 / 4, "v": D * 512 / 4, "o": 8192 * D / 8, "qk_norm": 256,
                   "index_q": D * 512 / 4, "index_k": D * 128, "index_norm": 256}


def test_builtin_spec_is_the_release_read():
    s, r = load_spec("minimax-m3"), release()
    assert weights_report(s).params.total == weights_report(r).params.total
    assert kv_report(s, 4096).per_sequence == kv_report(r, 4096).per_sequence
    keep = ("name", "source", "description")
    assert {k: v for k, v in spec_to_dict(s).items() if k not in keep} == \
        {k: v for k, v in spec_to_dict(r).items() if k not in keep}


def test_transformers_5_names_read_the_same(tmp_path):
    """A text_config as MiniMaxM3VLTextConfig saves it (layer_types, mlp_layer_types and the flat index_* fields, no
    sparse_attention_config or moe_layer_freq) reads as the release's keys do."""
    freq = [0, 0, 0] + [1] * SPARSE
    path = text_variant(tmp_path, sparse_attention_config=..., moe_layer_freq=...,
                        layer_types=["minimax_m3_sparse" if f else "full_attention" for f in freq],
                        mlp_layer_types=["sparse" if f else "dense" for f in freq], index_n_heads=4,
                        index_head_dim=128, index_block_size=128, index_topk_blocks=16, index_local_blocks=1)
    s = load_spec(path)
    assert spec_to_dict(s)["attention"] == spec_to_dict(release())["attention"]
    assert weights_report(s).params.total == 426_174_565_632


def test_class_defaults_without_a_sparse_block(tmp_path):
    """A text_config giving nothing: MiniMaxM3VLTextConfig's defaults (6144, 60 layers, 64/4 heads of 128, 128
    experts of 3072, top 4, vocabulary 200064, context 524288), every layer full attention without an indexer
    (layer_types all full_attention: no sparse_attention_freq) and MoE (mlp_layer_types all sparse), the shared expert
    of shared_intermediate_size 3072 that MiniMaxM3VLSparseMoeBlock always builds."""
    s = load_spec(write_config(tmp_path, {"model_type": "minimax_m3_vl", "text_config": {}}))
    assert s.attention.kind == "gqa" and s.ffn.first_dense_layers == 0 and s.max_context == 524_288
    layer = 106_955_008 + 7_305_166_848 + 2 * D
    assert weights_report(s).params.total == 60 * layer + 2 * V * D + D
    assert kv_report(s, 1).per_token.total == 122_880


def test_quantized_checkpoint_names_the_indexer(tmp_path):
    """Block fp8 whose ignore list keeps the index projections in bf16 (vLLM's Fp8Config ignored_layers, against the
    checkpoint's language_model.model.layers.N.self_attn.index_q_proj / index_k_proj): kept apart as
    quantization.unquantized, 57 x 3,932,160 parameters plus the index norms at 16 bits."""
    c = fixture_config("minimax_m3")
    c["quantization_config"] = {"quant_method": "fp8", "weight_block_size": [128, 128],
                                "ignored_layers": ["lm_head", "re:.*index_(q|k)_proj"]}
    s = load_spec(write_config(tmp_path, c))
    assert s.quantization.unquantized == ("index_q", "index_k")
    assert s.quantization.components == ("attention", "dense_ffn", "shared_experts", "routed_experts")
    r = weights_report(s)
    assert r.params.attention_unquantized == SPARSE * (D * 512 + D * 128 + 256)
    assert r.bytes.attention_unquantized == 2 * SPARSE * (D * 512 + D * 128 + 256)


def test_the_mxfp8_release_stays_one_line(capsys, tmp_path):
    """MiniMax-M3-MXFP8 (``quant_method: mxfp8``): no reader takes that method (``mxfp8`` is read only as MLX's
    ``mode``), and no copy of the release's quantization_config was found to price one against (docs/zoo-facts.md
    section 39). The shape engines read (vLLM's Mxfp8Config: ``ignored_layers``; SGLang's Fp8Config: e4m3 values,
    ``weight_block_size`` [1, 32], ``scale_fmt`` ue8m0) would price 8 + 8 / 32 bits a weight, but which modules the
    release leaves out is not known: refused, not guessed."""
    c = fixture_config("minimax_m3")
    c["quantization_config"] = {"quant_method": "mxfp8", "activation_scheme": "dynamic", "fmt": "e4m3",
                                "weight_block_size": [1, 32], "scale_fmt": "ue8m0", "ignored_layers": ["lm_head"]}
    refused(capsys, "weights", write_config(tmp_path, c), words="quant_method mxfp8 is not modelled")


# -------------------------------------------------------------------------------------------------- properties

@settings(max_examples=300, deadline=None)
@given(block=st.integers(1, 40), blocks=st.integers(1, 12), prior=st.integers(0, 2000), new=st.integers(1, 300))
def test_pairs_are_the_sum_of_each_querys_keys_and_never_exceed_the_block_budget(block, blocks, prior, new):
    r = BlockTopK(block=block, blocks=blocks)
    keys = [r.keys(p) for p in range(prior, prior + new)]
    assert r.pairs(prior, new) == sum(keys)
    assert max(keys) <= blocks * block and all(k <= p + 1 for k, p in zip(keys, range(prior, prior + new)))
    assert r.read(prior, new) <= min(sum(keys), prior + new)
    assert r.held(prior + new) == prior + new            # every token stays cached


@pytest.mark.parametrize("context", [1, 7, 128, 2049, 100_000])
def test_kv_is_linear_in_context(context):
    per_token = kv_report(release(), 1).per_sequence
    assert kv_report(release(), context).per_sequence == per_token.scaled(context)


def test_attended_keys_grow_no_more_once_the_blocks_are_full():
    """Past 16 blocks each decode step's sparse core attends at most 2,048 keys a layer, whatever the context."""
    spec = release()
    sparse = lambda c: (by_op(step_ops(spec, Step("decode", batch=1, context=c)))["attn_core"].kv_bytes  # noqa: E731
                        - 3 * (c + 1) * 2048) / (SPARSE * 2048)
    rng = random.Random(39)
    for c in [2047, 2048, 4095, *(rng.randrange(2048, 10**6) for _ in range(20))]:
        assert 1 <= sparse(c) <= 16 * 128
        assert sparse(c) == BlockTopK(block=128, blocks=16).keys(c)


# -------------------------------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("changes, words", [
    ({"sparse__sparse_local_block": 0}, "sparse_local_block 0: without the query's own block forced"),
    ({"sparse__sparse_init_block": 16}, "sparse_init_block 16 and sparse_local_block 1 force more blocks than "
                                        "sparse_topk_blocks 16"),
    ({"sparse__use_sparse_attention": False}, "use_sparse_attention False beside layers"),
    ({"sparse__sparse_score_type": "sum"}, "sparse_score_type 'sum'"),
    ({"sparse__sparse_disable_index_value": [0] * 60}, "an index value path on layer 3"),
    ({"sparse__sparse_attention_freq": [1] * 60}, "layer_types"),         # below: with layer_types given
    ({"index_topk_blocks": 8}, "index_topk_blocks 8 and sparse_attention_config.sparse_topk_blocks 16"),
    ({"n_shared_experts": 2}, "n_shared_experts 2 beside shared_intermediate_size 3072"),
    ({"n_shared_experts": 0}, "n_shared_experts 0 beside"),
    ({"attention_output_gate": True}, "attention_output_gate True: neither transformers nor vLLM"),
    ({"moe_layer_freq": [0, 0, 0] + [1] * 30 + [0] + [1] * 26}, "a dense MLP between MoE layers (layer 33)"),
    ({"moe_layer_freq": [1] * 59}, "moe_layer_freq has 59 entries for 60 layers"),
    ({"moe_layer_freq": "all"}, "moe_layer_freq must be a list of 0 and 1"),
    ({"sparse__sparse_num_index_heads": 8}, "attention.index_n_heads: (8) must equal num_kv_heads (4)"),
    ({"sparse_attention_config": "on"}, "sparse_attention_config must be a mapping"),
    ({"sparse__sparse_block_size": 0}, "index_block_size must be a whole number of at least 1"),
])
def test_what_the_engines_would_build_otherwise_is_one_line(tmp_path, capsys, changes, words):
    if "sparse__sparse_attention_freq" in changes:
        changes = {**changes, "layer_types": ["full_attention"] * 3 + ["minimax_m3_sparse"] * SPARSE}
        words = "layer_types and sparse_attention_config.sparse_attention_freq disagree at layer 0"
    path = text_variant(tmp_path, **changes)
    for command in (("kv", path), ("weights", path), ("roofline", path, "--json")):
        refused(capsys, *command, words=words)


def spec_dict() -> dict:
    return spec_to_dict(load_spec("minimax-m3"))


@pytest.mark.parametrize("change, where, words", [
    ({"index_layers": [1] * 59}, "attention.index_layers", "has 59 entries for 60 layers"),
    ({"index_layers": [0] * 60}, "attention.index_layers", "marks no layer: without an indexer the model is kind gqa"),
    ({"index_layers": [2] * 60}, "attention.index_layers[0]", "must be 0 or 1, got 2"),
    ({"index_topk_blocks": None}, "attention.index_topk_blocks", "is required for kind msa"),
    ({"index_topk": 2048}, "attention.index_topk", "only applies to kind dsa or compressed, not msa"),
    ({"sliding_window": 4096}, "attention.sliding_window", "does not apply to msa"),
    ({"kind": "gqa"}, "attention.index_topk_blocks", "only applies to kind msa, not gqa"),
    ({"kv_share_layers": 2}, "attention.kv_share_layers", "not modelled for msa attention"),
    # DeepSeek-V4's fields and GQA's value rules hold on msa too (both were read silently, changing no number: the
    # family checked its own fields only, not the conventional family's)
    ({"csa_rate": 4}, "attention.csa_rate", "only applies to kind compressed, not msa"),
    ({"o_groups": 8, "o_lora_rank": 1024}, "attention.o_groups", "only applies to kind compressed, not msa"),
    ({"v_from_k": True, "v_head_dim": 64}, "attention.v_from_k", "must be the key head dim (128)"),
])
def test_bad_msa_specs_are_one_line(tmp_path, capsys, change, where, words):
    raw = spec_dict()
    raw["attention"].update(change)
    with pytest.raises(SpecError) as e:
        spec_from_dict(raw)
    assert e.value.field == where and words in e.value.message
    f = tmp_path / "m3.yaml"
    f.write_text(json.dumps(raw))
    refused(capsys, "kv", str(f), words=words)


@pytest.mark.parametrize("command, words", [
    (("kv", "minimax-m3", "--kv-dtype", "int4"), "int4: MiniMax-M3's sparse attention kernels read bf16 or fp8"),
    (("train", "minimax-m3"), "training memory of MSA"),
    (("profile", "minimax-m3"), "the profiler builds no MSA layers"),
    (("kv", "minimax-m3", "--set", "attention.index_layers=[1,1]"), "has 2 entries for 60 layers"),
])
def test_commands_msa_cannot_answer_are_one_line(capsys, command, words):
    refused(capsys, *command, words=words)


def test_as_gqa_drops_the_indexer():
    """``--as gqa:4``: the same heads without the indexer, its fields dropped (they made every --as fail)."""
    from mlacalc.spec import convert_attention, raw_spec

    s = spec_from_dict(convert_attention(raw_spec("minimax-m3"), "gqa:4"))
    assert s.attention.kind == "gqa" and s.attention.index_layers is None
    assert kv_report(s, 1).per_token.total == 122_880
    assert weights_report(s).params.total == 426_174_565_632 - SPARSE * 3_932_416


def test_the_layers_without_the_indexer_take_the_kind_their_heads_make():
    """One K/V head (and so one index head): the 3 layers without the indexer are MQA, holding 1 x 128 x 2 x 2 B a
    token each; the 57 sparse layers that and their 256-byte index key."""
    raw = spec_dict()
    raw["attention"].update(num_kv_heads=1, index_n_heads=1)
    s = spec_from_dict(raw)
    assert s.attention_block(0).kind == "mqa" and s.attention_block(59).kind == "msa"
    assert pattern(s) == "3 MQA + 57 MSA (MQA, top-16 x 128)"
    assert kv_report(s, 1).per_token.total == 60 * 512 + SPARSE * 256


def test_its_text_config_saved_alone_is_read_by_its_architecture(tmp_path):
    """The release's text_config on its own says model_type minimax_m2 and architectures MiniMaxM3SparseForCausalLM:
    vLLM's registry builds MiniMax-M3 by the architecture (transformers would build MiniMax-M2 from the model_type,
    which cannot load the checkpoint). It was refused by accident ("moe_layer_freq must be a whole number");
    MiniMax-M2's own file (architectures MiniMaxM2ForCausalLM) still reads as MiniMax-M2."""
    text = {**fixture_config("minimax_m3")["text_config"], "model_type": "minimax_m2"}
    s = load_spec(write_config(tmp_path, text))
    assert s.attention.kind == "msa" and weights_report(s).params.total == 426_174_565_632
    assert s.description.startswith("read as minimax_m3_vl_text")
    assert hf_fixture("minimax_m2").attention.kind == "gqa"


@pytest.mark.parametrize("model,field,owner", [
    ("llama-3.1-8b", "index_n_heads", "dsa, compressed or msa"),
    ("llama-3.1-8b", "index_cache_bytes", "dsa, compressed or msa"),
    ("deepseek-v3", "index_head_dim", "dsa, compressed or msa"),
    ("llama-3.1-8b", "index_topk", "dsa or compressed"),
])
def test_indexer_fields_on_a_family_without_one_name_every_owner(capsys, model, field, owner):
    """The indexer's heads, width and key bytes belong to MSA too (MiniMax-M3), so a refusal elsewhere names it; a
    per-token top-k stays DSA's and DeepSeek-V4's (MSA picks blocks). Was 'only applies to kind dsa or compressed'
    for all four."""
    refused(capsys, "kv", model, "--set", f"attention.{field}=64",
            words=f"attention.{field}: only applies to kind {owner}")
