"""Nemotron 3 Super: LatentMoE (``ffn.expert_latent_size``) and its MTP module of two blocks (``mtp_layer_types``).

The config is tests/fixtures/hf/nemotron_3_super_120b_a12b (its SOURCE.md): hidden 4096, 88 layers
"MEMEMEM*EMEMEMEM*..." (40 Mamba-2, 40 MoE, 8 GQA-2 without RoPE, one RMSNorm a block), vocabulary 131072, untied;
Mamba-2 128 heads of 64, 8 groups, d_state 128, conv 4; attention 32 query / 2 KV heads of 128; 512 non-gated ReLU²
experts of 2688 (top 22) at moe_latent_size 1024, one shared expert of 5376; one MTP module "*E".

The modules, as vLLM ``vllm/model_executor/models/nemotron_h.py`` (NemotronHMoE) and transformers
``models/nemotron_h/modular_nemotron_h.py`` (NemotronHMoE) build them: ``gate`` d x E on the full-width input,
``fc1_latent_proj`` d x l, the experts' ``up_proj`` l x f and ``down_proj`` f x l, ``fc2_latent_proj`` l x d after
the combine, ``shared_experts`` up d x s and down s x d on the full-width input; the MTP module (vLLM
``nemotron_h_mtp.py``): enorm, hnorm, ``eh_proj`` 2d x d, an attention layer, a MoE layer, ``final_layernorm``.
Every number below is worked out in front of the reader.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlacalc
from mlacalc.errors import SpecError
from mlacalc.kv import kv_report
from mlacalc.parallel import Parallelism
from mlacalc.params import mtp_params_per_gpu, params_per_gpu, weights_report
from mlacalc.spec import load_spec, spec_from_dict, spec_to_dict

FIXTURE = Path(__file__).parent / "fixtures" / "hf" / "nemotron_3_super_120b_a12b"

D, V, L_MOE, L_MAMBA, L_ATTN = 4096, 131072, 40, 40, 8
E, K, F, LAT, SHARED = 512, 22, 2688, 1024, 5376
# one Mamba-2 layer (NemotronHMamba2Mixer): in_proj d -> 2 I + 2 G N + H (I = 128 x 64), conv1d over I + 2 G N
# channels (kernel 4, a bias), dt_bias, A_log and D of H, the gated RMSNorm of I, out_proj I -> d; the block norm d
I, G, N, H = 128 * 64, 8, 128, 128
MAMBA = D * (2 * I + 2 * G * N + H) + (I + 2 * G * N) * 4 + (I + 2 * G * N) + 3 * H + I + I * D + D
ATTN = D * 32 * 128 + 2 * D * 2 * 128 + 32 * 128 * D + D          # q, k, v, o; the block norm
ROUTED = E * 2 * LAT * F                                          # 512 experts, up and down at the latent width
MOE = D * E + 2 * D * LAT + ROUTED + 2 * D * SHARED + D           # router, latent pair, experts, shared, norm
TOTAL = L_MAMBA * MAMBA + L_ATTN * ATTN + L_MOE * MOE + 2 * V * D + D      # embedding, head, final norm
MTP = 3 * D + 2 * D * D + ATTN + MOE                              # enorm, hnorm, final_layernorm, eh_proj, *, E


def super_spec():
    return load_spec(str(FIXTURE))


def _cli(capsys, *args) -> tuple[int, str, str]:
    from mlacalc.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def _write(tmp_path, cfg: dict) -> str:
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return str(tmp_path)


def _config(**changes) -> dict:
    cfg = json.loads((FIXTURE / "config.json").read_text())
    for k, v in changes.items():
        if v is ...:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    return cfg


# --- parameters: the checkpoint's own total ---------------------------------------------------------------------

def test_parameters_by_hand_match_the_bf16_checkpoint():
    """The BF16 checkpoint's safetensors headers (code-corpus file id 70181782850) hold 123,611,012,096 bf16
    parameters, 2,942,324,736 of them under mtp.*; the main model is the rest, 120,668,687,360, the card's "120B"
    (120.6 B). Exact: no difference."""
    assert MAMBA == 109_640_064 and ATTN == 35_655_680 and MOE == 2_873_102_336
    assert TOTAL == 120_668_687_360
    assert MTP == 2_942_324_736
    assert TOTAL + MTP == 123_611_012_096                       # the headers' bf16 total, exact
    w = weights_report(super_spec())
    assert w.params.total == TOTAL
    assert w.mtp_params == MTP
    assert w.params.latent_proj == L_MOE * 2 * D * LAT == 335_544_320
    assert w.params.routed_experts == L_MOE * ROUTED == 112_742_891_520
    assert w.params.router == L_MOE * D * E and w.params.shared_experts == L_MOE * 2 * D * SHARED
    assert w.bytes.total == 2 * TOTAL                           # bf16


def test_active_parameters_by_hand():
    """Per token: 22 of 512 experts a MoE layer; the latent projections, router and shared expert always; one
    embedding row and the head. 12,233,350,144 (the card's "12B active"; 12.77 B with the whole embedding table, the
    third-party count of id 70181782850: total less 40 x 490 inactive experts x 2 x 1024 x 2688 = 107,898,470,400)."""
    inactive = L_MOE * (E - K) * 2 * LAT * F
    assert inactive == 107_898_470_400
    active = TOTAL - inactive - V * D + D
    assert active == 12_233_350_144
    w = weights_report(super_spec())
    assert w.active.total == active
    assert w.active.latent_proj == w.params.latent_proj           # never scaled by k / E


def test_kv_and_mamba_state_by_hand():
    """KV: 8 attention layers x 2 KV heads x 128 x (K, V) x 2 B = 8,192 B a token (the MTP layer's cache, a draft's,
    is not counted, as DeepSeek's). State: 40 Mamba-2 layers x (128 heads x 64 x 128 x 4 B fp32 SSM state + 3
    inputs x (8192 + 2 x 8 x 128) channels x 2 B) = 170,229,760 B a sequence (vLLM mamba2_state_shape, the SSM state
    at mamba_ssm_cache_dtype float32)."""
    r = kv_report(super_spec(), context=131072)
    assert r.per_token.total == 8 * 2 * 128 * 2 * 2 == 8_192
    state = 40 * (128 * 64 * 128 * 4 + 3 * (8192 + 2 * 8 * 128) * 2)
    assert state == 170_229_760
    assert r.per_sequence.state == state
    assert r.per_sequence.total == 131072 * 8_192 + state


def test_mtp_module_on_one_gpu_of_ep_8():
    """Under TP 2 / EP 8 the MTP module's routed experts split over EP (512 / 8 a rank), its latent pair and router
    whole, its eh_proj column-split over TP, its three norms whole."""
    par = Parallelism(tp=2, dp=4, ep=8)
    m = mtp_params_per_gpu(super_spec(), par)
    assert m.routed_experts == ROUTED / 8
    assert m.latent_proj == 2 * D * LAT and m.router == D * E
    assert m.shared_experts == 2 * D * SHARED / 2
    assert m.mtp == 2 * D * D / 2
    assert m.norms == 3 * D + D + D                               # enorm, hnorm, final; the two blocks' norms


# --- expert parallelism: what shards, what replicates -------------------------------------------------------------

@pytest.mark.parametrize("par,routed", [
    (Parallelism(tp=4), L_MOE * ROUTED / 4),                      # TP: every expert's width split 4 ways
    (Parallelism(tp=4, ep=4), L_MOE * ROUTED / 4),                # EP: 128 whole experts a GPU
    (Parallelism(tp=8, ep=8, dp_attention=True), L_MOE * ROUTED / 8),
])
def test_latent_projections_replicate_while_experts_shard(par, routed):
    """vLLM builds fc1_latent_proj and fc2_latent_proj as ReplicatedLinear (Megatron-Core: TELinear
    parallel_mode "duplicated"): every GPU holds all 40 pairs, 2 x 4096 x 1024 each, whatever TP or EP; the router
    too; the routed experts divide."""
    p = params_per_gpu(super_spec(), par)
    assert p.latent_proj == L_MOE * 2 * D * LAT == 335_544_320
    assert p.router == L_MOE * D * E
    assert p.routed_experts == routed


# --- the roofline ---------------------------------------------------------------------------------------------------

def test_roofline_prices_the_experts_at_the_latent_width():
    """Decode, 64 sequences at TP 4 (no EP): T = 64 tokens. latent_proj: 2 x T x (d l + l d) FLOPs a layer, its two
    d x l weights whole (2 B each); experts: T k token-expert pairs through up l -> f/4 and down f/4 -> l."""
    r = mlacalc.roofline(super_spec(), "h200", batch=64, context=4096, parallel=Parallelism(tp=4))
    lat = r.op("latent_proj").op
    assert lat.flops == 2 * 64 * 2 * D * LAT * L_MOE == 42_949_672_960
    assert lat.weight_bytes == 2 * D * LAT * 2 * L_MOE
    assert lat.act_bytes == 64 * 2 * (D + LAT) * 2 * L_MOE
    ex = r.op("experts").op
    assert ex.flops == 2 * 64 * K * 2 * LAT * (F / 4) * L_MOE
    assert r.op("router").op.flops == 2 * 64 * D * E * L_MOE         # the router reads the full width
    assert r.op("shared_experts").op.flops == 2 * 64 * 2 * D * (SHARED / 4) * L_MOE


def test_all_to_all_carries_the_latent_width():
    """dp-attention over 8 GPUs with EP 8, batch 64: each GPU dispatches its 8 tokens x 22 experts, 7/8 of them to
    other GPUs, at the latent width 1024 (Megatron-Core moe_layer.py projects before dispatch and after combine), bf16
    both ways: 40 x 7/8 x 8 x 22 x 1024 x (2 + 2) B = 25,231,360 B; at the hidden width it would be 4 times that."""
    r = mlacalc.roofline(super_spec(), "h200", batch=64, context=4096,
                         parallel=Parallelism(tp=8, ep=8, dp_attention=True))
    a2a = L_MOE * 7 / 8 * (64 / 8 * K) * LAT * (2 + 2)
    assert a2a == 25_231_360
    assert r.op("comm").op.a2a_bytes == a2a


def test_roofline_under_dp_attention_and_ep_with_fp8_weights(tmp_path):
    """dp-attention over 8 GPUs with EP 8, batch 64 decode, a ModelOpt FP8 config (every decoder Linear 1 B a weight):
    each GPU projects its own 8 tokens down and up (2 x 8 x 2 x d l a layer), its two d x l matrices at 1 B; its 64 of
    512 experts run 64 x 22 / 8 = 176 token-expert pairs through up l -> f and down f -> l, whole (not split) under
    EP; the router reads the full width at 2 B."""
    q = {"quant_method": "modelopt", "quant_algo": "FP8", "ignore": ["lm_head"]}
    s = load_spec(_write(tmp_path, _config(quantization_config=q)))
    r = mlacalc.roofline(s, "h200", batch=64, context=4096, parallel=Parallelism(tp=8, ep=8, dp_attention=True))
    lat = r.op("latent_proj").op
    assert lat.flops == 2 * 8 * 2 * D * LAT * L_MOE == 5_368_709_120
    assert lat.weight_bytes == 2 * D * LAT * 1 * L_MOE == 335_544_320
    ex = r.op("experts").op
    assert ex.flops == 2 * (64 * K / 8) * 2 * LAT * F * L_MOE == 77_510_737_920
    assert r.op("router").op.flops == 2 * 8 * D * E * L_MOE


# --- the invariant: weights are linear in the latent width ----------------------------------------------------------

def _with_latent(raw: dict, latent: int | None) -> dict:
    out = json.loads(json.dumps(raw))
    out["ffn"]["expert_latent_size"] = latent
    return out


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 8192), st.integers(1, 4096))
def test_weights_and_expert_flops_grow_linearly_in_the_latent_width(latent, step):
    """At fixed everything else, each MoE layer's parameters are ``router + shared + l (E m f + 2 d)``: a straight line
    in l of slope L_moe (E x 2 x 2688 + 2 x 4096) = 110,428,160 a unit of latent width (non-gated, m = 2). Equal
    steps of l add equal parameters, and the experts' and projections' FLOPs grow the same way; l = d is not the
    model without a latent (it adds the two d x d projections a layer)."""
    raw = spec_to_dict(super_spec())
    slope = L_MOE * (E * 2 * F + 2 * D)
    assert slope == 110_428_160
    w = [weights_report(spec_from_dict(_with_latent(raw, latent + i * step))).params.total for i in range(3)]
    assert w[1] - w[0] == w[2] - w[1] == slope * step
    ops = [mlacalc.roofline(spec_from_dict(_with_latent(raw, latent + i * step)), "h200", batch=4, context=1024)
           for i in range(2)]
    grow = sum(ops[1].op(n).op.flops - ops[0].op(n).op.flops for n in ("experts", "latent_proj"))
    assert grow == 2 * 4 * (K * 2 * F + 2 * D) * step * L_MOE
    none = weights_report(spec_from_dict(_with_latent(raw, None))).params.total
    same = weights_report(spec_from_dict(_with_latent(raw, D))).params.total
    assert same - none == L_MOE * 2 * D * D


# --- the reader's other spellings -----------------------------------------------------------------------------------

def test_block_lists_and_a_null_layer_count_read_as_the_letters(tmp_path):
    """transformers v5 writes layers_block_type (new names) and num_hidden_layers null (its property is the list's
    length), and mtp_layers_block_type for the MTP module; the same model as the letters."""
    names = {"M": "linear_attention", "E": "moe", "*": "full_attention"}
    cfg = _config()
    cfg = _config(hybrid_override_pattern=..., mtp_hybrid_override_pattern=..., num_hidden_layers=None,
                  layers_block_type=[names[c] for c in cfg["hybrid_override_pattern"]],
                  mtp_layers_block_type=["attention", "moe"])
    from dataclasses import replace

    base = super_spec()
    got = load_spec(_write(tmp_path, cfg))
    assert replace(got, name=base.name, source=base.source) == base
    letters = load_spec(_write(tmp_path, _config(num_hidden_layers=None)))     # the pattern's 88 letters
    assert replace(letters, name=base.name, source=base.source) == base


def test_mtp_pattern_defaults_to_the_config_classes_star_e(tmp_path):
    """Neither key: both NemotronHConfig classes default to "*E" (vLLM: mtp_hybrid_override_pattern "*E";
    transformers: mtp_layers_block_type ["full_attention", "moe"])."""
    s = load_spec(_write(tmp_path, _config(mtp_hybrid_override_pattern=...)))
    assert s.mtp_layer_types == ("full", "ffn") and weights_report(s).mtp_params == MTP


def test_shared_expert_width_left_out_is_the_config_classes_7688(capsys, tmp_path):
    """A config without moe_shared_expert_intermediate_size: transformers' NemotronHConfig
    (moe_shared_expert_intermediate_size: int = 7688) and vLLM's (the same default) build the shared expert at 7688,
    so each of the 40 MoE layers holds up 4096 x 7688 and down 7688 x 4096 there, not 5376 (was read as no shared
    expert at all: 118,907,079,680). A null is refused in one line: vLLM multiplies it by n_shared_experts, v5's strict
    config refuses None for the int."""
    s = load_spec(_write(tmp_path, _config(moe_shared_expert_intermediate_size=...)))
    assert s.ffn.num_shared_experts == 1 and s.ffn.shared_expert_intermediate_size == 7688
    total = TOTAL - L_MOE * 2 * D * SHARED + L_MOE * 2 * D * 7688
    assert total == 120_668_687_360 - 1_761_607_680 + 2_519_203_840 == 121_426_283_520
    assert weights_report(s).params.total == total
    code, out, err = _cli(capsys, "weights", _write(tmp_path, _config(moe_shared_expert_intermediate_size=None)))
    assert code == 2 and out == "" and err.count("\n") == 1 and "moe_shared_expert_intermediate_size is null" in err


def test_without_mtp_the_main_model_is_unchanged(tmp_path):
    s = load_spec(_write(tmp_path, _config(num_nextn_predict_layers=0)))
    assert s.mtp_layers == 0 and s.mtp_layer_types is None
    assert weights_report(s).params.total == TOTAL and weights_report(s).mtp_params == 0


def test_builtin_spec_is_the_fixture():
    from dataclasses import replace

    a, b = load_spec("nemotron-3-super-120b-a12b"), super_spec()
    assert replace(a, name=b.name, source=b.source, description=b.description) == b


# --- quantized releases ---------------------------------------------------------------------------------------------

def test_modelopt_fp8_prices_the_latent_projections_with_the_layers(tmp_path):
    """A ModelOpt FP8 block (quant_algo FP8: every decoder Linear e4m3, one fp32 scale a tensor, not counted) prices
    fc1/fc2_latent_proj at 1 B a weight; an exclude list naming them (backbone.layers.N.mixer.fc1_latent_proj, the
    checkpoint's own names) keeps them at 2 B. (An edited config: the FP8 release's own block was not found.)"""
    q = {"quant_method": "modelopt", "quant_algo": "FP8", "ignore": ["lm_head"]}
    s = load_spec(_write(tmp_path, _config(quantization_config=q)))
    assert "latent_proj" in s.quantization.components
    assert weights_report(s).bytes.latent_proj == L_MOE * 2 * D * LAT * 1
    q["ignore"] = ["lm_head", "*fc1_latent_proj", "*fc2_latent_proj"]
    s = load_spec(_write(tmp_path, _config(quantization_config=q)))
    assert "latent_proj" not in s.quantization.components
    assert {"attention", "routed_experts", "shared_experts"} <= set(s.quantization.components)
    assert weights_report(s).bytes.latent_proj == L_MOE * 2 * D * LAT * 2


def test_the_nvfp4_releases_mixed_precision_is_refused_in_one_line(capsys, tmp_path):
    """The NVFP4 release's quantization_config is ModelOpt MIXED_PRECISION (NVFP4 experts, FP8 or BF16 by layer for
    the rest: quantized_layers), which the ModelOpt reader refuses for every family, a component being priced at one
    width."""
    q = {"quant_method": "modelopt", "quant_algo": "MIXED_PRECISION",
         "quantized_layers": {"backbone.layers.1.mixer.experts.0.up_proj": {"quant_algo": "NVFP4", "group_size": 16}},
         "kv_cache_scheme": {"dynamic": False, "num_bits": 8, "type": "float"}}
    code, out, err = _cli(capsys, "weights", _write(tmp_path, _config(quantization_config=q)))
    assert code == 2 and out == "" and err.count("\n") == 1 and "MIXED_PRECISION" in err, err


def test_mlx_quantization_covers_the_latent_projections(tmp_path):
    """mlx_lm quantizes every Linear, the latent pair included (affine 5 bits in groups of 64: 5 + 2 x 16 / 64 = 5.5
    bits a weight); the latent width 1024 is a multiple of 64, so no matrix is left at 16 bits."""
    s = load_spec(_write(tmp_path, _config(quantization={"group_size": 64, "bits": 5, "mode": "affine"})))
    assert "latent_proj" in s.quantization.components
    assert weights_report(s).bytes.latent_proj == L_MOE * 2 * D * LAT * 5.5 / 8


# --- every command reads it -----------------------------------------------------------------------------------------

def test_every_command_reads_it(capsys):
    path = str(FIXTURE)
    code, out, _ = _cli(capsys, "weights", path, "--json")
    w = json.loads(out)
    assert code == 0 and w["params_total"] == TOTAL and w["params_mtp"] == MTP
    code, out, _ = _cli(capsys, "kv", path, "--context", "4k", "--json")
    assert code == 0 and json.loads(out)["kv_bytes_per_token"] == 8_192
    for args in (("roofline", path, "--batch", "8", "--tp", "4", "--ep", "4"),
                 ("fit", path, "--tp", "4", "--context", "32k"),
                 ("fit", path, "--tp", "4", "--context", "32k", "--engine", "vllm"),
                 ("compare", path, "tests/fixtures/hf/nemotron_h_8b")):
        code, out, err = _cli(capsys, *args)
        assert code == 0 and err == "" and "nemotron_3_super" in out, (args, err)
    code, out, _ = _cli(capsys, "weights", path)
    assert "latent_proj" in out and "+ MTP modules" in out


# --- bad input: one line, exit 2 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args,words", [
    (("kv", "nemotron-3-super-120b-a12b", "--set", "ffn.expert_latent_size=0"),
     "ffn.expert_latent_size: must be at least 1, got 0"),
    (("kv", "nemotron-3-super-120b-a12b", "--set", "ffn.expert_latent_size=-5"), "must be at least 1"),
    (("kv", "nemotron-3-super-120b-a12b", "--set", "ffn.expert_latent_size=1.5"), "expected a whole number"),
    (("kv", "llama-3.1-8b", "--set", "ffn.expert_latent_size=1024"),
     "expert fields are set (expert_latent_size) but kind is dense"),
    (("kv", "nemotron-3-super-120b-a12b", "--set", "mtp_layers=0"), "mtp_layer_types: only applies with mtp_layers"),
    (("kv", "deepseek-v3", "--set", "mtp_layer_types=[full]"), "applies to a model of one block a layer"),
    (("kv", "nemotron-3-super-120b-a12b", "--set", "mtp_layer_types=[linear]"), "must be one of full, ffn"),
    (("kv", "nemotron-3-super-120b-a12b", "--set", "mtp_ffn=moe"), "give it or mtp_layer_type / mtp_ffn"),
    (("kv", "nemotron-3-super-120b-a12b", "--set", "layer_types=[linear,ffn,sliding,ffn]", "--set",
      "attention.sliding_window=4096"), "lists a full block, but no layer of the model is full"),
    (("train", "mixtral-8x7b", "--set", "ffn.expert_latent_size=1024"),
     "training memory is not modelled with routed experts in a latent space"),
])
def test_bad_specs_are_one_line(capsys, args, words):
    code, out, err = _cli(capsys, *args)
    assert code == 2 and out == "" and err.count("\n") == 1 and words in err, err


@pytest.mark.parametrize("changes,words", [
    ({"moe_latent_size": 0}, "moe_latent_size must be a whole number of at least 1, got 0"),
    ({"moe_latent_size": "1024"}, "moe_latent_size must be a whole number"),
    ({"hybrid_override_pattern": "M-M*" * 22, "mtp_hybrid_override_pattern": ..., "num_nextn_predict_layers": 0},
     "moe_latent_size on a pattern of MLP (-) blocks"),
    ({"num_nextn_predict_layers": 2}, "num_nextn_predict_layers 2"),
    ({"mtp_hybrid_override_pattern": "*E-"}, "MTP block '-' in mtp_hybrid_override_pattern is not modelled"),
    ({"mtp_hybrid_override_pattern": ""}, "mtp_hybrid_override_pattern must be a string of * and E"),
    ({"mtp_layers_block_type": ["moe"]}, "name different MTP blocks"),
    ({"mtp_layers_block_type": ["mamba"], "mtp_hybrid_override_pattern": ...}, "MTP block 'mamba'"),
])
def test_bad_configs_are_one_line(capsys, tmp_path, changes, words):
    code, out, err = _cli(capsys, "kv", _write(tmp_path, _config(**changes)))
    assert code == 2 and out == "" and err.count("\n") == 1 and words in err, err


def test_mtp_moe_block_beside_mlp_blocks_is_refused(capsys, tmp_path):
    """A pattern of MLP blocks with an "E" MTP block: vLLM's MTP builds a NemotronHMoE the main model has no
    experts for in the spec; refused rather than guessed."""
    cfg = _config(hybrid_override_pattern="M-M*" * 22, moe_latent_size=...)
    code, out, err = _cli(capsys, "kv", _write(tmp_path, cfg))
    assert code == 2 and err.count("\n") == 1 and "MoE (E) block in the MTP module" in err, err


def test_latent_width_outside_moe_is_refused_in_python():
    raw = spec_to_dict(load_spec("llama-3.1-8b"))
    raw["ffn"]["expert_latent_size"] = 512
    with pytest.raises(SpecError, match="expert_latent_size"):
        spec_from_dict(raw)
