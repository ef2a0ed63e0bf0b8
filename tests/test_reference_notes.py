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
    # 293 vs 87 tokens/s per GPU expected (batch 120 vs 16): 3.4x on the H200's 140.4 GiB (nvidia-smi: 143,771 MiB;
    # batch 128 vs 24 before the embedding was counted per rank under dp-attention)
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
