"""The eighth audit's findings (the serving side: fit, sweep, the decode roofline): each test fails before its fix.
Numbers are worked out by hand in the test."""

import json

import pytest

from mlacalc.capacity import fit
from mlacalc.hardware import load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec

from helpers import run

GIB = 2**30


# --- a serving engine loads the MTP modules only to draft with them --------------------------------------------------
# vLLM's DeepseekV2ForCausalLM.load_weights skips the num_nextn_predict_layers layers ("skip spec decode layers for
# main model") and SGLang loads them as a separate draft model (deepseek_nextn.py) only with speculative decoding.
# fit charged them on every GPU at q_tokens = 1 too.

# DeepSeek-V3's MTP module (config.json: hidden 7168, q_lora_rank 1536, kv_lora_rank 512, 128 heads of 128 + 64 RoPE
# dims, v 128; 256 experts of 2048 and one shared, no router bias): two RMSNorms and eh_proj 2d x d, then one MoE layer
D = 7168
MTP_ATTENTION = (D * 1536 + 1536 + 1536 * 128 * 192          # q_a_proj, q_a_layernorm, q_b_proj
                 + D * 576 + 512 + 512 * 128 * (128 + 128)     # kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj
                 + 128 * 128 * D)                              # o_proj
MTP_MOE = D * 256 + 256 * 3 * D * 2048 + 3 * D * 2048          # router, routed experts, shared expert
MTP_PARAMS = 2 * D + 2 * D * D + MTP_ATTENTION + MTP_MOE + 2 * D  # enorm, hnorm, eh_proj; the layer's two norms
FP8_BLOCK_BYTES = (8 + 32 / (128 * 128)) / 8                   # e4m3 value + one fp32 scale per 128 x 128 block
# One GPU's share, split as the main model's MoE layers are (audit 10 corrected the expectations below, which divided
# the whole module by tp): norms, MLA's down projections and the router replicated; eh_proj (column-parallel), the
# head-split projections and the experts over the 8 ranks; under dp-attention the attention whole.
MTP_REPLICATED = 2 * D + (D * 1536 + 1536 + D * 576 + 512) + 2 * D + D * 256
MTP_HEADS = 1536 * 128 * 192 + 512 * 128 * (128 + 128) + 128 * 128 * D
MTP_TP8 = MTP_REPLICATED + (2 * D * D + MTP_HEADS + MTP_MOE - D * 256) / 8
# Under dp-attention with EP the shared expert is whole on every rank too (audit 14: SGLang's DeepEP path builds it
# with tp_size=1).
MTP_SHARED = 3 * D * 2048
MTP_DPA_EP8 = MTP_REPLICATED + MTP_HEADS + MTP_SHARED + (2 * D * D + MTP_MOE - D * 256 - MTP_SHARED) / 8


def test_mtp_module_hand_count():
    assert MTP_PARAMS == 11_610_060_800


@pytest.mark.parametrize("par, mtp", [(Parallelism(tp=8), MTP_TP8),
                                      (Parallelism(tp=8, dp_attention=True, ep=8), MTP_DPA_EP8)])
def test_fit_loads_mtp_only_when_drafting(par, mtp):
    spec, hw = load_spec("deepseek-v3"), load_hardware("h200")
    plain = fit(spec, hw, 32768, par, workspace_bytes=0)
    drafting = fit(spec, hw, 32768, par, workspace_bytes=0, q_tokens=2)
    # the MTP module splits over the 8 ranks like the main model's MoE layers (mlacalc.params.mtp_params_per_gpu)
    assert drafting.weights - plain.weights == pytest.approx(mtp * FP8_BLOCK_BYTES, rel=1e-12)   # 1.37, 1.51 GiB


def test_fit_deepseek_v32_dp_attention_batch_without_mtp():
    # DeepSeek-V3.2 on 8 H200s, dp-attention, ep 8, 32k: KV per sequence (MLA 576 x 2 B + indexer 128 + 4 B) x 61
    # layers x 32,768 tokens = 2,566,520,832 B, whole on the GPU that serves it. Budget: 0.9 x 143,771 MiB less the
    # weights without MTP (90.173 GiB, as `weights --tp 8 --dp-attention --ep 8` less its MTP row, and since audit 14
    # the 7/8 of the 58 layers' shared experts each rank holds under DeepEP, 58 x 3 x 7168 x 2048 x 7/8 fp8 values
    # with block scales = 2.082 GiB: 92.255 GiB) and the workspace. 90.147 GiB before the indexer's weights_proj and
    # k_norm were priced in bf16 as the checkpoint stores them (tests/test_widths.py): 61 x (7168 x 64 + 256) x
    # (2 - 1 - 4/16384) B = 0.026 GiB more
    spec, hw = load_spec("deepseek-v3.2"), load_hardware("h200")
    per_seq = (576 * 2 + 132) * 61 * 32768
    assert per_seq == 2_566_520_832
    f = fit(spec, hw, 32768, Parallelism(tp=8, dp_attention=True, ep=8))
    assert f.kv_bytes_per_seq == per_seq
    budget = 0.9 * 143_771 * 2**20 - f.weights - f.workspace.total
    # audit 8: 112 with the MTP module left out (it was 104 with it); audit 14: 104 with the shared experts whole
    assert f.max_batch == int(budget // per_seq) * 8 == 104
    assert f.weights == pytest.approx((90.147 + 61 * (7168 * 64 + 256) * (1 - 4 / 16384) / GIB + 2.082) * GIB,
                                      abs=0.001 * GIB)
    assert f.weights == pytest.approx((90.173 + 2.082) * GIB, abs=0.001 * GIB)
    drafting = fit(spec, hw, 32768, Parallelism(tp=8, dp_attention=True, ep=8), q_tokens=2)
    assert drafting.weights - f.weights > 1.5 * GIB                  # the MTP module loads only to draft


def test_sweep_loads_mtp_only_when_drafting(capsys):
    rows = {}
    for q in ("1", "2"):
        code, out, _, _ = run(capsys, "sweep", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--context", "32k",
                              "--batch", "1", "--q-tokens", q, "--json")
        assert code == 0
        rows[q] = json.loads(out)["rows"][0]
    extra = rows["2"]["weight_bytes_per_gpu"] - rows["1"]["weight_bytes_per_gpu"]
    assert extra == pytest.approx(MTP_TP8 * FP8_BLOCK_BYTES, rel=1e-12)


# --- the vocabulary's collectives: the embedding's all-reduce and the logits' all-gather -----------------------------
# Under TP, VocabParallelEmbedding (vLLM, SGLang) looks up the rows of its V/n shard and all-reduces the T x d result;
# the vocab-split lm_head leaves each rank V/n logits a token, all-gathered (LogitsProcessor) before sampling. The
# roofline sent only the layers' all-reduces.

def test_gpt_oss_120b_tp4_decode_sends_the_vocabulary_collectives():
    import mlacalc

    # gpt-oss-120b (config.json: 36 layers, hidden 2880, vocab 201,088), 4 ranks, batch 8, one token each, bf16
    T, d, V, L, ring = 8, 2880, 201_088, 36, 3 / 4
    layers = L * 2 * (2 * ring * T * d * 2)          # two all-reduces a layer, each 2 (n-1)/n T d bytes sent
    embed = 2 * ring * T * d * 2                     # one all-reduce of the looked-up rows
    logits = ring * T * V * 2                        # all-gather: each rank sends its shard to the 3 others
    assert (layers, embed, logits) == (4_976_640, 69_120, 2_413_056)
    r = mlacalc.roofline(load_spec("gpt-oss-120b"), "h100-sxm", batch=8, context=4096,
                         parallel=Parallelism(tp=4))
    assert r.op("comm").op.comm_bytes == layers
    assert r.op("embed").op.comm_bytes == embed and r.op("lm_head").op.comm_bytes == logits
    assert r.total_comm_bytes == layers + embed + logits           # was 4,976,640: 50% short
    # the head's time carries its all-gather at the H100's 450 GB/s a direction (NVLink 4)
    head = r.op("lm_head")
    hw = load_hardware("h100-sxm")
    floor = max(head.op.flops / (hw.bf16_tflops * 1e12), head.op.bytes / (hw.mem_bandwidth_gb_s * 1e9))
    assert head.time_s == pytest.approx(floor + logits / 450e9, rel=1e-12)
    assert head.expected_s >= head.time_s


def test_dp_attention_embeds_whole_and_sends_no_embedding_all_reduce():
    import mlacalc

    # DeepSeek-V3 on 8 GPUs, dp-attention: every rank holds the whole table (SGLang: enable_tp=False), so no
    # all-reduce; the head stays vocab-split over the 8: 64 tokens' logits all-gathered, 7/8 of 64 x 129,280 x 2 B
    r = mlacalc.roofline(load_spec("deepseek-v3"), "h200", batch=64, context=32768,
                         parallel=Parallelism(tp=8, dp_attention=True, ep=8))
    assert r.op("embed").op.comm_bytes == 0
    assert r.op("lm_head").op.comm_bytes == 7 / 8 * 64 * 129_280 * 2 == 14_479_360


def test_one_gpu_sends_nothing():
    import mlacalc

    r = mlacalc.roofline(load_spec("llama-3.1-8b"), "h100-sxm", batch=8, context=4096)
    assert r.total_comm_bytes == 0 and "comm" not in [t.op.name for t in r.ops]
