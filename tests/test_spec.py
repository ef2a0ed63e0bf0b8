"""Spec loading, overrides and every kind of bad input: one SpecError naming the field."""

import json

import pytest

from mlacalc.errors import SpecError
from mlacalc.spec import json_schema, load_spec, spec_from_dict, spec_to_dict

from helpers import make_spec

GOOD = {"name": "m", "num_layers": 2, "hidden_size": 64, "vocab_size": 100,
        "attention": {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 16},
        "ffn": {"kind": "dense", "intermediate_size": 128}}


def bad(**changes):
    d = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        node = d
        *parents, leaf = path.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return d


@pytest.mark.parametrize("raw,field,words", [
    (bad(num_layer=3), "num_layer", "did you mean 'num_layers'"),
    (bad(attention__num_head=4), "attention.num_head", "did you mean 'num_heads'"),
    (bad(hidden_size="big"), "hidden_size", "whole number"),
    (bad(hidden_size=0), "hidden_size", "at least 1"),
    (bad(num_layers=-2), "num_layers", "at least 1"),
    (bad(attention__num_kv_heads=3), "attention.num_kv_heads", "divisible"),
    (bad(attention__kind="mxa"), "attention.kind", "one of"),
    (bad(attention__kv_lora_rank=512), "attention.kv_lora_rank", "only applies to kind mla"),
    (bad(ffn__kind="moe"), "ffn", "moe needs"),
    (bad(attention__kv_shared="yes"), "attention.kv_shared", "true or false"),
    (bad(ffn__moe_layer_step=2), "ffn.kind", "use kind: moe"),
    (bad(ffn__moe_layer_step=0), "ffn.moe_layer_step", "at least 1"),
])
def test_bad_fields_name_the_field(raw, field, words):
    with pytest.raises(SpecError) as e:
        spec_from_dict(raw)
    assert e.value.field == field and words in str(e.value)


def test_missing_required_field():
    d = bad()
    del d["vocab_size"]
    with pytest.raises(SpecError, match="vocab_size: is required"):
        spec_from_dict(d)


def test_mla_needs_kv_lora_rank():
    with pytest.raises(SpecError, match="kv_lora_rank: is required for kind mla"):
        make_spec({"kind": "mla", "num_heads": 4, "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8})


def test_head_dim_shorthand_and_partial_rope():
    s = make_spec({"kind": "gqa", "num_heads": 4, "num_kv_heads": 1, "head_dim": 256, "rope_dim": 64})
    assert (s.attention.qk_nope_head_dim, s.attention.qk_rope_head_dim, s.attention.v_head_dim) == (192, 64, 256)


def test_unknown_model_suggests_near_names():
    with pytest.raises(SpecError, match="did you mean deepseek-v3"):
        load_spec("deepseek-v4")


def test_missing_file():
    with pytest.raises(SpecError, match="no such file"):
        load_spec("nowhere/model.yaml")


def test_malformed_yaml_names_the_line(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("name: m\nnum_layers: 2\nattention: {kind: mha\nffn: x\n")
    with pytest.raises(SpecError, match=r"malformed YAML at line \d+"):
        load_spec(str(f))


def test_malformed_json_names_the_line(tmp_path):
    f = tmp_path / "config.json"
    f.write_text('{\n  "model_type": "llama",\n  "hidden_size": 4096,,\n}')
    with pytest.raises(SpecError, match="malformed JSON at line 3"):
        load_spec(str(f))


def test_yaml_is_loaded_safely(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("!!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SpecError, match="malformed YAML"):
        load_spec(str(f))


def test_set_overrides_are_validated_like_a_file():
    s = load_spec("deepseek-v3", ["attention.kv_lora_rank=256", "num_layers=30"])
    assert s.attention.kv_lora_rank == 256 and s.num_layers == 30
    with pytest.raises(SpecError, match="attention.kv_lora_rank: must be at least 1"):
        load_spec("deepseek-v3", ["attention.kv_lora_rank=0"])
    with pytest.raises(SpecError, match="did you mean 'num_layers'"):
        load_spec("deepseek-v3", ["num_layer=3"])


def test_per_model_overrides_in_the_name():
    assert load_spec("deepseek-v2@dtypes.kv=6").dtypes.kv_bits == 6


def test_as_turns_mla_into_conventional_attention():
    # DeepSeek-V3 as MHA: 128 KV heads of (128 nope + 64 rope) keys and 128-dim values.
    mha = load_spec("deepseek-v3", as_attention="mha").attention
    assert (mha.kind, mha.num_kv_heads, mha.qk_head_dim, mha.v_head_dim, mha.kv_lora_rank) == ("mha", 128, 192, 128,
                                                                                              None)
    assert load_spec("deepseek-v3", as_attention="gqa:8").attention.num_kv_heads == 8
    assert load_spec("deepseek-v3", as_attention="mqa").attention.num_kv_heads == 1
    for bad_as in ("gqa", "gqa:x", "mla", "mha:4"):
        with pytest.raises(SpecError, match="--as"):
            load_spec("deepseek-v3", as_attention=bad_as)


def test_canonical_dict_round_trips():
    s = load_spec("deepseek-v3")
    assert spec_from_dict(spec_to_dict(s)) == s


def test_schema_lists_fields():
    sch = json_schema()
    assert "kv_lora_rank" in sch["properties"]["attention"]["properties"]
    assert sch["properties"]["attention"]["properties"]["kind"]["enum"] == ["mha", "mqa", "gqa", "mla", "dsa",
                                                                           "compressed", "msa"]
