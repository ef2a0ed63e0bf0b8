"""Training memory of one block a layer: NVIDIA's Nemotron-H family (Nemotron-H, Nemotron-Nano-v2, Nemotron 3), each
layer one norm and one block, ``M`` Mamba-2, ``*`` attention, ``-`` a ReLU² MLP, ``E`` a (Latent)MoE
(transformers ``NemotronHBlock``; mlacalc/activations.py ``_one_block_layer``). Every expected number is worked out
here from the config.json numbers of the fixtures (tests/fixtures/hf/nemotron_3_super_120b_a12b, nemotron_h_8b)."""

import json
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlacalc
from mlacalc.activations import (ActivationConfig, backward_peak, backward_phases, head_tensors, mtp_tensors,
                                 saved_tensors, sum_by_group)
from mlacalc.errors import ArgError, SpecError
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec
from mlacalc.training import TrainRun, layer_kinds, stage_memory

from helpers import HF_FIXTURES, fixture_config, hf_fixture, make_spec, mamba_blocks, refused, run

S = 4096
SUPER = "nemotron-3-super-120b-a12b"          # built-in spec, the config of tests/fixtures/hf/nemotron_3_super_120b_a12b
SUPER_CFG = fixture_config("nemotron_3_super_120b_a12b")
H8B = "nemotron_h_8b"                          # nvidia/Nemotron-H-8B-Base-8K: M, *, - blocks
H8B_CFG = fixture_config(H8B)
BF16, FP32, INT64 = 2, 4, 8


def cfg(b: int = 1, s: int = S, **kw) -> ActivationConfig:
    par = {k: kw.pop(k) for k in ("tp", "sp", "cp", "ep", "dp") if k in kw}
    return ActivationConfig(micro_batch=b, seq=s, parallel=Parallelism(**par), **kw)


def nbytes(tensors) -> int:
    return sum(t.bytes for t in tensors)


def first(config: dict, letter: str) -> int:
    """The first layer of a block letter in the config's hybrid_override_pattern."""
    return config["hybrid_override_pattern"].index(letter)


# ------------------------------------------------------------------------------------------ worked by hand

def test_a_super_mamba_block_keeps_its_norm_and_the_fused_scans_tensors_by_hand():
    """Nemotron 3 Super's M block: the block's RMSNorm keeps its input (d) and an fp32 rstd; in_proj its input (d);
    mamba_split_conv1d_scan_combined in_proj's output zxbcdt (2 I + 2 G N + H), the scan's output (I) and the gated
    norm's fp32 rstd a group (G). I = mamba_num_heads x mamba_head_dim."""
    c = SUPER_CFG
    d, H, P, G, N = c["hidden_size"], c["mamba_num_heads"], c["mamba_head_dim"], c["n_groups"], c["ssm_state_size"]
    inner = H * P
    zxbcdt = 2 * inner + 2 * G * N + H
    assert (inner, zxbcdt) == (8192, 18_560)
    per_token = BF16 * (d + d + zxbcdt + inner) + FP32 * (1 + G)
    spec = load_spec(SUPER)
    j = first(c, "M")
    ts = saved_tensors(spec, j, cfg())
    assert [t.name for t in ts] == ["norm.input", "norm.rstd", "mamba.input", "mamba.zxbcdt", "mamba.out_x",
                                    "mamba.norm_rstd"]
    assert nbytes(ts) == S * per_token == 286_408_704


def test_a_super_attention_block_keeps_q_k_v_out_and_the_lse_by_hand():
    """The * block: norm (d + fp32 rstd), q/k/v projections' input (d), q (a d_h), k and v (2 a_kv d_h, GQA-2
    unexpanded on the fused kernel), the fp32 log-sum-exp (a) and the output (a d_h); no RoPE table (the block has
    none)."""
    c = SUPER_CFG
    d, a, kv, dh = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    per_token = BF16 * (d + d + a * dh + 2 * kv * dh + a * dh) + FP32 * (1 + a)
    spec = load_spec(SUPER)
    assert nbytes(saved_tensors(spec, first(c, "*"), cfg())) == S * per_token == 138_952_704


def test_a_super_latent_moe_block_keeps_what_autograd_keeps_by_hand():
    """The E block, transformers' NemotronHMoE with moe_latent_size l: the norm (d, fp32 rstd); x (d: read by
    fc1_latent_proj and the shared MLP's up_proj); the router's fp32 copies of x (d) and of its E x d weight; the
    sigmoid's fp32 output (E); the top-k indices (k, int64) and fp32 weights (k); k token copies a token at l (the
    experts' input) and the experts' outputs at l (the combine's product keeps them); each copy's ReLU² expert keeps
    relu's output and down_proj's input (2 f_e); fc2_latent_proj's input (l); the shared MLP's 2 x 5376."""
    c = SUPER_CFG
    d, E, k = c["hidden_size"], c["n_routed_experts"], c["num_experts_per_tok"]
    f_e, lat, f_s = c["moe_intermediate_size"], c["moe_latent_size"], c["moe_shared_expert_intermediate_size"]
    bf16 = d + d + k * lat + 2 * k * f_e + k * lat + lat + 2 * f_s
    fp32 = 1 + d + E + k
    per_token = BF16 * bf16 + FP32 * fp32 + INT64 * k
    router_weight = FP32 * E * d
    spec = load_spec(SUPER)
    ts = {t.name: t for t in saved_tensors(spec, first(c, "E"), cfg())}
    assert sum(t.bytes for t in ts.values()) == S * per_token + router_weight == 1_586_544_640
    assert ts["moe.dispatch"].dims == (S * k, lat) and ts["moe.combine"].dims == (S * k, lat)
    assert ts["moe.experts.act_input"].dims == (S * k, f_e) and "moe.experts.gate_out" not in ts   # ungated


def test_a_nemotron_h_mlp_block_keeps_relu_squareds_one_tensor_and_the_down_input_by_hand():
    """The - block of Nemotron-H-8B, NemotronHMLP: up_proj keeps x (d); ReLUSquaredActivation is square(relu(x)),
    relu keeping its output and square its input, one tensor (f); down_proj keeps the square (f); the norm d + fp32."""
    c = H8B_CFG
    d, f = c["hidden_size"], c["intermediate_size"]
    spec = hf_fixture(H8B)
    ts = saved_tensors(spec, first(c, "-"), cfg())
    assert [t.name for t in ts] == ["norm.input", "norm.rstd", "ffn.input", "ffn.act_input", "ffn.down_input"]
    assert nbytes(ts) == S * (BF16 * (d + d + 2 * f) + FP32) == 419_446_784


def test_the_mlp_blocks_backward_peaks_at_down_projs_instant_by_hand():
    """down_proj's backward: the layer output's gradient dy (d), d(down input) (f) and the f x d weight gradient
    alive, nothing freed yet; every later instant frees the stored f-wide tensor it has read."""
    c = H8B_CFG
    d, f = c["hidden_size"], c["intermediate_size"]
    peak = backward_peak(hf_fixture(H8B), first(c, "-"), cfg())
    assert peak.phase == "ffn.down" and peak.total == BF16 * (S * d + S * f + d * f)


def test_the_attention_blocks_backward_peaks_in_the_fused_kernel_by_hand():
    """FlashAttention-2's backward on the * block: dy (d), dO (a d_h), dQ (a d_h), dK and dV (a_kv d_h each), the fp32
    dQ accumulator (a d_h) and rowsum(dO O) (a), and GQA's per-query-head dK, dV (2 a d_h)."""
    c = SUPER_CFG
    d, a, kv, dh = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    want = S * (BF16 * (d + a * dh + a * dh + 2 * kv * dh + 2 * a * dh) + FP32 * (a * dh + a))
    peak = backward_peak(load_spec(SUPER), first(c, "*"), cfg())
    assert peak.phase == "attn.core" and peak.total == want


def test_the_latent_moe_blocks_backward_peaks_at_the_experts_down_proj_by_hand():
    """The E block's backward, widest at the routed experts' down_proj: alive dy (d), the shared MLP's input gradient
    (d, its backward ran first: created last in NemotronHMoE.forward), combine's gradient at the latent width (k l a
    token), d(down input) (k f_e) and one expert's l x f_e weight gradient; already freed, the shared MLP's two f_s
    tensors and fc2_latent_proj's input (l), whose backward ran before the experts'."""
    c = SUPER_CFG
    d, k = c["hidden_size"], c["num_experts_per_tok"]
    f_e, lat, f_s = c["moe_intermediate_size"], c["moe_latent_size"], c["moe_shared_expert_intermediate_size"]
    alive = BF16 * (S * d + S * d + S * k * lat + S * k * f_e + lat * f_e)
    freed = BF16 * (2 * S * f_s + S * lat)
    peak = backward_peak(load_spec(SUPER), first(c, "E"), cfg())
    assert peak.phase == "moe.experts.down" and peak.total == alive - freed == 645_136_384


@pytest.mark.parametrize("recompute", ["none", "selective", "full"])
def test_every_instant_of_every_blocks_backward_holds_the_layer_outputs_gradient(recompute):
    """The residual branch's dy (the layer output's gradient, [b, s, d]) lives until the norm's backward sums it in:
    every block's instants hold it, the Mamba-2 mixer's fused backward included."""
    for model in (load_spec(SUPER), hf_fixture(H8B)):
        for j in layer_kinds(model).values():
            for p in backward_phases(model, j, cfg(recompute=recompute)):
                assert "grad.layer_out" in {g.name for g in p.grads}, (model.name, j, p.name)


def test_latent_moes_projections_have_their_own_backward_instants():
    """fc2_latent_proj's backward runs before the experts' (its input's gradient at l, its d x l weight gradient),
    fc1_latent_proj's after the dispatch (the block input's partial gradient at d); the experts' at l."""
    c = SUPER_CFG
    d, lat, k = c["hidden_size"], c["moe_latent_size"], c["num_experts_per_tok"]
    phases = {p.name: p for p in backward_phases(load_spec(SUPER), first(c, "E"), cfg())}
    names = list(phases)
    assert names.index("moe.latent_up") < names.index("moe.experts.down") < names.index("moe.dispatch") < \
        names.index("moe.latent_down") < names.index("norm")
    up = {t.name: t.dims for t in phases["moe.latent_up"].grads}
    assert up["grad.moe.latent_up_input"] == (1, S, lat) and up["grad.moe.W_latent_up"] == (d, lat)
    assert {t.name: t.dims for t in phases["moe.experts.down"].grads}["grad.moe.combine"] == (S * k, lat)


# ------------------------------------------------------------------------------------------ a stage sums its blocks

@pytest.mark.parametrize("model,config,kinds", [
    (SUPER, SUPER_CFG, {"M": "mamba", "*": "attention", "E": "moe"}),
    (H8B, H8B_CFG, {"M": "mamba", "*": "attention", "-": "mlp"}),
])
def test_a_stage_sums_its_layers_by_block_as_the_pattern_counts_them(model, config, kinds):
    spec = load_spec(model) if model == SUPER else hf_fixture(model)
    pattern = Counter(config["hybrid_override_pattern"])
    rep = layer_kinds(spec)
    assert set(rep) == set(kinds.values())
    c = cfg()
    per_kind = {kinds[letter]: nbytes(saved_tensors(spec, first(config, letter), c)) for letter in kinds}
    stage = stage_memory(spec, TrainRun(micro_batch=1, seq=S))[0]
    assert stage.activations.layers == sum(pattern[letter] * per_kind[kinds[letter]] for letter in kinds)
    assert sum(pattern[x] for x in kinds) == spec.num_layers


def test_super_counts_40_mamba_8_attention_and_40_moe_blocks():
    assert Counter(SUPER_CFG["hybrid_override_pattern"]) == {"M": 40, "*": 8, "E": 40}
    assert Counter(H8B_CFG["hybrid_override_pattern"]) == {"M": 24, "*": 4, "-": 24}


def test_the_stages_backward_peak_is_its_widest_blocks():
    spec, c = load_spec(SUPER), cfg()
    peaks = [backward_peak(spec, j, c).total for j in layer_kinds(spec).values()]
    stage = stage_memory(spec, TrainRun(micro_batch=1, seq=S))[0]
    assert stage.activations.backward_peak == max(peaks)


def test_supers_mtp_module_is_its_norms_projection_attention_and_moe_blocks_and_head():
    """vLLM's NemotronHMultiTokenPredictor ("*E"): enorm and hnorm, eh_proj's 2d input, an attention block and a MoE
    block each with its norm, final_layernorm and the shared head; each block keeps what the main model's does."""
    spec, c = load_spec(SUPER), cfg()
    d = SUPER_CFG["hidden_size"]
    blocks = nbytes(saved_tensors(spec, first(SUPER_CFG, "*"), c)) + nbytes(saved_tensors(spec, first(SUPER_CFG, "E"), c))
    want = 2 * S * (BF16 * d + FP32) + S * BF16 * 2 * d + blocks + nbytes(head_tensors(spec, c))
    assert nbytes(mtp_tensors(spec, c)) == want
    assert stage_memory(spec, TrainRun(micro_batch=1, seq=S))[0].activations.mtp == want


# ------------------------------------------------------------------------------------------ recompute, parallelism

def test_full_recompute_keeps_only_each_blocks_input():
    spec = load_spec(SUPER)
    for j in layer_kinds(spec).values():
        kept = saved_tensors(spec, j, cfg(recompute="full"))
        assert [t.name for t in kept] == ["norm.input"] and kept[0].bytes == S * SUPER_CFG["hidden_size"] * BF16
        assert any(p.recomputed for p in backward_phases(spec, j, cfg(recompute="full")))


def test_selective_recomputes_the_attention_blocks_core_alone():
    """Megatron-Core's selective recompute checkpoints the softmax core: the * block drops its lse (a fp32 a token)
    and re-makes its output at the core; the M, - and E blocks keep everything (before the ffn layers' selective
    backward looked for an attention output they do not have)."""
    spec = load_spec(SUPER)
    a = SUPER_CFG["num_attention_heads"]
    att = first(SUPER_CFG, "*")
    none, sel = (nbytes(saved_tensors(spec, att, cfg(recompute=r))) for r in ("none", "selective"))
    assert none - sel == S * a * FP32
    core = next(p for p in backward_phases(spec, att, cfg(recompute="selective")) if p.name == "attn.core")
    assert "attn.out.recomputed" in {t.name for t in core.recomputed}
    for model in (spec, hf_fixture(H8B)):
        for j in (first(SUPER_CFG, "M"), first(SUPER_CFG, "E")) if model is spec else (first(H8B_CFG, "-"),):
            assert saved_tensors(model, j, cfg(recompute="selective")) == saved_tensors(model, j, cfg())
            assert not any(p.recomputed for p in backward_phases(model, j, cfg(recompute="selective")))


def test_tensor_and_sequence_parallelism_halve_every_token_tensor_of_every_block():
    """tp 2 with SP: the norms and block inputs keep their sequence shard, the Mamba heads and B/C groups split
    (8 groups over 2), the attention heads and GQA's 2 K/V heads split, the MLP width splits, the MoE block's tokens
    split; only the router's fp32 weight copy (no tokens) stays whole."""
    for model in (load_spec(SUPER), hf_fixture(H8B)):
        for j in layer_kinds(model).values():
            one, two = saved_tensors(model, j, cfg()), saved_tensors(model, j, cfg(tp=2, sp=True))
            for x, y in zip(one, two, strict=True):
                assert y.bytes * (1 if x.name == "moe.router_weight_fp32" else 2) == x.bytes, x.name
                assert (y.split == "none") == (x.name == "moe.router_weight_fp32"), x.name    # --json's label


def test_tensor_parallelism_without_sp_keeps_whole_token_tensors_and_splits_widths():
    spec = hf_fixture(H8B)
    d, f = H8B_CFG["hidden_size"], H8B_CFG["intermediate_size"]
    ts = {t.name: t.bytes for t in saved_tensors(spec, first(H8B_CFG, "-"), cfg(tp=4))}
    assert ts["ffn.input"] == ts["norm.input"] == S * d * BF16
    assert ts["ffn.act_input"] == ts["ffn.down_input"] == S * f // 4 * BF16


def test_context_parallelism_divides_every_token_tensor():
    spec = load_spec(SUPER)
    for j in layer_kinds(spec).values():
        one, two = saved_tensors(spec, j, cfg()), saved_tensors(spec, j, cfg(cp=2))
        const = sum(t.bytes for t in one if t.name == "moe.router_weight_fp32")
        assert 2 * (nbytes(two) - const) == nbytes(one) - const


def test_a_moe_block_without_a_latent_space_runs_its_experts_at_the_model_width(tmp_path):
    """Nemotron-3-Nano-30B-A3B's E blocks (no moe_latent_size): token copies and expert outputs at d, no
    fc2_latent_proj input."""
    from test_hf_configs import _nemotron_3_nano, _write

    spec = load_spec(_write(tmp_path, _nemotron_3_nano()))
    j = next(i for i in range(spec.num_layers) if spec.is_moe_layer(i))
    ts = {t.name: t for t in saved_tensors(spec, j, cfg())}
    d, k = spec.hidden_size, spec.ffn.experts_per_token
    assert ts["moe.dispatch"].dims == (S * k, d) == (S * 6, 2688) and "moe.latent_up_input" not in ts
    assert set(layer_kinds(spec)) == {"mamba", "attention", "moe"}


def test_an_attention_block_keeps_its_heads_width_not_the_models(tmp_path):
    """Nemotron-Nano-9B-v2's attention shape on the Nemotron-H-8B file (tests/test_widths.py): 40 query / 8 KV heads
    of 128 over a hidden 4480, so q and the output are 40 x 128 = 5120 wide a token, the block input 4480."""
    cfg_ = dict(H8B_CFG, hidden_size=4480, num_attention_heads=40, num_key_value_heads=8)
    (tmp_path / "config.json").write_text(json.dumps(cfg_))
    spec = load_spec(str(tmp_path))
    d, a, kv, dh = 4480, 40, 8, 128
    per_token = BF16 * (d + d + a * dh + 2 * kv * dh + a * dh) + FP32 * (1 + a)
    assert nbytes(saved_tensors(spec, first(cfg_, "*"), cfg())) == S * per_token


# ------------------------------------------------------------------------------------------ properties

def _one_block_spec(mamba: dict, latent: int | None):
    ffn = {"kind": "moe", "gated": False, "intermediate_size": 64, "num_experts": 8, "experts_per_token": 2,
           "expert_intermediate_size": 48, "num_shared_experts": 1, "shared_expert_intermediate_size": 96,
           "router": "fp32-linear"}           # NemotronHTopkRouter, as the nemotron_h reader sets it
    if latent is not None:
        ffn["expert_latent_size"] = latent
    return make_spec({"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 32, "rope_dim": 0}, layers=4,
                     ffn=ffn, layer_types=["linear", "ffn", "full", "ffn"], linear_attention=mamba,
                     norms_per_layer=1)


@settings(max_examples=30, deadline=None)
@given(blk=mamba_blocks, latent=st.sampled_from([None, 16, 64]), b=st.integers(1, 4),
       s=st.sampled_from([64, 256, 1000, 4096]))
def test_every_block_is_linear_in_micro_batch_and_sequence_but_the_routers_weight_copy(blk, latent, b, s):
    spec = _one_block_spec(blk, latent)
    for j in range(spec.num_layers):
        const = sum(t.bytes for t in saved_tensors(spec, j, cfg(b, s)) if not t.shape[0].startswith("b"))
        base = nbytes(saved_tensors(spec, j, cfg(b, s))) - const
        assert nbytes(saved_tensors(spec, j, cfg(2 * b, s))) - const == 2 * base
        assert nbytes(saved_tensors(spec, j, cfg(b, 2 * s))) - const == 2 * base
        assert const == (4 * 8 * 256 if spec.is_moe_layer(j) else 0)          # fp32 E x d, whatever the tokens


@settings(max_examples=20, deadline=None)
@given(blk=mamba_blocks, latent=st.sampled_from([None, 32]), b=st.integers(1, 3),
       recompute=st.sampled_from(["none", "selective", "full"]))
def test_parts_sum_to_the_totals(blk, latent, b, recompute):
    spec = _one_block_spec(blk, latent)
    for j in range(spec.num_layers):
        ts = saved_tensors(spec, j, cfg(b, 256, recompute=recompute))
        assert sum_by_group(ts).total == nbytes(ts)
    for stage in stage_memory(spec, TrainRun(micro_batch=b, seq=256, recompute=recompute)):
        a = stage.activations
        assert a.total == a.layers + a.embedding + a.head + a.mtp + a.backward_peak + a.gathered_inputs
        assert stage.total == stage.states.total + a.total + stage.workspace.total


def test_pipeline_stages_sum_their_own_layers_blocks():
    """pp 4 over Super's 88 layers: each stage's stored layers are the sum of its 22 layers' blocks, times the
    micro-batches it holds (1F1B: pp - i)."""
    spec, c = load_spec(SUPER), cfg()
    per = {j: nbytes(saved_tensors(spec, j, c)) for j in layer_kinds(spec).values()}
    by_kind = {spec.layer_type(j): v for j, v in per.items()}
    for stage in stage_memory(spec, TrainRun(micro_batch=1, seq=S, parallel=Parallelism(pp=4))):
        layers = range(stage.first_layer, stage.first_layer + stage.num_layers)
        assert stage.activations.layers == stage.in_flight * sum(by_kind[spec.layer_type(j)] for j in layers)


# ------------------------------------------------------------------------------------------ refusals

@pytest.mark.parametrize("kw,words", [
    ({"recompute": "op"}, "op (torchtitan's op-level SAC) is modelled for the Llama block"),
    ({"convention": "megatron"}, "has one block a layer (use --convention native)"),
    ({"parallel": Parallelism(tp=2, sp=True, tp_style="torchtitan")}, "torchtitan's tensor parallelism of one block"),
    ({"parallel": Parallelism(tp=3)}, "3 ranks cannot split 128 Mamba-2 heads"),
])
def test_what_cannot_be_sized_is_refused(kw, words):
    with pytest.raises((ArgError, SpecError), match=re.escape(words)):
        mlacalc.train_memory(SUPER, seq=1024, **kw)


@pytest.mark.parametrize("args,words", [
    (("train", SUPER, "--recompute", "op"), "modelled for the Llama block"),
    (("train", SUPER, "--convention", "megatron"), "has one block a layer"),
    (("train", SUPER, "--tp", "2", "--sp", "--tp-style", "torchtitan"), "torchtitan's tensor parallelism of one block"),
    (("train", SUPER, "--tp", "3"), "cannot split 128 Mamba-2 heads"),
    (("train", str(HF_FIXTURES / H8B), "--set", "ffn.intermediate_size=21505", "--tp", "2"),
     "does not split evenly over 2"),
    (("train", str(HF_FIXTURES / "mamba_codestral_7b")), "training memory of a model without FFN blocks"),
    (("train", "mixtral-8x7b", "--set", "ffn.expert_latent_size=1024"),
     "training memory is not modelled with routed experts in a latent space"),
])
def test_refusals_are_one_line(capsys, args, words):
    refused(capsys, *args, words=words)


# ------------------------------------------------------------------------------------------ CLI

@pytest.mark.parametrize("args,kinds", [
    ((SUPER,), {"mamba", "attention", "moe"}),
    ((SUPER, "--tp", "8", "--sp", "--ep", "8", "--dp", "8", "--pp", "4", "--zero", "1", "--recompute", "full"),
     {"mamba", "attention", "moe"}),
    ((str(HF_FIXTURES / H8B),), {"mamba", "attention", "mlp"}),
])
def test_train_prints_a_breakdown_that_sums(capsys, args, kinds):
    code, out, err, _ = run(capsys, "train", *args, "--micro-batch", "1", "--seq", "4096", "--json")
    assert code in (0, None) and err == ""
    d = json.loads(out)
    g = d["per_gpu"]
    assert g["parameters"] + g["gradients"] + g["optimizer"] + g["activations"] + g["workspace"] == \
        pytest.approx(g["total"])
    acts = d["stages"][d["stage"]]["activations"]
    assert sum(v for k, v in acts.items() if k != "total") == pytest.approx(acts["total"]) == g["activations"]
    assert set(d["layers"]) == kinds
    for layer in d["layers"].values():
        assert sum(t["bytes"] for t in layer["tensors"]) == layer["stored"]["total"]
        assert sum(v for k, v in layer["stored"].items() if k != "total") == layer["stored"]["total"]
    code, out, err, _ = run(capsys, "train", *args, "--micro-batch", "1", "--seq", "4096")
    assert code in (0, None) and err == "" and all(f"{k} layer" in out for k in kinds)
