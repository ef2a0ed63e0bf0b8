"""The tenth audit's findings (training memory and prefill): each test fails before its fix. Numbers are worked out by
hand in the test."""

import json
from dataclasses import replace

import pytest

from mlacalc.errors import ArgError
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.training import TrainRun, stage_memory

from helpers import refused, run

GIB = 2**30

# DeepSeek-V3 (config.json): hidden 7168, q_lora_rank 1536, kv_lora_rank 512, 128 heads of 128 + 64 RoPE dims, v 128,
# 256 routed experts of 2048 and one shared, vocabulary 129,280, 61 layers (the first 3 dense), one MTP module.
D = 7168
V3_ATTN_REPLICATED = D * 1536 + 1536 + D * 576 + 512          # q_a_proj, q_a_layernorm, kv_a_proj_with_mqa, its norm
V3_ATTN_HEADS = 1536 * 128 * 192 + 512 * 128 * (128 + 128) + 128 * 128 * D   # q_b_proj, kv_b_proj, o_proj
V3_EXPERT = 3 * D * 2048


# --- the MTP module's experts split over EP like every other MoE layer's ---------------------------------------------
# stage_params divided the whole MTP module by tp: at tp 1 and ep 64 the last stage held all 256 experts of the MTP
# layer (11.3 B parameters, 42 GiB of bf16 weights and gradients) where the EP rank holds 256 / 64 = 4, as it does for
# the main model's MoE layers (Megatron-Core builds the MTP layer with the same MoE spec).

def test_deepseek_v3_last_stage_holds_its_ep_share_of_the_mtp_experts():
    spec = load_spec("deepseek-v3")
    run1 = TrainRun(micro_batch=1, seq=4096, recompute="full", zero=1, parallel=Parallelism(pp=16, dp=64, ep=64))
    last = stage_memory(spec, run1)[-1]
    assert (last.first_layer, last.num_layers) == (60, 1)          # 61 layers in stages of 4: the last holds one
    # one MoE layer on an EP rank: attention (tp 1: all of it), two norms, router, 4 of 256 experts, the shared one
    layer = V3_ATTN_REPLICATED + V3_ATTN_HEADS + 2 * D + D * 256 + 4 * V3_EXPERT + V3_EXPERT
    mtp = layer + 2 * D + 2 * D * D                                  # + enorm, hnorm, eh_proj
    head = 129_280 * D + D                                           # output head and the final norm
    total = layer + mtp + head
    assert total == 1_847_776_256                                    # was 12,946,722,816 (the MTP whole)
    experts = 2 * 4 * V3_EXPERT                                      # the layer's and the MTP layer's 4 experts
    s = last.states
    assert s.weights == s.gradients == 2 * total                     # 3.44 GiB each, was 24.11 GiB
    # ZeRO-1: dense states over dp = 64; each expert has tp x dp / ep = 1 replica, so its states stay whole
    assert s.optimizer == 12 * ((total - experts) / 64 + experts)


def test_train_cli_deepseek_v3_fullest_gpu_with_full_recompute(capsys):
    code, out, _, _ = run(capsys, "train", "deepseek-v3", "--seq", "4k", "--pp", "16", "--dp", "64", "--ep", "64",
                          "--zero", "1", "--recompute", "full", "--gpu", "h200", "--json")
    d = json.loads(out)
    assert code == 0 and d["stage"] == 15
    assert d["per_gpu"]["parameters"] == 2 * 1_847_776_256          # 3.44 GiB (was 24.11 GiB: 63.79 GiB in all)
    # + nll_loss's dense fp32 log-prob gradient at the loss's backward, 4 x 4,096 x 129,280 B = 1.97 GiB (held-out
    # round 2026-12; it was 22.45 GiB); + the MoE router's fp32 copies of its input and weight that the full
    # recomputation re-materialises at the layer's backward (DeepseekV3TopkRouter's F.linear(x.float(), w.float()):
    # 4 x 4,096 x 7,168 + 4 x 256 x 7,168 = 124,780,544 B, 0.116 GiB; ffn.router fp32-linear)
    router = 4 * 4096 * 7168 + 4 * 256 * 7168
    assert d["per_gpu"]["total"] / GIB == pytest.approx(22.45 + (4 * 4096 * 129_280 + router) / GIB, abs=0.005)


# --- expert parallelism under tensor parallelism needs sequence parallelism -------------------------------------------
# Megatron-Core's TransformerConfig raises "When using expert parallelism and tensor parallelism, sequence parallelism
# must be used". Without SP each TP rank holds every token, and the calculator sent all b s k copies from each rank:
# DeepSeek-V3 at tp 8, ep 8, 4k tokens priced dispatch + combine at 2 x 4,096 x 8 x 7,168 x 2 B = 896 MiB a MoE layer
# (166.28 GiB on the fullest GPU at pp 16), where with SP each rank routes its 4,096 / 8 tokens: 112 MiB.

def test_train_refuses_ep_under_tp_without_sp(capsys):
    refused(capsys, "train", "deepseek-v3", "--tp", "8", "--ep", "8", words="--sp")
    with pytest.raises(ArgError, match="sequence parallelism"):
        TrainRun(micro_batch=1, seq=4096, parallel=Parallelism(tp=2, ep=2))


def test_train_ep_under_tp_with_sp_routes_each_ranks_own_tokens(capsys):
    code, out, _, _ = run(capsys, "train", "deepseek-v3", "--seq", "4k", "--tp", "8", "--ep", "8", "--sp",
                          "--pp", "16", "--json")
    assert code == 0
    assert json.loads(out)["layers"]["moe"]["stored"]["dispatch"] == 2 * (4096 // 8) * 8 * D * 2    # 112 MiB


# --- ZeRO-3 gathers the embedding and the head too, not only layers -------------------------------------------------
# The workspace held one layer's gathered bf16 weights. torchtitan's apply_fsdp wraps tok_embeddings, each block and
# [norm, output] as units, the last with reshard_after_forward=False, so the whole head is gathered while the loss's
# logit gradient is alive. Llama-3.1-8B (one stage): a layer is 4,096 x (4,096 + 1,024 + 1,024 + 4,096) attention +
# 3 x 4,096 x 14,336 FFN + 2 x 4,096 norms = 218,112,000 parameters (416.02 MiB in bf16); the head with the final norm,
# 128,256 x 4,096 + 4,096 = 525,340,672 (1,002.01 MiB): `train llama-3.1-8b --seq 8k --zero 3 --dp 8 --recompute
# selective` said 66.82 GiB, 67.40 GiB with it.

def test_zero3_gathers_the_head_when_it_is_the_largest_unit():
    spec = load_spec("llama-3.1-8b")
    run3 = TrainRun(micro_batch=1, seq=8192, recompute="selective", zero=3, parallel=Parallelism(dp=8))
    w = stage_memory(spec, run3)[0].workspace
    layer = 4096 * (4096 + 1024 + 1024 + 4096) + 3 * 4096 * 14336 + 2 * 4096
    head = 128_256 * 4096 + 4096
    assert (layer, head) == (218_112_000, 525_340_672)
    assert w.zero3_gather == 2 * head                                  # was 2 * layer


def test_zero3_gather_on_pipeline_stages():
    # pp 2: stage 0 holds the embedding (128,256 x 4,096 = 525,336,576) and 16 layers, stage 1 the 16 others and the
    # head; tp 2 splits both vocabularies and the layers (norms replicated). Under PP, ZeRO-3 is FSDP2 under
    # torch.distributed.pipelining (DeepSpeed refuses ZeRO-3 with PP): torchtitan's apply_fsdp keeps every block
    # gathered (reshard_after_forward=False when PP is on) and PipelineStage accumulates unsharded gradients over the
    # micro-batches (requires_gradient_sync False until the last), upcast to the fp32 reduce dtype. So the whole
    # stage is gathered in bf16 (2 B) and its gradients held unsharded in fp32 (4 B); one unit at a time was priced
    # before (the embedding: 2 x 262,668,288 B on stage 0).
    spec = load_spec("llama-3.1-8b")
    run3 = TrainRun(micro_batch=1, seq=8192, zero=3, parallel=Parallelism(tp=2, pp=2, dp=4))
    layer = 4096 * (4096 + 1024 + 1024 + 4096) // 2 + 3 * 4096 * 14336 // 2 + 2 * 4096    # per GPU at tp 2
    assert layer == 20_971_520 + 88_080_384 + 8_192 == 109_060_096
    first = 16 * layer + 128_256 * 4096 // 2                      # 2,007,629,824: 16 layers and the embedding
    last = 16 * layer + 128_256 * 4096 // 2 + 4096                 # 2,007,633,920: 16 layers, head, final norm
    w0, w1 = (s.workspace for s in stage_memory(spec, run3))
    assert (w0.zero3_gather, w0.zero3_grads) == (2 * first, 4 * first)
    assert (w1.zero3_gather, w1.zero3_grads) == (2 * last, 4 * last)
    # pure bf16 reduces in bf16: the unsharded gradients take 2 B
    w0b = stage_memory(spec, replace(run3, precision="bf16"))[0].workspace
    assert w0b.zero3_grads == 2 * first
    # without PP, one unit at a time and no unsharded gradients held (the head with its norm is the largest unit)
    w = stage_memory(spec, replace(run3, parallel=Parallelism(tp=2, dp=4)))[0].workspace
    assert (w.zero3_gather, w.zero3_grads) == (2 * (128_256 * 4096 // 2 + 4096), 0)


# --- DSA prefill, decompressed: each key's latent is decompressed once, not once per query that selects it -----------
# The decompressed form's kv_up took its row count from the keys the core reads, which under a top-k rule are the
# (query, key) pairs: DeepSeek-V3.2's 8k prompt at tp 8 decompressed sum_p min(p + 1, 2048) = 14.68 M latents a layer
# instead of 8,192, 3.76 PFLOPs of kv_up (2.13 s at the floor, of a 4.19 s step). DeepSeek-V3.2-Exp's
# inference/model.py runs wkv_b once over the prompt's latents in prefill.

def test_dsa_prefill_decompresses_each_latent_once(capsys):
    code, out, _, _ = run(capsys, "roofline", "deepseek-v3.2", "--phase", "prefill", "--context", "8k", "--gpu", "h200",
                          "--tp", "8", "--mla-form", "decompressed", "--json")
    assert code == 0
    kv_up = next(o for o in json.loads(out)["ops"] if o["name"] == "kv_up")
    rows = 8192 * 61                                        # prompt tokens x MLA layers
    heads = 128 // 8
    assert kv_up["flops"] == 2 * rows * 512 * heads * (128 + 128)            # 2.10 TFLOPs (was 3.76 PFLOPs)
    assert kv_up["kv_bytes"] == rows * (512 + 64) * 2                        # the latent and RoPE key, read once
    assert kv_up["act_bytes"] == rows * heads * (128 + 64 + 128) * 2         # per-head K (RoPE key broadcast) and V


# --- DSA prefill runs absorbed by default, as the engines run it ------------------------------------------------------
# FlashMLA's sparse prefill kernel (flash_mla_sparse_fwd: q [s_q, h_q, 576] against kv [s_kv, 1, 576], d_v 512),
# which vLLM's FlashMLA-sparse backend and SGLang's DeepSeek-V3.2 path call, works in the latent space; the
# decompressed default expanded each selected key per query and head: DeepSeek-V3.2's 8k prompt at tp 8 priced
# 2.06 s at the floor, 0.37 s absorbed.

def test_dsa_prefill_defaults_to_the_absorbed_form(capsys):
    code, out, _, _ = run(capsys, "roofline", "deepseek-v3.2", "--phase", "prefill", "--context", "8k", "--gpu", "h200",
                          "--tp", "8", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["mla_form"] == "absorbed"
    core = next(o for o in d["ops"] if o["name"] == "attn_core")
    # (query, key) pairs of a causal top-2048 over 8,192 tokens: 1 + 2 + ... + 2048, then 6,144 queries x 2048
    pairs = 2048 * 2049 // 2 + (8192 - 2048) * 2048
    assert pairs == 14_681_088
    assert core["flops"] == 2 * pairs * (128 // 8) * (576 + 512) * 61        # 31.18 TFLOPs over the 61 layers
    assert not any(o["name"] == "kv_up" for o in d["ops"])                   # nothing decompressed
    # dense MLA (DeepSeek-V3) keeps decompressing in prefill
    code, out, _, _ = run(capsys, "roofline", "deepseek-v3", "--phase", "prefill", "--context", "8k", "--gpu", "h200",
                          "--tp", "8", "--json")
    assert json.loads(out)["mla_form"] == "decompressed"
