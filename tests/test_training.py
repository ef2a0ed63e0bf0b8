"""Training memory per GPU: model states under ZeRO, pipeline stages, the fit search, and the CLI contract."""

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.activations import ActivationConfig, head_tensors, saved_tensors
from mlacalc.cli import main
from mlacalc.errors import SpecError
from mlacalc.hardware import hardware_from_dict
from mlacalc.spec import load_spec
from mlacalc.parallel import Parallelism
from mlacalc.training import (TrainRun, max_micro_batch, max_seq, model_states, peak_bytes,
                              stage_memory)
from mlacalc.params import param_counts, params_per_gpu

from helpers import make_spec

MHA = {"kind": "mha", "num_heads": 4, "head_dim": 64}
MOE = {"kind": "moe", "intermediate_size": 512, "num_experts": 8, "experts_per_token": 2,
       "expert_intermediate_size": 64}


def gpu(gib: float):
    return hardware_from_dict({"name": "test", "memory_gib": gib, "mem_bandwidth_gb_s": 1, "bf16_tflops": 1,
                               "interconnect_gb_s": 1}, "test")


# ------------------------------------------------------------------------------------------ model states

@pytest.mark.parametrize("zero,expect", [
    (0, 2 + 2 + 12),             # ZeRO paper, Figure 1 baseline: (2 + 2 + K) psi with K = 12
    (1, 2 + 2 + 12 / 4),         # P_os: optimizer / N_d
    (2, 2 + (2 + 12) / 4),       # P_os+g
    (3, (2 + 2 + 12) / 4),       # P_os+g+p
])
def test_zero_stages_mixed_precision(zero, expect):
    spec = make_spec(MHA)
    P = param_counts(spec).total
    s = model_states(param_counts(spec), "mixed", zero, Parallelism(dp=4))
    assert s.total == pytest.approx(expect * P)


def test_pure_bf16_is_8_bytes_per_param():
    p = param_counts(make_spec(MHA))
    s = model_states(p, "bf16", 0, Parallelism())
    assert (s.weights, s.gradients, s.optimizer) == (2 * p.total, 2 * p.total, 4 * p.total)


def test_experts_shard_over_their_own_replicas():
    # 8 experts over ep=4 ranks drawn from tp x dp = 1 x 8: each expert has 8 / 4 = 2 replicas, so ZeRO-1
    # shards expert optimizer states over 2 ranks and dense ones over 8.
    spec = make_spec(MHA, ffn=MOE)
    par = Parallelism(dp=8, ep=4)
    p = params_per_gpu(spec, Parallelism(dp=8, ep=4))
    s = model_states(p, "mixed", 1, par)
    dense = p.total - p.routed_experts
    assert s.optimizer == pytest.approx(12 * (dense / 8 + p.routed_experts / 2))
    assert s.weights == 2 * p.total


# ------------------------------------------------------------------------------------------ stages

def test_pipeline_first_stage_holds_pp_micro_batches():
    # 4 layers over pp=2: stage 0 has 2 micro-batches in flight, stage 1 one, plus head and loss.
    spec = make_spec(MHA, layers=4)
    run = TrainRun(micro_batch=1, seq=16, parallel=Parallelism(pp=2))
    layer = sum(t.bytes for t in saved_tensors(spec, 0, ActivationConfig(micro_batch=1, seq=16)))
    s0, s1 = stage_memory(spec, run)
    assert (s0.in_flight, s1.in_flight) == (2, 1)
    assert s0.activations.layers == 2 * 2 * layer and s1.activations.layers == 2 * layer
    # Head and loss on the last stage: final norm (16x256 bf16 + 16 fp32), head input, log-probs 16 x 1000 fp32.
    assert s1.activations.head == 16 * 256 * 2 + 16 * 4 + 16 * 256 * 2 + 16 * 1000 * 4 and s0.activations.head == 0
    assert s1.workspace.logit_grad == 16 * 1000 * 4


def test_loss_backward_holds_three_fp32_vocab_tensors():
    # PyTorch's cross_entropy = nll_loss(log_softmax(logits.float())). Its backward, at log_softmax's backward
    # (_log_softmax_backward_data(grad, result, ...), tools/autograd/derivatives.yaml), holds: the saved fp32
    # log-probs, the dense fp32 gradient nll_loss's backward wrote (self's sizes, zeroed, LossNLL.cpp), and
    # the fp32 logit gradient being written. b = 2, s = 16, V = 1000: each 2 x 16 x 1000 x 4 = 128,000 bytes.
    # Before the held-out round of 2026-12 the middle one was missing (8 b s V bytes counted, not 12).
    spec = make_spec(MHA, layers=4)
    (s,) = stage_memory(spec, TrainRun(micro_batch=2, seq=16))
    one = 2 * 16 * 1000 * 4
    log_probs = next(t for t in head_tensors(spec, ActivationConfig(micro_batch=2, seq=16))
                     if t.name == "loss.log_probs")
    assert log_probs.bytes == one
    assert s.workspace.logit_grad == one and s.workspace.loss_grad == one
    assert log_probs.bytes + s.workspace.logit_grad + s.workspace.loss_grad == 3 * one == 384_000
    # the Megatron convention (Table 2) counts no head or loss at all
    (m,) = stage_memory(spec, TrainRun(micro_batch=2, seq=16, convention="megatron", kernel="eager"))
    assert m.workspace.loss_grad == 0 and m.workspace.logit_grad == 0


def test_stage_total_is_the_sum_of_its_parts():
    spec = load_spec("deepseek-v3")
    run = TrainRun(micro_batch=1, seq=4096, recompute="mla-latent", zero=1,
                   parallel=Parallelism(pp=16, dp=64, ep=64))
    for s in stage_memory(spec, run):
        assert s.total == s.states.weights + s.states.gradients + s.states.optimizer + s.activations.layers + \
            s.activations.embedding + s.activations.head + s.activations.mtp + s.activations.backward_peak + \
            s.activations.gathered_inputs + s.workspace.reserve + s.workspace.zero3_gather + \
            s.workspace.logit_grad + s.workspace.loss_grad + s.workspace.zero3_grads + s.workspace.loss_parallel_sum


@settings(max_examples=30, deadline=None)
@given(b=st.integers(1, 4), s=st.sampled_from([16, 64, 256]), kernel=st.sampled_from(["fused", "eager"]),
       pp=st.sampled_from([1, 2]))
def test_peak_full_le_selective_le_none_with_recompute_peak(b, s, kernel, pp):
    spec = make_spec(MHA, layers=4)
    run = TrainRun(micro_batch=b, seq=s, kernel=kernel, parallel=Parallelism(pp=pp))
    by = {m: peak_bytes(spec, replace(run, recompute=m)) for m in ("none", "selective", "full")}
    assert by["full"] <= by["selective"] <= by["none"]


# ------------------------------------------------------------------------------------------ fit search

def test_max_micro_batch_and_seq_are_the_last_that_fit():
    spec = make_spec(MHA, layers=4)
    run = TrainRun(micro_batch=1, seq=256, reserve_bytes=0)
    cap = peak_bytes(spec, replace(run, micro_batch=37)) + 1  # room for exactly 37
    assert max_micro_batch(spec, run, cap) == 37
    cap = peak_bytes(spec, replace(run, seq=1000)) + 1
    assert max_seq(spec, run, cap) == (1000, False)
    assert max_micro_batch(spec, run, 1.0) == 0


# ------------------------------------------------------------------------------------------ CLI

def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return e.value.code, out, err


def test_train_json_contract(capsys):
    code, out, err = run_cli(capsys, "train", "llama-3.1-8b", "--micro-batch", "1", "--seq", "8k", "--zero", "3",
                             "--dp", "8", "--recompute", "full", "--gpu", "h100-sxm", "--json")
    assert code == 0 and err == ""
    d = json.loads(out)
    g = d["per_gpu"]
    assert g["total"] == pytest.approx(g["parameters"] + g["gradients"] + g["optimizer"] + g["activations"]
                                       + g["workspace"])
    assert d["fits"] is True and d["max_micro_batch"] >= 1 and d["max_seq"] >= 8192
    # ZeRO-3 over 8: 16 bytes per parameter / 8; full recompute keeps 32 layer inputs of 8192 x 4096 bf16.
    params = 8_030_261_248
    assert g["parameters"] + g["gradients"] + g["optimizer"] == pytest.approx(16 * params / 8)
    assert d["stages"][0]["activations"]["layers"] == 32 * 8192 * 4096 * 2
    assert [t["name"] for t in d["layers"]["dense"]["tensors"]] == ["attn_norm.input"]
    assert d["mla_latent_vs_expanded"] is None


def test_train_deepseek_v3_latent_in_json(capsys):
    code, out, _ = run_cli(capsys, "train", "deepseek-v3", "--pp", "16", "--dp", "64", "--ep", "64", "--zero", "1",
                           "--recompute", "mla-latent", "--json")
    d = json.loads(out)
    assert code == 0 and round(d["mla_latent_vs_expanded"]["kv_ratio"], 1) == 71.1
    assert d["mla_latent_vs_expanded"]["note_ratio"] == 64.0


def test_train_megatron_convention(capsys):
    # GPT-3-like layer through the CLI: per-layer TP+SP = sbh/t (34 + 5as/h).
    code, out, _ = run_cli(capsys, "train", "llama-3.1-8b", "--convention", "megatron", "--seq", "2048",
                           "--tp", "8", "--sp", "--json")
    d = json.loads(out)
    s, h, a, t = 2048, 4096, 32, 8
    assert code == 0
    assert d["stages"][0]["activations"]["layers"] == pytest.approx(32 * s * h / t * (34 + 5 * a * s / h))


@pytest.mark.parametrize("args,needle", [
    (["--recompute", "sometimes"], "--recompute"),
    (["--recompute", "mla-latent"], "needs an MLA model"),
    (["--zero", "4"], "--zero"),
    (["--tp", "3"], "num_heads"),
    (["--cp", "3", "--seq", "4096"], "--seq"),
    (["--ep", "3", "--dp", "2"], "--ep"),
    (["--precision", "fp8"], "--precision"),
    (["--gpu", "h1000"], "unknown GPU"),
    (["--convention", "megatron", "--attention-kernel", "fused"], "eager"),
    (["--seq", "0"], "--seq"),
])
def test_train_bad_input_is_one_line_exit_2(capsys, args, needle):
    code, out, err = run_cli(capsys, "train", "llama-3.1-8b", *args, "--json")
    assert code == 2 and out == "" and needle in err and err.count("\n") == 1


def test_train_parallel_rejects_bad_degrees():
    with pytest.raises(SpecError):
        Parallelism(tp=0)
