"""``mlacalc schema`` (the JSON Schema of a spec file, for editors) against the loader: what the loader takes, the
schema takes, and for every linear-attention kind the fields the schema requires are those the loader cannot do
without. No JSON Schema package is installed; ``helpers.schema_errors`` checks the subset the generator writes
(``required`` and ``allOf`` of ``if``/``then`` among it).

The defect: a ``short_conv`` block (LFM2's) needs only ``num_v_heads`` (its family's ``normalise`` fills
``num_k_heads`` and the head dims: one channel a head), but the schema required all four of every linear kind, so an
editor flagged the block the HF reader writes, and any valid hand-written one."""

import json
from pathlib import Path

import pytest
import yaml

from mlacalc.errors import SpecError
from mlacalc.spec import LINEAR_KINDS, builtin_names, load_spec, raw_spec, spec_from_dict, spec_to_dict

from helpers import run, schema_errors

FIXTURES = Path(__file__).parent / "fixtures" / "hf"

# a block of each linear kind with as few fields as the loader takes, in a model of width 256 (short_conv's channels
# are the model width)
BLOCKS = {
    "gated_deltanet": {"kind": "gated_deltanet", "num_k_heads": 2, "num_v_heads": 4, "head_k_dim": 16,
                       "head_v_dim": 16},
    "kda": {"kind": "kda", "num_k_heads": 4, "num_v_heads": 4, "head_k_dim": 16, "head_v_dim": 16},
    "mamba2": {"kind": "mamba2", "num_k_heads": 2, "num_v_heads": 4, "head_k_dim": 32, "head_v_dim": 16},
    "mamba1": {"kind": "mamba1", "num_k_heads": 1, "num_v_heads": 512, "head_k_dim": 8, "head_v_dim": 1,
               "dt_rank": 16},
    "lightning": {"kind": "lightning", "num_k_heads": 4, "num_v_heads": 4, "head_k_dim": 32, "head_v_dim": 32},
    "short_conv": {"kind": "short_conv", "num_v_heads": 256},
}


def model(block: dict) -> dict:
    """A tiny hybrid spec file's mapping: a linear layer of ``block`` and a GQA layer."""
    return {"name": "tiny", "num_layers": 2, "hidden_size": 256, "vocab_size": 1000,
            "attention": {"kind": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 32},
            "ffn": {"kind": "dense", "intermediate_size": 512}, "layer_types": ["linear", "full"],
            "linear_attention": block}


def loads(raw: dict) -> bool:
    try:
        spec_from_dict(raw)
    except SpecError:
        return False
    return True


def shown(spec) -> dict:
    """The spec as ``specs show --json`` prints it (tuples as JSON arrays)."""
    return json.loads(json.dumps(spec_to_dict(spec)))


@pytest.fixture(scope="module")
def schema() -> dict:
    from mlacalc.spec import json_schema

    return json_schema()


def test_the_blocks_cover_every_linear_kind():
    assert sorted(BLOCKS) == sorted(LINEAR_KINDS)


def test_a_short_conv_block_without_the_fields_its_family_fills_satisfies_the_schema(capsys, tmp_path):
    # LFM2-350M's block as a spec file gives it: 1024 channels, a width-3 convolution, nothing else
    raw = model({"kind": "short_conv", "num_v_heads": 256, "conv_kernel_size": 3})
    path = tmp_path / "lfm2-like.yaml"
    path.write_text(yaml.safe_dump(raw))
    b = load_spec(str(path)).linear_attention
    assert (b.num_k_heads, b.head_k_dim, b.head_v_dim) == (256, 1, 1)          # filled in by the loader
    code, out, _, _ = run(capsys, "schema")
    sch = json.loads(out)
    # was: [".linear_attention.num_k_heads: is required", ".linear_attention.head_k_dim: is required", ...]
    assert code == 0 and schema_errors(raw, sch) == []
    # and the block the HF reader writes for LFM2 (num_v_heads, the kernel and the biases)
    reader = raw_spec(str(FIXTURES / "lfm2_350m"))
    assert "num_k_heads" not in reader["linear_attention"] and schema_errors(reader, sch) == []


@pytest.mark.parametrize("kind", sorted(BLOCKS))
def test_the_schema_takes_a_block_exactly_when_the_loader_does(schema, kind):
    """Each field of each kind's smallest block, left out or null: the loader takes the file exactly when the schema
    does (kind, heads and head dims left out: the loader refuses them unless the kind fills them; mamba1 without
    dt_rank: refused)."""
    full = model(BLOCKS[kind])
    assert loads(full) and schema_errors(full, schema) == []
    for field in BLOCKS[kind]:
        for block in ({k: v for k, v in BLOCKS[kind].items() if k != field}, BLOCKS[kind] | {field: None}):
            raw = model(block)
            assert loads(raw) == (schema_errors(raw, schema) == []), (kind, block, schema_errors(raw, schema))


def test_what_the_loader_refuses_the_schema_flags(schema):
    # the validator is no rubber stamp: a short_conv block without its channels, a mamba1 block without dt_rank
    assert schema_errors(model({"kind": "short_conv"}), schema) == [".linear_attention.num_v_heads: is required"]
    no_rank = {k: v for k, v in BLOCKS["mamba1"].items() if k != "dt_rank"}
    assert schema_errors(model(no_rank), schema) == [".linear_attention.dt_rank: is required"]
    assert schema_errors(model(BLOCKS["mamba1"] | {"dt_rank": None}), schema) != []
    assert schema_errors(model(BLOCKS["mamba2"] | {"kind": "mamba3"}), schema) != []


def test_every_builtin_and_fixture_spec_satisfies_the_schema(schema):
    """Every built-in spec as its YAML file holds it and as ``specs show`` prints it, and every HF fixture as the
    reader writes it and as it loads."""
    specs = {}
    for name in builtin_names():
        specs[name] = raw_spec(name)
        specs[f"{name} (shown)"] = shown(load_spec(name))
    for folder in sorted(p for p in FIXTURES.iterdir() if (p / "config.json").is_file()):
        specs[folder.name] = raw_spec(str(folder))
        specs[f"{folder.name} (shown)"] = shown(load_spec(str(folder)))
    errors = [e for name, raw in specs.items() for e in schema_errors(raw, schema, name)]
    assert len(specs) > 250 and errors == [], errors[:5]
