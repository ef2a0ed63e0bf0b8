"""Falcon-H1 (``falcon_h1``): attention and Mamba-2 side by side in every layer, the spec's ``parallel_mixers``.
Numbers worked out by hand in each test, on a tiny spec and on the three fixtures (tests/fixtures/hf/falcon_h1_*,
SOURCE.md), and the invariants as property tests.

transformers ``FalconH1DecoderLayer``: ``input_layernorm``, then ``self.mamba`` (``FalconH1Mixer``, Mamba-2 with an
inner width of ``mamba_d_ssm``) and ``self.self_attn`` (Llama's attention) on the same normed input, their scaled
outputs summed into the residual, then ``pre_ff_layernorm`` and ``feed_forward`` (a gated MLP). Every layer caches
its K/V and holds a Mamba-2 state.

The tiny parallel spec: 2 layers of GQA (4 heads, 2 KV heads of 32) beside a Mamba-2 of 4 heads of 16 channels
(I = 64), 2 groups of B and C with a 32-dim state and a width-4 convolution over I + 2 x 2 x 32 = 192 channels, d 256,
a gated FFN of 512, vocabulary 1000."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.attention import layer_groups, pattern
from mlacalc.capacity import activation_workspace, fit
from mlacalc.errors import SpecError
from mlacalc.hardware import load_hardware
from mlacalc.kv import kv_report
from mlacalc.params import param_counts, params_per_gpu, weights_report
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec, spec_from_dict, spec_to_dict
from mlacalc.step import Step, step_ops

from helpers import make_spec, mamba_blocks, refused, run, hf_fixture as hf

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
GQA = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 32}
M2 = {"kind": "mamba2", "num_k_heads": 2, "num_v_heads": 4, "head_k_dim": 32, "head_v_dim": 16,
      "conv_kernel_size": 4, "conv_bias": True}


def parallel(**extra):
    return make_spec(GQA, layers=2, linear_attention=M2 | extra.pop("block", {}), parallel_mixers=True, **extra)


def ops(spec, phase="decode", batch=4, context=1000, tp=1):
    return {o.name: o for o in step_ops(spec, Step(phase, batch, context), Parallelism(tp=tp))}


# ------------------------------------------------------------------------------------------------ the tiny spec

def test_every_layer_caches_kv_and_holds_a_state_by_hand():
    r = kv_report(parallel(), context=1000)
    # K and V of 2 KV heads of 32 on both layers, bf16: 2 x 2 x 32 x 2 x 2 = 512 B a token
    assert r.per_token.total == 2 * 2 * 32 * 2 * 2 == 512
    # and each layer's Mamba-2 state: SSM H P N = 4 x 16 x 32, conv (K - 1) x 192, bf16
    assert r.per_sequence.state == 2 * (4 * 16 * 32 + 3 * 192) * 2 == 10_496
    assert r.per_sequence.total == 512 * 1000 + 10_496


def test_parameters_of_a_parallel_layer_by_hand():
    mixer = 256 * (2 * 64 + 2 * 64 + 4) + 192 * 4 + 192 + 3 * 4 + 64 + 64 * 256   # in_proj, conv (+bias), dt/A/D,
    assert mixer == 83_980                                                          # gated norm, out_proj
    attn = 256 * 128 + 2 * 256 * 64 + 128 * 256                                    # q, k, v, o
    layer = attn + mixer + 3 * 256 * 512 + 2 * 256                                  # FFN, two norms
    p = param_counts(parallel())
    assert p.attention == 2 * (attn + mixer)                  # both mixers counted in the attention component
    assert p.total == 2 * layer + 256 + 2 * 1000 * 256 == 1_664_280


def test_a_mamba2_without_its_gated_norm_has_no_norm_weight():
    # Falcon-H1-0.5B (mamba_rms_norm false): FalconH1Mixer builds no self.norm, out_proj(y * silu(z))
    full, bare = param_counts(parallel()), param_counts(parallel(block={"gated_norm": False}))
    assert full.total - bare.total == 2 * 64                  # the I-wide norm weight of each layer
    assert "norm" not in weights_report(parallel(block={"gated_norm": False})).linear_attention_per_layer
    # and no norm kernel: the roofline's norms lose I elements a token per layer and one launch per layer
    a, b = ops(parallel())["norms"], ops(parallel(block={"gated_norm": False}))["norms"]
    assert a.launches - b.launches == 2 and a.flops - b.flops == 4 * 4 * 64 * 2   # NORM_FLOPS 4 x T 4 x I x L


def test_tensor_parallel_split_of_both_mixers_by_hand():
    # TP 2: q/o 2 heads of 32, k/v 1 KV head; the Mamba-2 rank holds 2 heads (I 32) and 1 group of B and C:
    # in_proj 256 x (2 x 32 + 2 x 32 + 2), conv (32 + 64) x 4 + 96 biases, dt/A/D 2 each, norm 32, out_proj 32 x 256
    attn = 256 * 64 + 2 * 256 * 32 + 64 * 256
    mixer = 256 * 130 + 96 * 4 + 96 + 3 * 2 + 32 + 32 * 256
    assert params_per_gpu(parallel(), Parallelism(tp=2)).attention == 2 * (attn + mixer) == 2 * 91_142
    r = kv_report(parallel(), context=1000, parallel=Parallelism(tp=2))
    # per GPU: 1 KV head's K/V, the SSM state of 2 heads, the conv state of 32 + 2 x 32 channels
    assert r.per_gpu_parts.state == 2 * (2 * 16 * 32 + 3 * 96) * 2
    assert r.per_gpu_parts.k == 2 * 1000 * 32 * 2


def test_roofline_runs_both_mixers_and_three_all_reduces_a_layer():
    o = ops(parallel(), batch=4, context=1000, tp=2)
    # decode, 4 tokens: the Mamba-2 recurrence 5 P N a head plus the convolution 2 x channels x K, on 2 of 4 heads
    # (1 group: 32 + 64 channels) and both layers
    assert o["linear_core"].flops == 4 * 2 * (2 * 5 * 16 * 32 + 2 * 96 * 4)
    # o_proj: the attention's (2 heads of 32 -> 256) and the Mamba-2's out_proj (32 -> 256), 2 FLOPs a MAC, 2 layers
    assert o["o_proj"].flops == 2 * 4 * (64 * 256 + 32 * 256) * 2
    # o_proj, out_proj and down_proj each all-reduce T d bf16 values, ring: 2 (n-1)/n T d 2 bytes, 3 a layer
    assert parallel().num_blocks == 6
    assert o["comm"].comm_bytes == 6 * 2 * 0.5 * 4 * 256 * 2 and o["comm"].launches == 6


def test_pattern_and_layer_groups():
    s = parallel()
    assert pattern(s) == "2 GQA-2 and Mamba-2 in parallel"
    groups = layer_groups(s)
    assert [(n, b.kind) for n, b, _ in groups] == [(2, "gqa"), (2, "mamba2")]   # each layer in two groups


def test_specs_show_round_trips():
    s = parallel()
    assert spec_from_dict(spec_to_dict(s)) == s and spec_to_dict(s)["parallel_mixers"] is True


@pytest.mark.parametrize("extra,field,words", [
    ({"linear_attention": None}, "linear_attention", "is required: parallel_mixers puts it beside"),
    ({"layer_types": ["linear", "full"]}, "parallel_mixers", "this spec has linear layers"),
    ({"attention": None, "layer_types": ["linear"]}, "parallel_mixers", "needs attention"),
    ({"parallel_mixers": "yes"}, "parallel_mixers", "expected true or false"),
    ({"attention": GQA | {"kv_share_layers": 2}}, "parallel_mixers", "cross-layer K/V sharing is not modelled"),
])
def test_bad_parallel_specs_are_refused(extra, field, words):
    raw = {"name": "tiny", "num_layers": 2, "hidden_size": 256, "vocab_size": 1000, "attention": GQA,
           "ffn": {"kind": "dense", "intermediate_size": 512}, "linear_attention": M2, "parallel_mixers": True}
    with pytest.raises(SpecError) as e:
        spec_from_dict(raw | extra)
    assert e.value.field == field and words in e.value.message


def test_only_mamba2_may_leave_out_its_gated_norm():
    gdn = {"kind": "gated_deltanet", "num_k_heads": 2, "num_v_heads": 4, "head_k_dim": 32, "head_v_dim": 32,
           "gated_norm": False}
    with pytest.raises(SpecError, match="linear_attention.gated_norm: only kind mamba2 may leave out its gated norm"):
        make_spec(GQA, layers=2, layer_types=["linear", "full"], linear_attention=gdn)


# ------------------------------------------------------------------------------------------------ properties

def _spec(attn: dict, block: dict, layers: int, **extra):
    return spec_from_dict({"name": "p", "num_layers": layers, "hidden_size": 256, "vocab_size": 1000,
                           "attention": attn, "ffn": {"kind": "dense", "intermediate_size": 512}, **extra})


@settings(max_examples=40, deadline=None)
@given(block=mamba_blocks, layers=st.integers(1, 6), hybrid=st.booleans())
def test_parallel_mixers_off_is_the_spec_as_it_was(block, layers, hybrid):
    """A spec saying parallel_mixers false reads as the same spec without the key, and every number is the same."""
    extra = {"layer_types": ["linear", "full"] * layers, "linear_attention": block} if hybrid else {}
    old = _spec(GQA, block, 2 * layers if hybrid else layers, **extra)
    new = _spec(GQA, block, 2 * layers if hybrid else layers, parallel_mixers=False, **extra)
    assert new == old
    assert kv_report(new, 5000).to_json() == kv_report(old, 5000).to_json()
    assert weights_report(new).to_json() == weights_report(old).to_json()
    assert step_ops(new, Step("decode", 3, 700)) == step_ops(old, Step("decode", 3, 700))


@settings(max_examples=40, deadline=None)
@given(block=mamba_blocks, layers=st.integers(1, 6), context=st.integers(1, 10**5))
def test_a_parallel_layer_is_its_attention_plus_its_mixer(block, layers, context):
    """Parameters, cache and the step of a parallel spec are those of the same spec without the linear block plus
    those of a state-space spec of that block alone on as many layers: nothing counted twice, nothing left out."""
    par = _spec(GQA, block, layers, linear_attention=block, parallel_mixers=True)
    attn = _spec(GQA, block, layers)
    ssm = _spec(None, block, layers, linear_attention=block, layer_types=["linear"])
    assert param_counts(par).attention == param_counts(attn).attention + param_counts(ssm).attention
    assert param_counts(par).total == param_counts(attn).total + param_counts(ssm).attention
    kp, ka, ks = (kv_report(s, context) for s in (par, attn, ssm))
    assert kp.per_token == ka.per_token and kp.per_sequence.state == ks.per_sequence.state
    assert kp.per_sequence.total == ka.per_sequence.total + ks.per_sequence.total
    p, a, s = (ops(x, "decode", 2, context) for x in (par, attn, ssm))
    assert p["linear_core"] == s["linear_core"] and p["linear_in_proj"] == s["linear_in_proj"]
    assert p["attn_core"] == a["attn_core"]
    assert p["o_proj"].flops == a["o_proj"].flops + s["o_proj"].flops
    # norms, 4 FLOPs an element, 2 tokens: the block norms (2 d a layer) and the final norm (d) once, not twice
    assert p["norms"].flops == a["norms"].flops + s["norms"].flops - 4 * 2 * (2 * 256 * layers + 256)


# ------------------------------------------------------------------------------------------------ the fixtures

def test_falcon_h1_7b_parameters_by_hand():
    d, L, V = 3072, 44, 130049
    attn = d * 12 * 128 + 2 * d * 2 * 128 + 12 * 128 * d                  # q, k, v, o: 11,010,048
    # Mamba-2: I = 3072 (mamba_d_ssm), H 24 x P 128, G 1, N 256, K 4; conv over I + 2 G N = 3584 channels, biased
    mixer = d * (2 * 3072 + 2 * 256 + 24) + 3584 * 4 + 3584 + 3 * 24 + 3072 + 3072 * d
    assert mixer == 29_979_208
    layer = attn + mixer + 3 * d * 12288 + 2 * d                          # gated MLP, input and pre-FF norms
    total = L * layer + d + 2 * V * d                                     # final norm; untied embedding and head
    assert weights_report(hf("falcon_h1_7b")).params.total == total == 7_585_654_880


def test_falcon_h1_0_5b_parameters_by_hand():
    d, L, V = 1024, 36, 32784
    attn = d * 8 * 64 + 2 * d * 2 * 64 + 8 * 64 * d
    # I = 1536 (24 x 64), G 1, N 128: conv over 1536 + 256 = 1792 channels; no gated norm (mamba_rms_norm false)
    mixer = d * (2 * 1536 + 2 * 128 + 24) + 1792 * 4 + 1792 + 3 * 24 + 1536 * d
    layer = attn + mixer + 3 * d * 2048 + 2 * d
    assert weights_report(hf("falcon_h1_0_5b")).params.total == L * layer + d + 2 * V * d == 521_411_104


def test_falcon_h1_34b_parameters_by_hand():
    d, L, V = 5120, 72, 261120
    attn = d * 20 * 128 + 2 * d * 4 * 128 + 20 * 128 * d
    # I = 4096 (32 x 128), G 2, N 256: conv over 4096 + 1024 = 5120 channels, gated norm of 4096
    mixer = d * (2 * 4096 + 2 * 2 * 256 + 32) + 5120 * 4 + 5120 + 3 * 32 + 4096 + 4096 * d
    layer = attn + mixer + 3 * d * 21504 + 2 * d
    assert weights_report(hf("falcon_h1_34b")).params.total == L * layer + d + 2 * V * d == 33_642_516_224


def test_falcon_h1_7b_kv_per_token_and_state_per_sequence_by_hand():
    r = kv_report(hf("falcon_h1_7b"), context=32768)
    assert r.per_token.total == 44 * 2 * 128 * 2 * 2 == 45_056            # 44 KiB: every layer attends
    # SSM state 24 x 128 x 256 and conv state 3 x 3584 a layer, bf16 (vLLM's mamba2_state_dtype: the model dtype)
    state = 44 * (24 * 128 * 256 + 3 * 3584) * 2
    assert r.per_sequence.state == state == 70_152_192
    assert r.per_sequence.total == 45_056 * 32768 + state


def test_falcon_h1_34b_state_per_gpu_at_tp_4_by_hand():
    # 32 heads / 4 = 8 a rank; 2 groups < 4 ranks: each rank holds its heads' one group whole (vLLM's
    # extra_groups_for_head_shards), conv state over 4096 / 4 + 2 x 1 x 256 = 1536 channels
    r = kv_report(hf("falcon_h1_34b"), context=1024, parallel=Parallelism(tp=4))
    assert r.per_gpu_parts.state == 72 * (8 * 128 * 256 + 3 * 1536) * 2 == 38_412_288
    assert r.per_gpu_parts.k == 72 * 1 * 128 * 2 * 1024                  # 4 KV heads over 4 ranks: one each


def test_llama_cpp_state_of_falcon_h1_1_5b():
    """GeniePod/genie-claw issue #410 logs llama.cpp serving Falcon-H1-1.5B at 32,768 cells: "KV buffer size = 768.00
    MiB (32768 cells, 24 layers, K 384 + V 384)" and "RS buffer size = 72.98 MiB (1 cells, 24 layers, R 0.98 + S
    72.00)", its recurrent state at f32. Falcon-H1-1.5B (transformers docs' FalconH1Config table; the sizes a
    simulator's test transcribes): 24 layers of d 2048, 8 heads and 2 KV heads of 128, Mamba-2 48 heads of 64 (I 3072),
    1 group, d_state 256, d_conv 4."""
    s = spec_from_dict({
        "name": "falcon-h1-1.5b", "num_layers": 24, "hidden_size": 2048, "vocab_size": 65537,
        "attention": {"kind": "gqa", "num_heads": 8, "num_kv_heads": 2, "head_dim": 128},
        "ffn": {"kind": "dense", "intermediate_size": 4608}, "parallel_mixers": True,
        "linear_attention": {"kind": "mamba2", "num_k_heads": 1, "num_v_heads": 48, "head_k_dim": 256,
                             "head_v_dim": 64, "conv_kernel_size": 4, "conv_bias": True},
        "dtypes": {"kv": "fp16", "state": "fp32"}})
    r = kv_report(s, context=32768)
    mib = 2**20
    assert r.per_sequence.k == r.per_sequence.v == 24 * 2 * 128 * 2 * 32768 == 384 * mib
    ssm, conv = 24 * 48 * 64 * 256 * 4, 24 * 3 * (3072 + 2 * 256) * 4     # S and R
    assert ssm == 72 * mib and round(conv / mib, 2) == 0.98
    assert r.per_sequence.state == ssm + conv and round(r.per_sequence.state / mib, 2) == 72.98


def test_fit_holds_kv_and_state_and_the_wider_input_projection():
    s = hf("falcon_h1_7b")
    f = fit(s, load_hardware("h200"), context=32768)
    assert f.kv_bytes_per_seq == 44 * 1024 * 32768 + 70_152_192
    assert f.max_batch == int(f.kv_budget // f.kv_bytes_per_seq)
    # the workspace's mixer term is the Mamba-2 in_proj (2 I + 2 G N + H = 6680 a token), wider than the
    # attention's queries and output (12 x 256 = 3072)
    w = activation_workspace(s, 8192)
    assert w.attention == 8192 * 6680 * 2 and w.ffn == 8192 * 2 * 12288 * 2


def test_decode_step_of_falcon_h1_7b_by_hand():
    o = ops(hf("falcon_h1_7b"), batch=16, context=8192)
    per_token = 24 * 5 * 128 * 256 + 2 * 3584 * 4                        # recurrence and convolution, per layer
    assert o["linear_core"].flops == 16 * 44 * per_token
    assert o["linear_in_proj"].flops == 2 * 16 * 3072 * 6680 * 44
    # both caches read: every layer's K/V of the 8,192 cached tokens and the new one, 1 KiB a token and layer;
    # every layer's state read and written
    assert o["attn_core"].kv_bytes == 16 * 44 * 8193 * 1024
    assert o["linear_core"].kv_bytes == 2 * 16 * 70_152_192


# ------------------------------------------------------------------------------------------------ through the CLI

@pytest.mark.parametrize("name,per_token,state,params", [
    ("falcon_h1_0_5b", 36 * 2 * 64 * 2 * 2, 36 * (24 * 64 * 128 + 3 * 1792) * 2, 521_411_104),
    ("falcon_h1_7b", 45_056, 70_152_192, 7_585_654_880),
    ("falcon_h1_34b", 72 * 4 * 128 * 2 * 2, 72 * (32 * 128 * 256 + 3 * 5120) * 2, 33_642_516_224),
])
def test_falcon_h1_through_the_cli(capsys, name, per_token, state, params):
    path = str(FIXTURES / name)
    code, out, _, _ = run(capsys, "kv", path, "--context", "4k", "--json")
    kv = json.loads(out)
    assert code in (0, None) and kv["kv_bytes_per_token"] == per_token and kv["parts_per_token"]["state"] == 0
    assert kv["kv_bytes_per_sequence"] == per_token * 4096 + state
    code, out, _, _ = run(capsys, "weights", path, "--json")
    w = json.loads(out)
    assert w["params_total"] == params and w["linear_attention_per_layer"]["in_proj"] > 0
    code, out, _, _ = run(capsys, "weights", path)
    assert "Mamba-2 parameters per layer, beside its attention" in out
    code, out, _, _ = run(capsys, "roofline", path, "--gpu", "h200", "--batch", "8", "--context", "8k", "--json")
    names = {o["name"] for o in json.loads(out)["ops"]}
    assert {"attn_core", "linear_core", "linear_in_proj", "o_proj"} <= names
    code, out, _, _ = run(capsys, "fit", path, "--gpu", "h200", "--context", "32k", "--json")
    f = json.loads(out)["fits"][0]
    assert f["kv_bytes_per_seq_per_gpu"] == per_token * 32768 + state
    assert "and Mamba-2 in parallel" in f["attention_pattern"]
    code, out, _, _ = run(capsys, "compare", path, "llama-3.1-8b", "--context", "32k", "--json")
    c = json.loads(out)
    row = c["models"][0]
    assert code in (0, None) and row["kv_bytes_per_sequence"] == per_token * 32768 + state
    assert row["attention_pattern"].endswith("and Mamba-2 in parallel") and row["params_total"] == params


@pytest.mark.parametrize("args,words", [
    (("train", "falcon_h1_7b"), "parallel_mixers: training memory is not modelled where each layer holds a mamba2"),
    (("profile", "falcon_h1_7b"), "parallel_mixers: the profiler's layers (attention layers alone) is not modelled"),
    (("profile", "falcon_h1_7b", "--whole-step"), "parallel_mixers: the profiler's whole steps"),
    (("weights", "falcon_h1_7b", "--tp", "8"), "8 ranks cannot split 12 query heads"),
    (("kv", "falcon_h1_34b", "--tp", "3"), "cannot split"),
])
def test_what_is_not_modelled_is_one_line(capsys, args, words):
    cmd, model, *rest = args
    refused(capsys, cmd, str(FIXTURES / model), *rest, words=words)


@pytest.mark.parametrize("changes,words", [
    ({"mamba_d_head": 100}, "mamba_n_heads x mamba_d_head (24 x 100) must equal mamba_d_ssm (3072)"),
    ({"mamba_d_ssm": None}, "must equal mamba_expand x hidden_size (mamba_d_ssm null) (6144)"),
    ({"mamba_d_ssm": ...}, "must equal mamba_d_ssm (1024)"),         # FalconH1Config's default where absent
    ({"mamba_d_ssm": -5}, "mamba_d_ssm must be a whole number of at least 1, got -5"),
    ({"mamba_d_head": "big"}, "mamba_d_head must be a whole number of at least 1"),
    ({"attn_layer_indices": [0, 4]}, "attn_layer_indices [0, 4]: Falcon-H1's layers all hold attention and Mamba-2"),
    ({"sliding_window": 4096}, "sliding_window 4096: Falcon-H1's layers all hold"),
    ({"projectors_bias": True}, "mamba_proj_bias False with projectors_bias True"),
    ({"mlp_bias": True}, "MLP biases (mlp_bias) are not modelled"),
    ({"mamba_rms_norm": "yes"}, "mamba_rms_norm must be true or false"),
    ({"mamba_n_heads": 0}, "mamba_n_heads must be a whole number of at least 1"),
])
def test_bad_falcon_h1_configs_are_one_line(tmp_path, capsys, changes, words):
    cfg = json.loads((FIXTURES / "falcon_h1_7b" / "config.json").read_text())
    for k, v in changes.items():
        if v is ...:
            cfg.pop(k)
        else:
            cfg[k] = v
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    refused(capsys, "kv", str(tmp_path), words=words)


def test_absent_keys_take_falcon_h1_config_defaults(tmp_path):
    """A file without the biases, the convolution width or the norm switch reads FalconH1Config's defaults:
    mamba_conv_bias true, mamba_proj_bias/projectors_bias false, mamba_d_conv 4, mamba_rms_norm false."""
    cfg = json.loads((FIXTURES / "falcon_h1_7b" / "config.json").read_text())
    for k in ("mamba_d_conv", "mamba_rms_norm"):
        cfg.pop(k)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    b = load_spec(str(tmp_path)).linear_attention
    assert (b.conv_kernel_size, b.conv_bias, b.proj_bias, b.gated_norm) == (4, True, False, False)
