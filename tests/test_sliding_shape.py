"""Sliding layers with an attention shape of their own (``attention.sliding_shape``): MiMo-V2-Flash's sliding layers
have 8 KV heads beside the full layers' 4 (config ``swa_num_key_value_heads``), Step-3.5-Flash's 96 query heads
beside 64 (``attention_other_setting``). Every number is worked out by hand below, per layer type."""

import dataclasses
import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlacalc.errors import SpecError
from mlacalc.hardware import load_hardware
from mlacalc.kv import kv_report
from mlacalc.parallel import Parallelism
from mlacalc.params import mtp_params, param_counts, weights_report
from mlacalc.spec import spec_from_dict, spec_to_dict
from mlacalc.step import Step, decode_shape, decode_shapes, roofline
from mlacalc.capacity import fit

D = 4096


def mimo_like(sliding_shape: dict | None = {"num_kv_heads": 8}, **extra):
    """12 layers, 1 full then 5 sliding (MiMo-V2-Flash's 1:5), window 128; GQA 64 heads, key 192 (128 + 64 RoPE),
    value 128; the full layers 4 KV heads, the sliding ones 8 (MiMo-V2-Flash's shapes, fewer layers)."""
    attention = {"kind": "gqa", "num_heads": 64, "num_kv_heads": 4, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
                 "v_head_dim": 128, "sliding_window": 128}
    if sliding_shape is not None:
        attention["sliding_shape"] = sliding_shape
    return spec_from_dict({"name": "mimo-like", "num_layers": 12, "hidden_size": D, "vocab_size": 152576,
                           "layer_types": ["full"] + ["sliding"] * 5, "attention": attention,
                           "ffn": {"kind": "dense", "intermediate_size": 16384}, **extra})


def test_kv_bytes_per_token_and_sequence_count_each_layer_type_at_its_own_shape():
    spec = mimo_like()
    full_layer = 4 * (192 + 128) * 2          # 4 KV heads x (K 192 + V 128) x bf16
    sliding_layer = 8 * (192 + 128) * 2       # 8 KV heads
    r = kv_report(spec, context=1024)
    assert r.per_token.total == 2 * full_layer + 10 * sliding_layer == 56_320
    # the full layers hold 1024 tokens, the sliding ones their 128-token window
    assert r.per_sequence.total == 2 * 1024 * full_layer + 10 * 128 * sliding_layer
    assert r.per_token_layer.total == full_layer          # the full layers' block (attention.*)


def test_kv_per_gpu_splits_each_blocks_kv_heads_on_its_own():
    # TP 8: the full layers' 4 KV heads are replicated (each rank holds 1 of 4: a quarter of each token's KV),
    # the sliding layers' 8 split one a rank (an eighth)
    spec = mimo_like()
    r = kv_report(spec, context=1024, batch=2, parallel=Parallelism(tp=8))
    per_seq_gpu = 2 * 1024 * 4 * 320 * 2 / 4 + 10 * 128 * 8 * 320 * 2 / 8
    assert r.per_gpu.total == pytest.approx(2 * per_seq_gpu)


def test_weights_count_q_k_v_o_per_layer_type():
    spec = mimo_like()
    full = D * 64 * 192 + D * 4 * 192 + D * 4 * 128 + 64 * 128 * D        # q, k, v, o of a full layer
    sliding = D * 64 * 192 + D * 8 * 192 + D * 8 * 128 + 64 * 128 * D     # 8 KV heads
    ffn, norms = 3 * D * 16384, 2 * D
    p = param_counts(spec)
    assert p.attention == 2 * full + 10 * sliding
    assert p.total == 2 * full + 10 * sliding + 12 * (ffn + norms) + 2 * 152576 * D + D
    r = weights_report(spec)
    assert sum(r.attention_per_layer.values()) == full
    assert sum(r.sliding_attention_per_layer.values()) == sliding
    assert "sliding_attention_per_layer" in r.to_json()


def test_weights_per_gpu_replicate_the_full_layers_kv_and_split_the_sliding_ones():
    spec = mimo_like()
    tp = 8
    # q and o split by heads; the full layers' k/v (4 KV heads on 8 ranks) keep a quarter, the sliding ones' an eighth
    full = (D * 64 * 192 + 64 * 128 * D) / tp + (D * 4 * 192 + D * 4 * 128) / 4
    sliding = (D * 64 * 192 + 64 * 128 * D) / tp + (D * 8 * 192 + D * 8 * 128) / 8
    r = weights_report(spec, parallel=Parallelism(tp=tp))
    assert r.per_gpu_params.attention == pytest.approx(2 * full + 10 * sliding)


def test_the_mtp_layer_takes_the_block_of_mtp_layer_type():
    # MiMo-V2-Flash's MTP layers use the sliding shape although its last layer is full
    spec = mimo_like(layer_types=["sliding"] * 5 + ["full"], mtp_layers=1, mtp_layer_type="sliding")
    sliding_attn = D * 64 * 192 + D * 8 * 192 + D * 8 * 128 + 64 * 128 * D
    layer = sliding_attn + 3 * D * 16384 + 2 * D
    assert mtp_params(spec) == 2 * D + 2 * D * D + layer              # norms, eh_proj, the layer
    plain = dataclasses.replace(spec, mtp_layer_type=None)         # the last (full) layer's attention
    full_attn = D * 64 * 192 + D * 4 * 192 + D * 4 * 128 + 64 * 128 * D
    assert mtp_params(plain) == 2 * D + 2 * D * D + full_attn + 3 * D * 16384 + 2 * D


def test_decode_attention_core_prices_each_block_over_its_own_keys():
    spec = mimo_like()
    hw = load_hardware("h100-sxm")
    r = roofline(spec, hw, Step("decode", 1, 4096))
    core = r.op("attn_core").op
    # the query at position 4096 attends 4097 keys on full layers, 128 on sliding ones; 64 heads, d_k + d_v = 320
    assert core.flops == 2 * 64 * 320 * (2 * 4097 + 10 * 128)
    # each attended key's cache read once at bf16: 4 KV heads x 320 on full layers, 8 x 320 on sliding ones
    assert core.kv_bytes == 2 * 4097 * 4 * 320 * 2 + 10 * 128 * 8 * 320 * 2
    shapes = decode_shapes(spec, Step("decode", 1, 4096), Parallelism(), None, 16)
    assert [(s.kv_groups, s.layers, s.keys) for s in shapes] == [(4, 2, 4097), (8, 10, 128)]
    assert r.expected_time_s >= r.time_s
    with pytest.raises(Exception, match="decode_shapes"):
        decode_shape(spec, Step("decode", 1, 4096), Parallelism(), None, 16)


def test_qkv_projection_is_priced_per_block():
    spec = mimo_like()
    r = roofline(spec, load_hardware("h100-sxm"), Step("prefill", 1, 1000))
    # one token's qkv_proj output: 64 query heads x 192 plus K and V of the layer's KV heads
    width_full, width_sliding = 64 * 192 + 4 * 320, 64 * 192 + 8 * 320
    assert r.op("qkv_proj").op.flops == 2 * 1000 * D * (2 * width_full + 10 * width_sliding)


SHAPE_SPACE = st.fixed_dictionaries({"num_heads": st.sampled_from([8, 16, 64]), "kv": st.sampled_from([1, 2, 4, 8]),
                                     "hd": st.sampled_from([64, 128, 192]), "tp": st.sampled_from([1, 2, 8])})


@settings(max_examples=25, deadline=None)
@given(SHAPE_SPACE)
def test_a_sliding_shape_equal_to_the_full_shape_gives_the_plain_specs_numbers(x):
    attention = {"kind": "gqa", "num_heads": x["num_heads"], "num_kv_heads": x["kv"], "head_dim": x["hd"],
                 "sliding_window": 64}
    base = dict(name="p", num_layers=6, hidden_size=512, vocab_size=1000, layer_types=["full", "sliding", "sliding"],
                ffn={"kind": "dense", "intermediate_size": 1024})
    plain = spec_from_dict(base | {"attention": attention})
    same = spec_from_dict(base | {"attention": attention | {"sliding_shape": {
        "num_heads": x["num_heads"], "num_kv_heads": x["kv"], "head_dim": x["hd"]}}})
    par = Parallelism(tp=x["tp"])
    hw = load_hardware("h100-sxm")
    assert kv_report(same, 3000, 4, parallel=par).to_json() == kv_report(plain, 3000, 4, parallel=par).to_json()
    assert weights_report(same, parallel=par).to_json() == weights_report(plain, parallel=par).to_json()
    for step in (Step("decode", 4, 3000, 2), Step("prefill", 2, 3000)):
        a, b = roofline(same, hw, step, par).to_json(), roofline(plain, hw, step, par).to_json()
        assert a == b
    assert fit(same, hw, 8192, par).max_batch == fit(plain, hw, 8192, par).max_batch
    from mlacalc.training import TrainRun, train_memory
    run = TrainRun(micro_batch=1, seq=2048, parallel=par)
    assert train_memory(same, run, hw).stages == train_memory(plain, run, hw).stages


def test_specs_show_json_loads_back_to_the_same_spec():
    spec = mimo_like({"num_heads": 96, "num_kv_heads": 8, "head_dim": 128})
    assert spec_from_dict(json.loads(json.dumps(spec_to_dict(spec)))) == spec
    assert spec.sliding_attention.num_heads == 96 and spec.sliding_attention.qk_head_dim == 128


GQA = {"kind": "gqa", "num_heads": 64, "num_kv_heads": 4, "head_dim": 128, "sliding_window": 128}
MLA = {"kind": "mla", "num_heads": 64, "num_kv_heads": 64, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
       "v_head_dim": 128, "kv_lora_rank": 512, "sliding_window": 128}


@pytest.mark.parametrize("attention, field", [
    (MLA | {"sliding_shape": {"num_heads": 32}}, "attention.sliding_shape"),      # MLA has no sliding shape
    (GQA | {"sliding_shape": {}}, "attention.sliding_shape"),                     # one that says nothing
    (GQA | {"sliding_shape": {"num_heads": 12, "num_kv_heads": 8}}, "attention.sliding_shape.num_kv_heads"),
    (GQA | {"sliding_shape": {"head_dim": 64, "v_head_dim": 64}}, "attention.sliding_shape.head_dim"),
])
def test_bad_sliding_shapes_are_refused_naming_the_field(attention, field):
    with pytest.raises(SpecError) as e:
        spec_from_dict({"name": "x", "num_layers": 2, "hidden_size": 256, "vocab_size": 10,
                        "layer_types": ["full", "sliding"], "attention": attention,
                        "ffn": {"kind": "dense", "intermediate_size": 64}})
    assert e.value.field == field


def test_a_sliding_shape_without_sliding_layers_or_an_mtp_type_without_one_is_refused():
    with pytest.raises(SpecError, match="no layer is sliding"):
        mimo_like(layer_types=["full"])
    with pytest.raises(SpecError) as e:
        mimo_like(None, mtp_layers=1, mtp_layer_type="sliding")
    assert e.value.field == "mtp_layer_type"


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "mlacalc", *args], capture_output=True, text=True)


def test_tp_must_split_each_blocks_query_heads(tmp_path):
    # Step-3.5-Flash's shape: 64 query heads on full layers, 96 on sliding ones; TP 64 splits the first, not the second
    f = tmp_path / "s.json"
    f.write_text(json.dumps(spec_to_dict(mimo_like({"num_heads": 96, "num_kv_heads": 8}))))
    p = run_cli("kv", str(f), "--context", "100", "--tp", "64")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "96 query heads" in p.stderr


def test_training_memory_sizes_each_layer_type_at_its_own_shape():
    """Training memory was refused for a sliding shape (every layer would have been sized as a full one); each layer
    now keeps its own block's tensors. b 1, s 256, fused: the layers differ only in the kernel's K ([s, a_kv, 192])
    and V ([s, a_kv, 128]), 4 K/V heads on the full layers (1 of 12), 8 on the sliding ones (the other 10 + 1)."""
    from mlacalc.activations import ActivationConfig, layer_activations
    from mlacalc.training import TrainRun, layer_kinds, stage_memory

    spec, s = mimo_like(), 256
    cfg = ActivationConfig(micro_batch=1, seq=s)
    assert layer_kinds(spec) == {"dense full": 0, "dense sliding": 1}
    full, sliding = layer_activations(spec, 0, cfg), layer_activations(spec, 1, cfg)
    assert sliding.attention - full.attention == s * (8 - 4) * (192 + 128) * 2 == 655_360
    assert sliding.total - full.total == 655_360
    stage = stage_memory(spec, TrainRun(micro_batch=1, seq=s))[0]
    assert stage.activations.layers == 2 * full.total + 10 * sliding.total
