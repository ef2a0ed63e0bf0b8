"""The seventh audit's findings (training, fit's context search, ...): each test fails before its fix. Numbers are
worked out by hand in the test."""

import json

import pytest

from mlacalc.errors import SpecError
from mlacalc.hardware import load_hardware
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.training import TrainRun, model_states, stage_memory, train_memory

from helpers import make_spec, refused, run

FIXTURES = __file__.rsplit("/", 1)[0] + "/fixtures/hf/"
# 32 x (41,943,040 attention + 176,160,768 FFN + 8,192 norms) + 2 x 525,336,576 (embedding, head) + 4,096
LLAMA_8B_PARAMS = 8_030_261_248


# --- ZeRO shards over every rank that holds the same weights: dp x cp ------------------------------------------------
# Context-parallel ranks hold the same weights and all-reduce their gradients: Megatron-Core's distributed optimizer
# shards over intra_dp_cp_group (DP x CP), DeepSpeed-Ulysses over its seq_data_parallel_group, torchtitan's FSDP over
# dp_shard_cp. `train --cp 2 --zero 1` kept the whole optimizer on each of the two ranks.

def test_zero_shards_over_context_parallel_ranks_too():
    spec = load_spec("llama-3.1-8b")
    P = LLAMA_8B_PARAMS
    run1 = TrainRun(micro_batch=1, seq=4096, zero=1, parallel=Parallelism(cp=2))
    s = stage_memory(spec, run1)[0].states
    assert (s.weights, s.gradients, s.optimizer) == (2 * P, 2 * P, 12 * P / 2)
    run3 = TrainRun(micro_batch=1, seq=4096, zero=3, parallel=Parallelism(dp=2, cp=2))
    s = stage_memory(spec, run3)[0].states
    assert (s.weights, s.gradients, s.optimizer) == (2 * P / 4, 2 * P / 4, 12 * P / 4)


def test_zero_shards_experts_over_their_replicas_times_cp():
    # 8 experts over ep=4 ranks drawn from tp x dp = 1 x 8: 2 replicas of each expert in a context rank's slice, and
    # cp = 2 slices: ZeRO-1 shards expert optimizer states over 2 x 2 = 4 ranks, dense ones over 8 x 2 = 16.
    spec = make_spec({"kind": "mha", "num_heads": 4, "head_dim": 64},
                     ffn={"kind": "moe", "intermediate_size": 512, "num_experts": 8, "experts_per_token": 2,
                          "expert_intermediate_size": 64})
    from mlacalc.params import params_per_gpu

    par = Parallelism(dp=8, ep=4, cp=2)
    p = params_per_gpu(spec, par)
    s = model_states(p, "mixed", 1, par)
    dense = p.total - p.routed_experts
    assert s.optimizer == pytest.approx(12 * (dense / 16 + p.routed_experts / 4))


def test_train_cli_cp_halves_the_optimizer(capsys):
    code, out, _, _ = run(capsys, "train", "llama-3.1-8b", "--zero", "1", "--cp", "2", "--json")
    d = json.loads(out)
    assert code == 0 and d["per_gpu"]["optimizer"] == 12 * LLAMA_8B_PARAMS / 2


# --- training memory of cross-attention layers is refused, not priced as self-attention ------------------------------
# Llama-3.2-Vision's 8 cross layers were each counted as a self-attention layer over the text (q, k, v of 4,096
# tokens) plus its FFN, whatever the image tokens: their keys and values come from the image tokens, and a text-only
# batch skips those layers altogether (transformers' MllamaTextModel). Neither was what was printed.

def test_train_refuses_cross_attention_layers(capsys):
    refused(capsys, "train", FIXTURES + "llama_3_2_11b_vision", words="cross-attention")


def test_train_api_refuses_cross_attention_layers():
    spec = load_spec(FIXTURES + "llama_3_2_11b_vision")
    with pytest.raises(SpecError, match="cross-attention"):
        train_memory(spec, TrainRun(micro_batch=1, seq=4096), load_hardware("h100"))


# --- fit: a longest context at the search limit is a lower bound, not a number ---------------------------------------
# A model whose every layer is sliding (Mistral-7B's 4,096-token window) holds the same cache at any context, so the
# search stops at its limit (2**26 tokens): fit printed "longest context 67,108,864" as if memory ran out there.

def test_fit_says_when_the_longest_context_is_the_search_limit(capsys):
    code, out, _, _ = run(capsys, "fit", "mistral-7b", "--gpu", "h100", "--set", "max_context=null", "--json")
    f = json.loads(out)["fits"][0]
    assert code == 0 and f["max_context"] == 2**26 and f["max_context_capped"] is True
    code, out, _, _ = run(capsys, "fit", "mistral-7b", "--gpu", "h100", "--set", "max_context=null")
    assert code == 0 and ">= 67,108,864" in out
    code, out, _, _ = run(capsys, "fit", "llama-3.1-8b", "--gpu", "h100", "--json")
    assert json.loads(out)["fits"][0]["max_context_capped"] is False


# --- a quantization config's ignore list that names one layer ---------------------------------------------------------
# The ignore patterns were tested against one representative layer per component (attention at layer 7, the dense FFN
# at layer 0): Llama-3.3-70B's AWQ config with modules_to_not_convert ["model.layers.0.mlp"] left the dense FFN of all
# 80 layers at 16 bits (123.2 GB for 39.8 GB), and ["model.layers.1.mlp"] left every layer quantized. One layer's
# module left unquantized is a partly quantized component, refused in one line as a partial pattern already was.

def _awq_llama(tmp_path, ignore):
    cfg = json.load(open(FIXTURES + "llama_3_3_70b/config.json"))
    cfg["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": 128,
                                  "modules_to_not_convert": ignore}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return str(tmp_path)


@pytest.mark.parametrize("ignore", [["model.layers.0.mlp"], ["model.layers.1.mlp"], ["model.layers.7.self_attn"],
                                    ["model.layers.3.self_attn.q_proj"]])
def test_quantization_ignoring_one_layer_is_refused(capsys, tmp_path, ignore):
    refused(capsys, "weights", _awq_llama(tmp_path, ignore), words="unquantized")


def test_quantization_ignoring_every_layer_leaves_the_component_whole(capsys, tmp_path):
    # every layer's self_attn listed one by one, as some export tools write it: attention at 16 bits, the rest AWQ
    path = _awq_llama(tmp_path, [f"model.layers.{i}.self_attn" for i in range(80)])
    code, out, _, _ = run(capsys, "weights", path, "--json")
    q = json.loads(out)["quantization"]
    assert code == 0 and "attention" not in q["components"] and "dense_ffn" in q["components"]


# --- the attention output gate's stored tensors ---------------------------------------------------------------------
# A gated attention output (Qwen3-Next's and Trinity's `out * sigmoid(gate)`) keeps two more [b, s, a, d_v] tensors:
# sigmoid's output (kept by sigmoid's backward and by the product) and the product (o_proj's input). Training memory
# counted a gated layer as an ungated one.

def test_output_gate_keeps_the_sigmoid_and_the_product():
    from mlacalc.activations import ActivationConfig, backward_peak, layer_activations

    # h=256, 4 heads x 64, gated FFN 512; b=2, s=16 -> T = 32 tokens; bf16 = 2 B (tests/test_activations.py's layer)
    T, a, d = 2 * 16, 4, 64
    plain = make_spec({"kind": "mha", "num_heads": 4, "head_dim": 64})
    gated = make_spec({"kind": "mha", "num_heads": 4, "head_dim": 64, "output_gate": True})
    cfg = ActivationConfig(micro_batch=2, seq=16)
    assert layer_activations(gated, 0, cfg).attention - layer_activations(plain, 0, cfg).attention == 2 * T * a * d * 2
    for mode in ("selective", "full"):        # recomputed with the layer's other tensors, as a product's inputs are
        c = ActivationConfig(micro_batch=2, seq=16, recompute=mode)
        extra = 2 * T * a * d * 2 if mode == "selective" else 0
        assert layer_activations(gated, 0, c).total - layer_activations(plain, 0, c).total == extra
    assert backward_peak(gated, 0, cfg).total >= backward_peak(plain, 0, cfg).total


# --- training activations follow the layer's norms: Gemma's sandwich norms, Cohere's and Falcon's parallel block -------
# The native layer always kept two RMSNorms and a separate FFN input, whatever norms_per_layer said: Gemma-2/3, GLM-4
# and Trinity (4 norms: post-attention and post-FFN norms keep their inputs, the o_proj and down_proj outputs) were
# short two [b, s, h] inputs a layer, and the parallel attention/MLP block after one shared norm (Cohere, Falcon-7B,
# StableLM-2: 1 norm) was counted with a second norm and a second copy of its input.

@pytest.mark.parametrize("norms,total", [
    (2, 262_912),                              # tests/test_activations.py's tiny layer, by hand
    (4, 262_912 + 2 * (32 * 256 * 2 + 32 * 4)),  # + post-attention and post-FFN norms: input (bf16) and rstd (fp32)
    (1, 262_912 - (32 * 256 * 2 + 32 * 4) - 32 * 256 * 2),  # - ffn_norm (input, rstd) - the FFN's own input copy
])
def test_layer_keeps_the_norms_the_spec_has(norms, total):
    from mlacalc.activations import ActivationConfig, layer_activations

    # h=256, 4 heads x 64, gated FFN 512; b=2, s=16 -> T = 32 tokens
    spec = make_spec({"kind": "mha", "num_heads": 4, "head_dim": 64}, norms_per_layer=norms)
    la = layer_activations(spec, 0, ActivationConfig(micro_batch=2, seq=16))
    assert la.total == total
    full = layer_activations(spec, 0, ActivationConfig(micro_batch=2, seq=16, recompute="full"))
    assert full.total == 32 * 256 * 2          # full recomputation keeps the layer input alone, whatever the norms


# --- Qwen-MoE's gated shared expert -------------------------------------------------------------------------------------
# sigmoid(shared_expert_gate(x)) * shared_expert(x) keeps the shared expert's output ([b, s, h]) and the sigmoid's
# ([b, s, 1]) for the product's backward (transformers' Qwen2MoeSparseMoeBlock); they were left out.

def test_gated_shared_expert_keeps_its_output_and_the_gate():
    from mlacalc.activations import ActivationConfig, layer_activations

    moe = {"kind": "moe", "intermediate_size": 512, "num_experts": 8, "experts_per_token": 2,
           "expert_intermediate_size": 64, "num_shared_experts": 1}
    attn = {"kind": "mha", "num_heads": 4, "head_dim": 64}
    plain = make_spec(attn, ffn=moe)
    gated = make_spec(attn, ffn=moe | {"shared_expert_gate": True})
    cfg = ActivationConfig(micro_batch=2, seq=16)            # T = 32 tokens, h = 256, bf16
    assert layer_activations(gated, 0, cfg).total - layer_activations(plain, 0, cfg).total == 32 * 256 * 2 + 32 * 2


def test_train_api_zero_stage_is_a_whole_number():
    # zero=1.0 passed (1.0 in (0, 1, 2, 3)) and the report said "ZeRO-1.0" and "zero": 1.0, while q_tokens=2.0 and
    # tp=2.0 are refused; True was already refused
    for z in (1.0, "1", True):
        with pytest.raises(SpecError, match="zero"):
            TrainRun(micro_batch=1, seq=4096, zero=z)
