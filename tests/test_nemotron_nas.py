"""Llama-Nemotron's NAS decoders (model_type nemotron-nas, DeciLMForCausalLM) and the spec's ``ffn.layer_widths``,
worked out by hand on the real configs (tests/fixtures/hf/{llama_3_3_nemotron_super_49b,
llama_3_1_nemotron_ultra_253b}) and on tiny specs, and their invariants.

What a ``block_configs`` entry builds (vLLM ``vllm/model_executor/models/nemotron_nas.py`` ``DeciLMDecoderLayer``;
NVIDIA-NeMo/Automodel ``nemo_automodel/components/models/decilm/layers.py`` ``Block``; the checkpoints'
``modeling_decilm.py``): attention ``no_op`` false: ``input_layernorm`` (d) and Llama's attention with
``num_attention_heads // n_heads_in_group`` K/V heads of ``hidden / heads``: q and o ``d x d``, k and v ``d x (kv x
128)``; ``no_op``: neither. FFN ``no_op`` false: ``post_attention_layernorm`` (d) and a gated SiLU MLP of
``find_multiple(int(2 ffn_mult d / 3), 256)``: ``3 d f``; ``no_op``: neither. Model: embedding and untied head ``V d``
each, a final norm d."""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlacalc.errors import SpecError
from mlacalc.hf import nas_ffn_width
from mlacalc.kv import kv_report
from mlacalc.params import layer_params, param_counts, stage_params
from mlacalc.parallel import Parallelism
from mlacalc.spec import json_schema, load_spec, spec_from_dict, spec_to_dict
from mlacalc.step import Step, step_ops

from helpers import fixture_config as config, hf_fixture as hf, make_spec, refused, run, schema_errors, \
    write_config as write

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
SUPER, ULTRA = "llama_3_3_nemotron_super_49b", "llama_3_1_nemotron_ultra_253b"
V = 128256                                              # both: Llama-3's vocabulary, untied head


def with_block(name: str, i: int, part: str, **changes) -> dict:
    """A fixture's config with entry ``i``'s ``part`` (attention or ffn) changed."""
    cfg = config(name)
    cfg["block_configs"][i][part] |= changes
    return cfg


# --- the width rule ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mult,hidden,width", [
    (5.25, 8192, 28672),       # 2 x 5.25 x 8192 / 3 = 28672, a multiple of 256 already
    (2.625, 8192, 14336),      # 14336 = 56 x 256
    (3.28125, 8192, 17920),    # 17920 = 70 x 256
    (1.3125, 8192, 7168),      # 7168 = 28 x 256
    (1.0, 8192, 5632),         # int(5461.33) = 5461 -> 22 x 256 = 5632
    (0.5, 8192, 2816),         # int(2730.67) = 2730 -> 11 x 256 = 2816
    (0.4875, 16384, 5376),     # int(5324.8) = 5324 -> 21 x 256 = 5376
    (39.0, 16384, 425984),     # Ultra's widest, fused FFN: 2 x 39 x 16384 / 3 = 425984 = 1664 x 256
])
def test_ffn_mult_gives_the_width_the_checkpoint_code_builds(mult, hidden, width):
    """_ffn_mult_to_intermediate_size (vLLM, SGLang and TensorRT-LLM nemotron_nas, llama.cpp's DeciModel):
    find_multiple(int(2 * ffn_mult * n_embd / 3), 256)."""
    assert nas_ffn_width(mult, hidden) == width


# --- Llama-3.3-Nemotron-Super-49B-v1 -------------------------------------------------------------------------

def test_super_49b_reads_layer_by_layer():
    """49 attention layers of GQA-8 (64 // n_heads_in_group 8), 31 without (attention no_op: layers 6, 7, 11, 42-51,
    53-70), every layer with an FFN (SOURCE.md)."""
    s = hf(SUPER)
    skipped = [6, 7, 11, *range(42, 52), *range(53, 71)]
    assert [i for i in range(80) if s.layer_type(i) == "ffn"] == skipped and len(skipped) == 31
    assert (s.attention.num_heads, s.attention.num_kv_heads, s.attention.qk_head_dim) == (64, 8, 128)
    assert (s.num_kv_layers, s.num_ffn_layers, s.num_blocks) == (80 - 31, 80, 49 + 80)
    assert s.ffn.intermediate_size == 28672 == max(s.ffn.layer_widths)
    assert (s.ffn_width(0), s.ffn_width(6), s.ffn_width(11)) == (14336, 14336, 17920)   # ffn_mult 2.625, 2.625, 3.28125
    assert (s.layer_norms(0), s.layer_norms(6)) == (2, 1)      # no input_layernorm where the attention is no_op


def test_super_49b_parameters_by_hand():
    """Every term by hand, from SOURCE.md's counts of ffn_mult (widths by the rule above): the card's "49.9B"."""
    d, kv = 8192, 8 * 128
    attention = 2 * d * d + 2 * d * kv                      # q, o: d x 64 x 128; k, v: d x 8 x 128
    widths = 49 * 28672 + 6 * 14336 + 10 * 7168 + 8 * 5632 + 6 * 2816 + 1 * 17920
    norms = (49 + 80) * d + d                               # input_layernorm x 49, post_attention_layernorm x 80, final
    total = 49 * attention + 3 * d * widths + norms + 2 * V * d
    p = param_counts(hf(SUPER))
    assert (p.attention, p.dense_ffn, p.norms) == (49 * attention, 3 * d * widths, norms)
    assert p.total == total == 49_867_145_216
    # the same sum over the fixture's block_configs, one entry at a time (the formulas above, per layer)
    by_layer = d + 2 * V * d
    for b in config(SUPER)["block_configs"]:
        if not b["attention"]["no_op"]:
            by_layer += d + 2 * d * d + 2 * d * (64 // b["attention"]["n_heads_in_group"]) * 128
        if not b["ffn"]["no_op"]:
            by_layer += d + 3 * d * nas_ffn_width(b["ffn"]["ffn_mult"], d)
    assert by_layer == total


def test_super_49b_kv_and_pipeline_stages_by_hand():
    """KV: 49 layers x 8 heads x 128 x (K, V) x 2 bytes = 200,704 B a token. Two stages of 40 checkpoint layers (as
    vLLM's make_layers splits num_hidden_layers): attention on 40 - 3 (6, 7, 11) = 37 layers, then 40 - 28 = 12."""
    s = hf(SUPER)
    assert kv_report(s, context=1).per_token.total == 49 * 8 * 128 * 2 * 2 == 200_704
    d = 8192
    first, last = stage_params(s, Parallelism(pp=2))
    assert (first.attention, last.attention) == (37 * (2 * d * d + 2 * d * 1024), 12 * (2 * d * d + 2 * d * 1024))
    assert first.embed == last.head == V * d
    assert first.total + last.total == param_counts(s).total


def test_super_49b_decode_step_by_hand():
    """A decode step of B = 8 at tp 2: the FFN's FLOPs 2 B x 3 d x (sum of widths) / tp; the norms one launch each
    (129 block norms and the final one); one all-reduce per block, 129 of them."""
    s, B = hf(SUPER), 8
    ops = {o.name: o for o in step_ops(s, Step("decode", batch=B, context=1024), Parallelism(tp=2))}
    widths = sum(s.ffn.layer_widths)
    assert widths == 49 * 28672 + 6 * 14336 + 10 * 7168 + 8 * 5632 + 6 * 2816 + 17920
    assert ops["ffn"].flops == 2 * B * 3 * 8192 * widths / 2
    assert ops["ffn"].launches == 2 * 80                    # gate/up, then down, on each of the 80 FFNs
    assert ops["norms"].launches == 129 + 1
    assert ops["comm"].launches == 129


# --- Llama-3.1-Nemotron-Ultra-253B-v1 ------------------------------------------------------------------------

def test_ultra_253b_parameters_by_hand():
    """64 attention layers of 128 heads over 128 // 16 = 8 K/V heads; 81 FFNs; 81 layers with neither block (both
    no_op, no norm): SOURCE.md's counts. The card's "253B"."""
    d, kv = 16384, 8 * 128
    attention = 2 * d * d + 2 * d * kv
    widths = (34 * 53248 + 19 * 26624 + 10 * 21504 + 6 * 16128 + 4 * 37376 + 2 * 32000 + 10752 + 5376
              + 301056 + 343040 + 399360 + 425984)          # ffn_mult 27.5625, 31.40625, 36.5625, 39.0 once each
    norms = (64 + 81) * d + d
    s = hf(ULTRA)
    p = param_counts(s)
    assert (p.attention, p.dense_ffn, p.norms) == (64 * attention, 3 * d * widths, norms)
    assert p.total == 64 * attention + 3 * d * widths + norms + 2 * V * d == 253_401_268_224
    assert (s.num_kv_layers, s.num_ffn_layers, s.num_blocks) == (64, 81, 64 + 81)
    assert kv_report(s, context=1).per_token.total == 64 * 8 * 128 * 2 * 2
    empty = [i for i in range(162) if s.layer_type(i) == "ffn" and not s.has_ffn(i)]
    assert len(empty) == 81 and empty[:4] == [9, 10, 11, 12]
    assert all(layer_params(s, i).total == 0 and s.layer_norms(i) == 0 for i in empty)


# --- serving engines ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,layers,attending", [(SUPER, 80, 49), (ULTRA, 162, 64)])
def test_sglang_pool_holds_kv_for_every_decoder_layer(name, layers, attending):
    """SGLang sizes the K/V pool of a model that is no hybrid by num_effective_layers (sgl-project/sglang
    model_runner_kv_cache_mixin.py profile_max_num_token -> get_cell_size_per_token(num_layers); pool_configurator.py
    DefaultPoolConfigurator the same), end_layer - start_layer = num_hidden_layers for its nemotron_nas.py DeciModel,
    which sets neither: cell = kv_heads_per_rank x (head_dim + v_head_dim) x num_hidden_layers x 2 B, the layers whose
    attention is no_op included (a buffer each, indexed by layer_id, never written). At tp 8 both have one K/V head a
    rank (8 // 8): 1 x 256 x 80 x 2 = 40,960 B a token for Super (not 49 layers' 25,088), 1 x 256 x 162 x 2 = 82,944 B
    for Ultra (not 64 layers' 32,768). vLLM caches only the Attention modules it builds, as mlacalc does."""
    from mlacalc.capacity import fit
    from mlacalc.hardware import load_hardware
    spec, hw, ctx = hf(name), load_hardware("h200"), 32768
    f = fit(spec, hw, ctx, Parallelism(tp=8), engine="sglang")
    cell = 1 * (128 + 128) * layers * 2
    assert f.kv_bytes_per_seq == ctx * cell
    assert f.max_batch == int(f.kv_budget // (ctx * cell))
    assert f.to_json()["sglang_kv_layers"] == layers
    plain = fit(spec, hw, ctx, Parallelism(tp=8), engine="vllm")          # vLLM: the attention layers alone
    assert plain.kv_bytes_per_seq == ctx * 1 * 256 * attending * 2 and "sglang_kv_layers" not in plain.to_json()
    # the decode step at that batch still reads the attention layers' cache alone
    assert f.decode.ops[[o.op.name for o in f.decode.ops].index("attn_core")].op.launches == 2 * attending


def test_sglang_sweep_sizes_the_pool_as_fit(capsys):
    """sweep --engine sglang takes the same pool: its largest batch at 32k on 8 H200s is fit's (90, not 147)."""
    from mlacalc.capacity import fit
    from mlacalc.hardware import load_hardware
    code, out, err, _ = run(capsys, "sweep", str(FIXTURES / SUPER), "--gpu", "h200", "--gpus", "8", "--context", "32k",
                            "--batch", "1", "--engine", "sglang", "--json")
    assert code in (0, None), err
    rows = json.loads(out)["rows"]
    f = fit(hf(SUPER), load_hardware("h200"), 32768, Parallelism(tp=8), engine="sglang")
    assert [r["max_batch"] for r in rows] == [f.max_batch]
    assert f.max_batch < fit(hf(SUPER), load_hardware("h200"), 32768, Parallelism(tp=8), engine="vllm").max_batch


# --- invariants ----------------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(group=st.sampled_from([1, 2, 4, 8, 32]), mult=st.sampled_from([0.5, 1.0, 2.625, 3.5, 5.25]),
       layers=st.integers(1, 12))
def test_identical_blocks_read_as_the_plain_llama_config(tmp_path_factory, group, mult, layers):
    """A block_configs list of one block repeated reads exactly as the Llama config it is: Llama-3.1-8B's fixture with
    num_key_value_heads 32 // n_heads_in_group and intermediate_size from ffn_mult, the same spec field by field."""
    tmp = tmp_path_factory.mktemp("nas")
    llama = json.loads((FIXTURES / "llama" / "config.json").read_text()) | {
        "num_hidden_layers": layers, "num_key_value_heads": 32 // group,
        "intermediate_size": nas_ffn_width(mult, 4096)}
    block = {"attention": {"n_heads_in_group": group, "no_op": False, "replace_with_linear": False},
             "ffn": {"ffn_mult": mult, "no_op": False, "replace_with_linear": False}}
    nas = {k: v for k, v in llama.items() if k not in ("num_key_value_heads", "intermediate_size")} | {
        "model_type": "nemotron-nas", "architectures": ["DeciLMForCausalLM"], "block_configs": [block] * layers}
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    plain, read = load_spec(write(tmp / "a", llama)), load_spec(write(tmp / "b", nas))
    keep = ("name", "source", "description")
    assert {k: v for k, v in spec_to_dict(read).items() if k not in keep} == \
        {k: v for k, v in spec_to_dict(plain).items() if k not in keep}


@settings(max_examples=40, deadline=None)
@given(widths=st.lists(st.integers(1, 4096), min_size=1, max_size=8))
def test_layer_widths_price_each_layer_at_its_own_width(widths):
    """Parameters and FFN FLOPs are linear in the widths: the dense FFN holds 3 d (sum of widths), and a decode step's
    FFN does 2 B 3 d (sum of widths); one width everywhere is the spec without layer_widths."""
    d, L = 256, len(widths)
    s = make_spec({"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64}, layers=L, hidden=d,
                  ffn={"kind": "dense", "intermediate_size": max(widths), "layer_widths": widths})
    assert param_counts(s).dense_ffn == 3 * d * sum(widths)
    ffn = next(o for o in step_ops(s, Step("decode", batch=2, context=64)) if o.name == "ffn")
    assert ffn.flops == pytest.approx(2 * 2 * 3 * d * sum(widths), rel=1e-12)
    same = make_spec({"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64}, layers=L, hidden=d,
                     ffn={"kind": "dense", "intermediate_size": widths[0], "layer_widths": [widths[0]] * L})
    plain = make_spec({"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64}, layers=L, hidden=d,
                      ffn={"kind": "dense", "intermediate_size": widths[0]})
    assert param_counts(same) == param_counts(plain)
    assert step_ops(same, Step("decode", batch=2, context=64), Parallelism(tp=2)) == \
        step_ops(plain, Step("decode", batch=2, context=64), Parallelism(tp=2))


def test_a_layer_without_ffn_has_one_norm_and_one_block():
    """Three layers: attention + FFN of 512, attention alone (width 0), the FFN alone (layer type ffn). Norms 2, 1, 1
    (norms_per_layer 2, half a block); blocks 2 + 1 + 1 = 4 all-reduces under TP."""
    d = 256
    s = make_spec({"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64}, layers=3, hidden=d,
                  layer_types=["full", "full", "ffn"],
                  ffn={"kind": "dense", "intermediate_size": 512, "layer_widths": [512, 0, 256]})
    assert [s.layer_norms(i) for i in range(3)] == [2, 1, 1]
    assert [layer_params(s, i).dense_ffn for i in range(3)] == [3 * d * 512, 0, 3 * d * 256]
    assert (s.num_blocks, s.num_ffn_layers, s.num_kv_layers) == (4, 2, 2)
    comm = next(o for o in step_ops(s, Step("decode", batch=1, context=8), Parallelism(tp=2)) if o.name == "comm")
    assert comm.launches == 4


@pytest.mark.parametrize("norms", [1, 2, 3, 4])
def test_a_layer_with_both_blocks_keeps_every_norm(norms):
    """A layer that holds its mixer and its FFN has norms_per_layer norms whatever its parity; only a layer missing
    a block has half of them a block. With ffn.layer_widths and no block missing, norms_per_layer 1 read 0 norms a
    layer (1 // 2 x 2) and 3 read 2: llama-3.1-8b's shape at 2 layers, d 256, 1 -> 2 x 1 x 256 + 256 = 768 norm
    parameters, not 256."""
    d, L = 256, 2
    attn = {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64}
    s = make_spec(attn, layers=L, hidden=d, norms_per_layer=norms,
                  ffn={"kind": "dense", "intermediate_size": 512, "layer_widths": [512, 256]})
    plain = make_spec(attn, layers=L, hidden=d, norms_per_layer=norms)
    assert [s.layer_norms(i) for i in range(L)] == [norms, norms]
    assert param_counts(s).norms == param_counts(plain).norms == L * norms * d + d
    step = Step("decode", batch=2, context=64)
    n = {o.name: o for o in step_ops(s, step)}["norms"]
    assert n.launches == L * norms + 1 and n.weight_bytes == (L * norms * d + d) * 2


def test_schema_takes_layer_widths():
    schema = json_schema()
    spec = json.loads(json.dumps(spec_to_dict(hf(SUPER))))      # as specs show --json writes it
    assert schema_errors(spec, schema) == []
    assert schema_errors(spec | {"ffn": spec["ffn"] | {"layer_widths": [-1]}}, schema) != []


# --- refusals: one line each ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg,words", [
    # Llama-3.1-Nemotron-51B-Instruct: its attention replaced by one d x d Linear on some layers (its K/V heads 8, 4,
    # 2 and 1, n_heads_in_group 8, 16, 32, 64, are read since: attention.layer_heads, tests/test_openelm.py):
    # GenZ-LLM-Analyzer's transcription of its block_configs gives 51.50 B with the Linear counted d x d, the card's
    # "51.5B" (docs/zoo-facts.md)
    (with_block(SUPER, 11, "attention", no_op=False, replace_with_linear=True), "replace_with_linear"),
    (with_block(SUPER, 3, "ffn", replace_with_linear=True, ffn_mult=None), "Llama-3.1-Nemotron-51B"),
    (with_block(SUPER, 0, "attention", n_heads_in_group=7), "must be a whole number that divides"),
    (with_block(SUPER, 0, "attention", n_heads_in_group=None), "n_heads_in_group must be a whole number"),
    (with_block(SUPER, 0, "attention", window_length=4096), "window_length 4096 is not modelled"),
    (with_block(SUPER, 0, "attention", num_sink_tokens=4), "num_sink_tokens 4 is not modelled"),
    (with_block(SUPER, 0, "attention", mamba={"state_dim": 128}), "attention.mamba is not a key this tool reads"),
    (with_block(SUPER, 0, "attention", no_op="false"), "no_op must be true or false"),
    (with_block(SUPER, 0, "ffn", ffn_mult=-1.0), "ffn_mult must be a positive number"),
    (with_block(SUPER, 0, "ffn", ffn_mult="5.25"), "ffn_mult must be a positive number"),
    (with_block(SUPER, 0, "ffn", ffn_mult=None), "needs ffn_mult (or intermediate_size)"),
    (with_block(SUPER, 0, "ffn", ffn_mult=1e-9), "gives an FFN 0 wide"),
    (config(SUPER) | {"block_configs": config(SUPER)["block_configs"][:79]}, "must be a list of 80 blocks"),
    (config(SUPER) | {"block_configs": [{"attention": {"no_op": True}, "ffn": {"ffn_mult": 1.0}}] * 80},
     "no layer attends"),
    (config(SUPER) | {"block_configs": [{"attention": {"n_heads_in_group": 8}, "ffn": {"no_op": True}}] * 80},
     "no layer has an FFN"),
    (config(SUPER) | {"mlp_bias": True}, "MLP biases (mlp_bias) are not modelled"),
])
def test_what_is_not_modelled_is_refused_in_one_line(capsys, tmp_path, cfg, words):
    refused(capsys, "weights", write(tmp_path, cfg), words=words)


def test_a_block_of_other_kinds_is_refused(capsys, tmp_path):
    cfg = config(SUPER)
    cfg["block_configs"][0]["parallel_blocks"] = []
    refused(capsys, "kv", write(tmp_path, cfg), words="block_configs[0].parallel_blocks is not a key")


@pytest.mark.parametrize("change,field", [
    ({"ffn": {"kind": "moe", "intermediate_size": 512, "num_experts": 4, "experts_per_token": 2,
              "expert_intermediate_size": 128, "layer_widths": [512, 512]}}, "ffn.layer_widths: applies to a dense"),
    ({"ffn": {"kind": "dense", "intermediate_size": 512, "layer_widths": [512]}}, "has 1 entries for 2 layers"),
    ({"ffn": {"kind": "dense", "intermediate_size": 512, "layer_widths": [256, 256]}}, "must be the widest"),
    ({"ffn": {"kind": "dense", "intermediate_size": 512, "layer_widths": [512, -1]}}, "layer_widths[1]: must be at"),
    ({"ffn": {"kind": "dense", "intermediate_size": 512, "layer_widths": "512"}}, "expected a list of whole numbers"),
    ({"ffn": {"kind": "dense", "intermediate_size": 512, "layer_widths": [512, 0]}, "norms_per_layer": 1},
     "norms_per_layer: (1) must be even"),
    ({"ffn": {"kind": "dense", "intermediate_size": 512, "layer_widths": [512, 256]}, "mtp_layers": 1},
     "multi-token-prediction"),
])
def test_bad_layer_widths_are_one_line(change, field):
    raw = {"name": "tiny", "num_layers": 2, "hidden_size": 256, "vocab_size": 1000,
           "attention": {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 64}} | change
    with pytest.raises(SpecError) as e:
        spec_from_dict(raw)
    assert field in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("args,words", [
    (("train",), "training memory is not modelled where each layer has an FFN of its own width"),
    (("profile",), "profiling (each layer built with attention and one FFN width) is not modelled"),
])
def test_train_and_profile_refuse_in_one_line(capsys, args, words):
    refused(capsys, *args, str(FIXTURES / SUPER), words=words)


def test_an_ignore_list_naming_one_ffn_covers_part_of_the_dense_ffn(capsys, tmp_path):
    """The FFNs of the attention layers are dense_ffn too (ffn.layer_widths, not Nemotron-H's one block a layer): a
    ModelOpt FP8 ignore list naming layer 0's MLP covers part of it and is refused; naming an Ultra layer that holds no
    block (9) covers nothing, and the FFNs are priced at fp8."""
    q = {"quant_method": "modelopt", "quant_algo": "FP8"}
    cfg = config(SUPER) | {"quantization_config": q | {"ignore": ["lm_head", "model.layers.0.mlp"]}}
    refused(capsys, "weights", write(tmp_path, cfg), words="leaves part of the dense_ffn unquantized "
                                                           "(model.layers.0.mlp.gate_proj)")
    (tmp_path / "u").mkdir()
    s = load_spec(write(tmp_path / "u", config(ULTRA) | {"quantization_config": q | {
        "ignore": ["lm_head", "model.layers.9.mlp", "model.layers.9.self_attn"]}}))
    assert "dense_ffn" in s.quantization.components and "attention" in s.quantization.components


@pytest.mark.parametrize("cmd", [
    ("kv", "--tp", "8"), ("weights", "--tp", "8", "--pp", "2"), ("compare", str(FIXTURES / "llama_3_3_70b")),
    ("roofline", "--gpu", "h100", "--batch", "8", "--tp", "2"), ("fit", "--gpu", "h200", "--tp", "2"),
    ("sweep", "--gpu", "h100", "--gpus", "2,4"), ("kv", "--as", "gqa:4"),
])
@pytest.mark.parametrize("name", [SUPER, ULTRA])
def test_every_calculator_command_reads_them(capsys, name, cmd):
    model = str(FIXTURES / name)
    code, out, err, _ = run(capsys, cmd[0], model, *cmd[1:])
    assert code in (0, None) and out and not err, err


ODD = [None, True, False, 0, -1, 1, 3, 7, 64, 1.5, -2.5, 1e30, "8", "", [], {}, [8], {"a": 1}]


# run() reads capsys out after each call, so the fixture holds nothing from one example to the next
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layer=st.integers(0, 79), part=st.sampled_from(["attention", "ffn"]),
       key=st.sampled_from(["no_op", "replace_with_linear", "n_heads_in_group", "ffn_mult", "intermediate_size",
                            "sparsify", "window_length", "num_sink_tokens", "unshifted_sink", "other"]),
       value=st.sampled_from(ODD))
def test_any_block_entry_reads_or_is_refused_in_one_line(capsys, tmp_path_factory, layer, part, key, value):
    """Whatever one entry of one block says, weights either reads the file or refuses it in one line (exit 2)."""
    cfg = with_block(SUPER, layer, part, **{key: value})
    code, out, err, _ = run(capsys, "weights", write(tmp_path_factory.mktemp("nas"), cfg), "--json")
    assert (code in (0, None) and out and not err) or \
        (code == 2 and not out and err.startswith("error: ") and err.count("\n") == 1), (code, err)
