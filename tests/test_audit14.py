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
