"""Communication and tensor-parallel splits the audits found wrong, worked out by hand: each test fails before its fix.

1. The MoE all-to-all's dispatch under DeepEP carries fp8 e4m3 values and one fp32 scale per 128 when the routed
   experts are fp8 block-quantized (deep_ep/buffer.py ``dispatch`` / ``low_latency_dispatch(use_fp8=True)``;
   vLLM ``use_fp8_dispatch``, SGLang's DeepEP dispatcher); the combine returns bf16. mlacalc priced both at bf16.
2. A Mamba-2 layer with fewer B/C groups than TP ranks has its groups replicated so every rank holds its heads'
   group (vLLM ``MambaMixer2``: ``if n_groups % self.tp_size != 0`` adds ``extra_groups_for_head_shards``);
   mlacalc split B and C's in_proj columns, convolution channels and conv state by tp as if they divided.
"""

import json

import pytest

import mlacalc
from mlacalc.attention import family
from mlacalc.errors import ArgError
from mlacalc.kv import kv_report
from mlacalc.parallel import Parallelism
from mlacalc.params import params_per_gpu
from mlacalc.spec import load_spec
from mlacalc.step import Step, dispatch_bytes_per_value, moe_a2a_bytes, step_ops

from helpers import make_spec, run

# DeepSeek-V3 (config.json): hidden 7168, 61 layers of which the first 3 dense, 58 MoE; 8 of 256 experts a token;
# block-fp8 checkpoint (weight_block_size [128, 128]) with the routed experts in it
D, L_DENSE, L_MOE, K = 7168, 3, 58, 8
FP8_DISPATCH = 1 + 4 / 128          # e4m3 byte + an fp32 scale per 128 values = 1.03125 B a value
BF16 = 2


# --- 1. DeepEP's fp8 dispatch ---------------------------------------------------------------------------------------

def test_dispatch_width_follows_the_experts_quantization():
    assert dispatch_bytes_per_value(load_spec("deepseek-v3").quantization) == 1.03125
    assert dispatch_bytes_per_value(load_spec("kimi-k2").quantization) == 1.03125       # block fp8 too
    assert dispatch_bytes_per_value(None) == BF16                                         # bf16 experts
    assert dispatch_bytes_per_value(load_spec("gpt-oss-120b").quantization) == BF16       # MXFP4: W4A16, bf16 sent


def test_a2a_parts_sum_to_the_total():
    a = moe_a2a_bytes(32 * K, D, L_MOE, 8, load_spec("deepseek-v3").quantization)
    sent = L_MOE * 7 / 8 * 32 * K * D                          # values that leave the GPU each way
    assert (a.dispatch, a.combine) == (sent * FP8_DISPATCH, sent * BF16)
    assert a.total == a.dispatch + a.combine


def test_deepseek_v3_dp_attention_ep8_dispatches_fp8():
    # decode, batch 256 x 4k, tp 8 --dp-attention --ep 8 on one H200 board: each GPU holds 256 / 8 = 32 tokens x 8
    # experts = 256 token-expert pairs; 7/8 of them leave it, 7168 values each, per MoE layer:
    #   dispatch 58 x 7/8 x 256 x 7168 x 1.03125 =  96,036,864 B   (was x 2: 186,253,312)
    #   combine  58 x 7/8 x 256 x 7168 x 2       = 186,253,312 B
    #   3 dense layers' all-gather + reduce-scatter: 3 x 2 x 7/8 x 256 x 7168 x 2 = 19,267,584 B
    dispatch, combine = 58 * 7 / 8 * 256 * D * FP8_DISPATCH, 58 * 7 / 8 * 256 * D * BF16
    ring = L_DENSE * 2 * 7 / 8 * 256 * D * BF16
    assert (dispatch, combine, ring) == (96_036_864, 186_253_312, 19_267_584)
    r = mlacalc.roofline(load_spec("deepseek-v3"), "h200", batch=256, context=4096,
                         parallel=Parallelism(tp=8, dp_attention=True, ep=8))
    comm = r.op("comm")
    assert comm.op.a2a_bytes == dispatch + combine == 282_290_176             # was 372,506,624
    assert comm.op.comm_bytes == ring + dispatch + combine == 301_557_760      # was 391,774,208
    assert comm.time_s == pytest.approx(301_557_760 / 450e9, rel=1e-12)      # 0.670 ms, was 0.871 ms at NVLink


def test_deepseek_v3_dp_attention_ep16_across_two_boards_dispatches_fp8():
    # tp 16 --dp-attention --ep 16 over 2 x 8 H200s, batch 256: 16 tokens x 8 experts a GPU, 15/16 of them leave it;
    # the all-to-all at 93.75 GB/s (7/15 of a GPU's bytes stay on its board at 450 GB/s, 8/15 take its 50 GB/s NIC)
    a2a = 58 * 15 / 16 * 16 * 8 * D * (FP8_DISPATCH + BF16)
    ring = L_DENSE * 2 * 15 / 16 * 256 * D * BF16
    assert (a2a, ring) == (151_226_880, 20_643_840)                           # a2a was 199,557,120 (bf16 both ways)
    r = mlacalc.roofline(load_spec("deepseek-v3"), "h200", batch=256, context=4096,
                         parallel=Parallelism(tp=16, dp_attention=True, ep=16))
    comm = r.op("comm")
    assert comm.op.a2a_bytes == a2a and comm.op.comm_bytes == a2a + ring
    assert comm.time_s == pytest.approx(ring / 400e9 + a2a / (50e9 * 15 / 8), rel=1e-12)
    assert comm.time_s * 1e3 == pytest.approx(1.665, abs=5e-4)              # was 2.180 ms


def test_bf16_experts_dispatch_bf16():
    # --weight-dtype bf16 replaces the checkpoint's fp8 blocks: both directions at 2 bytes, as before
    r = mlacalc.roofline(load_spec("deepseek-v3"), "h200", batch=256, context=4096, weight_dtype="bf16",
                         parallel=Parallelism(tp=8, dp_attention=True, ep=8))
    assert r.op("comm").op.a2a_bytes == 58 * 2 * 7 / 8 * 256 * D * BF16 == 372_506_624
    # Qwen3-235B-A22B (bf16 checkpoint): 94 MoE layers, hidden 4096, 8 of 128 experts; batch 64 over 8 ranks
    q = mlacalc.roofline(load_spec("qwen3-235b-a22b"), "h200", batch=64, context=4096,
                         parallel=Parallelism(tp=8, dp_attention=True, ep=8))
    assert q.op("comm").op.a2a_bytes == 94 * 2 * 7 / 8 * 8 * 8 * 4096 * BF16 == 86_245_376


def test_roofline_cli_json_reports_the_fp8_dispatch(capsys):
    # mlacalc roofline deepseek-v3 --gpu h200 --batch 256 --context 4096 --tp 8 --dp-attention --ep 8 --json
    code, out, _, _ = run(capsys, "roofline", "deepseek-v3", "--gpu", "h200", "--batch", "256", "--context", "4096",
                          "--tp", "8", "--dp-attention", "--ep", "8", "--json")
    assert code == 0
    comm = next(o for o in json.loads(out)["ops"] if o["name"] == "comm")
    assert comm["comm_bytes"] == 301_557_760


# --- 2. Mamba-2 groups under TP -------------------------------------------------------------------------------------
# Bamba-9B (tests/fixtures/hf/bamba_9b, ibm-ai-platform/Bamba-9B config.json; the mixer Granite-4.0-H reuses): hidden
# d = 4096, 32 layers of which 29 Mamba-2 (attention at 9, 18, 27), H = 128 heads of P = 64 (I = 8192), G = 1 group
# of B and C with N = 128 state dims, a width-4 convolution with biases, no projection biases, bf16.
# At --tp 8 each rank runs 16 heads; its heads' group is the one group, whose B and C it holds whole (vLLM
# MambaMixer2: n_groups 1 -> 1 + extra_groups_for_head_shards(1, 8) = 8 groups, conv_dim = 8192 + 2 x 8 x 128,
# in_proj column-split over 8 ranks: 2 x 128 B/C columns a rank).

BAMBA = "tests/fixtures/hf/bamba_9b"
NEMOTRON_H = "tests/fixtures/hf/nemotron_h_8b"
d, H, P, I, G, N, KW, L_M = 4096, 128, 64, 8192, 1, 128, 4, 29


def test_bamba_9b_tp8_weights_hold_the_replicated_groups():
    spec = load_spec(BAMBA)
    assert spec.count_layers("linear") == L_M
    # per rank, a layer: in_proj d x (2 I/8 + 2 G N + H/8) = 4096 x 2320 (was 4096 x 16768 / 8 = 4096 x 2096);
    # conv (I/8 + 2 G N) x K = 1280 x 4 and its 1280 biases (was 8448 / 8 = 1056 channels); the rest by heads
    in_proj, conv, bias = d * (2 * I // 8 + 2 * G * N + H // 8), (I // 8 + 2 * G * N) * KW, I // 8 + 2 * G * N
    was = d * (2 * I + 2 * G * N + H) / 8 + (I + 2 * G * N) * KW / 8 + (I + 2 * G * N) / 8
    assert (in_proj, conv, bias) == (9_502_720, 5_120, 1_280)
    extra = in_proj + conv + bias - was
    assert extra == 4096 * 2 * 128 * 7 / 8 + 4 * 256 * 7 / 8 + 256 * 7 / 8 == 918_624      # the 7/8 not split
    whole = params_per_gpu(spec, Parallelism(tp=8)).attention
    rank = family(spec.linear_attention).projections_per_rank(spec.linear_attention, d, Parallelism(tp=8))
    assert (rank["in_proj"], rank["conv"], rank["conv_bias"]) == (in_proj, conv, bias)
    assert rank["out_proj"] == I * d / 8 and rank["norm"] == I / 8 and rank["A_log"] == H / 8
    # 29 layers x 918,624 = 26,640,096 parameters a GPU more than the even split (53.3 MB at bf16)
    assert whole - L_M * extra == 386_518_928                              # what mlacalc counted before
    assert whole == 413_159_024


def test_bamba_9b_tp8_conv_state_holds_the_replicated_groups():
    # per sequence and layer on a rank: SSM state 16 heads x 64 x 128 = 131,072 elements; conv state
    # (K - 1) x (I/8 + 2 G N) = 3 x 1280 = 3,840 (was 3 x 8448 / 8 = 3,168); bf16, 29 layers
    per_gpu = kv_report(load_spec(BAMBA), 1000, parallel=Parallelism(tp=8)).per_gpu.state
    assert per_gpu == (H // 8 * P * N + (KW - 1) * (I // 8 + 2 * G * N)) * 2 * L_M == 7_824_896   # was 7,785,920


def test_bamba_9b_tp8_roofline_reads_the_replicated_groups():
    # decode, 8 sequences: in_proj 2 x 8 x 4096 x 2320 FLOPs a layer, the convolution 2 x 1280 x 4 a token, the
    # state (131,072 + 3,840 elements, bf16) read and written once
    ops = {o.name: o for o in step_ops(load_spec(BAMBA), Step("decode", 8, 1000), Parallelism(tp=8))}
    assert ops["linear_in_proj"].flops == 2 * 8 * d * 2320 * L_M == 4_409_262_080       # was 3,983,540,224
    core = ops["linear_core"]
    assert core.flops == 8 * L_M * (H // 8 * 5 * P * N + 2 * 1280 * KW)
    assert core.kv_bytes == 2 * 8 * L_M * (H // 8 * P * N + 3 * 1280) * 2
    assert core.act_bytes == 8 * L_M * (1280 + I // 8) * 2                  # conv channels in, inner width out


def test_nemotron_h_8b_tp8_groups_divide_and_nothing_changes():
    # Nemotron-H-8B: G = 8 groups over 8 ranks, one each: B and C split evenly, as before (24 Mamba-2 layers, in_proj
    # 4096 x (2 x 8192 + 2 x 8 x 128 + 128) / 8 = 4096 x 2320 either way)
    spec = load_spec(NEMOTRON_H)
    b = spec.linear_attention
    rank = family(b).projections_per_rank(b, d, Parallelism(tp=8))
    assert rank["in_proj"] == d * (2 * I + 2 * 8 * N + H) / 8 == d * 2320
    # at --tp 16 two ranks share each group: 8 x 128 of the 2 x 8 x 128 B/C columns a rank, not 128
    rank16 = family(b).projections_per_rank(b, d, Parallelism(tp=16))
    assert rank16["in_proj"] == d * (2 * I // 16 + 2 * 1 * N + H // 16) == d * 1288    # was d x 1160


def test_mamba2_groups_that_straddle_ranks_are_refused(capsys):
    # 6 heads in 2 groups over 3 ranks: rank 1's heads 2 and 3 lie in both groups; vLLM asserts
    # n_groups % tp_size == 0 or n_groups == 1
    spec = make_spec({"kind": "gqa", "num_heads": 6, "num_kv_heads": 3, "head_dim": 32}, layers=2,
                     layer_types=["linear", "full"],
                     linear_attention={"kind": "mamba2", "num_k_heads": 2, "num_v_heads": 6, "head_k_dim": 32,
                                       "head_v_dim": 16})
    with pytest.raises(ArgError, match="cannot share 2 Mamba-2 groups"):
        Parallelism(tp=3).check(spec)
