"""Every claim of the reference notes (../shared/seeds/) that a calculator can check, checked through the CLI.

Each test names the note and quotes the claim, works the expected number by hand, and asks `mlacalc ... --json`.
Some claims come out false or only conditionally true; the test pins what the numbers say.
"""

import json

import pytest

from mlacalc.cli import main

GIB = 2**30


def ask(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main([*args, "--json"])
    out, _ = capsys.readouterr()
    assert e.value.code == 0
    return json.loads(out)


# ---- 001: "MLA compresses the KV cache by more than 90%, 93.3% per DeepSeek's report" -----------------------

def test_001_93_percent_is_v2_at_6_bits_against_67b(capsys):
    # 67B: 95 layers x 2 (K,V) x 8 heads x 128 x 2 B = 389,120 B; V2: 60 x 576 x 6/8 = 25,920 B -> 93.3%.
    rows = ask(capsys, "compare", "deepseek-67b", "deepseek-v2@dtypes.kv=6")["models"]
    assert rows[0]["kv_bytes_per_token"] == 389_120 and rows[1]["kv_bytes_per_token"] == 25_920
    assert round(rows[1]["kv_reduction_pct"], 1) == 93.3
    # At equal bf16 it is 82.2%: 60 x 576 x 2 = 69,120 B.
    rows = ask(capsys, "compare", "deepseek-67b", "deepseek-v2")["models"]
    assert round(rows[1]["kv_reduction_pct"], 1) == 82.2


def test_001_against_its_own_mha_twin_mla_saves_98_6_percent(capsys):
    # DeepSeek-V3 as MHA: 128 heads x (192 + 128) = 40,960 elements per token-layer vs 576 for MLA.
    rows = ask(capsys, "compare", "deepseek-v3@as=mha", "deepseek-v3")["models"]
    assert rows[1]["kv_ratio_to_baseline"] == pytest.approx(576 / 40_960)
    assert round(rows[1]["kv_reduction_pct"], 1) == 98.6


def test_001_v3_has_671b_parameters(capsys):
    w = ask(capsys, "weights", "deepseek-v3")
    assert round((w["params_total"] - w["params"]["mtp"]) / 1e9) == 671
    assert round(w["params_active"] / 1e9) == 37


def test_001_eight_h800_cannot_hold_v3_weights_at_fp8(capsys):
    # "a single 8 x H800 node runs it": 671e9 fp8 bytes / 8 GPUs is 78 GiB before embeddings and head in bf16;
    # 90% of 80 GiB is 72 GiB. The weights alone do not fit, so no batch does.
    f = ask(capsys, "fit", "deepseek-v3", "--gpu", "h800", "--tp", "8", "--context", "4k")["fits"][0]
    assert f["memory_per_gpu"]["weights"] > 671e9 / 8 > 0.9 * 80 * GIB
    assert f["max_batch"] == 0


def test_001_smaller_cache_means_bigger_batches_and_cheaper_tokens(capsys):
    # 8 x H200, data-parallel attention (each GPU keeps whole sequences), experts spread, 32k context.
    fits = ask(capsys, "fit", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--dp-attention", "--ep", "8",
               "--context", "32k", "--as", "gqa:8", "--as", "mha")["fits"]
    mla, gqa, mha = fits
    assert mla["max_batch"] > gqa["max_batch"] > mha["max_batch"] == 0
    # 317 vs 85 tokens/s per GPU expected (batch 120 vs 16): 3.5x on the H200's 140.4 GiB (nvidia-smi: 143,771 MiB;
    # MTP weights left out without --q-tokens > 1, shared experts whole on each rank under dp-attention with EP)
    assert mla["decode"]["tokens_per_s_per_gpu"] > 2.5 * gqa["decode"]["tokens_per_s_per_gpu"]


def test_001_but_under_plain_tp_the_replicated_latent_loses_to_gqa8(capsys):
    # Without dp-attention every rank holds the whole latent (576/token-layer) while GQA-8 keeps one of its
    # 8 KV heads (256/token-layer): the claim needs data-parallel attention.
    fits = ask(capsys, "fit", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--context", "32k",
               "--as", "gqa:8")["fits"]
    assert fits[1]["max_batch"] > fits[0]["max_batch"]


def test_001_mla_moves_decode_towards_compute_bound_only_with_many_heads_per_gpu(capsys):
    # Absorbed MLA: per cached token each head does 2 x (576 + 512) FLOPs over 576 x 2 bytes read once for all
    # heads: ~1.89 x heads FLOP/B. 128 heads -> ~240, under the H100's ridge 989e12/3.35e12 = 295.
    a1 = ask(capsys, "roofline", "deepseek-v3", "--batch", "32", "--context", "32k", "--gpu", "h100-sxm")["attn_core"]
    assert a1["intensity"] == pytest.approx(2 * 1088 / 1152 * 128, rel=0.03) and a1["bound"] == "memory"
    a2 = ask(capsys, "roofline", "deepseek-v3", "--batch", "32", "--context", "32k", "--gpu", "h100-sxm",
             "--q-tokens", "2")["attn_core"]
    assert a2["bound"] == "compute"
    # With TP=8, 16 heads per GPU: ~30 FLOP/B, memory-bound again.
    a8 = ask(capsys, "roofline", "deepseek-v3", "--batch", "32", "--context", "32k", "--gpu", "h100-sxm",
             "--tp", "8")["attn_core"]
    assert a8["intensity"] == pytest.approx(2 * 1088 / 1152 * 16, rel=0.03) and a8["bound"] == "memory"
    # GQA (Llama-3.1-8B, groups of 4): 4 heads x 2 x 256 FLOPs per 2 x 128 x 2 bytes = 4 FLOP/B.
    g = ask(capsys, "roofline", "llama-3.1-8b", "--batch", "32", "--context", "32k", "--gpu", "h100-sxm")["attn_core"]
    assert g["intensity"] == pytest.approx(4.0, rel=0.01)


# ---- 002: "at 128K context" ----------------------------------------------------------------------------------

def test_002_128k_context_cache_of_v3_and_its_mha_twin(capsys):
    # 131,072 x 61 x 576 x 2 B = 8.58 GiB; as MHA 131,072 x 61 x 40,960 x 2 B = 610 GiB.
    assert ask(capsys, "kv", "deepseek-v3", "--context", "128k")["kv_bytes_total"] == 131072 * 61 * 576 * 2
    assert ask(capsys, "kv", "deepseek-v3", "--context", "128k", "--as", "mha")["kv_bytes_total"] / GIB == 610


# ---- 003: the attention variants and "GQA2-(192+64)-S2 supports TP" --------------------------------------------

@pytest.mark.parametrize("variant,elements", [
    ("variant-mha", 2 * 16 * 128),          # K and V, 16 heads x 128
    ("variant-gqa2-128", 2 * 2 * 128),      # K and V, 2 groups x 128
    ("variant-gqa1-256", 2 * 256),          # K and V, 1 group x 256
    ("variant-gqa1-256-pr", 2 * 256),
    ("variant-mla", 512 + 64),              # latent + RoPE key
    ("variant-mla-256", 512 + 64),
    ("variant-gqa2-192-64-s2", 2 * (192 + 64)),  # K only: V shares it
])
def test_003_cache_per_token_layer(capsys, variant, elements):
    assert ask(capsys, "kv", variant)["kv_bytes_per_token_layer"] == elements * 2


def test_003_s2_splits_over_tensor_parallel_ranks_mla_does_not(capsys):
    s2 = ask(capsys, "kv", "variant-gqa2-192-64-s2", "--tp", "2", "--context", "1k")
    mla = ask(capsys, "kv", "variant-mla", "--tp", "2", "--context", "1k")
    assert s2["kv_bytes_per_gpu"] == s2["kv_bytes_total"] / 2
    assert mla["kv_bytes_per_gpu"] == mla["kv_bytes_total"]


# ---- 000: "a 512-wide cache suffices, so why not a 512-wide model? It would save 87.5% of compute" ------------

def test_000_shrinking_the_width_8x_cuts_projection_flops_64x_not_8x(capsys):
    # Every d x d projection scales with d^2: 1 - (512/4096)^2 = 98.4% saved, not 1 - 512/4096 = 87.5%.
    wide = ask(capsys, "roofline", "llama-2-7b", "--phase", "prefill", "--context", "1k", "--gpu", "h100-sxm")
    narrow = ask(capsys, "roofline", "llama-2-7b", "--phase", "prefill", "--context", "1k", "--gpu", "h100-sxm",
                 "--set", "hidden_size=512", "--set", "attention.num_heads=4", "--set", "attention.num_kv_heads=4",
                 "--set", "ffn.intermediate_size=1376")
    op = {o["name"]: o["flops"] for o in wide["ops"]}
    op_n = {o["name"]: o["flops"] for o in narrow["ops"]}
    assert op_n["o_proj"] / op["o_proj"] == pytest.approx((512 / 4096) ** 2)


# ---- 004: "in training MLA keeps a 512-wide latent instead of 128 x 128 expanded dims: ~32x" ------------------

def test_004_latent_against_expanded_activations(capsys):
    t = ask(capsys, "train", "deepseek-v3", "--seq", "4k", "--pp", "16", "--dp", "64", "--ep", "64", "--zero", "1",
            "--recompute", "mla-latent")["mla_latent_vs_expanded"]
    # The note's 16,384 = 128 heads x 128 dims for one of K or V against 512 -> 32x; for K and V, 64x.
    assert t["note_ratio"] == 128 * (128 + 128) / 512 == 64
    # Exactly: K has 128 + 64 dims per head, V 128, and the kept latent has the 64-wide RoPE key: 40,960 / 576.
    assert t["kv_ratio"] == pytest.approx(128 * (192 + 128) / 576)
    # What a whole MoE layer keeps shrinks far less: the routed-expert tensors dominate.
    assert 1.0 < t["layer_ratio"] < 2.0


# ---- 000, 002: "MLA compresses a 4096-wide (or wider) KV cache to 512 dims" ------------------------------------

def test_000_the_512_is_the_latent_alone_the_cache_adds_a_64_wide_rope_key(capsys):
    # DeepSeek-V3 config: kv_lora_rank 512, qk_rope_head_dim 64, 61 layers. The notes' "512" is c_KV only; the
    # decoupled RoPE key k_R is cached beside it: 576 elements per token and layer, 12.5% more than the notes say.
    p = ask(capsys, "kv", "deepseek-v3")["parts_per_token"]
    assert p["latent"] == 61 * 512 * 2 and p["rope_key"] == 61 * 64 * 2
    assert p["total"] == 61 * 576 * 2
    # "4096 dims or more" uncompressed: V3's own MHA twin caches 128 heads x (K 192 + V 128) = 40,960 per layer,
    # ten times the notes' 4,096; Llama-2-7B (MHA, hidden 4096) caches 2 x 32 x 128 = 8,192.
    assert ask(capsys, "kv", "deepseek-v3", "--as", "mha")["kv_bytes_per_token_layer"] == 128 * (192 + 128) * 2
    assert ask(capsys, "kv", "llama-2-7b")["kv_bytes_per_token_layer"] == 2 * 32 * 128 * 2
    # The "funnel" (wide hidden, narrow cache): V3's W_down maps the 7,168-wide hidden state to the cached 576.
    assert ask(capsys, "weights", "deepseek-v3")["attention_per_layer"]["kv_down"] == 7168 * (512 + 64)


def test_000_only_the_attention_scores_fall_by_87_5_percent_the_whole_step_by_98_2(capsys):
    # Llama-2-7B prefill of 1,024 tokens (32 layers), and the same model at width 512 (4 heads of 128, FFN 1376).
    # The scores and weighted values cost 2 x 2 x d per (query, key) pair, causal: 1024 x 1025 / 2 pairs. They
    # scale with d, so they fall 8x: the notes' 87.5% holds for them alone.
    pairs = 1024 * 1025 // 2
    wide = ask(capsys, "roofline", "llama-2-7b", "--phase", "prefill", "--context", "1k", "--gpu", "h100-sxm")
    narrow = ask(capsys, "roofline", "llama-2-7b", "--phase", "prefill", "--context", "1k", "--gpu", "h100-sxm",
                 "--set", "hidden_size=512", "--set", "attention.num_heads=4", "--set", "attention.num_kv_heads=4",
                 "--set", "ffn.intermediate_size=1376")
    core = {o["name"]: o["flops"] for o in wide["ops"]}["attn_core"]
    core_n = {o["name"]: o["flops"] for o in narrow["ops"]}["attn_core"]
    assert core == 32 * 4 * 4096 * pairs and core_n == 32 * 4 * 512 * pairs
    assert 1 - core_n / core == 0.875
    # Projections and FFN (d^2, d x f) dominate: per layer 2 x 1024 x (4 x 4096^2 + 3 x 4096 x 11008) FLOPs wide,
    # 2 x 1024 x (4 x 512^2 + 3 x 512 x 1376) narrow; with the core and the head the step saves 98.2%.
    assert round(1 - narrow["total"]["flops"] / wide["total"]["flops"], 3) == 0.982


# ---- 001: matrix absorption, decoupled RoPE, MQA/GQA, "dozens of H100s" ------------------------------------------

def test_001_absorption_attends_over_the_latent_without_decompressing_it(capsys):
    # DeepSeek-V3 decode, batch 32 x 32,768 cached tokens (+1 new), 61 layers, 128 heads, on an H100.
    toks = 32 * 32769 * 61
    args = ("roofline", "deepseek-v3", "--batch", "32", "--context", "32k", "--gpu", "h100-sxm")
    absorbed = {o["name"]: o for o in ask(capsys, *args)["ops"]}
    plain = {o["name"]: o for o in ask(capsys, *args, "--mla-form", "decompressed")["ops"]}
    # Absorbed: every head scores against the 576-wide cache row and sums 512-wide latent values,
    # 2 x (576 + 512) FLOPs a head a cached token; the cache is read once, 576 x 2 bytes a token and layer.
    assert absorbed["attn_core"]["flops"] == toks * 128 * 2 * (576 + 512)
    assert absorbed["attn_core"]["bytes"] == pytest.approx(toks * 576 * 2, rel=0.01)
    assert "kv_up" not in absorbed
    # Without absorption every step re-expands the whole cache: W_UK, W_UV map 512 -> 128 x (128 + 128) for every
    # cached token (2 x 512 x 32,768 FLOPs each), and attention reads K (192) and V (128) for each of 128 heads.
    assert plain["kv_up"]["flops"] == pytest.approx(toks * 2 * 512 * 128 * 256, rel=0.001)
    assert plain["attn_core"]["bytes"] == pytest.approx(toks * 128 * (192 + 128) * 2, rel=0.001)
    # Absorption costs 1,088 / 320 = 3.4x the attention FLOPs for 71x fewer bytes: the trade the notes describe.
    assert plain["attn_core"]["bytes"] / absorbed["attn_core"]["bytes"] > 70
    assert absorbed["attn_core"]["flops"] / plain["attn_core"]["flops"] == pytest.approx(1088 / 320, rel=0.001)


def test_001_mha_decode_is_bandwidth_bound_at_one_flop_per_byte(capsys):
    # "Moving the big KV cache makes generation slow": V3's MHA twin reads K and V, (192 + 128) x 2 bytes a head,
    # for 2 x (192 + 128) FLOPs: 1 FLOP/B, 295x under the H100's ridge (989e12 / 3.35e12).
    a = ask(capsys, "roofline", "deepseek-v3", "--as", "mha", "--batch", "32", "--context", "32k",
            "--gpu", "h100-sxm")["attn_core"]
    assert a["intensity"] == pytest.approx(1.0, rel=0.001) and a["bound"] == "memory"
    assert a["ridge"] == pytest.approx(989e12 / 3.35e12)


def test_001_the_decoupled_rope_key_is_one_ninth_of_the_cache_and_shared_by_all_heads(capsys):
    # "The position part takes very little space": 64 of 576 elements = 11.1%.
    p = ask(capsys, "kv", "deepseek-v3")["parts_per_token"]
    assert p["rope_key"] / p["total"] == 64 / 576
    # One k_R per token for all heads: with 16 heads instead of 128 the cache does not change.
    few = ask(capsys, "kv", "deepseek-v3", "--set", "attention.num_heads=16")["parts_per_token"]
    assert few == p


def test_001_mqa_with_v3s_head_dims_caches_less_than_mla(capsys):
    # "MQA: all heads share one K/V, the most memory-saving"; "MLA compresses the volume to the extreme". With V3's
    # heads one shared K (192) and V (128) is 320 elements a token and layer, 56% of MLA's 576: MLA is not the
    # smallest cache, it is the smallest that keeps 128 distinct heads' keys (so the notes' claim is conditional).
    rows = ask(capsys, "compare", "deepseek-v3@as=mha", "deepseek-v3@as=gqa:8", "deepseek-v3",
               "deepseek-v3@as=mqa")["models"]
    elements = [r["kv_bytes_per_token"] / 61 / 2 for r in rows]
    assert elements == [128 * 320, 8 * 320, 576, 320]


def test_001_llama_2_uses_gqa_only_at_70b_llama_3_everywhere(capsys):
    # "LLaMA-2/3 both use GQA": Llama-2-7B is MHA (32 KV heads, config.json), Llama-2-70B and Llama-3.1-8B GQA-8.
    assert ask(capsys, "kv", "llama-2-7b")["attention"] == "mha"
    assert ask(capsys, "kv", "llama-2-70b")["kv_bytes_per_token_layer"] == 8 * 2 * 128 * 2
    assert ask(capsys, "kv", "llama-3.1-8b")["kv_bytes_per_token_layer"] == 8 * 2 * 128 * 2


def test_001_v2_already_had_v3s_cache(capsys):
    # The title says V3 introduced MLA; the note itself says V2 did. V2 and V3 cache the same 512 + 64 row.
    v2, v3 = ask(capsys, "kv", "deepseek-v2"), ask(capsys, "kv", "deepseek-v3")
    assert v2["attention"] == v3["attention"] == "mla"
    assert v2["kv_bytes_per_token_layer"] == v3["kv_bytes_per_token_layer"] == (512 + 64) * 2


def test_001_without_mla_one_128k_sequence_fills_8_h100s(capsys):
    # "Before MLA, the KV cache alone of a long context could need dozens of H100s": V3 as MHA at 128k holds
    # 131,072 x 61 x 40,960 x 2 B = 610 GiB a sequence; an H100 has 79.65 GiB (nvidia-smi 81,559 MiB).
    import math

    from mlacalc import load_hardware
    h100 = load_hardware("h100-sxm").memory_bytes
    seq = ask(capsys, "kv", "deepseek-v3", "--as", "mha", "--context", "128k")["kv_bytes_per_sequence"]
    assert seq == 131072 * 61 * 40960 * 2
    assert math.ceil(seq / h100) == 8
    # "Dozens" holds from 4 sequences (31 H100s); with MLA the same 4 sequences take 34 GiB, under half an H100.
    assert math.ceil(4 * seq / h100) == 31
    mla = ask(capsys, "kv", "deepseek-v3", "--context", "128k", "--batch", "4")["kv_bytes_total"]
    assert mla == 4 * 131072 * 61 * 576 * 2 < h100 / 2


# ---- 002: the RoPE part is kept "at full precision"; V3 serves 128K -----------------------------------------------

def test_002_the_rope_key_stays_16_bit_in_flashmlas_fp8_cache_not_in_a_uniform_fp8_cache(capsys):
    # FlashMLA's fp8 sparse layout (DeepSeek-V3.2): 512 fp8 latent values + 4 fp32 scales = 528 B, then the
    # 64 RoPE values in bf16 = 128 B, 656 B a token and layer, and the indexer's 132 B beside it.
    p = ask(capsys, "kv", "deepseek-v3.2", "--kv-dtype", "fp8-ds")["parts_per_token"]
    assert p["latent"] == 61 * (512 + 4 * 4) and p["rope_key"] == 61 * 64 * 2 and p["indexer"] == 61 * 132
    # A uniform fp8 cache quantises k_R too (1 B each): "full precision RoPE" holds for that layout only.
    assert ask(capsys, "kv", "deepseek-v3", "--kv-dtype", "fp8")["parts_per_token"]["rope_key"] == 61 * 64


def test_002_v3_is_configured_past_128k(capsys):
    # config.json: max_position_embeddings 163,840 (YaRN factor 40 over 4,096); 128k = 131,072 fits under it.
    f = ask(capsys, "fit", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--context", "128k")["fits"][0]
    assert f["context_limit"] == 163_840 >= 131_072
    assert f["max_batch"] >= 1


# ---- 003: head_dims, partial RoPE, KV sharing, Q LoRA, TP -------------------------------------------------------

def test_003_doubling_head_dims_at_equal_cache_costs_parameters_not_cache(capsys):
    # GQA2-128 -> GQA1-256: the cache stays 512 a token and layer; the query and output projections widen from
    # 16 x 128 to 16 x 256: 2 x 2048 x 2048 more parameters a layer, x 12 layers = 100.7M (842M -> 943M).
    a = ask(capsys, "weights", "variant-gqa2-128")["params_total"]
    b = ask(capsys, "weights", "variant-gqa1-256")["params_total"]
    assert b - a == 12 * 2 * 2048 * 2048
    assert ask(capsys, "kv", "variant-gqa2-128")["kv_bytes_per_token_layer"] == \
        ask(capsys, "kv", "variant-gqa1-256")["kv_bytes_per_token_layer"] == 512 * 2


def test_003_mla_256_decodes_with_mla_s_attention_core(capsys):
    # "MLA can also go to 256": absorbed, every head attends over the same 576-wide latent whatever its head dims,
    # so the attention core is unchanged: batch 8 x 4,097 tokens x 12 layers x 16 heads x 2 x (576 + 512).
    # Only the absorbed projections grow: q_absorb 192/128 = 1.5x, v_up 256/128 = 2x.
    base = {o["name"]: o["flops"] for o in ask(capsys, "roofline", "variant-mla", "--batch", "8", "--context", "4k",
                                                "--gpu", "h100-sxm")["ops"]}
    wide = {o["name"]: o["flops"] for o in ask(capsys, "roofline", "variant-mla-256", "--batch", "8", "--context",
                                                "4k", "--gpu", "h100-sxm")["ops"]}
    assert base["attn_core"] == wide["attn_core"] == 8 * 4097 * 12 * 16 * 2 * (576 + 512)
    assert wide["q_absorb"] / base["q_absorb"] == 1.5 and wide["v_up"] / base["v_up"] == 2


def test_003_partial_rope_changes_no_size(capsys):
    # GQA1-256-PR rotates 64 of the 256 dims; parameters, cache and decode cost are those of GQA1-256.
    # (The notes' "rotation on fewer dims is cheaper" is not priced: RoPE is elementwise and fused, no op here.)
    for cmd in (("weights",), ("kv",), ("roofline", "--batch", "8", "--context", "4k", "--gpu", "h100-sxm")):
        full = ask(capsys, cmd[0], "variant-gqa1-256", *cmd[1:])
        pr = ask(capsys, cmd[0], "variant-gqa1-256-pr", *cmd[1:])
        keys = {"weights": "params_total", "kv": "kv_bytes_per_token", "roofline": "total"}
        assert full[keys[cmd[0]]] == pr[keys[cmd[0]]]


def test_003_kv_sharing_halves_the_cache_and_the_decode_bytes(capsys):
    # "KV-Shared directly cuts the KV cache and speeds up inference": GQA2-(192+64) with its own 256-wide V caches
    # 2 x (256 + 256) = 1,024 a token and layer; S2 uses K as V: 2 x 256 = 512.
    s2 = ask(capsys, "roofline", "variant-gqa2-192-64-s2", "--batch", "8", "--context", "4k", "--gpu", "h100-sxm")
    own_v = ask(capsys, "roofline", "variant-gqa2-192-64-s2", "--batch", "8", "--context", "4k", "--gpu",
                "h100-sxm", "--set", "attention.kv_shared=false")
    core = {o["name"]: o for o in s2["ops"]}["attn_core"]
    core_v = {o["name"]: o for o in own_v["ops"]}["attn_core"]
    assert core["bytes"] == pytest.approx(8 * 4097 * 12 * 2 * 256 * 2, rel=0.01)
    assert core_v["bytes"] == pytest.approx(8 * 4097 * 12 * 2 * 512 * 2, rel=0.01)
    assert core["flops"] == core_v["flops"]
    assert s2["total"]["time_s"] < own_v["total"]["time_s"]
    # "... and leaves room for bigger head dims": S2's keys are twice GQA2-128's (256 vs 128) in the same cache.
    assert ask(capsys, "kv", "variant-gqa2-192-64-s2")["kv_bytes_total"] == \
        ask(capsys, "kv", "variant-gqa2-128")["kv_bytes_total"]


def test_003_s2_splits_its_cache_only_up_to_two_tp_ranks(capsys):
    # "Supports TP" is bounded by its 2 KV heads: at TP = 4 each rank still holds one whole head (half the cache).
    total = ask(capsys, "kv", "variant-gqa2-192-64-s2", "--context", "1k")["kv_bytes_total"]
    assert ask(capsys, "kv", "variant-gqa2-192-64-s2", "--context", "1k", "--tp", "4")["kv_bytes_per_gpu"] == total / 2


def test_003_q_lora_controls_the_parameter_growth_of_wider_heads(capsys):
    # "Q LoRA can hold down the parameter growth": MLA-256's full-rank query is 2048 x 16 x 256 a layer; a rank-512
    # LoRA is 2048 x 512 + a 512-wide RMSNorm + 512 x 16 x 256. (O LoRA is not in the spec: not checked.)
    full = ask(capsys, "weights", "variant-mla-256")["params_total"]
    lora = ask(capsys, "weights", "variant-mla-256", "--set", "attention.q_lora_rank=512")["params_total"]
    assert full - lora == 12 * (2048 * 16 * 256 - (2048 * 512 + 512 + 512 * 16 * 256))


# ---- 004: training memory ----------------------------------------------------------------------------------------

def test_004_inference_memory_is_the_kv_cache_only_at_long_context(capsys):
    # "In inference the KV cache is the big item, the bottleneck at long context": Llama-3.1-8B caches
    # 32 x 8 x 256 x 2 = 128 KiB a token: 16 GiB at 128k, more than its 8.03B bf16 weights (14.96 GiB);
    # 1 GiB at 8k, a fifteenth of them.
    w = ask(capsys, "weights", "llama-3.1-8b")["weight_bytes_total"]
    long = ask(capsys, "kv", "llama-3.1-8b", "--context", "128k")["kv_bytes_total"]
    short = ask(capsys, "kv", "llama-3.1-8b", "--context", "8k")["kv_bytes_total"]
    assert long == 131072 * 32 * 8 * 256 * 2 > w > 14 * short


def test_004_training_memory_is_activations_on_deepseeks_layout_but_not_always(capsys):
    # "In training the big item is activations": DeepSeek-V3 on its own layout (PP 16, DP 64, EP 64, ZeRO-1,
    # 4k sequences) holds 14 GiB of weights, gradients and optimizer states on its fullest GPU; its activations,
    # with 15 micro-batches in flight on that stage (1F1B), are 110 GiB.
    t = ask(capsys, "train", "deepseek-v3", "--seq", "4k", "--pp", "16", "--dp", "64", "--ep", "64", "--zero", "1",
            "--recompute", "mla-latent", "--gpu", "h800")["per_gpu"]
    assert t["activations"] > 5 * (t["parameters"] + t["gradients"] + t["optimizer"])
    # Conditional: Llama-3.1-8B on one data-parallel rank without ZeRO holds 16 B x 8.03e9 = 120 GiB of states,
    # more than its activations at 4k with full recomputation.
    t = ask(capsys, "train", "llama-3.1-8b", "--seq", "4k", "--recompute", "full")["per_gpu"]
    states = t["parameters"] + t["gradients"] + t["optimizer"]
    assert states == pytest.approx(16 * 8.03e9, rel=0.001) and states > 10 * t["activations"]


def test_004_keeping_the_latent_saves_a_small_model_15_percent_not_2x_batch(capsys):
    # "The same H800 trained 4 sequences, now perhaps 8": the blog's 1B MLA keeping its latent against its MHA
    # baseline, 4k tokens, per layer and micro-batch sequence. MHA keeps q, k, v: 3 x 4096 x 16 x 128 x 2 B;
    # MLA keeps kv_down's 576-wide output, the 512-wide normed latent and its fp32 rstd instead.
    mha = ask(capsys, "train", "variant-mha", "--seq", "4k", "--gpu", "h800")
    mla = ask(capsys, "train", "variant-mla", "--seq", "4k", "--gpu", "h800", "--recompute", "mla-latent")
    kept_mha = mha["layers"]["dense"]["stored"]["total"]
    kept_mla = mla["layers"]["dense"]["stored"]["total"]
    assert kept_mha - kept_mla == 3 * 4096 * 2048 * 2 - (4096 * 576 * 2 + 4096 * 512 * 2 + 4096 * 4)
    assert round(kept_mha / kept_mla, 2) == 1.15
    # The FFN, norms and residual inputs do not shrink: the largest micro-batch grows by one (6 against 5), not twice.
    # (Both were 5 until the held-out round of 2026-12 priced the loss's backward at three fp32 b s V tensors.)
    assert (mla["max_micro_batch"], mha["max_micro_batch"]) == (6, 5)
    assert mla["max_micro_batch"] < 2 * mha["max_micro_batch"]


def test_004_v3_trains_no_longer_sequences_than_its_mha_twin_by_much(capsys):
    # "Longer context windows in training": V3 with full recomputation on its layout, MLA against its MHA twin.
    # Only the layer inputs are kept, the same for both; the longest sequence grows 4.6% (23,859 against 22,803
    # tokens since the router round counted DeepSeek's fp32 router copies; 24,092 against 23,027 before: MHA's bigger
    # attention weights and backward peak take the rest), the micro-batch not at all (5 and 5;
    # 7 against 6 until the held-out round of 2026-12 priced the loss's backward at three fp32 b s V tensors, not two:
    # one more 4 b s V on the last stage, once, as one loss's backward runs at a time; the MTP modules' saved
    # log-probabilities were counted already).
    args = ("--seq", "4k", "--pp", "16", "--dp", "64", "--ep", "64", "--zero", "1", "--recompute", "full",
            "--gpu", "h800")
    mla, mha = ask(capsys, "train", "deepseek-v3", *args), ask(capsys, "train", "deepseek-v3@as=mha", *args)
    assert mla["max_micro_batch"] == mha["max_micro_batch"] == 5
    assert 1.0 < mla["max_seq"] / mha["max_seq"] < 1.1


def test_004_low_rank_attention_has_fewer_weights_but_tp_sends_the_same_bytes(capsys):
    # "Less communication: smaller activations and fewer (low-rank) parameters". The parameters: V3's attention
    # a layer (weights --json attention_per_layer: q_down, q_up, kv_down, kv_up, o, norms) against its MHA twin's
    # q, k: 7168 x 128 x 192; v: 7168 x 128 x 128; o: 128 x 128 x 7168.
    mla = ask(capsys, "weights", "deepseek-v3")["params"]["attention"]
    mha = ask(capsys, "weights", "deepseek-v3@as=mha")["params"]["attention"]
    assert mha == 61 * (2 * 7168 * 128 * 192 + 2 * 7168 * 128 * 128)
    assert mha / mla > 3  # data-parallel gradient all-reduces shrink with them
    # The activations sent under TP are the hidden states' (b x s x 7168 per all-reduce), not the attention's:
    # the same bytes for both, so that half of the claim does not hold.
    args = ("--phase", "prefill", "--context", "4k", "--gpu", "h800", "--tp", "8", "--ep", "8")
    assert ask(capsys, "roofline", "deepseek-v3", *args)["total"]["comm_bytes"] == \
        ask(capsys, "roofline", "deepseek-v3@as=mha", *args)["total"]["comm_bytes"]
