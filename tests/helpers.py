"""Small spec builders and compile helpers shared by tests (a test reads like a worked example around them)."""

import json
import time
from pathlib import Path

import pytest
from hypothesis import strategies as st

from mlacalc.spec import load_spec, spec_from_dict


def make_spec(attention: dict, *, layers: int = 2, hidden: int = 256, vocab: int = 1000, ffn: dict | None = None,
              **extra):
    """A tiny model around the given attention block; dense gated FFN of 512 unless ``ffn`` is given."""
    return spec_from_dict({"name": "tiny", "num_layers": layers, "hidden_size": hidden, "vocab_size": vocab,
                           "attention": attention, "ffn": ffn or {"kind": "dense", "intermediate_size": 512},
                           **extra})


# linear-layer blocks of the two state-space kinds whose sizes the property tests draw (tests/test_mamba2.py,
# tests/test_lightning.py): Mamba-2 (value heads a multiple of its B/C groups) and lightning (square per-head states)
mamba_blocks = st.fixed_dictionaries({
    "kind": st.just("mamba2"), "num_k_heads": st.sampled_from([1, 2, 4, 8]), "head_k_dim": st.integers(1, 256),
    "head_v_dim": st.integers(1, 128), "conv_kernel_size": st.integers(1, 8)}).flatmap(
    lambda b: st.integers(1, 16).map(lambda g: b | {"num_v_heads": b["num_k_heads"] * g}))
lightning_blocks = st.fixed_dictionaries({
    "kind": st.just("lightning"), "head_k_dim": st.integers(1, 256),
    "chunk_size": st.one_of(st.none(), st.integers(1, 1024))}).flatmap(
    lambda b: st.sampled_from([1, 2, 4, 8, 64]).map(
        lambda h: b | {"num_k_heads": h, "num_v_heads": h, "head_v_dim": b["head_k_dim"]}))


def sm90_registers(kernel) -> int | None:
    """Registers a thread of a Triton CompiledKernel takes (cuobjdump -res-usage, the one Triton ships); None when
    this Triton build has no cuobjdump."""
    import os
    import re
    import subprocess
    import tempfile

    import triton

    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    if not os.path.exists(tool):
        return None
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "k.cubin")
        with open(path, "wb") as f:
            f.write(kernel.asm["cubin"])
        out = subprocess.run([tool, "-res-usage", path], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"REG:(\d+)", out).group(1))


def run(capsys, *args):
    """(exit code, stdout, stderr, seconds) of one CLI call."""
    from mlacalc.cli import main

    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return e.value.code, out, err, time.perf_counter() - t0


def refused(capsys, *args, words: str, seconds: float = 5.0) -> None:
    """The CLI call ends with exit code 2, nothing on stdout and one line on stderr holding ``words``, quickly."""
    code, out, err, dt = run(capsys, *args)
    assert code == 2 and out == "", (code, out[:200], err)
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err, err
    assert dt < seconds, f"took {dt:.1f} s"


def schema_errors(value, schema: dict, path: str = "") -> list[str]:
    """What of ``value`` the JSON Schema subset ``mlacalc schema`` uses refuses: type, enum, const, items, minItems,
    maxItems, minimum, maximum, properties, additionalProperties, required, and allOf of if/then (a linear block's per-kind
    requirements). No validator package is installed; tests check that this one refuses what it should."""
    kinds = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool,
             "null": type(None)}
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        ok = any(isinstance(value, kinds[t]) and not (t in ("integer", "number") and isinstance(value, bool))
                 for t in types)
        if not ok:
            return [f"{path}: {value!r} is not {types}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} not in {schema['enum']}"]
    if "const" in schema and value != schema["const"]:
        return [f"{path}: {value!r} is not {schema['const']!r}"]
    out = []
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            out.append(f"{path}: fewer than {schema['minItems']} items")
        if len(value) > schema.get("maxItems", len(value)):
            out.append(f"{path}: more than {schema['maxItems']} items")
        for i, v in enumerate(value):
            out += schema_errors(v, schema.get("items", {}), f"{path}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"{path}.{k}: is required" for k in schema.get("required", []) if k not in value]
        for k, v in value.items():
            if k not in props:
                if schema.get("additionalProperties") is False:
                    out.append(f"{path}.{k}: not allowed")
                continue
            out += schema_errors(v, props[k], f"{path}.{k}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"] or "maximum" in schema and value > schema["maximum"]:
            out.append(f"{path}: {value} out of range")
    for sub in schema.get("allOf", []):
        if "if" in sub:            # then applies where if holds (else, absent here, would where it does not)
            if not schema_errors(value, sub["if"], path):
                out += schema_errors(value, sub.get("then", {}), path)
        else:
            out += schema_errors(value, sub, path)
    return out


def bench_module(name: str):
    """A lab script of bench/ imported as a module (bench/ is no package: its scripts import each other by name, so it
    goes on sys.path; @dataclass looks its module up in sys.modules)."""
    import importlib.util
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parent.parent / "bench"
    if str(bench) not in sys.path:
        sys.path.insert(0, str(bench))
    spec = importlib.util.spec_from_file_location(name, bench / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


HF_FIXTURES = Path(__file__).parent / "fixtures" / "hf"


def hf_fixture(name: str):
    """The spec read from the config.json of fixture folder ``name`` (tests/fixtures/hf)."""
    return load_spec(str(HF_FIXTURES / name))


def fixture_config(name: str) -> dict:
    """The raw config.json of fixture folder ``name``."""
    return json.loads((HF_FIXTURES / name / "config.json").read_text())


def write_config(tmp_path, cfg: dict) -> str:
    """``cfg`` written as tmp_path/config.json; its path."""
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return str(tmp_path / "config.json")


def fixture_variant(tmp_path, name: str, **changes) -> str:
    """Fixture ``name``'s config.json with ``changes`` (a value of ``...`` removes the key), written under
    ``tmp_path``; the folder's path (what ``load_spec`` and the CLI take)."""
    c = fixture_config(name)
    for k, v in changes.items():
        if v is ...:
            c.pop(k, None)
        else:
            c[k] = v
    write_config(tmp_path, c)
    return str(tmp_path)


def assert_one_line_usage_error(capsys, monkeypatch, script: str, argv: list, words: str) -> None:
    """bench/<script>.py run with ``argv`` exits 2 with one line on stderr that contains ``words``."""
    import pytest

    mod = bench_module(script)
    monkeypatch.setattr("sys.argv", [f"{script}.py", *argv])
    with pytest.raises(SystemExit) as e:
        mod.main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and words in err, err
