"""The 2026 model zoo, worked out by hand: KV bytes per token and per sequence at 4k and 128k, and parameters.

Parameter totals are pinned to a transformers 5.24.0 meta-device count (``AutoModelForCausalLM.from_config``
under ``torch.device("meta")`` on each model's config.json, unique parameters summed; embeddings, decoder layers,
final norm and an untied head; no MTP/next-n layers and no vision tower), cross-checked by hand in
``docs/zoo-facts.md`` section 1 (the DSA indexer, the KDA and Gated DeltaNet layers, gpt-oss's sinks and biases).
"""

import pytest

import mlacalc
from mlacalc.attention import key_rule
from mlacalc.attention.keys import KeyRule
from mlacalc.spec import load_spec

K4, K128 = 4096, 131072


def kv(model, context, **kw):
    return mlacalc.kv_cache(model, context=context, **kw)


# ------------------------------------------------------------------------------------------------ DSA

def test_deepseek_v32_indexer_keys_are_fp8_with_a_scale_per_128_values():
    r = kv("deepseek-v3.2", K4)
    mla = 61 * (512 + 64) * 2                 # 70,272 B: the MLA latent and RoPE key per token, bf16
    indexer = 61 * (128 + 4)                  # 8,052 B: 128 fp8 values + one fp32 scale, every layer
    assert r.per_token.indexer == indexer and r.per_token.total == mla + indexer == 78_324
    assert r.per_sequence.total == 78_324 * 4096 == 320_815_104
    assert kv("deepseek-v3.2", K128).per_sequence.total == 78_324 * 131072 == 10_266_083_328


def test_glm5_kv_by_hand():
    per_token = 78 * (512 + 64) * 2 + 78 * 132                     # 89,856 + 10,296
    assert kv("glm-5", K4).per_sequence.total == per_token * 4096 == 410_222_592
    assert kv("glm-5", K128).per_sequence.total == per_token * 131072 == 13_127_122_944


def test_fp8_ds_layout_is_656_bytes_per_token_and_layer():
    r = kv("deepseek-v3.2", K4, kv_dtype=None)
    from mlacalc.kv import kv_report
    ds = kv_report(load_spec("deepseek-v3.2"), 4096, kv_bits=8, kv_format="fp8-ds")
    # 512 fp8 latent values + 4 fp32 scales + 64 bf16 RoPE values = 656 B, plus the 132-B indexer key
    assert ds.per_token_layer.total == 512 + 16 + 128 + 132
    assert ds.per_sequence.total == 61 * (656 + 132) * 4096
    assert r.per_sequence.total > ds.per_sequence.total


def test_dsa_decode_reads_topk_rows_plus_the_indexer_pass():
    spec = load_spec("deepseek-v3.2")
    r = mlacalc.roofline(spec, "h200", batch=8, context=131072)
    core, idx = r.op("attn_core").op, r.op("indexer").op
    # each of 8 queries per layer gathers 2048 selected rows of 576 bf16 values
    assert core.kv_bytes == 8 * 61 * 2048 * 576 * 2
    # the indexer reads every cached key's 132 bytes once (131,072 prior tokens + the new one)
    assert idx.kv_bytes == 8 * 61 * (131072 + 1) * 132
    dense = mlacalc.roofline("deepseek-v3", "h200", batch=8, context=131072).op("attn_core").op.kv_bytes
    assert dense / 1e9 == pytest.approx(73.7, abs=0.1)                     # the issue's ~74 GB
    assert (core.kv_bytes + idx.kv_bytes) / 1e9 == pytest.approx(9.6, abs=0.1)  # ~10 GB, indexer included


# ------------------------------------------------------------------------------------------------ hybrids

def test_qwen3_next_state_is_constant_in_context():
    # 12 full layers: K and V of 2 heads x 256 dims, bf16
    per_token = 12 * 2 * 2 * 256 * 2                                   # 24,576 B
    # 36 Gated DeltaNet layers: 32 value heads x 128 x 128 state + conv over 2*2048 + 4096 channels x (4 - 1)
    state = 36 * (32 * 128 * 128 + (2 * 2048 + 4096) * 3) * 2          # 39,518,208 B
    r4, r128 = kv("qwen3-next-80b-a3b", K4), kv("qwen3-next-80b-a3b", K128)
    assert r4.per_token.total == per_token
    assert r4.per_sequence.state == r128.per_sequence.state == state
    assert r4.per_sequence.total == per_token * 4096 + state == 140_181_504
    assert r128.per_sequence.total == per_token * 131072 + state == 3_260_743_680


def test_kimi_linear_by_hand():
    per_token = 7 * (512 + 64) * 2                                     # 7 MLA layers: 8,064 B
    # 20 KDA layers: the recurrent state in fp32 (vLLM's kda_state_dtype), the three short-conv states (q, k, v:
    # 3 x 4096 channels x 3 columns) in bf16: 20 x (2,097,152 + 73,728) = 43,417,600 B
    state = 20 * (32 * 128 * 128 * 4 + 3 * 4096 * 3 * 2)
    assert kv("kimi-linear-48b-a3b", K4).per_sequence.total == per_token * 4096 + state == 76_447_744
    assert kv("kimi-linear-48b-a3b", K128).per_sequence.total == per_token * 131072 + state == 1_100_382_208


def test_state_dtype_is_configurable():
    base = kv("qwen3-next-80b-a3b", K4).per_sequence.state
    assert mlacalc.api.kv_report(load_spec("qwen3-next-80b-a3b"), 4096, state_bits=32).per_sequence.state == 2 * base


# ------------------------------------------------------------------------------------------------ patterns

def test_gpt_oss_alternates_128_token_windows_and_full_layers():
    layer = 2 * 8 * 64 * 2                                              # K and V, 8 heads x 64, bf16: 2,048 B
    for model, layers in (("gpt-oss-120b", 36), ("gpt-oss-20b", 24)):
        half = layers // 2
        assert kv(model, K4).per_sequence.total == half * layer * 4096 + half * layer * 128
        assert kv(model, K128).per_sequence.total == half * layer * 131072 + half * layer * 128
    assert kv("gpt-oss-120b", K4).per_sequence.total == 155_713_536
    assert kv("gpt-oss-120b", K128).per_sequence.total == 4_836_556_800


def test_gemma3_five_local_to_one_global():
    spec = load_spec("gemma-3-27b")
    assert [spec.layer_type(i) for i in range(6)] == ["sliding"] * 5 + ["full"]
    layer = 2 * 16 * 128 * 2                                            # 8,192 B
    assert kv("gemma-3-27b", K4).per_sequence.total == 10 * layer * 4096 + 52 * layer * 1024 == 771_751_936
    assert kv("gemma-3-27b", K128).per_sequence.total == 10 * layer * 131072 + 52 * layer * 1024


def test_llama4_chunked_layers_hold_at_most_one_chunk():
    layer = 2 * 8 * 128 * 2                                             # 4,096 B
    assert kv("llama-4-scout", K4).per_sequence.total == 48 * layer * 4096 == 805_306_368
    assert kv("llama-4-scout", K128).per_sequence.total == 12 * layer * 131072 + 36 * layer * 8192 == 7_650_410_496


def test_chunked_queries_attend_within_their_chunk():
    r = KeyRule(chunk=4)
    assert [r.keys(p) for p in range(9)] == [1, 2, 3, 4, 1, 2, 3, 4, 1]
    assert r.pairs(0, 9) == sum([1, 2, 3, 4, 1, 2, 3, 4, 1])
    assert r.pairs(5, 3) == 2 + 3 + 4
    assert r.read(5, 1) == 2                                            # decode at position 5: keys 4 and 5
    w = KeyRule(window=3)
    assert w.pairs(0, 6) == 1 + 2 + 3 + 3 + 3 + 3
    t = KeyRule(topk=2)
    assert t.pairs(0, 4) == 1 + 2 + 2 + 2 and t.read(0, 4) == t.pairs(0, 4)


def test_minicpm3_is_mla_with_a_small_latent():
    assert kv("minicpm3-4b", K4).per_sequence.total == 62 * (256 + 32) * 2 * 4096 == 146_276_352


# ------------------------------------------------------------------------------------------------ params

@pytest.mark.parametrize("model,total", [
    ("deepseek-v3.2", 671_877_929_216),     # V3's 671,026,404,352 + the indexer: 61 x 13,959,424
    ("glm-5", 743_911_199_232),
    ("kimi-linear-48b-a3b", 49_122_675_072),
    ("qwen3-next-80b-a3b", 79_674_391_296),
    ("gpt-oss-120b", 116_829_156_672),      # OpenAI's model card: 116.83 B
    ("gpt-oss-20b", 20_914_757_184),        # 20.91 B
    ("gemma-3-27b", 27_009_346_304),        # the text decoder
    ("llama-4-scout", 107_769_861_120),     # the text decoder
    ("minicpm3-4b", 4_073_875_968),         # tied embeddings (MiniCPM3Config's default)
])
def test_parameter_totals_match_a_meta_device_count(model, total):
    assert mlacalc.weights(model).params.total == total


def test_dsa_indexer_weights_by_hand():
    w = mlacalc.weights("deepseek-v3.2").attention_per_layer
    # wq_b 1536 x 64*128, wk 7168 x 128, k_norm weight+bias 2 x 128, weights_proj 7168 x 64
    assert w["index_q"] + w["index_k"] + w["index_k_norm"] + w["index_weights"] == \
        1536 * 64 * 128 + 7168 * 128 + 256 + 7168 * 64 == 13_959_424


def test_gated_deltanet_layer_by_hand():
    w = mlacalc.weights("qwen3-next-80b-a3b").linear_attention_per_layer
    assert sum(w.values()) == (2048 * (2 * 2048 + 2 * 4096) + 2048 * 2 * 32 + 8192 * 4 + 32 + 32 + 128
                               + 4096 * 2048) == 33_718_464


def test_layer_rules_follow_the_layer_types():
    spec = load_spec("llama-4-scout")
    assert key_rule(spec, 0) == KeyRule(chunk=8192) and key_rule(spec, 3) == KeyRule()
