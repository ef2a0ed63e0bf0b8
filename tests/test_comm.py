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
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.step import dispatch_bytes_per_value, moe_a2a_bytes

from helpers import run

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
