"""Bad inputs found by an outside fuzz of every command that used to hang, crash or pass silently. Each is now
refused where it enters with one line on stderr and exit code 2, and quickly (a hang is a failure too)."""

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from mlacalc.cli import main
from mlacalc.errors import SpecError
from mlacalc.files import parse_text

from helpers import refused, run, schema_errors

LLAMA = open(__file__.rsplit("/", 1)[0] + "/../model_specs/llama-3.1-8b.yaml", encoding="utf-8").read()


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
    # widths priced whatever their size (hidden 2^63: a 1.7e19-byte cache, an outside review): 2^24 at most
    ("hidden_size=9223372036854775807", "hidden_size: must be at most 16,777,216"),
    ("vocab_size=100000000000000000", "vocab_size: must be at most 16,777,216"),
    ("ffn.intermediate_size=16777217", "ffn.intermediate_size: must be at most 16,777,216"),
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
    assert s["properties"]["hidden_size"]["maximum"] == s["properties"]["vocab_size"]["maximum"] == 2**24


# --- --set values are read like a spec file's: alias bombs, huge numbers, NaN, dates ---------------------------------

BOMB = "[&a [1,1,1,1,1,1,1,1,1], " + ", ".join(
    f"&{b} [" + ",".join([f"*{a}"] * 9) + "]" for a, b in zip("abcdefgh", "bcdefghi")) + "]"


@pytest.mark.parametrize("setting,words", [
    ("num_layers=" + BOMB, "--set num_layers: too many values (over 100,000, each YAML alias"),   # hung, ate memory
    ("name=" + BOMB, "--set name: too many values"),
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


# --- hostile-input audit 3: inputs that passed silently, named the wrong flag, or crashed ------------------------------

HF_LLAMA = __file__.rsplit("/", 1)[0] + "/fixtures/hf/llama/config.json"
VISION = __file__.rsplit("/", 1)[0] + "/fixtures/hf/llama_3_2_11b_vision"


@pytest.mark.parametrize("args,words", [
    # a 2**64-token block was taken: a 4k-token sequence then held 509,607,936 PiB
    (("kv", "deepseek-v2-lite", "--block-size", "18446744073709551616"), "--block-size: too large: at most"),
    (("fit", "deepseek-v2-lite", "--block-size", "18446744073709551616"), "--block-size: too large: at most"),
    # compare skipped --image-tokens for models without cross layers, so -1 passed; kv named the spec field
    (("compare", "deepseek-v2-lite", "llama-3.1-8b", "--image-tokens", "-1"), "--image-tokens: must be at least 0"),
    (("compare", "deepseek-v2-lite", "llama-3.1-8b", "--image-tokens", "5"),
     "--image-tokens: none of the models has cross-attention layers"),
    (("kv", VISION, "--image-tokens", "18446744073709551616"), "--image-tokens: too large"),
    (("kv", VISION, "--set", "image_tokens=1125899906842625"), "image_tokens: must be at most 1,125,899,906,842,624"),
    (("compare", "llama-3.1-8b"), "compare: needs two or more models"),        # the help says two or more
    # --state-dtype 0x10 was read as YAML hex (16 bits); errors named dtypes.state
    (("kv", "qwen3-next-80b-a3b", "--state-dtype", "0x10"), "--state-dtype: unknown dtype '0x10'"),
    (("kv", "qwen3-next-80b-a3b", "--state-dtype", "0.5"), "--state-dtype: bits per element must be in [1, 64]"),
    # the same field twice: the last one won silently
    (("kv", "llama-3.1-8b", "--set", "num_layers=2", "--set", "num_layers=3"), "--set: num_layers given twice"),
    (("kv", "llama-3.1-8b", "--set", "attention.num_kv_heads=8", "--set", " attention . num_kv_heads=4"),
     "--set: attention.num_kv_heads given twice"),
    (("compare", "llama-3.1-8b", "mistral-7b@as=mha,as=mqa"), "mistral-7b@: as given twice"),
    (("compare", "llama-3.1-8b", "mistral-7b@num_layers=2,num_layers=3"), "mistral-7b@: num_layers given twice"),
    # q tokens are a decode notion; prefill priced the prompt and dropped them
    (("roofline", "llama-3.1-8b", "--phase", "prefill", "--q-tokens", "4"), "--q-tokens: applies to decode only"),
    (("sweep", "llama-3.1-8b", "--phase", "prefill", "--q-tokens", "4"), "--q-tokens: applies to decode only"),
    # an empty list item was dropped
    (("sweep", "llama-3.1-8b", "--batch", "1,,64"), "--batch: an empty value in '1,,64'"),
    (("sweep", "llama-3.1-8b", "--context", "4k,"), "--context: an empty value in '4k,'"),
    # an empty kernel was the default; under megatron any word was eager
    (("train", "llama-3.1-8b", "--attention-kernel", ""), "--attention-kernel: must be one of fused, eager, got ''"),
    (("train", "llama-3.1-8b", "--convention", "megatron", "--attention-kernel", "x"),
     "--attention-kernel: must be one of fused, eager, got 'x'"),
    # a path that exists but is no file: "no such file"; --gpu "" and a folder: "unknown GPU"
    (("kv", "/dev/null"), "/dev/null: not a regular file or a folder"),
    (("roofline", "llama-3.1-8b", "--gpu", ""), "--gpu: is empty"),
    (("roofline", "llama-3.1-8b", "--gpu", "/"), "--gpu /: is a folder"),
])
def test_audit3_cli_inputs_are_refused_by_flag(capsys, args, words):
    refused(capsys, *args, words=words)


@pytest.mark.parametrize("args", [
    ("compare", "deepseek-67b", "deepseek-v3", "--context", "999999999999", "--kv-dtype", "0"),
    ("roofline", "deepseek-v3", "--context", "999999999999", "--kv-dtype", "0"),
    ("fit", "deepseek-v3", "--context", "999999999999", "--gpu-mem-util", "2"),
])
def test_a_context_warning_does_not_precede_an_error(capsys, args):
    """The max_position_embeddings warning was printed before the values were checked: two lines on stderr, a
    warning and then the error (found by the CLI fuzz in random mode)."""
    refused(capsys, *args, words="must be")


def _compare_kv(capsys, model: str, *flags: str) -> list[list[float]]:
    """KV bytes a sequence of Llama-3.1-8B and ``model`` from ``compare --json``, without and with ``flags``."""
    import json

    seqs = []
    for extra in ([], list(flags)):
        code, out, _, _ = run(capsys, "compare", "llama-3.1-8b", model, "--json", *extra)
        assert code == 0
        seqs.append([m["kv_bytes_per_sequence"] for m in json.loads(out)["models"]])
    return seqs


def test_compare_image_tokens_still_reach_the_cross_model(capsys):
    seq = _compare_kv(capsys, VISION, "--image-tokens", "1601")
    assert seq[0][0] == seq[1][0] and seq[1][1] > seq[0][1]


def _config(tmp_path, **changes) -> str:
    import json

    d = json.load(open(HF_LLAMA))
    d.update(changes)
    f = tmp_path / "config.json"
    f.write_text(json.dumps(d), encoding="utf-8")
    return str(f)


@pytest.mark.parametrize("changes,words", [
    # "no" is truthy: the head was tied and the parameter count silently wrong
    ({"tie_word_embeddings": "no"}, "tie_word_embeddings must be true or false, got 'no'"),
    ({"attention_bias": "true"}, "attention_bias must be true or false, got 'true'"),
    # an unknown torch_dtype was served as bf16 without a word
    ({"torch_dtype": "float77"}, "torch_dtype 'float77' is not a dtype this tool reads"),
    ({"torch_dtype": 7}, "torch_dtype 7 is not a dtype this tool reads"),
    # model_type 7 was read as the unknown family "7"
    ({"model_type": 7}, "model_type must be a string, got 7"),
])
def test_audit3_config_json_values_of_the_wrong_type(capsys, tmp_path, changes, words):
    refused(capsys, "kv", _config(tmp_path, **changes), words=words)


def test_unknown_model_type_says_how_it_was_read(capsys, tmp_path):
    code, out, _, _ = run(capsys, "specs", "show", _config(tmp_path, model_type="frobnicator"), "--json")
    assert code == 0 and "model_type frobnicator is not one this tool knows; read as a Llama-shaped" in out


@pytest.fixture
def no_cuda(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("args,words", [
    # written after minutes of measuring: now refused before any GPU work
    (("calibrate", "--out", "{tmp}"), "--out: {tmp} is a folder; give a file name"),
    (("calibrate", "--out", "{tmp}/no/such/x.yaml"), "--out: {tmp}/no/such/x.yaml: folder {tmp}/no/such does not exist"),
    (("calibrate", "--out", ""), "--out: is empty"),
    (("bench", "kernels", "--out", "~nosuchuser0/x.json"), "--out: ~nosuchuser0/x.json: folder ~nosuchuser0 does not"),
    (("calibrate", "--out", "{tmp}/c.yaml", "--base", "nope"), "--base: nope: unknown GPU"),
    (("bench", "kernels", "--out", "{tmp}"), "--out: {tmp} is a folder"),
    (("validate", "--out", "{tmp}/file.txt"), "--out: {tmp}/file.txt is a file; give a folder"),
    (("profile", "llama-3.1-8b", "--trace", "{tmp}/no/x.json"), "--trace: {tmp}/no/x.json: folder {tmp}/no does not"),
    # no GPU: the line named --gpu, a flag calibrate and bench do not have
    (("calibrate", "--out", "{tmp}/c.yaml"), "calibrate: no CUDA GPU is visible"),
    (("bench", "kernels", "--out", "{tmp}/b.json"), "bench kernels: no CUDA GPU is visible"),
    (("validate", "--out", "{tmp}/v"), "validate: no CUDA GPU is visible"),
    (("profile", "llama-3.1-8b"), "profile: no CUDA GPU is visible"),
])
def test_gpu_commands_check_outputs_first_and_name_themselves(capsys, tmp_path, no_cuda, args, words):
    (tmp_path / "file.txt").write_text("x")
    t = str(tmp_path)
    refused(capsys, *[a.replace("{tmp}", t) for a in args], words=words.replace("{tmp}", t))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]      # nothing written


# --- the Python API: bad values raise the project's error (SpecError / ArgError), never TypeError or OverflowError --

def _api_cases():
    import mlacalc

    spec = "llama-3.1-8b"
    return [
        (lambda: mlacalc.load_spec(None), "model: expected a built-in name or a path"),         # TypeError
        (lambda: mlacalc.load_spec(4), "model: expected a built-in name or a path"),
        (lambda: mlacalc.kv_cache({"name": "x"}), "model: expected a built-in name or a path"),  # AttributeError
        (lambda: mlacalc.load_spec(spec, "num_layers=2"), "overrides: expected a list of 'field=value' strings"),
        (lambda: mlacalc.load_spec(spec, [1]), "overrides: expected a list"),
        (lambda: mlacalc.load_spec(spec, None, 5), "as_attention: expected mha, mqa or gqa:N"),
        (lambda: mlacalc.load_spec(spec, ["num_layers=2", "num_layers=3"]), "--set: num_layers given twice"),
        (lambda: mlacalc.load_hardware(None), "gpu: expected a built-in GPU name"),             # TypeError
        (lambda: mlacalc.roofline(spec, gpu={"name": "x"}), "gpu: expected a built-in GPU name"),
        (lambda: mlacalc.train_memory(spec, precision=["mixed"]), "precision: must be one of"),  # unhashable
        (lambda: mlacalc.train_memory(spec, kernel=""), "kernel: must be one of fused, eager"),  # taken as default
        (lambda: mlacalc.train_memory(spec, zero=True), "zero: must be 0, 1, 2 or 3, got True"),  # taken as 1
        (lambda: mlacalc.kv_cache(spec, context=10**400), "context: too large"),                 # OverflowError
        (lambda: mlacalc.kv_cache(spec, block_size=10**400), "block_size: too large"),           # OverflowError
        (lambda: mlacalc.kv_cache(spec, block_size=2**64), "block_size: too large"),             # absurd PiB
        (lambda: mlacalc.fit(spec, workspace_tokens=10**400), "workspace_tokens: too large"),    # OverflowError
        (lambda: mlacalc.fit(spec, workspace_bytes=1e30), "workspace_bytes: must be at most"),
        (lambda: mlacalc.train_memory(spec, micro_batch=10**400), "micro_batch: too large"),     # OverflowError
        (lambda: mlacalc.Parallelism(tp=10**5000), "tp: must be a whole number"),                # ValueError (repr)
        (lambda: mlacalc.fit(spec, gpu_mem_util=10**5000), "gpu_mem_util: number too large"),    # ValueError (str)
        (lambda: mlacalc.roofline(spec, phase="prefill", q_tokens=2), "q_tokens: applies to decode only"),
        # audit round 3: a ModelSpec or Hardware built or changed in Python bypassed every check
        (lambda: mlacalc.kv_cache(_changed(spec, num_layers=2**40)), "num_layers: must be at most 10,000"),  # hung
        (lambda: mlacalc.kv_cache(_changed(spec, num_layers="32")), "num_layers: expected a whole number"),  # TypeError
        (lambda: mlacalc.kv_cache(_changed(spec, attention={"num_kv_heads": 0})),                   # 0 bytes of KV
         "attention.num_kv_heads: must be at least 1, got 0"),
        (lambda: mlacalc.weights(_changed(spec, layer_types=("bogus",))), "layer_types[0]: must be one of"),
        (lambda: mlacalc.roofline(spec, gpu=_changed_gpu(mem_bandwidth_gb_s=0)),                     # ZeroDivisionError
         "gpu: mem_bandwidth_gb_s: must be a positive number, got 0"),
        (lambda: mlacalc.fit(spec, gpu=_changed_gpu(memory_bytes=float("nan"))),                     # ValueError
         "gpu: memory_bytes: must be a finite number"),
        (lambda: mlacalc.roofline(spec, gpu=_changed_gpu(kernels=(("gqa", None),))),                 # AttributeError
         "gpu: holds a value a spec cannot"),
    ]


def _changed(name: str, **changes):
    """A spec changed in Python, as dataclasses.replace does it (no checks run)."""
    import dataclasses

    import mlacalc

    s = mlacalc.load_spec(name)
    if isinstance(changes.get("attention"), dict):
        changes["attention"] = dataclasses.replace(s.attention, **changes["attention"])
    return dataclasses.replace(s, **changes)


def _changed_gpu(**changes):
    import dataclasses

    import mlacalc

    return dataclasses.replace(mlacalc.load_hardware("h200"), **changes)


@pytest.mark.parametrize("i", range(len(_api_cases())))
def test_api_bad_values_raise_spec_error(i):
    call, words = _api_cases()[i]
    with pytest.raises(SpecError) as e:
        call()
    assert words in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_api_takes_a_path_object():
    import pathlib

    import mlacalc

    f = pathlib.Path(__file__).parent.parent / "model_specs" / "llama-3.1-8b.yaml"
    assert mlacalc.load_spec(f).num_layers == 32


@pytest.mark.parametrize("args,words", [
    # num_kv_heads is read nowhere for MLA: --set attention.num_kv_heads=4 changed no number
    (("kv", "deepseek-v2-lite", "--set", "attention.num_kv_heads=4"), "attention.num_kv_heads: does not apply to mla"),
    (("kv", "llama-3.1-8b", "--set", "attention.num_kv_heads=64"),
     "attention.num_kv_heads: (64) exceeds num_heads (32)"),      # was "num_heads (32) must be divisible by (64)"
])
def test_audit3_spec_fields_that_were_ignored_or_misexplained(capsys, args, words):
    refused(capsys, *args, words=words)


@pytest.mark.parametrize("changes,words", [
    ({"memory_bytes": 10}, "memory_bytes: give memory_gib or memory_bytes, not both"),   # memory_gib won silently
    ({"name": " "}, "name: may not be empty"),                                        # reports named the GPU ''
])
def test_audit3_hardware_file_contradictions(capsys, tmp_path, changes, words):
    d = yaml.safe_load(open(__file__.rsplit("/", 1)[0] + "/../model_specs/hardware/h100-sxm.yaml"))
    d.update(changes)
    f = tmp_path / "gpu.yaml"
    f.write_text(yaml.safe_dump(d), encoding="utf-8")
    refused(capsys, "roofline", "llama-3.1-8b", "--gpu", str(f), words=words)


# --- audit round 2: hardware files' kernel coefficients, HF configs, counts, GPU flags, output paths ------------------

def _gpu_file(tmp_path, **changes) -> str:
    d = yaml.safe_load(open(__file__.rsplit("/", 1)[0] + "/../model_specs/hardware/h200.yaml"))
    d.update(changes)
    f = tmp_path / "gpu.yaml"
    f.write_text(yaml.safe_dump(d), encoding="utf-8")
    return str(f)


@pytest.mark.parametrize("backend,coef,model", [
    # every expected time divides by these: 0 was a ZeroDivisionError traceback
    ("gqa", "bandwidth_eff", "llama-3.1-8b"),
    ("gqa", "mma_eff", "llama-3.1-8b"),
    ("gemm", "mma_eff", "llama-3.1-8b"),
    ("other", "bandwidth_eff", "deepseek-v3"),
    ("auto", "mma_eff", "minicpm3-4b"),
])
def test_hardware_kernel_coefficient_every_time_divides_by_may_not_be_0(capsys, tmp_path, backend, coef, model):
    path = _gpu_file(tmp_path, kernels={backend: {coef: 0}})
    refused(capsys, "roofline", model, "--gpu", path, "--json",
            words=f"kernels.{backend}.{coef}: must be a positive fraction, got 0")


def test_hardware_kernel_coefficients_that_may_be_0_still_load(capsys, tmp_path):
    path = _gpu_file(tmp_path, kernels={"auto": {"triton_mma_eff": 0, "small_tile_mma_eff": 0,
                                                  "sm_bandwidth_gb_s": 0}})
    code, out, _, _ = run(capsys, "roofline", "minicpm3-4b", "--gpu", path, "--json")
    assert code == 0 and out.startswith("{")


def test_hardware_whole_coefficient_below_1_names_its_real_minimum(capsys, tmp_path):
    # -5 was "must be at least 0", and 0 then "must be a whole number of at least 1"
    path = _gpu_file(tmp_path, kernels={"gqa": {"min_split_tokens": -5}})
    refused(capsys, "roofline", "llama-3.1-8b", "--gpu", path,
            words="kernels.gqa.min_split_tokens: must be a whole number of at least 1, got -5")


def test_hardware_split_count_the_planner_loops_over_is_bounded(capsys, tmp_path):
    # max_splits 10**9 with min_split_tokens 1: a 256M-token decode step was priced for minutes
    path = _gpu_file(tmp_path, kernels={"gqa": {"max_splits": 10**9, "min_split_tokens": 1}})
    refused(capsys, "roofline", "llama-3.1-8b", "--gpu", path, "-c", "256M",
            words="kernels.gqa.max_splits: must be at most 1024")
    ok = _gpu_file(tmp_path, kernels={"gqa": {"max_splits": 1024, "min_split_tokens": 1}})
    code, _, _, dt = run(capsys, "roofline", "llama-3.1-8b", "--gpu", ok, "-c", "256M", "--json")
    assert code == 0 and dt < 5


def _hf(tmp_path, fixture="llama", inner=False, **changes) -> str:
    import json

    d = json.load(open(__file__.rsplit("/", 1)[0] + f"/fixtures/hf/{fixture}/config.json"))
    (d["text_config"] if inner else d).update(changes)
    for k, v in list(changes.items()):
        if v is _DROP:
            del (d["text_config"] if inner else d)[k]
    f = tmp_path / "config.json"
    f.write_text(json.dumps(d), encoding="utf-8")
    return str(f)


_DROP = object()


@pytest.mark.parametrize("fixture,changes", [
    ("llama", {"num_hidden_layers": 2**63}),        # OverflowError: cannot fit 'int' into an index-sized integer
    ("llama", {"num_hidden_layers": 10**9}),        # a list of 10**9 layer types: 36 s and 8 GB
    ("llama", {"num_hidden_layers": 10**18}),       # MemoryError, reported as "out of memory"
    ("gpt2", {"n_layer": 10**9}),
    # EXAONE-4's letters were spread over every layer before any check: minutes
    ("exaone_4_0_32b", {"num_hidden_layers": 10**9, "sliding_window_pattern": "LLLG", "layer_types": _DROP}),
])
def test_hf_layer_count_is_bounded_before_the_layers_are_listed(capsys, tmp_path, fixture, changes):
    refused(capsys, "kv", _hf(tmp_path, fixture, **changes), words="must be at most 10,000, got", seconds=3)


def test_hf_config_misshapen_values_are_named(capsys, tmp_path):
    # rope_parameters as a string: Qwen3.5's partial factor (0.25) was skipped and the whole head read as rotary
    refused(capsys, "kv", _hf(tmp_path, "qwen3_5_4b", inner=True, rope_parameters="x"),
            words="rope_parameters must be a mapping, got 'x'")
    refused(capsys, "kv", _hf(tmp_path, rope_parameters=[0.25]), words="rope_parameters must be a mapping")
    # a text_config's model_type 5 was read as the family "5" and refused for a key it lacked
    refused(capsys, "kv", _hf(tmp_path, "qwen3_5_4b", inner=True, model_type=5),
            words="text_config.model_type must be a string, got 5")


@pytest.mark.parametrize("args,words", [
    # "--1" passed the lstrip("+-") digit test and int() raised ValueError: a traceback in every command with a count
    (("kv", "llama-3.1-8b", "--batch", "--1"), "--batch: expected a number such as 4096 or 128k, got '--1'"),
    (("roofline", "llama-3.1-8b", "--context", "+-4k"), "--context: expected a number"),
    (("sweep", "llama-3.1-8b", "--context", "4k,--1"), "--context: expected a number"),
    (("fit", "llama-3.1-8b", "--workspace-tokens", "--1"), "--workspace-tokens: expected a number"),
    (("train", "llama-3.1-8b", "--seq", "-+1"), "--seq: expected a number"),
])
def test_count_with_two_signs_is_refused(capsys, args, words):
    refused(capsys, *args, words=words)


def test_count_with_one_sign_still_parses():
    from mlacalc.units import parse_count

    assert parse_count("+4k", "x") == 4096 and parse_count("-5", "x", minimum=-10) == -5
    with pytest.raises(SpecError, match="expected a number"):
        import mlacalc

        mlacalc.kv_cache("llama-3.1-8b", context="--1")


@pytest.mark.parametrize("args,words", [
    # named --batch/--context, or not checked before the GPU: each flag now by its name, before any GPU work
    (("profile", "llama-3.1-8b", "--q-tokens", "0"), "--q-tokens: must be at least 1, got 0"),
    (("profile", "llama-3.1-8b", "--reps", "0"), "--reps: must be at least 1, got 0"),
    (("profile", "llama-3.1-8b", "--paged", "--block-size", "0"), "--block-size: must be at least 1, got 0"),
    (("profile", "llama-3.1-8b", "--reps", "-3", "--json"), "--reps: must be at least 1, got -3"),
    # a block size over a contiguous cache was silently ignored (the point ran contiguous)
    (("profile", "llama-3.1-8b", "--block-size", "16"), "--block-size: sizes the blocks of a paged cache: add --paged"),
])
def test_profile_flags_are_checked_before_the_gpu(capsys, no_cuda, args, words):
    refused(capsys, *args, words=words)


def test_sweep_plot_path_is_checked_before_the_sweep(capsys, tmp_path):
    pytest.importorskip("plotly")
    many = ",".join(str(2**i) for i in range(10, 27))
    # a folder was found only after the whole sweep had run (then "error: /x: Is a directory")
    refused(capsys, "sweep", "llama-3.1-8b", "--context", many, "--batch", many, "--plot", str(tmp_path),
            words=f"--plot: {tmp_path} is a folder; give a file name", seconds=1)
    refused(capsys, "sweep", "llama-3.1-8b", "--plot", str(tmp_path / "no" / "x.html"),
            words="--plot: " + str(tmp_path / "no" / "x.html") + ": folder")
    assert list(tmp_path.iterdir()) == []


def test_output_paths_are_written_where_they_were_checked(capsys, tmp_path, monkeypatch):
    """A quoted ``~/x`` was checked as the home folder, then written (or, by validate, created) as ./~/x."""
    pytest.importorskip("plotly")
    from mlacalc.files import check_output

    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    assert check_output("~/x.yaml", "--out") == str(home / "x.yaml")
    assert check_output("~/reports", "--out", folder=True) == str(home / "reports")
    code, out, _, _ = run(capsys, "sweep", "llama-3.1-8b", "--context", "4k", "--batch", "1", "--plot", "~/s.html",
                          "--json")
    assert code == 0 and (home / "s.html").is_file() and list(cwd.iterdir()) == []


def test_a_hardware_file_given_as_a_model_says_so(tmp_path, capsys):
    """`mlacalc specs validate h200.yaml` (a file `mlacalc calibrate` wrote) said 'measured: unknown field (known:
    name, num_layers, ...)'; it now says the file is a hardware spec and where it goes."""
    from mlacalc.cli import main

    path = tmp_path / "gpu.yaml"
    path.write_text("name: X\nmeasured: true\nmem_bandwidth_gb_s: 4000\nbf16_tflops: 900\ninterconnect_gb_s: 450\n")
    with pytest.raises(SystemExit) as e:
        main(["specs", "validate", str(path)])
    out = capsys.readouterr().out
    assert e.value.code == 2 and "is a hardware spec" in out and "--gpu" in out and out.count("\n") == 1


# --- Mamba-2 blocks and one-block layers (Nemotron-H): a bad size or pattern through --set is one line ----------------

NEMOTRON_H = __file__.rsplit("/", 1)[0] + "/fixtures/hf/nemotron_h_8b"


@pytest.mark.parametrize("setting,words", [
    ("linear_attention.head_k_dim=-128", "linear_attention.head_k_dim: must be at least 1, got -128"),
    ("linear_attention.chunk_size=0", "linear_attention.chunk_size: must be at least 1, got 0"),
    ("linear_attention.num_k_heads=3", "must split evenly into num_k_heads (3) groups of B and C"),
    ("layer_types=[ffn,linear]", "layer_types: needs at least one attention layer"),
    ("layer_types=[ffn,mamba]", "layer_types[1]: must be one of full, sliding, chunked, linear, cross, ffn"),
    ("dtypes.ssm_state=fp7", "dtypes.ssm_state: unknown dtype 'fp7'"),
])
def test_bad_mamba2_settings_are_one_line(capsys, setting, words):
    for cmd in ("kv", "weights", "roofline"):
        refused(capsys, cmd, NEMOTRON_H, "--set", setting, words=words)


# --- audit round 3: JSON's NaN/Infinity kept as words (mlacalc.files.NonFinite) must not pass as names ---------------

def _hf_words(tmp_path, fixture: str, at: tuple = (), **raw) -> str:
    """The fixture's config.json with ``raw`` keys (under the mapping at path ``at``) set to raw JSON text, so that
    ``NaN``, ``Infinity`` and ``-Infinity`` can be written as a real config writes them."""
    import json

    d = json.load(open(__file__.rsplit("/", 1)[0] + f"/fixtures/hf/{fixture}/config.json"))
    node = d
    for k in at:
        node = node[k]
    for k in raw:
        node[k] = f"@@{k}@@"
    text = json.dumps(d)
    for k, v in raw.items():
        text = text.replace(json.dumps(f"@@{k}@@"), v)
    f = tmp_path / "config.json"
    f.write_text(text, encoding="utf-8")
    return str(f)


CT_WEIGHTS = ("quantization_config", "config_groups", "group_0", "weights")


@pytest.mark.parametrize("fixture,at,raw,words", [
    # read as the unknown family "nan", Llama-shaped: Qwen3 lost its q/k norms without a word
    ("llama", (), {"model_type": "NaN"}, "model_type must be a string, got NaN"),
    ("qwen3", (), {"model_type": "Infinity"}, "model_type must be a string, got Infinity"),
    ("ministral_3_3b", ("text_config",), {"model_type": "NaN"}, "text_config.model_type must be a string, got NaN"),
    # a text_config that is no mapping was skipped and the top-level keys read as the decoder's
    ("qwen2_5_vl_7b", (), {"text_config": "NaN"}, "model_type qwen2_5_vl: text_config must be a mapping, got NaN"),
    ("llama", (), {"text_config": "5"}, "model_type llama: text_config must be a mapping, got 5"),
    # a NaN among the modules left unquantized matched nothing: the attention was priced as quantized
    ("gpt_oss_20b", ("quantization_config",), {"modules_to_not_convert": '["model.layers.*.self_attn", NaN]'},
     "quantization_config.modules_to_not_convert must be a list of names"),
    ("kimi_k2_thinking", ("quantization_config",), {"ignore": '["lm_head", Infinity]'},
     "quantization_config.ignore must be a list of names, got ['lm_head', Infinity]"),
    # NaN was read as the letters N, a, N ("letter 'N' is not one of M ...")
    ("nemotron_h_8b", (), {"hybrid_override_pattern": "NaN"},
     "hybrid_override_pattern must be a string of M, *, - and E, got NaN"),
])
def test_audit3_nonfinite_word_where_a_name_goes_is_refused(capsys, tmp_path, fixture, at, raw, words):
    refused(capsys, "kv", _hf_words(tmp_path, fixture, at, **raw), words=words)


def _size_keys():
    """(fixture, key) for every size key (mlacalc.hf.SIZES) each HF fixture carries at the top level or in its
    text_config, with the word to write there."""
    import json
    import pathlib

    from mlacalc.hf import SIZES

    out = []
    for cfg in sorted(pathlib.Path(__file__).parent.glob("fixtures/hf/*/config.json")):
        d = json.loads(cfg.read_text())
        for at, node in (((), d), (("text_config",), d.get("text_config"))):
            if isinstance(node, dict):
                out += [(cfg.parent.name, at, k) for k in sorted(node) if k in SIZES and node[k] is not None]
    return out


def test_audit3_nonfinite_word_where_a_size_goes_is_refused_for_every_family(tmp_path):
    """The HF reader keeps NaN/Infinity as words so that Mamba's time_step_limit [0.0, Infinity] reads; every size
    key of every fixture family, given one of them, is still refused in one line that names it."""
    from mlacalc.spec import load_spec, spec_to_dict

    def spec_of(path):
        s = load_spec(path)
        return {k: v for k, v in spec_to_dict(s).items() if k not in ("name", "source")}

    base = {}
    for fixture in {c[0] for c in _size_keys()}:
        try:
            base[fixture] = spec_of(__file__.rsplit("/", 1)[0] + f"/fixtures/hf/{fixture}")
        except SpecError:                 # families refused whatever their sizes (gpt_bigcode, gpt_neox, ...)
            pass
    cases = [c for c in _size_keys() if c[0] in base]
    assert len(cases) > 500
    refused_by_family = set()
    for i, (fixture, at, key) in enumerate(cases):
        word = ("NaN", "Infinity", "-Infinity")[i % 3]
        try:
            got = spec_of(_hf_words(tmp_path, fixture, at, **{key: word}))
        except SpecError as e:
            assert key in str(e) and word in str(e) and "\n" not in str(e), (fixture, key, str(e))
            refused_by_family.add(fixture)
        else:             # a key the family does not read (Qwen2.5-VL's top-level copies of its text_config's)
            assert got == base[fixture], f"{fixture}: {key} = {word} was read"
    assert {"nemotron_h_8b", "bamba_9b", "granite_4_0_h_tiny", "kimi_linear_48b_a3b", "deepseek_v3"} <= \
        refused_by_family


@pytest.mark.parametrize("fixture,at,raw,words", [
    # an unknown strategy (or NaN) was read as per-tensor: Kimi-K2-Thinking's group-32 scales went uncounted
    ("kimi_k2_thinking", CT_WEIGHTS, {"strategy": "NaN"},
     "compressed-tensors weights.strategy must be one of tensor, channel, group, tensor_group, block, got NaN"),
    ("kimi_k2_thinking", CT_WEIGHTS, {"strategy": '"groups"'}, "weights.strategy must be one of"),
    # refused by the spec as "quantization.group_size: ...", naming neither the file nor the config's key
    ("kimi_k2_thinking", CT_WEIGHTS, {"group_size": "NaN"},
     "kimi_k2: compressed-tensors weights.group_size must be a whole number of at least 1 with strategy group, got NaN"),
    # "false" was truthy: read as symmetric, the zero points uncounted
    ("kimi_k2_thinking", CT_WEIGHTS, {"symmetric": '"false"'},
     "compressed-tensors weights.symmetric must be true or false, got 'false'"),
    ("llama", (), {"quantization_config": '{"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": "no"}'},
     "quantization_config.zero_point must be true or false, got 'no'"),
    # Kimi-Linear's model_max_length was skipped when not a whole number: no max_context, no context warning
    ("kimi_linear_48b_a3b", (), {"model_max_length": "NaN"}, "model_max_length must be a whole number of at least 1"),
    ("kimi_linear_48b_a3b", (), {"model_max_length": '"1M"'}, "model_max_length must be a whole number"),
    ("kimi_linear_48b_a3b", (), {"model_max_length": "-1"}, "model_max_length must be a whole number"),
])
def test_audit3_hf_values_that_were_read_by_truthiness_or_skipped(capsys, tmp_path, fixture, at, raw, words):
    refused(capsys, "kv", _hf_words(tmp_path, fixture, at, **raw), words=words)


def test_audit3_compressed_tensors_strategy_left_out_is_inferred_as_the_library_does(tmp_path):
    """QuantizationArgs infers a missing strategy from group_size (above 0: group, -1: channel, none: tensor); the
    reader took every missing one as per-tensor and dropped Kimi-K2-Thinking's group of 32."""
    from mlacalc.spec import load_spec

    assert load_spec(_hf_words(tmp_path, "kimi_k2_thinking", CT_WEIGHTS, strategy="null")).quantization.group_size == 32
    q = load_spec(_hf_words(tmp_path, "kimi_k2_thinking", CT_WEIGHTS, strategy="null", group_size="-1")).quantization
    assert q.group_size is None and q.method == "int4"


# --- audit round 3: the ffn layer type (one block a layer, Nemotron-H) where a command does not model it -------------

@pytest.mark.parametrize("extra", [(), ("--convention", "megatron"), ("--pp", "2"), ("--recompute", "full")])
def test_audit3_train_refuses_one_block_layers(capsys, extra):
    # native: AttributeError ('NoneType' object has no attribute 'kind'); megatron: two blocks a layer counted. One
    # block a layer is now sized as Nemotron-H's (tests/test_train_nemotron.py), with its one norm: Llama's two norms a
    # layer on one-block layers are a layout no model has
    refused(capsys, "train", "llama-3.1-8b", "--set", "layer_types=[ffn,full]", *extra,
            words="norms_per_layer: training memory of one block a layer is modelled with its one norm")


def test_audit3_train_megatron_convention_refuses_one_block_layers(capsys):
    # the paper's GPT layer holds attention and an MLP: one block a layer was priced as two
    refused(capsys, "train", "llama-3.1-8b", "--set", "layer_types=[ffn,full]", "--set", "norms_per_layer=1",
            "--convention", "megatron", words="has one block a layer (use --convention native)")


def test_audit3_train_api_refuses_one_block_layers():
    import mlacalc

    with pytest.raises(SpecError, match="training memory of one block a layer is modelled with its one norm"):
        mlacalc.train_memory(mlacalc.load_spec("llama-3.1-8b", ["layer_types=[ffn,full]"]))


# --- audit round 3: a recurrent-state dtype for a model that keeps no recurrent state was taken without effect -------

@pytest.mark.parametrize("args,words", [
    # reported "ssm_state_bits": 32 and counted nothing
    (("kv", "llama-3.1-8b", "--state-dtype", "fp32"), "dtypes.ssm_state: is set (--set, or --state-dtype) but no "
                                                      "layer is linear"),
    (("roofline", "llama-3.1-8b", "--state-dtype", "fp32"), "dtypes.ssm_state: is set"),
    (("fit", "deepseek-v3", "--state-dtype", "fp8"), "dtypes.ssm_state: is set"),
    (("kv", "llama-3.1-8b", "--set", "dtypes.ssm_state=fp32"), "dtypes.ssm_state: is set"),
    (("compare", "llama-3.1-8b", "mistral-7b", "--state-dtype", "fp32"),
     "--state-dtype: none of the models has linear-attention or Mamba layers"),
])
def test_audit3_state_dtype_without_linear_layers_is_refused(capsys, args, words):
    refused(capsys, *args, words=words)


def test_audit3_compare_state_dtype_reaches_the_models_with_linear_layers(capsys):
    states = _compare_kv(capsys, NEMOTRON_H, "--state-dtype", "bf16")
    assert states[0][0] == states[1][0] and states[1][1] < states[0][1]     # Nemotron-H's SSM state fp32 -> bf16


def test_audit3_nemotron_h_without_mamba_blocks_has_no_ssm_state_dtype(tmp_path):
    from mlacalc.spec import load_spec

    s = load_spec(_hf(tmp_path, "nemotron_h_8b", hybrid_override_pattern="*-" * 26))
    assert s.linear_attention is None and s.dtypes.ssm_state is None


@pytest.mark.parametrize("model,phase,words", [
    # every layer run got a KV cache and an attention kernel: Mamba-2 and FFN-only layers measured as attention
    (NEMOTRON_H, "decode", "has ffn and linear layers; profile builds and runs attention layers only"),
    (__file__.rsplit("/", 1)[0] + "/fixtures/hf/bamba_9b", "prefill", "bamba_9b has linear layers; profile builds"),
    ("qwen3-next-80b-a3b", "decode", "has linear layers; profile builds and runs attention layers only"),
    ("kimi-linear-48b-a3b", "train", "has linear layers; profile builds"),
])
def test_audit3_profile_refuses_layers_it_would_run_as_attention(capsys, model, phase, words):
    refused(capsys, "profile", model, "--phase", phase, words="layer_types: ")
    _, _, err, _ = run(capsys, "profile", model, "--phase", phase)
    assert words in err


# --- audit round 3: NAME@ overrides with a list value were cut at its commas, and the error named --set -------------

@pytest.mark.parametrize("args,words", [
    (("kv", "llama-3.1-8b@num_layers=2,x"), "llama-3.1-8b@: expected field=value, got 'x'"),     # was "--set: ..."
    (("compare", "llama-3.1-8b", "mistral-7b@num_layers=4,3"), "mistral-7b@: expected field=value, got '3'"),
])
def test_audit3_model_at_overrides_name_the_model(capsys, args, words):
    refused(capsys, *args, words=words)


@pytest.mark.parametrize("model", ["llama-3.1-8b@layer_types=[sliding,full],attention.sliding_window=4096",
                                   "llama-3.1-8b@attention.sliding_window=4096,layer_types=[sliding, full]"])
def test_audit3_model_at_override_takes_a_list_value(capsys, model):
    """``NAME@layer_types=[sliding,full]`` was cut into ``layer_types=[sliding`` and ``full]`` ("--set: expected
    key=value, got 'full]'"): a layer pattern, Nemotron-H's ffn layers included, could not be set per model."""
    import json

    code, out, _, _ = run(capsys, "compare", "llama-3.1-8b", model, "--context", "32k", "--json")
    rows = json.loads(out)["models"]
    assert code == 0 and rows[1]["kv_bytes_per_sequence"] == rows[0]["kv_bytes_per_sequence"] * (32 + 4) / 64


def test_audit3_model_at_overrides_after_a_path_that_holds_an_at(capsys, tmp_path):
    """``.../org@rev@num_layers=2`` was read as the model ``.../org`` ("no such file")."""
    import shutil

    folder = tmp_path / "org@rev"
    folder.mkdir()
    shutil.copy(HF_LLAMA, folder / "config.json")
    code, out, _, _ = run(capsys, "specs", "show", f"{folder}@num_layers=2", "--json")
    assert code == 0 and '"num_layers": 2' in out
    refused(capsys, "kv", f"{tmp_path}/org@nope@num_layers=2", words=f"{tmp_path}/org: no such file")


# --- audit round 3: the schema said layer_types is a string ----------------------------------------------------------

def test_audit3_every_builtin_spec_and_reader_output_satisfies_the_schema(capsys):
    import json
    import pathlib

    from mlacalc.spec import builtin_names, raw_spec

    code, out, _, _ = run(capsys, "schema")
    schema = json.loads(out)
    specs = {n: raw_spec(n) for n in builtin_names()}
    for fixture in ("nemotron_h_8b", "bamba_9b", "granite_4_0_h_tiny", "gpt_oss_20b", "qwen3_next_80b_a3b"):
        specs[fixture] = raw_spec(str(pathlib.Path(__file__).parent / "fixtures" / "hf" / fixture))
    errors = [e for name, raw in specs.items() for e in schema_errors(raw, schema, name)]
    assert errors == [], errors[:5]
    assert schema_errors({"layer_types": "ffn"}, schema) != []          # what the spec refuses, the schema refuses


def test_audit3_an_upper_case_json_suffix_is_read_as_json(capsys, tmp_path):
    """``CONFIG.JSON`` was read as YAML, where NaN is the text "NaN": model_type NaN became the family "nan"."""
    text = open(HF_LLAMA).read().replace('"model_type": "llama"', '"model_type": NaN')
    (tmp_path / "CONFIG.JSON").write_text(text, encoding="utf-8")
    refused(capsys, "kv", str(tmp_path / "CONFIG.JSON"), words="model_type must be a string, got NaN")


# --- audit round 4: silently wrong numbers, misleading refusals, tracebacks, slowness ---------------------------------

@pytest.mark.parametrize("args,words", [
    # sweep dropped the fp8-ds layout: a GQA model took it as fp8 without a word
    (("sweep", "llama-3.1-8b", "--kv-dtype", "fp8-ds"), "--kv-dtype: fp8-ds is the cache layout of DSA"),
    # "fp8-ds is an MLA cache layout; mla attention has none" contradicted itself
    (("kv", "deepseek-v3", "--kv-dtype", "fp8-ds"),
     "--kv-dtype: fp8-ds is the cache layout of DSA and DeepSeek-V4's compressed attention (FlashMLA's sparse "
     "kernels); mla attention has none"),
    # roofline priced the layout and dropped --kv-bits 4 without a word
    (("roofline", "deepseek-v3.2", "--kv-dtype", "fp8-ds", "--kv-bits", "4"),
     "--kv-bits: give --kv-dtype or --kv-bits, not both"),
    # --cp 8 changed nothing: every token of every sequence reported on every GPU
    (("kv", "llama-3.1-8b", "--cp", "2"), "--cp: the KV cache per GPU does not model it"),
    # a dense FFN ignored the MoE-only fields it did not check
    (("kv", "llama-3.1-8b", "--set", "ffn.first_dense_layers=4611686018427387904"),
     "ffn.kind: expert fields are set (first_dense_layers) but kind is dense"),
    (("weights", "llama-3.1-8b", "--set", "ffn.expert_intermediate_size=2048", "--set", "ffn.router_bias=true"),
     "ffn.kind: expert fields are set (expert_intermediate_size, router_bias) but kind is dense"),
    # NAME@=2 named --set, a flag the command line did not have
    (("compare", "llama-3.1-8b", "llama-3.1-8b@=2"), "llama-3.1-8b@: expected field=value, got '=2'"),
])
def test_audit4_cli_inputs(capsys, args, words):
    refused(capsys, *args, words=words)


def test_audit4_sweep_sizes_the_fp8_ds_layout_as_kv_does(capsys):
    """sweep --kv-dtype fp8-ds sized DeepSeek-V3.2 at plain fp8 (708 B a token and layer) where kv and fit size the
    656-byte layout plus the indexer's 132 (788)."""
    import json

    code, out, _, _ = run(capsys, "kv", "deepseek-v3.2", "--kv-dtype", "fp8-ds", "--context", "4k", "--json")
    kv = json.loads(out)["kv_bytes_per_sequence"]
    code, out, _, _ = run(capsys, "sweep", "deepseek-v3.2", "--kv-dtype", "fp8-ds", "--context", "4k", "--batch", "1",
                          "--gpus", "8", "--json")
    assert code == 0 and kv == 4096 * 61 * (656 + 132) == json.loads(out)["rows"][0]["kv_bytes_per_seq"]


def test_audit4_as_converts_a_dsa_model(capsys):
    """Every --as on DeepSeek-V3.2 or GLM-5 failed: "attention.index_n_heads: only applies to kind dsa, not mha"."""
    import json

    code, out, _, _ = run(capsys, "compare", "deepseek-v3@as=mha", "deepseek-v3.2@as=mha", "glm-5@as=gqa:8", "--json")
    rows = json.loads(out)["models"]
    assert code == 0 and rows[0]["kv_bytes_per_token"] == rows[1]["kv_bytes_per_token"]
    assert [r["attention"] for r in rows] == ["mha", "mha", "gqa"]


@pytest.mark.parametrize("changes,words", [
    # a rate of 1e-300 passed "positive": a long prefill's time overflowed and --json died in a ValueError traceback
    ({"bf16_tflops": 1e-300}, "bf16_tflops: must be at least 1e-06, got 1e-300"),
    ({"mem_bandwidth_gb_s": 1e-300}, "mem_bandwidth_gb_s: must be at least 0.001, got 1e-300"),
    ({"interconnect_gb_s": 1e-300}, "interconnect_gb_s: must be at least 0.001"),
    ({"kernels": {"gqa": {"bandwidth_eff": 1e-300}}}, "kernels.gqa.bandwidth_eff: must be at least 0.001"),
    ({"kernels": {"gqa": {"sm_bandwidth_gb_s": 1e-300}}}, "kernels.gqa.sm_bandwidth_gb_s: must be 0 or at least"),
])
def test_audit4_hardware_rates_too_small_to_divide_by(capsys, tmp_path, changes, words):
    refused(capsys, "roofline", "llama-3.1-8b", "--phase", "prefill", "--batch", "100000000", "--context", "1G",
            "--json", "--gpu", _gpu_file(tmp_path, **changes), words=words)


def test_audit4_yaml_exponent_floats_are_numbers(capsys, tmp_path):
    """PyYAML (YAML 1.1) read 4.8e3 and 1.0e9 as text: "mem_bandwidth_gb_s: expected a number, got '4.8e3'"."""
    import json

    text = open(_gpu_file(tmp_path)).read()
    f = tmp_path / "exp.yaml"
    f.write_text("\n".join("mem_bandwidth_gb_s: 4.8e3" if ln.startswith("mem_bandwidth_gb_s:") else
                           "bf16_tflops: 9.89E2" if ln.startswith("bf16_tflops:") else ln
                           for ln in text.splitlines()) + "\n", encoding="utf-8")
    code, out, _, _ = run(capsys, "roofline", "llama-3.1-8b", "--gpu", str(f), "--json")
    ref = run(capsys, "roofline", "llama-3.1-8b", "--gpu", "h200", "--json")[1]
    assert code == 0 and json.loads(out)["total"] == json.loads(ref)["total"]
    assert parse_text("a: 1e9\nb: -2.5E-3\nc: 1.0e+2\nd: 1e\ne: '1e9'\n", "t") == \
        {"a": 1e9, "b": -2.5e-3, "c": 100.0, "d": "1e", "e": "1e9"}


@pytest.mark.parametrize("fixture,inner,changes,words", [
    # read as a dense model: Mixtral 7.24 B parameters instead of 46.7 B, DeepSeek-V3 37 B
    ("mixtral", False, {"num_local_experts": 0}, "model_type mixtral: num_local_experts is 0: an MoE layer without"),
    ("deepseek_v3", False, {"n_routed_experts": 0}, "n_routed_experts is 0: an MoE layer without experts"),
    # transformers divides by these; 0 was read as 1
    ("deepseek_v3", False, {"moe_layer_freq": 0}, "moe_layer_freq must be a whole number of at least 1, got 0"),
    ("qwen3_moe", False, {"decoder_sparse_step": 0}, "decoder_sparse_step must be a whole number of at least 1"),
    ("llama_4_scout", True, {"interleave_moe_layer_step": 0}, "interleave_moe_layer_step must be a whole number"),
    # a cross layer past the last (or negative) was dropped: fewer cross layers than the file says
    ("llama_3_2_11b_vision", True, {"cross_attention_layers": [3, 100]},
     "cross_attention_layers names layer 100, outside the 40 layers (0 to 39)"),
    ("llama_3_2_11b_vision", True, {"cross_attention_layers": [-1]}, "cross_attention_layers names layer -1"),
    # read as a spec file: "attention_bias: unknown field (did you mean 'attention'?)"
    ("llama", False, {"model_type": _DROP, "architectures": _DROP}, "config.json: has no model_type (and no "
                                                                     "architectures)"),
])
def test_audit4_hf_configs(capsys, tmp_path, fixture, inner, changes, words):
    refused(capsys, "weights", _hf(tmp_path, fixture, inner, **changes), words=words)


def test_audit4_qwen_moe_without_experts_is_dense(tmp_path):
    """Qwen2-MoE's decoder layers test num_experts > 0: with none, each layer is a dense MLP of intermediate_size."""
    import mlacalc

    s = mlacalc.load_spec(_hf(tmp_path, "qwen1_5_moe_a2_7b", num_experts=0))
    assert s.ffn.kind == "dense" and s.ffn.intermediate_size == 5632


def test_audit4_empty_spec_file(capsys, tmp_path):
    f = tmp_path / "empty.yaml"
    f.write_text("# nothing\n", encoding="utf-8")
    refused(capsys, "kv", str(f), words=f"{f}: is empty")       # was "expected a mapping ..., got NoneType"


def test_audit4_many_mtp_modules_train_quickly(capsys):
    """Every MTP module's tensors were listed in each step of the training fit searches: 10 s at 10,000 modules."""
    code, out, _, dt = run(capsys, "train", "llama-3.1-8b", "--set", "mtp_layers=10000", "--json")
    assert code == 0 and dt < 3, dt


def test_audit4_api_empty_gpu_names_the_argument():
    """``mlacalc.roofline(spec, gpu="")`` said "--gpu: is empty", a flag a Python caller did not write."""
    import mlacalc

    with pytest.raises(SpecError) as e:
        mlacalc.roofline("llama-3.1-8b", gpu="")
    assert str(e.value).startswith("gpu: is empty")


@pytest.mark.parametrize("args", [
    ("compare", "llama-3.1-8b@layer_types=[cross]", "llama-3.1-8b"),
    ("fit", "llama-3.1-8b", "--set", "layer_types=[cross]"),
    ("sweep", "llama-3.1-8b", "--set", "layer_types=[cross]"),
    ("roofline", "llama-3.1-8b", "--set", "layer_types=[cross]", "--json"),
    ("kv", VISION, "--set", "layer_types=[cross]", "--image-tokens", "1601"),
])
def test_audit4_a_model_of_cross_layers_only_is_refused(capsys, args):
    """Cross layers cache only image tokens: every layer cross cached nothing of the sequence, and compare, fit, sweep
    and roofline divided by that zero (ZeroDivisionError tracebacks)."""
    refused(capsys, *args, words="layer_types: needs at least one attention layer over the sequence's own tokens")


# --- audit 6: silent wrongness in the roofline's weight widths, training pipelines, and the terminal width -----------

MLX_4BIT = __file__.rsplit("/", 1)[0] + "/fixtures/hf/mlx_medllama3_v20_4bit/config.json"


def test_audit6_roofline_streams_a_quantized_head_at_its_stored_width():
    """An MLX 4-bit checkpoint stores its output head at 4 bits plus a 16-bit scale and bias per 64 (4.5 bits), as
    `weights` prices it: 128,256 x 4,096 x 4.5 / 8 = 295,501,824 B. The roofline streamed it at 16 bits
    (1,050,673,152 B), a fifth of a batch-1 decode step's bytes."""
    import mlacalc

    head = mlacalc.roofline(MLX_4BIT, batch=1, context=1).op("lm_head").op.weight_bytes
    assert head == 128256 * 4096 * 4.5 / 8 == 295_501_824 == mlacalc.weights(MLX_4BIT).bytes.head


def test_audit6_roofline_streams_a_spec_files_quantization_block(tmp_path):
    """A spec file's quantization block (GPTQ: 4 bits, a 16-bit scale and a 4-bit zero point per 128: 4.15625 bits)
    over the attention and FFN of a model whose dtypes.weights stays bf16: `weights` and `fit` priced those matrices
    at 4.15625 bits, the roofline (and fit's decode time) at 16. Llama-3.1-8B's attention, 32 x (2 x 4096 x 4096 +
    2 x 4096 x 1024) = 1,342,177,280 weights: 697,303,040 B, not 2,684,354,560."""
    import mlacalc

    spec = _spec_file(tmp_path, quantization={"method": "gptq", "bits": 4, "group_size": 128, "scale_bits": 16,
                                              "zero_point_bits": 4, "components": ["attention", "dense_ffn"]})
    r = mlacalc.roofline(spec, batch=1, context=1)
    w = mlacalc.weights(spec).bytes
    attention = r.op("qkv_proj").op.weight_bytes + r.op("o_proj").op.weight_bytes
    assert attention == 1_342_177_280 * 4.15625 / 8 == 697_303_040 == w.attention
    assert r.op("ffn").op.weight_bytes == w.dense_ffn and r.op("lm_head").op.weight_bytes == w.head


def test_audit6_train_refuses_a_pp_that_leaves_the_last_stages_without_layers(capsys):
    """Qwen2.5-7B's 28 layers over --pp 8 are stages of ceil(28 / 8) = 4 layers, seven of them holding layers. Audit 6
    priced the eighth, empty stage (8 micro-batches in flight on the first); review 2 refuses the layout instead, as
    no framework lays 28 layers out that way: pp 7 (runs of 4) and pp 10 (runs of ceil(28 / 10) = 3: 9 x 3 + 1) are
    the nearest that fill every stage, and at pp 7 the first stage keeps 7 micro-batches of 4 layers."""
    import json

    code, out, err, _ = run(capsys, "train", "qwen2.5-7b", "--pp", "8", "--json")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--pp: 8 stages leave 1 without layers" in err and "such as 7 or 10" in err
    code, out, _, _ = run(capsys, "train", "qwen2.5-7b", "--pp", "7", "--json")
    d = json.loads(out)
    stage0, per_layer = d["stages"][0], d["layers"]["dense"]["stored"]["total"]
    assert code == 0 and per_layer == 805_797_888 and stage0["num_layers"] == 4
    assert [s["micro_batches_in_flight"] for s in d["stages"]] == [7, 6, 5, 4, 3, 2, 1]
    assert stage0["activations"]["layers"] == 7 * 4 * per_layer == 22_562_340_864


@pytest.mark.parametrize("columns", ["0", "00", "-5", "abc", ""])
def test_audit6_a_columns_value_that_is_no_width_is_ignored(capsys, monkeypatch, columns):
    """COLUMNS=0 (a shell or CI runner that knows no width) made rich draw every table 0 columns wide: `mlacalc kv`
    printed nothing at all and exited 0. A COLUMNS that is not a positive whole number now counts as unset."""
    monkeypatch.setenv("COLUMNS", columns)
    code, out, err, _ = run(capsys, "kv", "llama-3.1-8b")
    assert code == 0 and "KV cache: llama-3.1-8b" in out and "512.00 MiB" in out, (out, err)


# --- hostile-input audit (badin): counts read by Python's float(), help before the command, YAML that scans slowly,
# a closed stdout, names on two lines, hardware fields named as the file does not write them ---------------------------

@pytest.mark.parametrize("args,words", [
    # parse_count stripped every underscore first, then float() took other scripts' digits and a space before the
    # suffix: each of these ran as a count (`_1` and `1_` as 1 token, `4_k` as 4096, `١٢٣` as 123, `5 k` as 5120)
    (("kv", "llama-3.1-8b", "--context", "_1"), "--context: expected a number such as 4096 or 128k, got '_1'"),
    (("kv", "llama-3.1-8b", "--context", "1_"), "--context: expected a number such as 4096 or 128k, got '1_'"),
    (("kv", "llama-3.1-8b", "--batch", "1__0"), "--batch: expected a number such as 4096 or 128k, got '1__0'"),
    (("train", "llama-3.1-8b", "--seq", "4_k"), "--seq: expected a number such as 4096 or 128k, got '4_k'"),
    (("kv", "llama-3.1-8b", "--context", "\u0661\u0662\u0663"), "--context: expected a number"),   # Arabic-Indic 123
    (("roofline", "llama-3.1-8b", "--context", "\uff15\uff11\uff12"), "--context: expected a number"),  # full-width
    (("fit", "llama-3.1-8b", "--context", "5 k"), "--context: expected a number such as 4096 or 128k, got '5 k'"),
    (("sweep", "llama-3.1-8b", "--context", "4k,1__0"), "--context: expected a number"),
    (("fit", "llama-3.1-8b", "--workspace", "4_G"), "--workspace: expected a number"),
    # a name on two lines split every report's title and table row (exit 0)
    (("kv", 'llama-3.1-8b@name="a\\nb"'), "name: must be one line of printable text, got 'a\\nb'"),
    (("compare", "llama-3.1-8b", "mistral-7b@name=x\ty"), "name: must be one line of printable text, got 'x\\ty'"),
])
def test_badin_cli_inputs_are_refused(capsys, args, words):
    refused(capsys, *args, words=words)


@pytest.mark.parametrize("text,value", [("4096", 4096), ("128k", 131072), ("1_000", 1000), ("1_024k", 1024**2),
                                        (" 8 ", 8), ("+4k", 4096), ("1.5k", 1536), ("1e6", 10**6), (".5k", 512)])
def test_badin_counts_as_documented_still_parse(text, value):
    from mlacalc.units import parse_count

    assert parse_count(text, "x") == value


def test_badin_api_refuses_the_same_counts():
    import mlacalc

    for text in ("_1", "\u0661\u0662\u0663", "5 k"):
        with pytest.raises(SpecError, match="context: expected a number"):
            mlacalc.kv_cache("llama-3.1-8b", context=text)


@pytest.mark.parametrize("before,usage", [
    (("-h", "kv"), "Usage: mlacalc kv [OPTIONS]"),                  # showed the list of commands
    (("--help", "train"), "Usage: mlacalc train [OPTIONS]"),
    (("-h", "specs", "show"), "Usage: mlacalc specs show [OPTIONS]"),
    (("specs", "-h", "show"), "Usage: mlacalc specs show [OPTIONS]"),  # showed the specs group's list
    (("-h", "bench", "kernels"), "Usage: mlacalc bench kernels [OPTIONS]"),
    (("-h", "-h", "kv", "deepseek-v3"), "Usage: mlacalc kv [OPTIONS]"),
])
def test_badin_help_before_the_command_shows_that_commands_help(capsys, before, usage):
    code, out, err, _ = run(capsys, *before)
    assert code == 0 and out.startswith(usage) and err == "", out[:200]


@pytest.mark.parametrize("args", [("-h",), ("-h", "nosuch"), ("--help", "--version")])
def test_badin_help_without_a_command_still_lists_the_commands(capsys, args):
    code, out, _, _ = run(capsys, *args)
    assert code == 0 and out.startswith("Usage: mlacalc [OPTIONS] COMMAND") and "roofline" in out


def test_badin_deep_flow_brackets_are_refused_quickly(capsys, tmp_path):
    """PyYAML's scanner takes time quadratic in the depth of flow brackets, and the whole file was parsed before
    its depth was checked: 10,000 ``[`` (20 KB) took 10 s, 20,000 took 23 s, a 4 MiB file hours. The events are now
    checked as they stream in, so the parse stops at level 65."""
    f = tmp_path / "deep.yaml"
    f.write_text("num_layers: " + "[" * 10_000 + "]" * 10_000 + "\n", encoding="utf-8")
    refused(capsys, "kv", str(f), words="nested too deeply (more than 64 levels)", seconds=2)
    refused(capsys, "kv", "llama-3.1-8b", "--set", "num_layers=" + "[" * 10_000, words="nested too deeply",
            seconds=2)


@pytest.mark.parametrize("suffix,text", [
    (".yaml", "a: [" + ",".join(["1"] * 100_001) + "]\n"),                 # no alias: 1,000,000 took 40 s, 1.2 GB
    (".json", '{"a": [' + ",".join(["1"] * 100_001) + "]}"),
])
def test_badin_files_of_too_many_values_are_refused_by_count(capsys, tmp_path, suffix, text):
    """A spec holds ~100 values (10,000 layer_types at most); 100,001 are refused before the spec is read, with a
    message that does not speak of aliases the file has none of ("too large once YAML aliases are expanded")."""
    f = tmp_path / ("spec" + suffix)
    f.write_text(text, encoding="utf-8")
    refused(capsys, "kv", str(f), words="too many values (over 100,000", seconds=6)


def test_badin_a_spec_of_ten_thousand_layer_types_still_loads(tmp_path):
    """The node limit leaves room for the largest spec the schema allows (num_layers <= 10,000, one type each)."""
    d = yaml.safe_load(LLAMA)
    d.update(num_layers=10_000, layer_types=["full"] * 10_000)
    f = tmp_path / "deep-model.yaml"
    f.write_text(yaml.safe_dump(d), encoding="utf-8")
    from mlacalc.spec import load_spec

    assert load_spec(str(f)).num_layers == 10_000


def test_badin_closed_stdout_is_one_line(capsys, monkeypatch):
    """`mlacalc kv llama-3.1-8b >&-`: Python sets sys.stdout to None and rich's console raised AttributeError."""
    import sys

    monkeypatch.setattr(sys, "stdout", None)
    with pytest.raises(SystemExit) as e:
        main(["kv", "llama-3.1-8b"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err == "error: standard output is closed; nowhere to write the answer\n"


def test_badin_closed_stderr_keeps_the_error_off_stdout(capsys, monkeypatch):
    """`mlacalc kv x --json 2>&-`: print(file=None) writes to stdout, so the error line landed where --json's reader
    expects JSON."""
    import sys

    monkeypatch.setattr(sys, "stderr", None)
    with pytest.raises(SystemExit) as e:
        main(["kv", "llama-3.1-8b", "--context", "x", "--json"])
    assert e.value.code == 2 and capsys.readouterr().out == ""


_HW = "name: toy\nmem_bandwidth_gb_s: 1000\nbf16_tflops: 100\ninterconnect_gb_s: 100\n"


@pytest.mark.parametrize("text,words", [
    (_HW + "memory_gib: 0\n", "memory_gib: must be a positive number, got 0"),     # said memory_bytes
    (_HW, "memory_gib: is required (or memory_bytes)"),                             # said memory_bytes
    (_HW + "memory_bytes: 0\n", "memory_bytes: must be a positive number, got 0"),
    (_HW.replace("name: toy", 'name: "toy\\nGPU"') + "memory_gib: 80\n", "name: must be one line of printable text"),
])
def test_badin_hardware_errors_name_the_field_the_file_wrote(capsys, tmp_path, text, words):
    f = tmp_path / "gpu.yaml"
    f.write_text(text, encoding="utf-8")
    refused(capsys, "roofline", "llama-3.1-8b", "--gpu", str(f), words=words)


@pytest.mark.parametrize("second,words", [
    # compare loads several models; a spec's error named its field only, not which model held it
    ("mistral-7b@num_layers=0", "error: mistral-7b@num_layers=0: num_layers: must be at least 1, got 0"),
    ("mistral-7b@as=gqa:3", "error: mistral-7b@as=gqa:3: attention.num_kv_heads: num_heads (32) must be divisible"),
    # already named: kept as they were
    ("nosuch", "error: nosuch: unknown model"),
    ("mistral-7b@x", "error: mistral-7b@: expected field=value, got 'x'"),
])
def test_badin_compare_names_the_model_an_error_belongs_to(capsys, second, words):
    refused(capsys, "compare", "llama-3.1-8b", second, words=words)


def test_badin_compare_names_the_spec_file(capsys, tmp_path):
    f = _spec_file(tmp_path, attention={"kind": "gqa", "num_heads": 32, "num_kv_heads": 8, "head_dim": -128})
    refused(capsys, "compare", "llama-3.1-8b", f, words=f"error: {f}: attention.head_dim: must be at least 1, got -128")


def test_badin_compare_keeps_a_flags_error_unprefixed(capsys):
    refused(capsys, "compare", "llama-3.1-8b", "mistral-7b", "--as", "foo", words="error: --as: expected mha, mqa")


_COUNT_CHARS = "0123456789_.eE+-kKMG x\u0661\uff15"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(st.sampled_from(_COUNT_CHARS), max_size=8) | st.from_regex(r"[+-]?[0-9_]{1,6}(\.[0-9_]{0,3})?[kMG]?",
                                                                          fullmatch=True))
def test_badin_a_count_accepted_is_ascii_and_reads_as_pythons_float_does(text):
    """Whatever parse_count accepts is ASCII and is the number Python's float() reads in it, times the suffix (so
    Python's own rules for underscores hold: 1_000, not _1, 1_ or 1__0)."""
    from mlacalc.units import _COUNT_SUFFIX, parse_count

    try:
        value = parse_count(text, "x", minimum=-(2**50))
    except SpecError:
        return
    core, mult = text.strip(), 1
    if core[-1] in _COUNT_SUFFIX:
        core, mult = core[:-1], _COUNT_SUFFIX[core[-1]]
    assert text.isascii() and " " not in core
    assert value == float(core) * mult


@pytest.mark.parametrize("shell_args,env", [
    ("kv nosuch-model", {}),
    ("kv llama-3.1-8b --context 1__0 --json", {}),
    ("kv \u6a21\u578b", {"PYTHONIOENCODING": "ascii"}),      # a name the terminal cannot print
    ("kv llama-3.1-8b >&-", {}),                              # stdout closed: was an AttributeError traceback
])
def test_badin_real_entry_point_answers_bad_input_in_one_line(shell_args, env, tmp_path):
    """The start-up path the in-process tests skip (``python -m mlacalc``, the interpreter's own stream set-up),
    with warnings as errors: exit code 2, one ``error:`` line on stderr, nothing on stdout."""
    import os
    import shlex
    import subprocess
    import sys

    cmd = f"{shlex.quote(sys.executable)} -W error -m mlacalc {shell_args}"
    # from an empty folder: in the repository root `-m mlacalc` would import its mlacalc/, which lacks the mapped
    # sub-packages (mlacalc.model_specs, ...), not the installed package CI tests
    p = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, env={**os.environ, **env}, timeout=60,
                       cwd=tmp_path)
    assert p.returncode == 2 and p.stdout == "", (p.returncode, p.stdout[:200], p.stderr)
    assert p.stderr.startswith("error: ") and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr


# ----------------------------------------------------------------------------------------- fuzz2 (bench/fuzz_cli.py)

@pytest.mark.parametrize("fixture,inner,changes,words", [
    # an MoE config without its expert count was read as dense: Mixtral 7.24 B parameters (not 46.7 B), DeepSeek-V3
    # 37.4 B (not 671 B), Qwen3-VL-30B-A3B 3.3 B, Granite-4.0-H-Tiny 0.90 B (not 6.94 B), Hunyuan-A13B 3.1 B (not 80 B)
    ("mixtral", False, {"num_local_experts": _DROP},
     "model_type mixtral: has num_experts_per_tok but no expert count (n_routed_experts or num_local_experts or"),
    ("deepseek_v3", False, {"n_routed_experts": _DROP},
     "model_type deepseek_v3: has num_experts_per_tok but no expert"),
    ("qwen3_vl_30b_a3b", True, {"num_experts": _DROP}, "has num_experts_per_tok but no expert count"),
    ("granite_4_0_h_tiny", False, {"num_local_experts": _DROP},
     "model_type granitemoehybrid: has num_experts_per_tok but no expert count (num_local_experts)"),
    ("hunyuan_a13b", False, {"num_experts": _DROP}, "but no expert count (num_experts), which sizes the model"),
    # the 3 dense layers were read one expert (2048) wide, not intermediate_size 18432: 669.97 B, not 671.03 B
    ("deepseek_v3", False, {"intermediate_size": _DROP}, "model_type deepseek_v3: has no intermediate_size, which"),
    # read as null (no query down-projection: 678.80 B), where DeepseekV3Config's default is 1536
    ("deepseek_v3", False, {"q_lora_rank": _DROP}, "model_type deepseek_v3: has no q_lora_rank (null: queries without"),
    ("kimi_k2", False, {"q_lora_rank": _DROP}, "model_type kimi_k2: has no q_lora_rank"),
    # 0 was read as null (no down-projection); transformers and vLLM build a q_a_proj of width 0 for it
    ("deepseek_v3", False, {"q_lora_rank": 0}, "model_type deepseek_v3: q_lora_rank must be at least 1 (null: queries"),
])
def test_fuzz2_hf_config_without_a_sizing_key_is_refused(capsys, tmp_path, fixture, inner, changes, words):
    refused(capsys, "weights", _hf(tmp_path, fixture, inner, **changes), words=words)


def test_fuzz2_dense_readings_kept(tmp_path):
    """What stays readable: an explicit null q_lora_rank (DeepSeek-V2-Lite: q_proj), a dense Granite-4.0 (no experts,
    none per token), DeepSeek-V3 without dense layers needing no intermediate_size."""
    import mlacalc

    lite = mlacalc.load_spec(_hf(tmp_path, "deepseek_v2", q_lora_rank=None))
    assert lite.attention.q_lora_rank is None
    dense = mlacalc.load_spec(_hf(tmp_path, "granite_4_0_h_tiny", num_local_experts=_DROP, num_experts_per_tok=0))
    assert dense.ffn.kind == "dense"
    moe = mlacalc.load_spec(_hf(tmp_path, "deepseek_v3", intermediate_size=_DROP, first_k_dense_replace=0))
    assert moe.ffn.first_dense_layers == 0 and moe.ffn.intermediate_size == 2048


def test_fuzz2_lab_fuzz_script_smoke():
    """bench/fuzz_cli.py's first 20 seeded cases (mutated config.json and spec files, hostile flags) keep the
    contract: the lab script still runs and the CLI still answers them; the full run is ``python bench/fuzz_cli.py``."""
    from helpers import bench_module

    assert bench_module("fuzz_cli").main(["--cases", "20", "--seed", "0"]) == 0


# --- a Hugging Face model id that names nothing on disk ----------------------------------------------------------------

@pytest.mark.parametrize("model", ["deepseek-ai/DeepSeek-V3", "Qwen/Qwen3-8B", "meta-llama/Llama-3.1-8B@num_layers=2"])
def test_hub_id_says_it_is_not_downloaded(capsys, tmp_path, monkeypatch, model):
    """``mlacalc kv deepseek-ai/DeepSeek-V3`` said "no such file", as if a file had been meant; an ORG/NAME that is
    nothing on disk is now named as a Hub id that is not fetched, with how to get its config.json."""
    monkeypatch.chdir(tmp_path)
    refused(capsys, "kv", model, words=f"{model.split('@')[0]}: no such file or folder; a Hugging Face model id is "
                                       "not downloaded")


def test_hub_id_message_gives_a_command_that_works(capsys, tmp_path, monkeypatch):
    """The message told users to run `huggingface-cli download ORG/NAME config.json`: huggingface_hub renamed its CLI
    hf (0.34, July 2025: huggingface.co/blog/hf-cli) and huggingface-cli no longer works in 1.x ("huggingface-cli is
    deprecated and no longer works. Use hf instead.", microsoft/BitNet#560), and ORG/NAME was left for the user to
    fill in. It now names the id given and a folder to pass back."""
    monkeypatch.chdir(tmp_path)
    refused(capsys, "kv", "Qwen/Qwen3-8B@as=mha",
            words="fetch its config.json (hf download Qwen/Qwen3-8B config.json --local-dir DIR) and give DIR")
    _, _, err, _ = run(capsys, "kv", "Qwen/Qwen3-8B")
    assert "huggingface-cli" not in err and "ORG/NAME" not in err


@pytest.mark.parametrize("model", ["org/name.json", "nope/x.yaml", "a/b/c", "org/name.JSON", "nope/x.YAML",
                                   "org/x.Yml", r"C:\models\Qwen3-8B", r"models\deepseek-v3.json"])
def test_paths_that_are_not_hub_ids_stay_no_such_file(capsys, tmp_path, monkeypatch, model):
    """A missing spec file (a .json/.yaml suffix in any case, as the reader takes it; deeper than ORG/NAME; a
    Windows path) is still just missing: org/name.JSON was named a Hugging Face id, and C:\\models\\Qwen3-8B an
    unknown built-in model ("`mlacalc specs list` shows the built-in names")."""
    monkeypatch.chdir(tmp_path)
    refused(capsys, "kv", model, words=f"{model}: no such file")
    _, _, err, _ = run(capsys, "kv", model)
    assert "Hugging Face" not in err
