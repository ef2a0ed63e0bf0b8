"""The fourteenth audit's findings (parallel serving layouts: memory per GPU, communication, throughput bookkeeping):
each test fails before its fix. Numbers are worked out by hand in the test."""

import json

import pytest

import mlacalc
from mlacalc.capacity import fit
from mlacalc.hardware import load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.params import params_per_gpu
from mlacalc.spec import load_spec

from helpers import run

GIB = 2**30
# DeepSeek-V3 (config.json): hidden 7168, 61 layers of which the first 3 dense, 256 routed experts of 2048 and one
# shared expert of 2048 (n_shared_experts 1, moe_intermediate_size 2048), 8 of 256 per token; FP8 checkpoint with
# one fp32 scale per 128 x 128 block.
D, L_MOE, SHARED = 7168, 58, 3 * 7168 * 2048
FP8_BLOCK_BYTES = (8 + 32 / (128 * 128)) / 8
DPA_EP8 = Parallelism(tp=8, dp_attention=True, ep=8)


# --- under dp-attention with EP the shared experts are whole on every rank ------------------------------------------
# With data-parallel attention and EP the MoE is reached by DeepEP's all-to-all of each rank's own tokens: no rank
# holds the other ranks' tokens, so none can run a 1/8 slice of the shared expert on all of them. SGLang's
# DeepseekV2MoE builds shared_experts with `tp_rank=0, tp_size=1` "if get_moe_a2a_backend().is_deepep()"; vLLM's
# data-parallel ranks run tp 1. mlacalc split the shared experts over the 8 ranks and charged no all-gather for them.

def test_dp_attention_ep_holds_the_shared_experts_whole():
    spec = load_spec("deepseek-v3")
    assert SHARED * L_MOE == 2_554_331_136
    assert params_per_gpu(spec, DPA_EP8).shared_experts == SHARED * L_MOE            # was 1/8 of it: 319,291,392
    assert params_per_gpu(spec, Parallelism(tp=8, ep=8)).shared_experts == SHARED * L_MOE / 8   # TP + EP: all-reduce
    assert params_per_gpu(spec, Parallelism(tp=8, dp_attention=True)).shared_experts == SHARED * L_MOE / 8  # all-gather


def test_fit_deepseek_v3_dp_attention_ep8_batch_at_32k():
    # 8 x H200, dp-attention, ep 8, 32k: the 7/8 of the shared experts a rank did not count are
    # 2,554,331,136 x 7/8 x 1.000244 B = 2.08 GiB more weights a GPU; KV a sequence 32,768 x 61 x 576 x 2 B
    spec, hw = load_spec("deepseek-v3"), load_hardware("h200")
    f = fit(spec, hw, 32768, DPA_EP8)
    split = fit(spec, hw, 32768, Parallelism(tp=8, dp_attention=True))     # all-gather: shared expert TP-split
    per_seq = 32768 * 61 * 576 * 2
    assert f.kv_bytes_per_seq == per_seq == 2_302_672_896
    budget = 0.9 * hw.memory_bytes - f.weights - f.workspace.total
    assert f.weights / GIB == pytest.approx(91.44, abs=0.005)                       # was 89.35 GiB
    assert f.max_batch == int(budget // per_seq) * 8 == 15 * 8 == 120               # was 128
    # 256 experts each 1/8 hold as much as 32 whole ones: the layouts differ by 7/8 of the shared experts only
    assert f.weights - split.weights == pytest.approx(SHARED * L_MOE * 7 / 8 * FP8_BLOCK_BYTES, rel=1e-9)


def test_dp_attention_ep_decode_runs_the_shared_expert_on_its_own_tokens():
    # batch 64 over 8 ranks: each routes and runs the shared expert on its own 8 tokens with the whole expert
    # (3 x 7168 x 2048 fp8 weights a layer), not on all 64 with an eighth of it
    r = mlacalc.roofline(load_spec("deepseek-v3"), "h200", batch=64, context=4096, parallel=DPA_EP8)
    shared, router = r.op("shared_experts").op, r.op("router").op
    assert shared.flops == 2 * 8 * SHARED * L_MOE                   # the same FLOPs as 64 tokens x 1/8 ...
    assert shared.weight_bytes == pytest.approx(SHARED * L_MOE * FP8_BLOCK_BYTES, rel=1e-12)   # ... 8x the weights
    assert shared.rows == 8
    assert router.flops == 2 * 8 * D * 256 * L_MOE                  # was 2 x 64 x d x E a layer
    tp = mlacalc.roofline(load_spec("deepseek-v3"), "h200", batch=64, context=4096, parallel=Parallelism(tp=8, ep=8))
    assert tp.op("shared_experts").op.weight_bytes == pytest.approx(SHARED * L_MOE / 8 * FP8_BLOCK_BYTES, rel=1e-12)
    assert tp.op("router").op.flops == 2 * 64 * D * 256 * L_MOE


def test_weights_cli_dp_attention_ep_shared_experts_row(capsys):
    code, out, _, _ = run(capsys, "weights", "deepseek-v3", "--tp", "8", "--dp-attention", "--ep", "8", "--json")
    assert code == 0
    assert json.loads(out)["per_gpu_params"]["shared_experts"] == SHARED * L_MOE


# --- a group larger than one NVLink domain talks over the network ---------------------------------------------------
# An HGX/DGX H200 board joins 8 GPUs by NVLink (450 GB/s a direction); beyond it each GPU has one 400 Gb/s ConnectX-7
# (50 GB/s). DeepEP measures 43-58 GB/s of RDMA a GPU internode against 153-158 GB/s of NVLink intranode (H800), and
# DeepSeek-V3's report (section 3.2.2) gives IB 50 GB/s against NVLink 160 GB/s. mlacalc priced every collective of
# `--tp 16` at NVLink's 450 GB/s.

def test_h200_and_nvl72_domains():
    h200, gb200 = load_hardware("h200"), load_hardware("gb200")
    assert (h200.scale_up_gpus, h200.scale_out_gb_s, gb200.scale_up_gpus) == (8, 50, 72)
    assert [h200.domains(n) for n in (1, 8, 9, 16, 64)] == [1, 1, 2, 2, 8]
    assert gb200.domains(64) == 1
    assert h200.collective_bytes_s(8) == h200.collective_bytes_s(8, all_to_all=True) == 450e9
    # ring collectives across boards: 8 rings, one a NIC, each crossing at 50 GB/s: min(450, 8 x 50) = 400 GB/s
    assert h200.collective_bytes_s(16) == 400e9
    # all-to-all over 16: of the bytes a GPU sends, 7/15 stay on its board (450 GB/s), 8/15 leave through its NIC
    # (50 GB/s): the NIC takes 8/15 / 50e9 s a byte, the larger -> 93.75 GB/s
    assert h200.collective_bytes_s(16, all_to_all=True) == pytest.approx(50e9 * 15 / 8, rel=1e-12)
    assert gb200.collective_bytes_s(64, all_to_all=True) == 900e9        # one NVL72 rack: NVLink throughout


def test_deepseek_v3_dp_attention_ep16_on_two_h200_boards():
    # batch 256 x 4k, dp-attention, ep 16 over 2 x 8 H200s. Bytes a GPU sends in a step (ring (n-1)/n = 15/16):
    #   3 dense layers' all-gather + reduce-scatter (bf16): 3 x 2 x 15/16 x 256 x 7168 x 2   =  20,643,840 B
    #   58 MoE layers' dispatch (fp8 + an fp32 scale per 128: 1 + 4/128 B, tests/test_comm.py) and combine (bf16) of
    #   its 16 tokens x 8 experts: 58 x 15/16 x 16 x 8 x 7168 x (1.03125 + 2)                 = 151,226,880 B
    ring, a2a = 3 * 2 * 15 / 16 * 256 * D * 2, 58 * 15 / 16 * 16 * 8 * D * (1 + 4 / 128 + 2)
    assert (ring, a2a) == (20_643_840, 151_226_880)
    r = mlacalc.roofline(load_spec("deepseek-v3"), "h200", batch=256, context=4096,
                         parallel=Parallelism(tp=16, dp_attention=True, ep=16))
    comm = r.op("comm")
    assert comm.op.comm_bytes == ring + a2a and comm.op.a2a_bytes == a2a
    want = ring / 400e9 + a2a / (50e9 * 15 / 8)          # 51.6 us + 1.6131 ms
    assert comm.time_s == pytest.approx(want, rel=1e-12)
    assert comm.time_s * 1e3 == pytest.approx(1.665, abs=5e-4)    # was 0.489 ms, all at 450 GB/s (2.180 at bf16)
    # one board: unchanged, all at NVLink
    one = mlacalc.roofline(load_spec("deepseek-v3"), "h200", batch=256, context=4096, parallel=DPA_EP8)
    assert one.op("comm").time_s == pytest.approx(one.op("comm").op.comm_bytes / 450e9, rel=1e-12)


def test_tp16_all_reduce_and_logits_cross_boards():
    # Llama-3.1-70B (80 layers, hidden 8192, vocab 128,256) at tp 16 on H100 boards, decode batch 32: two all-reduces
    # a layer of 2 x 15/16 x 32 x 8192 x 2 B, and the logits' all-gather 15/16 x 32 x 128,256 x 2 B, at 400 GB/s
    r = mlacalc.roofline(load_spec("llama-3.1-70b"), "h100-sxm", batch=32, context=8192,
                         parallel=Parallelism(tp=16))
    layers = 80 * 2 * (2 * 15 / 16 * 32 * 8192 * 2)
    assert r.op("comm").op.comm_bytes == layers
    assert r.op("comm").time_s == pytest.approx(layers / 400e9, rel=1e-12)        # was / 450e9
    head = r.op("lm_head")
    assert head.op.comm_bytes == 15 / 16 * 32 * 128_256 * 2
    hw = load_hardware("h100-sxm")
    floor = max(head.op.flops / (hw.bf16_tflops * 1e12), head.op.bytes / (hw.mem_bandwidth_gb_s * 1e9))
    assert head.time_s == pytest.approx(floor + head.op.comm_bytes / 400e9, rel=1e-12)


def test_a_spec_without_domains_keeps_one_domain(tmp_path):
    p = tmp_path / "card.yaml"
    p.write_text("name: card\nmemory_gib: 80\nmem_bandwidth_gb_s: 3350\nbf16_tflops: 989\ninterconnect_gb_s: 450\n")
    hw = load_hardware(str(p))
    assert hw.domains(64) == 1 and hw.collective_bytes_s(64, all_to_all=True) == 450e9


@pytest.mark.parametrize("value, words", [("2.5", "whole number"), ("-8", "scale_up_gpus")])
def test_scale_up_gpus_must_be_a_whole_count(tmp_path, capsys, value, words):
    p = tmp_path / "card.yaml"
    p.write_text("name: card\nmemory_gib: 80\nmem_bandwidth_gb_s: 3350\nbf16_tflops: 989\ninterconnect_gb_s: 450\n"
                 f"scale_up_gpus: {value}\nscale_out_gb_s: 50\n")
    code, out, err, _ = run(capsys, "roofline", "llama-3.1-8b", "--gpu", str(p))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and words in err
