"""``mlacalc train --tp-style megatron|torchtitan``: whose tensor parallelism the activations follow.

Megatron-Core's sequence parallelism saves each column-parallel linear's ``[s/t, b, h]`` shard and gathers it again in
backward (``LinearWithGradAccumulationAndAsyncCommunication``); torchtitan's DTensor plan redistributes the norm output
``Shard(1) -> Replicate()`` once before attention and once before the FFN (``PrepareModuleInput``), and once before
the output head (``ColwiseParallel(input_layouts=Shard(1))``), and autograd saves the gathered ``[b, s, h]``.
torchtitan's loss under TP is DTensor's ``loss_parallel``, whose fused backward holds four fp32 ``b s V / t`` tensors
(``_nll_loss_and_log_softmax_backward``: the saved log-probs ``x``, ``grad_input = zeros_like(x)``, ``grad_input +
exp(x)``, the product with ``grad_output``); eager ``cross_entropy`` holds three. Numbers are worked out by hand here.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.activations import ActivationConfig, backward_peak, head_tensors, saved_tensors
from mlacalc.cli import main
from mlacalc.errors import ArgError
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.training import TrainRun, stage_memory

from helpers import make_spec

GIB = 2**30
MHA = {"kind": "mha", "num_heads": 4, "head_dim": 64}      # h = 256 (make_spec), gated FFN of 512, vocab 1,000


def _stage(spec, style, loss_parallel=True, **run):
    par = run.pop("parallel")
    par = Parallelism(**(par | {"tp_style": style, "loss_parallel": loss_parallel}))
    return max(stage_memory(spec, TrainRun(parallel=par, **run)), key=lambda s: s.total)


def _sum_of_parts(s) -> float:
    a, w, m = s.activations, s.workspace, s.states
    return (m.weights + m.gradients + m.optimizer + a.layers + a.embedding + a.head + a.mtp + a.backward_peak
            + a.gathered_inputs + w.reserve + w.zero3_gather + w.zero3_grads + w.logit_grad + w.loss_grad
            + w.loss_parallel_sum)


# ------------------------------------------------------------------------------------- the held-out T4 point

def test_llama_70b_tp8_gathers_three_inputs_and_holds_a_fourth_loss_tensor():
    """torchtitan's Table 4 setup (docs/training-memory-checks.md, T4): Llama-3.1-70B (h 8,192, V 128,256,
    config.json), s 8,192, local batch 16, TP 8 + SP, FSDP 32, full AC. Under full recomputation the layer is re-run
    before its backward; at the widest instant (the FFN's product backward) both re-materialised projection inputs
    are alive, and the head's input is stored. Each, gathered: 16 x 8,192 x 8,192 x 2 B = 2 GiB; Megatron's shard
    is 1/8 of it. loss_parallel adds ``grad_input + exp(x)``: 4 x 16 x 8,192 x (128,256 / 8) B = 7.83 GiB."""
    spec = load_spec("llama-3.1-70b")
    assert (spec.hidden_size, spec.vocab_size) == (8192, 128_256)
    run = dict(micro_batch=16, seq=8192, recompute="full", zero=3, parallel=dict(tp=8, sp=True, dp=32))
    mg, tt = _stage(spec, "megatron", **dict(run)), _stage(spec, "torchtitan", **dict(run))
    gathered = 16 * 8192 * 8192 * 2
    assert gathered == 2 * GIB
    shard = gathered // 8
    loss_tensor = 4 * 16 * 8192 * (128_256 // 8)
    assert loss_tensor == 8_405_385_216                                     # 7.83 GiB

    # the widest instant is the same in both styles, and both projection inputs are alive there
    for style, one in (("megatron", shard), ("torchtitan", gathered)):
        cfg = ActivationConfig(micro_batch=16, seq=8192, recompute="full",
                               parallel=Parallelism(tp=8, sp=True, dp=32, tp_style=style))
        peak = backward_peak(spec, 0, cfg)
        assert peak.phase == "ffn.product"
        alive = {t.name: t.bytes for t in peak.tensors}
        assert (alive["attn.input"], alive["ffn.input"]) == (one, one)

    assert mg.activations.gathered_inputs == 0 and mg.workspace.loss_parallel_sum == 0
    assert tt.activations.gathered_inputs == 3 * gathered                  # attn, ffn (recomputed), head: 6 GiB
    assert tt.workspace.loss_parallel_sum == loss_tensor
    assert tt.workspace.logit_grad == tt.workspace.loss_grad == mg.workspace.logit_grad == loss_tensor
    # what moves: three gathered inputs in place of three shards, and the fourth loss tensor
    assert tt.total - mg.total == 3 * (gathered - shard) + loss_tensor
    assert 3 * (gathered - shard) / GIB == 5.25
    assert tt.total == pytest.approx(_sum_of_parts(tt)) and mg.total == pytest.approx(_sum_of_parts(mg))


# ------------------------------------------------------------------------------------------ a tiny model

def test_tiny_model_by_hand_no_recomputation():
    """2 layers, h 256, vocab 1,000, TP 2 + SP, b 2 x s 16, nothing recomputed. Megatron keeps attn.input, ffn.input
    and head.input as [2, 8, 256] shards (8,192 B); torchtitan keeps them gathered, [2, 16, 256] = 16,384 B. The
    loss tensors: 2 x 16 x 500 x 4 = 64,000 B each, a fourth one under loss_parallel."""
    spec = make_spec(MHA)
    cfg = {s: ActivationConfig(micro_batch=2, seq=16, parallel=Parallelism(tp=2, sp=True, tp_style=s))
           for s in ("megatron", "torchtitan")}
    dims = {s: {t.name: t.dims for t in saved_tensors(spec, 0, c) + head_tensors(spec, c)} for s, c in cfg.items()}
    for name in ("attn.input", "ffn.input", "head.input"):
        assert dims["megatron"][name] == (2, 8, 256)
        assert dims["torchtitan"][name] == (2, 16, 256)
    for name in ("attn_norm.input", "ffn_norm.input", "final_norm.input"):     # SequenceParallel norms: sharded
        assert dims["megatron"][name] == dims["torchtitan"][name] == (2, 8, 256)
    assert dims["torchtitan"]["loss.log_probs"] == (2, 16, 500)

    run = dict(micro_batch=2, seq=16, parallel=dict(tp=2, sp=True))
    mg, tt = _stage(spec, "megatron", **dict(run)), _stage(spec, "torchtitan", **dict(run))
    assert tt.activations.gathered_inputs == 2 * (16_384 + 16_384) + 16_384 == 81_920    # 2 layers, then the head
    one = 2 * 16 * 500 * 4
    assert (tt.workspace.logit_grad, tt.workspace.loss_grad, tt.workspace.loss_parallel_sum) == (one, one, one)
    # the widest backward instant (the FFN's down projection) frees no projection input: unchanged
    assert tt.activations.backward_peak == mg.activations.backward_peak
    assert tt.total - mg.total == 2 * 2 * (16_384 - 8_192) + (16_384 - 8_192) + one == 104_960
    assert tt.total == _sum_of_parts(tt)


def test_tiny_model_by_hand_full_recomputation():
    """The same under full recomputation: the layer keeps only its input (the sharded attn_norm input, 8,192 B, in
    both styles); the backward re-materialises attn.input and ffn.input, gathered under torchtitan: 2 x 16,384 B
    alive at the widest instant, against 2 x 8,192 B of shards."""
    spec = make_spec(MHA)
    run = dict(micro_batch=2, seq=16, recompute="full", parallel=dict(tp=2, sp=True))
    mg, tt = _stage(spec, "megatron", **dict(run)), _stage(spec, "torchtitan", **dict(run))
    assert tt.activations.layers == mg.activations.layers == 2 * 8_192
    assert tt.activations.gathered_inputs == 2 * 16_384 + 16_384                 # recomputed pair + the head's
    assert (tt.activations.backward_peak + tt.activations.gathered_inputs - 16_384
            - mg.activations.backward_peak) == 2 * (16_384 - 8_192)


def test_no_loss_parallel_runs_the_eager_loss_on_the_whole_vocabulary():
    """torchtitan's parallelism.disable_loss_parallel: the head's output is all-gathered (``ColwiseParallel(
    output_layouts=Replicate())``) and eager cross_entropy holds three fp32 [b, s, V] tensors, V whole:
    2 x 16 x 1,000 x 4 = 128,000 B each."""
    spec = make_spec(MHA)
    run = dict(micro_batch=2, seq=16, parallel=dict(tp=2, sp=True))
    s = _stage(spec, "torchtitan", loss_parallel=False, **run)
    one = 2 * 16 * 1000 * 4
    (log_probs,) = [t for t in head_tensors(spec, ActivationConfig(
        micro_batch=2, seq=16, parallel=Parallelism(tp=2, sp=True, tp_style="torchtitan", loss_parallel=False)))
        if t.name == "loss.log_probs"]
    assert log_probs.bytes == one
    assert (s.workspace.logit_grad, s.workspace.loss_grad, s.workspace.loss_parallel_sum) == (one, one, 0)


def test_an_input_freed_before_the_widest_instant_leaves_the_gathered_row():
    """No recomputation, eager attention, s 4,096: the widest backward instant is the attention core's (the
    [b, a/t, s, s] scores), after the FFN's backward has freed this layer's ffn.input. Each gathered input is
    2 x 4,096 x 256 x 2 B = 4,194,304 B (Megatron's shard: half). Alive at that instant: both layers' attn.input, the
    other layer's ffn.input, the head's: 4 of the 5 stored. loss_parallel's sum: 4 x 2 x 4,096 x 500 B."""
    spec = make_spec(MHA)
    run = dict(micro_batch=2, seq=4096, kernel="eager", parallel=dict(tp=2, sp=True))
    mg, tt = _stage(spec, "megatron", **dict(run)), _stage(spec, "torchtitan", **dict(run))
    gathered, shard = 2 * 4096 * 256 * 2, 2 * 2048 * 256 * 2
    assert tt.activations.gathered_inputs == 4 * gathered == 16_777_216
    # the freed input is freed in both styles: four positions move from shard to gathered
    assert tt.total - mg.total == 4 * (gathered - shard) + 4 * 2 * 4096 * 500 == 24_772_608
    assert tt.total == _sum_of_parts(tt)


def test_context_parallelism_gathers_over_tp_only():
    """CP 2 x TP 2, s 64, full recomputation: the gathered input is the CP rank's [b, s / cp, h] = [2, 32, 256],
    32,768 B (TP's all-gather undoes TP's split, not CP's); the stored layer input is the [2, 16, 256] shard."""
    spec = make_spec(MHA)
    s = _stage(spec, "torchtitan", micro_batch=2, seq=64, recompute="full", parallel=dict(tp=2, sp=True, cp=2))
    assert s.activations.gathered_inputs == 3 * 2 * 32 * 256 * 2 == 98_304      # attn, ffn (recomputed), head
    assert s.activations.layers == 2 * 2 * 16 * 256 * 2                          # 2 layers' attn_norm input
    assert s.workspace.loss_parallel_sum == 4 * 2 * 32 * 500                      # b s/cp V/t fp32


@pytest.mark.parametrize("extra,words", [
    ({"mtp_layers": 1}, "MTP modules"), ({"norms_per_layer": 1}, "parallel block"),
])
def test_plans_not_derived_are_refused(extra, words):
    spec = make_spec(MHA, **extra)
    with pytest.raises(ArgError, match=words):
        _stage(spec, "torchtitan", micro_batch=1, seq=64, parallel=dict(tp=2, sp=True))
    _stage(spec, "megatron", micro_batch=1, seq=64, parallel=dict(tp=2, sp=True))           # the default prices it


def test_low_rank_query_and_kv_heads_fewer_than_ranks_are_refused():
    """torchtitan's Llama attention views wk/wv's ColwiseParallel outputs as ``(bs, seqlen, -1, head_dim)``, the
    local heads inferred from the shard (torchtitan/models/llama3/model/model.py, ``Attention.forward``): a rank
    needs whole key/value heads, so tp divides ``num_kv_heads``. 2 key/value heads: tp 2 runs, tp 4 is refused."""
    gqa = {"kind": "gqa", "num_heads": 8, "num_kv_heads": 2, "head_dim": 32}
    _stage(make_spec(gqa), "torchtitan", micro_batch=1, seq=64, parallel=dict(tp=2, sp=True))
    with pytest.raises(ArgError, match="2 key/value heads"):
        _stage(make_spec(gqa), "torchtitan", micro_batch=1, seq=64, parallel=dict(tp=4, sp=True))
    _stage(make_spec(gqa), "megatron", micro_batch=1, seq=64, parallel=dict(tp=4, sp=True))
    with pytest.raises(ArgError, match="low-rank query"):
        _stage(make_spec(gqa | {"q_lora_rank": 64}), "torchtitan", micro_batch=1, seq=64, parallel=dict(tp=2, sp=True))


# ------------------------------------------------------------------------------------------ properties

_layouts = st.fixed_dictionaries({
    "attention": st.sampled_from([MHA, {"kind": "gqa", "num_heads": 8, "num_kv_heads": 4, "head_dim": 32}]),
    "recompute": st.sampled_from(["none", "selective", "full"]), "kernel": st.sampled_from(["fused", "eager"]),
    "b": st.integers(1, 4), "k": st.integers(1, 8), "pp": st.sampled_from([1, 2]), "cp": st.sampled_from([1, 2]),
    "loss_parallel": st.booleans()})


@settings(max_examples=40, deadline=None)
@given(_layouts)
def test_at_one_tp_rank_both_styles_are_identical(x):
    """torchtitan applies no TP plan at tp 1 (``parallel_dims.tp_enabled``), and loss_parallel needs tp > 1."""
    spec = make_spec(x["attention"], layers=4)
    run = dict(micro_batch=x["b"], seq=8 * x["k"] * x["cp"], recompute=x["recompute"], kernel=x["kernel"])
    par = dict(pp=x["pp"], cp=x["cp"])
    out = {}
    for style in ("megatron", "torchtitan"):
        p = Parallelism(tp_style=style, loss_parallel=x["loss_parallel"] or style == "megatron", **par)
        out[style] = [s.to_json() for s in stage_memory(spec, TrainRun(parallel=p, **run))]
    assert out["megatron"] == out["torchtitan"]


@settings(max_examples=40, deadline=None)
@given(_layouts, st.sampled_from([2, 4]))
def test_torchtitan_is_never_below_megatron_and_its_parts_sum(x, tp):
    spec = make_spec(x["attention"], layers=4)
    run = dict(micro_batch=x["b"], seq=8 * x["k"] * x["cp"] * tp, recompute=x["recompute"], kernel=x["kernel"])
    par = dict(tp=tp, sp=True, pp=x["pp"], cp=x["cp"])
    mg = stage_memory(spec, TrainRun(parallel=Parallelism(**par), **run))
    tt = stage_memory(spec, TrainRun(parallel=Parallelism(tp_style="torchtitan", loss_parallel=x["loss_parallel"],
                                                          **par), **run))
    for a, b in zip(mg, tt):
        assert b.total >= a.total
        assert b.activations.gathered_inputs > 0
        assert b.total == pytest.approx(_sum_of_parts(b), rel=1e-12)


# ------------------------------------------------------------------------------------------ the CLI

def _cli(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main(["train", *args])
    out, err = capsys.readouterr()
    return e.value.code, out, err


@pytest.mark.parametrize("args,words", [
    (("llama-3.1-8b", "--tp-style", "foo"), "must be one of megatron, torchtitan"),
    (("llama-3.1-8b", "--tp", "2", "--tp-style", "torchtitan"), "add --sp"),
    (("llama-3.1-8b", "--no-loss-parallel"), "--tp-style torchtitan"),
    (("llama-3.1-8b", "--tp", "2", "--sp", "--tp-style", "torchtitan", "--convention", "megatron"), "native layer"),
    (("deepseek-v3", "--tp", "8", "--sp", "--ep", "8", "--tp-style", "torchtitan"), "not mla"),
    (("mixtral-8x7b", "--tp", "8", "--sp", "--tp-style", "torchtitan"), "MoE"),
    # 8 key/value heads over 16 ranks, and MQA's one over 4: torchtitan cannot view its K/V shards as whole heads
    (("llama-3.1-8b", "--tp", "16", "--sp", "--tp-style", "torchtitan"), "8 key/value heads"),
    (("llama-2-7b", "--as", "mqa", "--tp", "4", "--sp", "--tp-style", "torchtitan"), "1 key/value heads"),
])
def test_bad_input_is_one_line_exit_2(capsys, args, words):
    code, out, err = _cli(capsys, *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err


def test_json_names_the_style_and_the_table_shows_the_new_rows(capsys):
    args = ("llama-3.1-8b", "--seq", "8k", "--tp", "4", "--sp", "--tp-style", "torchtitan", "--recompute", "full")
    code, out, _ = _cli(capsys, *args, "--json")
    assert code == 0
    d = json.loads(out)
    assert (d["config"]["tp_style"], d["config"]["loss_parallel"]) == ("torchtitan", True)
    st0 = d["stages"][0]
    assert st0["activations"]["gathered_inputs"] > 0 and st0["workspace"]["loss_parallel_sum"] > 0
    code, out, _ = _cli(capsys, *args)
    assert code == 0 and "gathered SP inputs" in out and "loss_parallel" in out and "(torchtitan)" in out
    code, out, _ = _cli(capsys, "llama-3.1-8b", "--seq", "8k", "--tp", "4", "--sp", "--recompute", "full")
    assert code == 0 and "gathered SP inputs" not in out and "loss_parallel" not in out
