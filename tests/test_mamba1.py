"""Mamba-1 layers (mlacalc/attention/mamba1.py), Jamba's hybrid and the state-space models without attention (Mamba,
Falcon-Mamba, Mamba-Codestral: attention and ffn null), worked out by hand on tiny specs and on the real configs
(tests/fixtures/hf/{jamba_1_5_mini, falcon_mamba_7b, mamba_2_8b, mamba_codestral_7b}), and their invariants.

The tiny Mamba-1 block: d_inner = 512 channels (2 x hidden 256), d_state 8, dt_rank 16, a width-4 convolution with
biases, Jamba's weighted dt/B/C norms."""

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.attention import family, pattern
from mlacalc.capacity import fit
from mlacalc.errors import SpecError
from mlacalc.hardware import hardware_from_dict
from mlacalc.kv import kv_report
from mlacalc.params import param_counts, params_per_gpu, weights_report
from mlacalc.parallel import Parallelism
from mlacalc.spec import load_spec, spec_from_dict
from mlacalc.step import Step, step_ops

from helpers import make_spec, refused, run

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
GQA = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 32}
M1 = {"kind": "mamba1", "num_k_heads": 1, "num_v_heads": 512, "head_k_dim": 8, "head_v_dim": 1, "dt_rank": 16,
      "conv_kernel_size": 4, "conv_bias": True, "mixer_norms": "weighted"}
HIDDEN = 256
# the tiny mixer's parameters: in_proj 256 x 1024, conv 512 x 4 (+ 512), x_proj 512 x (16 + 2 x 8), dt_proj
# 16 x 512 (+ 512), A_log 512 x 8, D 512, out_proj 512 x 256, norms 16 + 8 + 8
MIXER = 256 * 1024 + 512 * 4 + 512 + 512 * 32 + 16 * 512 + 512 + 512 * 8 + 512 + 512 * 256 + 32
STATE = (512 * 8 + 512 * 3) * 2          # SSM state d_inner x d_state, conv state d_inner x (K - 1), bf16: 11,264 B


def hybrid(block: dict | None = None, **extra):
    """Two layers, Mamba-1 then attention, each with its gated FFN of 512 (Jamba's layout)."""
    return make_spec(GQA, layers=2, layer_types=["linear", "full"], linear_attention=M1 | (block or {}), **extra)


def pure(block: dict | None = None, layers: int = 2, **extra):
    """A state-space model: ``layers`` layers of one norm and one Mamba-1 mixer, no attention, no FFN."""
    return spec_from_dict({"name": "tiny-mamba", "num_layers": layers, "hidden_size": HIDDEN, "vocab_size": 1000,
                           "attention": None, "ffn": None, "layer_types": ["linear"], "norms_per_layer": 1,
                           "linear_attention": M1 | (block or {}), **extra})


def hf(family_: str):
    return load_spec(str(FIXTURES / family_))


def ops(spec, phase, batch, context, tp=1):
    return {o.name: o for o in step_ops(spec, Step(phase, batch, context), Parallelism(tp=tp))}


def edited(tmp_path, family_: str, **changes) -> str:
    """A fixture's config.json with keys replaced (a value of ... deletes the key), written to ``tmp_path``."""
    cfg = json.loads((FIXTURES / family_ / "config.json").read_text())
    for k, v in changes.items():
        if v is ...:
            del cfg[k]
        else:
            cfg[k] = v
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return str(tmp_path)


# ------------------------------------------------------------------------------------------------ state

def test_mamba1_state_per_sequence_by_hand():
    # vLLM mamba1_state_shape: conv (K - 1, d_inner) = 3 x 512, temporal (d_inner, d_state) = 512 x 8, both bf16
    r = kv_report(hybrid(), context=1000)
    assert r.per_sequence.state == (512 * 8 + 3 * 512) * 2 == STATE == 11_264
    assert r.per_token.state == 0
    # the SSM state at fp32 (--state-dtype / dtypes.ssm_state), the convolution at bf16
    assert kv_report(hybrid(dtypes={"ssm_state": "fp32"}), 1000).per_sequence.state == 512 * 8 * 4 + 3 * 512 * 2


def test_jamba_1_5_mini_state_and_kv_by_hand():
    # 32 layers; attention where i % 8 == 4: layers 4, 12, 20, 28; the other 28 Mamba-1 with d_inner = 2 x 4096
    s = hf("jamba_1_5_mini")
    assert [i for i in range(32) if s.layer_type(i) == "full"] == [4, 12, 20, 28]
    m = s.linear_attention
    assert (m.kind, m.num_v_heads, m.head_k_dim, m.conv_kernel_size, m.dt_rank) == ("mamba1", 8192, 16, 4, 256)
    state = 28 * (2 * 4096 * 16 + 2 * 4096 * (4 - 1)) * 2           # SSM + conv state, bf16 (vLLM's auto)
    kv = 4 * 8 * 128 * 2 * 2                                         # 4 layers x 8 KV heads x 128 x (K, V) x bf16
    r = kv_report(s, context=262_144)
    assert r.per_sequence.state == state == 8_716_288
    assert r.per_token.total == kv == 16_384
    assert r.per_sequence.total == kv * 262_144 + state
    assert pattern(s) == "28 Mamba-1 + 4 GQA-8"


def test_state_space_model_caches_nothing_per_token():
    # falcon-mamba-7b: 64 layers of 8192 channels x 16 states, conv 4; nothing per token
    r = kv_report(hf("falcon_mamba_7b"), context=8192, batch=3)
    assert r.per_token.total == 0 and r.per_token_layer.total == 0 and r.kv_layers == 0
    assert r.per_sequence.state == 64 * (8192 * 16 + 8192 * 3) * 2 == 19_922_944
    assert r.total.total == 3 * 19_922_944
    # Mamba-Codestral (Mamba-2): 64 x (128 heads x 64 x 128 + 3 x (8192 + 2 x 8 x 128)) x 2
    assert kv_report(hf("mamba_codestral_7b"), 1).per_sequence.state == 64 * (128 * 64 * 128 + 3 * 10240) * 2


# ------------------------------------------------------------------------------------------------ weights

def test_mamba1_mixer_weights_by_hand():
    b = hybrid().linear_attention
    p = family(b).projections(b, HIDDEN)
    assert p == {"in_proj": 256 * 1024, "conv": 512 * 4, "x_proj": 512 * (16 + 2 * 8), "dt_proj": 16 * 512,
                 "dt_proj_bias": 512, "A_log": 512 * 8, "D": 512, "out_proj": 512 * 256, "conv_bias": 512,
                 "mixer_norms": 16 + 8 + 8}
    assert sum(p.values()) == MIXER
    biased = hybrid({"proj_bias": True}).linear_attention
    assert sum(family(biased).projections(biased, HIDDEN).values()) - MIXER == 1024 + 256   # in_proj's, out_proj's
    bare = hybrid({"mixer_norms": None, "conv_bias": False}).linear_attention   # Mamba's mixer: no norms
    assert sum(family(bare).projections(bare, HIDDEN).values()) == MIXER - 32 - 512
    plain = hybrid({"mixer_norms": "unweighted"}).linear_attention              # Falcon-Mamba: norms, no weights
    assert "mixer_norms" not in family(plain).projections(plain, HIDDEN)


def test_jamba_1_5_mini_parameters_by_hand():
    """Jamba-1.5-Mini: hidden 4096, 32 layers, vocab 65536 (untied). Attention (4 layers): q, o 4096^2, k, v
    4096 x 1024, no biases. Mamba-1 (28 layers): in_proj 4096 x 16384, conv 8192 x 4 + 8192 biases, x_proj
    8192 x (256 + 32), dt_proj 256 x 8192 + 8192, A_log 8192 x 16, D 8192, out_proj 8192 x 4096, dt/B/C norms 256 +
    16 + 16. MLP of 14336 (gated) on the 16 even layers, 16 experts of 14336 and a 4096 x 16 router on the 16 odd ones;
    two norms a layer, a final one. 51,570,323,328: the Open LLM Leaderboard's 51.57 B for Jamba-v0.1, the card's
    "52B total"; active (2 of 16 experts, one embedding row and the head) 11.84 B, the card's "12B active"."""
    s = hf("jamba_1_5_mini")
    d = 4096
    attn = 2 * d * d + 2 * d * 1024
    mamba = d * 16384 + 8192 * 4 + 8192 + 8192 * 288 + 256 * 8192 + 8192 + 8192 * 16 + 8192 + 8192 * d + 288
    mlp = 3 * d * 14336
    moe = 16 * mlp + d * 16
    total = 4 * attn + 28 * mamba + 16 * mlp + 16 * moe + 32 * 2 * d + d + 2 * 65536 * d
    w = weights_report(s)
    assert w.params.total == total == 51_570_323_328
    active = total - 16 * 16 * mlp + 16 * 2 * mlp - 65536 * d + d
    assert w.active.total == active == 11_841_879_936
    assert [s.is_moe_layer(i) for i in range(4)] == [False, True, False, True] and s.num_moe_layers == 16


def test_state_space_models_parameters_by_hand():
    # falcon-mamba-7b: 64 x (norm 4096 + mixer: in_proj 4096 x 16384, conv 8192 x 4 + 8192, x_proj 8192 x
    # (256 + 32), dt_proj 256 x 8192 + 8192, A_log 8192 x 16, D 8192, out_proj 8192 x 4096; unweighted norms) +
    # norm_f + untied embedding and head 2 x 65024 x 4096 = 7,272,665,088 (the card's 7.27B)
    d = 4096
    falcon = d * 16384 + 8192 * 5 + 8192 * 288 + 256 * 8192 + 8192 + 8192 * 16 + 8192 + 8192 * d
    assert weights_report(hf("falcon_mamba_7b")).params.total == 64 * (falcon + d) + d + 2 * 65024 * d \
        == 7_272_665_088
    # mamba-2.8b-hf: 64 x (2560 + in_proj 2560 x 10240, conv 5120 x 5, x_proj 5120 x (160 + 32), dt_proj 160 x 5120
    # + 5120, A_log 5120 x 16, D 5120, out_proj 5120 x 2560) + 2560 + one tied 50280 x 2560 table = 2.77 B ("2.8b")
    d = 2560
    mamba = d * 10240 + 5120 * 5 + 5120 * 192 + 160 * 5120 + 5120 + 5120 * 16 + 5120 + 5120 * d
    assert weights_report(hf("mamba_2_8b")).params.total == 64 * (mamba + d) + d + 50280 * d == 2_768_345_600
    # Mamba-Codestral-7B (Mamba-2): 64 x (4096 + in_proj 4096 x (2 x 8192 + 2 x 8 x 128 + 128), conv 10240 x 4 +
    # 10240, dt_bias/A_log/D 3 x 128, gated norm 8192, out_proj 8192 x 4096) + 4096 + 2 x 32768 x 4096: Mistral's
    # 7,285,403,648 exactly
    d = 4096
    m2 = d * 18560 + 10240 * 5 + 3 * 128 + 8192 + 8192 * d
    assert weights_report(hf("mamba_codestral_7b")).params.total == 64 * (m2 + d) + d + 2 * 32768 * d \
        == 7_285_403_648


def test_intermediate_size_wins_over_expand(tmp_path):
    # falcon-mamba-7b says expand 16 beside intermediate_size 8192: transformers' config takes the file's
    # intermediate_size (set after expand x hidden); without it, 16 x 4096 = 65536 channels
    assert hf("falcon_mamba_7b").linear_attention.num_v_heads == 8192
    s = load_spec(edited(tmp_path, "falcon_mamba_7b", intermediate_size=...))
    assert s.linear_attention.num_v_heads == 16 * 4096


def test_dt_rank_auto_is_a_sixteenth_of_the_width_rounded_up(tmp_path):
    # MambaConfig, JambaConfig: "auto" = ceil(hidden_size / 16): 4096 -> 256; 4100 -> 257
    assert load_spec(edited(tmp_path, "mamba_2_8b", time_step_rank="auto")).linear_attention.dt_rank == 160
    s = load_spec(edited(tmp_path, "jamba_1_5_mini", mamba_dt_rank="auto", hidden_size=4100,
                         num_attention_heads=41, num_key_value_heads=41))
    assert s.linear_attention.dt_rank == 257


# ------------------------------------------------------------------------------------------------ cost

def test_mamba1_decode_cost_by_hand():
    o = ops(hybrid(), "decode", 1, 100)
    # per token: 7 FLOPs a channel-state pair (dt A, exp, B x, decay, add, read-out multiply-add) + the convolution's
    # multiply-add per channel and tap
    assert o["linear_core"].flops == 7 * 512 * 8 + 2 * 512 * 4 == 32_768
    assert o["linear_core"].kv_bytes == 2 * STATE                  # the state read and written once
    assert o["linear_in_proj"].flops == 2 * 256 * 1024             # x and z
    assert o["ssm_x_proj"].flops == 2 * 512 * 32                   # dt (16), B, C (8 each)
    assert o["ssm_dt_proj"].flops == 2 * 16 * 512
    assert o["o_proj"].flops == 2 * 512 * 256 + 2 * 128 * 256      # out_proj of the Mamba layer, o of the attention


def test_mamba1_prefill_runs_the_same_recurrence_a_token():
    o = ops(hybrid(), "prefill", 1, 50)
    assert o["linear_core"].flops == 50 * (7 * 512 * 8 + 2 * 512 * 4)
    assert o["linear_core"].kv_bytes == STATE                      # a fresh sequence: the state written once


def test_mamba1_norms_are_three_kernels_of_dt_b_c():
    # two layers, two norms of 256 each, the final norm, and the Mamba layer's dt/B/C norms (16 + 8 + 8 a token)
    n = ops(hybrid(), "decode", 1, 100)["norms"]
    assert n.launches == 2 * 2 + 1 + 3
    assert ops(hybrid({"mixer_norms": None}), "decode", 1, 100)["norms"].launches == 2 * 2 + 1


def test_tp_splits_the_channels_and_replicates_the_norms():
    s = hybrid({"proj_bias": True})
    half = params_per_gpu(s, Parallelism(tp=2))
    b, fam = s.linear_attention, family(s.linear_attention)
    per_rank = fam.projections_per_rank(b, HIDDEN, Parallelism(tp=2))
    whole = fam.projections(b, HIDDEN)
    assert per_rank["mixer_norms"] == whole["mixer_norms"] == 32 and per_rank["out_proj_bias"] == 256
    assert per_rank["x_proj"] == whole["x_proj"] / 2 and per_rank["A_log"] == whole["A_log"] / 2
    assert half.attention == sum(per_rank.values()) + (256 * 128 + 2 * 256 * 64 + 128 * 256) / 2
    assert kv_report(s, 100, parallel=Parallelism(tp=2)).per_gpu.state == STATE / 2
    # x_proj is row-parallel: its dt, B, C (32 values a token) all-reduced, 2 (n-1)/n of them sent, bf16
    xp = ops(s, "decode", 4, 100, tp=2)["ssm_x_proj"]
    assert xp.comm_bytes == 2 * 0.5 * 4 * 32 * 2 and xp.flops == 2 * 4 * 256 * 32
    with pytest.raises(Exception, match="cannot split 512 Mamba channels"):
        weights_report(s, parallel=Parallelism(tp=3))


# ------------------------------------------------------------------------------------------------ fit

TOY_GPU = hardware_from_dict({"name": "toy", "memory_bytes": 10_000_000, "mem_bandwidth_gb_s": 1000,
                              "bf16_tflops": 100, "interconnect_gb_s": 100}, "toy")


def test_fit_counts_the_state_a_sequence():
    s = pure()
    f = fit(s, TOY_GPU, context=100_000, workspace_bytes=0)
    params = 2 * (MIXER + 256) + 256 + 2 * 1000 * 256           # 2 layers, norm_f, untied embedding and head
    assert f.weights == params * 2
    per_seq = 2 * STATE                                          # two Mamba layers, whatever the context
    assert f.kv_bytes_per_seq == per_seq
    assert f.max_batch == int((0.9 * 10_000_000 - params * 2) // per_seq)
    assert f.max_context_capped            # the state does not grow: any context fits a batch of one


# ------------------------------------------------------------------------------------------------ properties

mamba1_blocks = st.fixed_dictionaries({
    "kind": st.just("mamba1"), "num_k_heads": st.just(1), "head_v_dim": st.just(1),
    "num_v_heads": st.integers(1, 4096), "head_k_dim": st.integers(1, 64), "dt_rank": st.integers(1, 512),
    "conv_kernel_size": st.integers(1, 8), "conv_bias": st.booleans(), "proj_bias": st.booleans(),
    "mixer_norms": st.sampled_from([None, "weighted", "unweighted"])})


@settings(max_examples=60, deadline=None)
@given(block=mamba1_blocks, c1=st.integers(1, 10**6), c2=st.integers(1, 10**6))
def test_mamba1_state_does_not_depend_on_the_context(block, c1, c2):
    s = make_spec(GQA, layers=2, layer_types=["linear", "full"], linear_attention=block)
    assert kv_report(s, c1).per_sequence.state == kv_report(s, c2).per_sequence.state > 0


@settings(max_examples=60, deadline=None)
@given(block=mamba1_blocks, context=st.integers(1, 10**5), batch=st.integers(1, 512))
def test_state_space_model_memory_is_linear_in_the_batch(block, context, batch):
    s = pure(block)
    one, many = kv_report(s, context), kv_report(s, context, batch)
    assert many.total.total == batch * one.per_sequence.total == batch * one.per_sequence.state


@settings(max_examples=60, deadline=None)
@given(block=mamba1_blocks)
def test_mamba1_state_is_ssm_plus_conv_state(block):
    # d_inner N + (K - 1) d_inner elements, bf16 (vLLM MambaStateShapeCalculator.mamba1_state_shape at tp=1)
    h, n, k = block["num_v_heads"], block["head_k_dim"], block["conv_kernel_size"]
    assert kv_report(pure(block), 10).per_sequence.state == 2 * 2 * (h * n + (k - 1) * h)


@settings(max_examples=40, deadline=None)
@given(block=mamba1_blocks, layers=st.integers(1, 12))
def test_state_space_model_parameters_are_its_mixers_and_norms(block, layers):
    s = pure(block, layers=layers)
    mixer = sum(family(s.linear_attention).projections(s.linear_attention, HIDDEN).values())
    assert param_counts(s).total == layers * (mixer + HIDDEN) + HIDDEN + 2 * 1000 * HIDDEN


# ------------------------------------------------------------------------------------------------ spec rules

@pytest.mark.parametrize("block,words", [
    ({"num_k_heads": 2, "num_v_heads": 512}, "mamba1 has one channel a head (head_v_dim 1) and one group"),
    ({"head_v_dim": 2}, "mamba1 has one channel a head"),
    ({"dt_rank": None}, "linear_attention.dt_rank: is required for kind mamba1"),
    ({"chunk_size": 64}, "linear_attention.chunk_size: only applies to kind mamba2 or lightning, not mamba1"),
    ({"mixer_norms": "some"}, "linear_attention.mixer_norms: must be one of weighted, unweighted"),
])
def test_bad_mamba1_blocks_are_refused(block, words):
    with pytest.raises(SpecError, match=re.escape(words)):
        hybrid(block)


@pytest.mark.parametrize("field,value", [("dt_rank", 16), ("mixer_norms", "weighted")])
def test_mamba1_fields_are_refused_on_other_kinds(field, value):
    m2 = {"kind": "mamba2", "num_k_heads": 1, "num_v_heads": 4, "head_k_dim": 16, "head_v_dim": 16}
    with pytest.raises(SpecError, match=f"linear_attention.{field}: only applies to kind mamba1, not mamba2"):
        make_spec(GQA, layers=2, layer_types=["linear", "full"], linear_attention=m2 | {field: value})


def test_attention_null_needs_every_mixer_linear():
    with pytest.raises(SpecError, match="attention: is required: layer_types has full layers"):
        spec_from_dict({"name": "x", "num_layers": 2, "hidden_size": 256, "vocab_size": 1000, "attention": None,
                        "ffn": None, "layer_types": ["linear", "full"], "linear_attention": M1})
    with pytest.raises(SpecError, match="ffn: is required: layer_types has ffn layers"):
        pure(layer_types=["linear", "ffn"])
    # an attention block with no layer over the sequence is still refused: null says there is none
    with pytest.raises(SpecError, match="a model of linear layers alone has attention null"):
        make_spec(GQA, layers=2, layer_types=["linear"], linear_attention=M1)
    assert pure().one_block_per_layer and pure().num_blocks == 2 and not pure().has_ffn(0)


# ------------------------------------------------------------------------------------------------ bad config.json

@pytest.mark.parametrize("family_,changes,words", [
    ("jamba_1_5_mini", {"attn_layer_offset": 8}, "attn_layer_offset 8 must be smaller than attn_layer_period 8"),
    ("jamba_1_5_mini", {"expert_layer_offset": 2}, "expert_layer_offset 2 must be smaller than expert_layer_period 2"),
    ("jamba_1_5_mini", {"expert_layer_offset": 0}, "MoE layers at expert_layer_offset 0 of every 2"),
    ("jamba_1_5_mini", {"mamba_expand": 0}, "mamba_expand must be a whole number of at least 1, got 0"),
    ("jamba_1_5_mini", {"attn_layer_period": 0}, "attn_layer_period must be a whole number of at least 1, got 0"),
    ("jamba_1_5_mini", {"mamba_dt_rank": "big"}, "mamba_dt_rank must be a whole number of at least 1 or \"auto\""),
    ("jamba_1_5_mini", {"sliding_window": 4096}, "a sliding window on the attention layers"),
    ("falcon_mamba_7b", {"expand": -2, "intermediate_size": ...}, "expand must be a whole number of at least 1"),
    ("falcon_mamba_7b", {"state_size": 0}, "state_size must be a whole number of at least 1, got 0"),
    ("mamba_2_8b", {"time_step_rank": 0}, "time_step_rank must be a whole number of at least 1"),
    ("mamba_2_8b", {"quantization_config": {"quant_method": "fp8"}}, "quantized checkpoints of state-space models"),
    ("mamba_codestral_7b", {"head_dim": 48}, "num_heads x head_dim (128 x 48) must equal expand x hidden_size (8192)"),
    ("mamba_codestral_7b", {"rms_norm": False}, "without its gated RMSNorm (rms_norm false)"),
])
def test_bad_state_space_configs_are_one_line(capsys, tmp_path, family_, changes, words):
    refused(capsys, "kv", edited(tmp_path, family_, **changes), words=words)


# ------------------------------------------------------------------------------------------------ CLI

@pytest.mark.parametrize("family_,per_token,state", [
    ("jamba_1_5_mini", 16_384, 8_716_288),
    ("falcon_mamba_7b", 0, 19_922_944),
    ("mamba_2_8b", 0, 64 * (5120 * 16 + 5120 * 3) * 2),
    ("mamba_codestral_7b", 0, 64 * (128 * 64 * 128 + 3 * 10240) * 2),
])
def test_kv_shows_the_state_a_sequence_and_the_kv_a_token(capsys, family_, per_token, state):
    path = str(FIXTURES / family_)
    code, out, _, _ = run(capsys, "kv", path, "--context", "4k", "--json")
    kv = json.loads(out)
    assert code in (0, None) and kv["kv_bytes_per_token"] == per_token and kv["parts_per_token"]["state"] == 0
    assert kv["kv_bytes_per_sequence"] == per_token * 4096 + state == kv["parts_per_gpu"]["total"]
    code, out, _, _ = run(capsys, "kv", path, "--context", "4k")
    assert "linear-attn state" in out
    if not per_token:
        assert "no attention layer, nothing cached per token" in out


def test_specs_show_a_state_space_model(capsys):
    path = str(FIXTURES / "falcon_mamba_7b")
    code, out, _, _ = run(capsys, "specs", "show", path, "--json")
    d = json.loads(out)
    assert d["attention"] is None and d["ffn"] is None and d["layer_types"] == ["linear"]
    assert d["linear_attention"] | {} == {"kind": "mamba1", "num_k_heads": 1, "num_v_heads": 8192, "head_k_dim": 16,
                                          "head_v_dim": 1, "conv_kernel_size": 4, "proj_bias": False,
                                          "conv_bias": True, "chunk_size": None, "dt_rank": 256,
                                          "mixer_norms": "unweighted", "gated_norm": True}
    code, out, _, _ = run(capsys, "specs", "show", path)
    assert "attention: null" in out and "kind: mamba1" in out


@pytest.mark.parametrize("engine", ["mlacalc", "vllm", "sglang"])
def test_fit_of_jamba_and_falcon_mamba_through_the_cli(capsys, engine):
    for family_, state in (("jamba_1_5_mini", 8_716_288), ("falcon_mamba_7b", 19_922_944)):
        code, out, _, _ = run(capsys, "fit", str(FIXTURES / family_), "--gpu", "h200", "--tp", "2", "--context",
                              "32k", "--engine", engine, "--json")
        f = json.loads(out)["fits"][0]
        kv = 16_384 * 32_768 if family_ == "jamba_1_5_mini" else 0
        budget = f["memory_per_gpu"]["kv_budget"]
        if engine == "vllm" and family_ == "jamba_1_5_mini":
            # vLLM pages the hybrid (mlacalc.vllm_hybrid): a token of an attention layer on one of 2 GPUs is
            # 2 x 4 heads x 128 x 2 B = 2,048 B; a Mamba-1 layer's state 4096 channels x (16 + 3) x 2 B = 155,648 B;
            # blocks of 16 x ceil(155,648 / (16 x 2,048)) = 80 tokens, a page 80 x 2,048 = 163,840 B; 4 attention
            # and 28 Mamba layers in groups of 4: 1 + 7 groups, a block id 4 pages; a request at 32k holds
            # ceil(32,768 / 80) = 410 blocks + 7 states
            assert code in (0, None) and f["kv_bytes_per_seq_per_gpu"] == (410 + 7) * 4 * 163_840
            assert f["max_batch"] == int(budget // (4 * 163_840)) // (410 + 7)
            assert f["vllm_hybrid"]["block_size"] == 80 and f["vllm_hybrid"]["state_groups"] == 7
            continue
        if engine == "sglang" and family_ == "jamba_1_5_mini":
            # SGLang splits the budget (mlacalc.sglang.SglangHybridPool): state slots of 28 layers x 4096 channels x
            # (3 + 16) x 2 B (Mamba-1 keeps the spec's bf16: SGLang's float32 default is for its Mamba2CacheParams
            # kinds) = 4,358,144 B take 0.9 / 1.9 of it, tokens of 4 layers x 2,048 B the rest; three slots a request
            state, token = 28 * 4096 * (3 + 16) * 2, 4 * 2048
            slots = int(budget * 0.9 / 1.9 // state)
            tokens = int((budget - slots * state) // token)
            assert code in (0, None) and state == 4_358_144
            assert f["kv_bytes_per_seq_per_gpu"] == 32_768 * token + state
            assert f["max_batch"] == min(tokens // 32_768, slots // 3)
            assert f["sglang_hybrid"]["max_mamba_cache_size"] == slots
            continue
        assert code in (0, None) and f["kv_bytes_per_seq_per_gpu"] == (kv + state) / 2   # heads and channels split
        assert f["max_batch"] == int(budget // f["kv_bytes_per_seq_per_gpu"]) and "vllm_hybrid" not in f


def test_roofline_of_a_state_space_model(capsys):
    code, out, _, _ = run(capsys, "roofline", str(FIXTURES / "falcon_mamba_7b"), "--gpu", "h200", "--batch", "8",
                          "--context", "8k", "--json")
    r = json.loads(out)
    names = [o["name"] for o in r["ops"]]
    assert code in (0, None) and r["attention"] == "mamba1" and r["attn_core"] is None
    assert "attn_core" not in names and {"linear_core", "ssm_x_proj", "ssm_dt_proj"} <= set(names)
    code, out, _, _ = run(capsys, "roofline", str(FIXTURES / "falcon_mamba_7b"), "--gpu", "h200")
    assert "no attention layer (a state-space model)" in out


@pytest.mark.parametrize("args,words", [
    (("train", "jamba_1_5_mini"), "training memory of Mamba-1 layers is not modelled"),
    (("train", "falcon_mamba_7b"), "training memory of Mamba-1 layers is not modelled"),
    (("profile", "jamba_1_5_mini"), "jamba_1_5_mini has linear layers; profile builds and runs attention layers"),
    (("profile", "falcon_mamba_7b"), "falcon_mamba_7b: it has no attention layer"),
    (("profile", "falcon_mamba_7b", "--whole-step"), "it has no attention layer"),
    (("roofline", "falcon_mamba_7b", "--mla-form", "absorbed"), "applies to MLA only; falcon_mamba_7b has no attention"),
    (("kv", "falcon_mamba_7b", "--as", "gqa:8"), "converts the attention layers; falcon_mamba_7b has none"),
    (("kv", "jamba_1_5_mini", "--tp", "3"), "cannot split"),
])
def test_what_is_not_modelled_is_one_line(capsys, args, words):
    cmd, model, *rest = args
    refused(capsys, cmd, str(FIXTURES / model), *rest, words=words)
