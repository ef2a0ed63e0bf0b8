"""Bad inputs found by an outside fuzz of every command that used to hang, crash or pass silently. Each is now
refused where it enters with one line on stderr and exit code 2, and quickly (a hang is a failure too)."""

import time

import pytest
import yaml

from mlacalc.cli import main
from mlacalc.errors import SpecError
from mlacalc.files import parse_text

LLAMA = open(__file__.rsplit("/", 1)[0] + "/../model_specs/llama-3.1-8b.yaml", encoding="utf-8").read()


def run(capsys, *args):
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return e.value.code, out, err, time.perf_counter() - t0


def refused(capsys, *args, words: str, seconds: float = 5.0) -> None:
    code, out, err, dt = run(capsys, *args)
    assert code == 2 and out == "", (code, out[:200], err)
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err, err
    assert dt < seconds, f"took {dt:.1f} s"


def _spec_file(tmp_path, **changes) -> str:
    d = yaml.safe_load(LLAMA)
    d.update(changes)
    f = tmp_path / "spec.yaml"
    f.write_text(yaml.safe_dump(d), encoding="utf-8")
    return str(f)


# --- spec sizes the formulas loop over: num_layers = 2**40 ran for hours in every command --------------------------

@pytest.mark.parametrize("cmd", ["kv", "weights", "roofline", "fit", "train", "specs show", "specs validate"])
def test_absurd_layer_count_in_a_file_is_refused_fast(capsys, tmp_path, cmd):
    path = _spec_file(tmp_path, num_layers=2**40)
    if cmd == "specs validate":
        code, out, _, dt = run(capsys, "specs", "validate", path)
        assert code == 2 and "num_layers: must be at most 10,000" in out and dt < 5
        return
    refused(capsys, *cmd.split(), path, words="num_layers: must be at most 10,000, got 1,099,511,627,776")


@pytest.mark.parametrize("setting,words", [
    ("num_layers=1099511627776", "num_layers: must be at most 10,000"),
    ("attention.num_heads=999999999999999999", "attention.num_heads: must be at most 65,536"),
    ("attention.num_kv_heads=100000", "attention.num_kv_heads: must be at most 65,536"),
    ("mtp_layers=1099511627776", "mtp_layers: must be at most 10,000"),                 # train hung
])
def test_absurd_sizes_through_set_are_refused_fast(capsys, setting, words):
    for cmd in ("kv", "roofline", "sweep", "train"):
        refused(capsys, cmd, "llama-3.1-8b", "--set", setting, words=words)


def test_schema_states_the_maxima(capsys):
    import json

    code, out, _, _ = run(capsys, "schema")
    s = json.loads(out)
    assert code == 0 and s["properties"]["num_layers"]["maximum"] == 10_000
    assert s["properties"]["attention"]["properties"]["num_heads"]["maximum"] == 65_536


# --- --set values are read like a spec file's: alias bombs, huge numbers, NaN, dates ---------------------------------

BOMB = "[&a [1,1,1,1,1,1,1,1,1], " + ", ".join(
    f"&{b} [" + ",".join([f"*{a}"] * 9) + "]" for a, b in zip("abcdefgh", "bcdefghi")) + "]"


@pytest.mark.parametrize("setting,words", [
    ("num_layers=" + BOMB, "--set num_layers: too large once YAML aliases are expanded"),   # hung, ate memory
    ("name=" + BOMB, "--set name: too large once YAML aliases are expanded"),
    ("num_layers=10000000000000000000000000000000", "--set num_layers: number too large"),  # hung
    ("num_layers=2024-01-01", "--set num_layers: unsupported YAML value of type date"),
    ("num_layers=" + "[" * 100 + "]" * 100, "--set num_layers: nested too deeply"),
    ("dtypes.kv=.nan", "--set dtypes.kv: must be a finite number"),
])
def test_set_values_get_the_file_checks(capsys, setting, words):
    refused(capsys, "kv", "llama-3.1-8b", "--set", setting, words=words)


@pytest.mark.parametrize("setting", ["=3", "..=1", "attention..x=1", " =1"])
def test_set_without_a_field_name_names_the_flag(capsys, setting):
    refused(capsys, "kv", "llama-3.1-8b", "--set", setting, words="--set: expected key=value with a field name")


def test_set_still_takes_a_bare_word_that_is_not_yaml(capsys):
    code, out, _, _ = run(capsys, "specs", "show", "llama-3.1-8b", "--set", "description=a: b: c", "--json")
    assert code == 0 and '"description": "a: b: c"' in out


# --- decode steps too large to price: --batch 2**50 and --q-tokens 2**31 ran for days --------------------------------

@pytest.mark.parametrize("args,words", [
    (("roofline", "llama-3.1-8b", "--batch", "1125899906842624"), "--batch: 1,125,899,906,842,624 sequences"),
    (("roofline", "llama-3.1-8b", "--q-tokens", "2147483648"), "--q-tokens: 1 sequences x 2,147,483,648"),
    (("fit", "deepseek-v2-lite", "--q-tokens", "2147483648"), "--q-tokens:"),
    (("sweep", "llama-3.1-8b", "--batch", "1125899906842624"), "--batch:"),
    (("sweep", "deepseek-v2-lite", "--q-tokens", "99999999999999999999999999"), "--q-tokens:"),
])
def test_decode_steps_too_large_to_price_are_refused(capsys, args, words):
    refused(capsys, *args, words=words)
    _, _, err, _ = run(capsys, *args)
    assert "query rows in one decode step; at most 134,217,728" in err


def test_large_but_priceable_batch_still_answers(capsys):
    code, out, _, dt = run(capsys, "roofline", "llama-3.1-8b", "--batch", "1048576", "--json")
    assert code == 0 and '"batch": 1048576' in out and dt < 5


# --- bits per element below 1: fit --kv-bits 1e-300 raised OverflowError (a batch too large for a float) -------------

@pytest.mark.parametrize("args", [
    ("fit", "llama-3.1-8b", "--kv-bits", "1e-300"),
    ("fit", "llama-3.1-8b", "--kv-dtype", "1e-300"),
    ("kv", "llama-3.1-8b", "--kv-bits", "0.5"),
    ("roofline", "llama-3.1-8b", "--weight-dtype", "0.001"),
    ("kv", "llama-3.1-8b", "--set", "dtypes.kv=1e-300"),
])
def test_fewer_than_one_bit_per_element_is_refused(capsys, args):
    refused(capsys, *args, words="bits per element must be in [1, 64]")


# --- sweep grids too large to run --------------------------------------------------------------------------------

def test_absurd_sweep_grid_is_refused_before_running(capsys):
    many = ",".join(str(i) for i in range(1, 400))
    refused(capsys, "sweep", "llama-3.1-8b", "--context", many, "--batch", many,
            words="sweep: 1 variant(s) x 1 GPU kind(s) x 2 GPU count(s) x 399 context(s) x 399 batch(es) = "
                  "318,402 configurations; at most 20,000", seconds=3)


@pytest.mark.parametrize("flag,value,words", [
    ("--context", ",".join(["1"] * 5000), "--context: lists '1' twice"),    # 40,000 rows of the same context
    ("--gpu", "h200,h200", "--gpu: lists 'h200' twice"),
    ("--context", ",", "--context: needs at least one value"),              # was "----context: ..."
])
def test_sweep_lists_name_their_flag_once(capsys, flag, value, words):
    refused(capsys, "sweep", "llama-3.1-8b", flag, value, words=words)


# --- an empty --as was silently ignored -------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [("kv", "llama-3.1-8b", "--as", ""), ("kv", "llama-3.1-8b@as="),
                                  ("fit", "deepseek-v3", "--as", ""), ("compare", "llama-3.1-8b", "mistral-7b@as=")])
def test_empty_as_is_refused(capsys, args):
    refused(capsys, *args, words="--as: expected mha, mqa or gqa:N, got ''")


# --- duplicate keys: YAML and JSON kept the last one silently ---------------------------------------------------------

def test_duplicate_key_in_a_spec_file_is_refused(capsys, tmp_path):
    f = tmp_path / "dup.yaml"
    f.write_text(LLAMA + "\nnum_layers: 3\n", encoding="utf-8")
    refused(capsys, "kv", str(f), words="key 'num_layers' given twice in one mapping (line")


def test_duplicate_key_in_a_config_json_is_refused(capsys, tmp_path):
    f = tmp_path / "config.json"
    f.write_text('{"model_type": "llama", "num_hidden_layers": 2, "num_hidden_layers": 80}', encoding="utf-8")
    refused(capsys, "kv", str(f), words="key 'num_hidden_layers' given twice in one object")


def test_duplicate_key_in_a_hardware_file_is_refused(capsys, tmp_path):
    f = tmp_path / "gpu.yaml"
    f.write_text("name: x\nmem_bandwidth_gb_s: 3000\nmem_bandwidth_gb_s: -1\n", encoding="utf-8")
    refused(capsys, "roofline", "llama-3.1-8b", "--gpu", str(f), words="'mem_bandwidth_gb_s' given twice")


def test_repeated_values_and_keys_in_separate_mappings_are_fine():
    d = parse_text("a: [x, x]\nb: {x: [x, x], y: x}\nc: {x: 1}\nd: &n {k: 1}\ne: *n\nf: {k: 2}\n", "t")
    assert d["b"] == {"x": ["x", "x"], "y": "x"} and d["e"] == {"k": 1}
    with pytest.raises(SpecError, match="given twice"):
        parse_text("a: {b: 1, c: {b: 2, b: 3}}\n", "t")


# --- an empty MODEL read the working folder (Path("") is "."): "error: folder holds no config.json", naming nothing --

@pytest.mark.parametrize("model", ["", "  "])
def test_empty_model_name_is_refused_by_name(capsys, tmp_path, monkeypatch, model):
    (tmp_path / "config.json").write_text(open(__file__.rsplit("/", 1)[0] + "/fixtures/hf/llama/config.json").read())
    monkeypatch.chdir(tmp_path)                      # a config.json here must not be read for an empty name
    refused(capsys, "kv", model, words="MODEL: is empty")
