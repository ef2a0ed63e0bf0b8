"""The CLI contract: --json prints one object; bad input is one line on stderr and exit code 2."""

import json

import pytest

from mlacalc.cli import main


def run(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return e.value.code, out, err


def test_kv_json_contract(capsys):
    code, out, err = run(capsys, "kv", "deepseek-v3", "--context", "128k", "--batch", "4", "--tp", "8", "--json")
    assert code == 0 and err == ""
    d = json.loads(out)
    per_token = 61 * 576 * 2
    assert d["model"] == "deepseek-v3" and d["context"] == 131072 and d["batch"] == 4
    assert d["kv_bytes_per_token"] == per_token
    assert d["kv_bytes_total"] == 4 * 131072 * per_token
    assert d["kv_bytes_per_gpu"] == d["kv_bytes_total"]  # the latent is replicated on every TP rank


def test_kv_dtype_and_bits(capsys):
    _, out, _ = run(capsys, "kv", "deepseek-67b", "--kv-dtype", "fp8", "--json")
    assert json.loads(out)["kv_bytes_per_token"] == 95 * 2 * 8 * 128
    _, out, _ = run(capsys, "kv", "deepseek-v2", "--kv-bits", "6", "--json")
    assert json.loads(out)["kv_bytes_per_token"] == 60 * 576 * 6 / 8


def test_compare_shows_93_percent(capsys):
    code, out, _ = run(capsys, "compare", "deepseek-67b", "deepseek-v2@dtypes.kv=6", "--json")
    rows = json.loads(out)["models"]
    assert code == 0 and round(rows[1]["kv_reduction_pct"], 1) == 93.3


@pytest.mark.parametrize("args,words", [
    (("kv", "deepseek-v4"), "unknown model"),
    (("kv", "deepseek-v3", "--batch", "-1"), "--batch: must be at least 1"),
    (("kv", "deepseek-v3", "--context", "12q"), "--context"),
    (("kv", "deepseek-v3", "--kv-dtype", "fp7"), "unknown dtype"),
    (("kv", "deepseek-v3", "--kv-dtype", "fp8", "--kv-bits", "6"), "not both"),
    (("kv", "deepseek-v3", "--cache", "zip"), "--cache"),
    (("kv", "deepseek-67b", "--tp", "3"), "--tp"),
    (("kv", "deepseek-v3", "--tp", "0"), "--tp"),
    (("kv", "deepseek-v3", "--set", "attention.heads=3"), "unknown field"),
    (("kv", "deepseek-v3", "--bogus"), "No such option"),
    (("weights", "deepseek-v3", "--ep", "7"), "--ep"),
    (("kv", "deepseek-v3", "--as", "gqa:x"), "--as"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, words):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err


def test_bad_spec_file_is_one_line(capsys, tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("num_layers: [\n")
    code, _, err = run(capsys, "kv", str(f))
    assert code == 2 and "malformed YAML at line" in err and err.count("\n") == 1


def test_specs_validate_reports_each_file(capsys, tmp_path):
    good, broken = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("num_layers: 2\nhidden_size: 64\nvocab_size: 10\nattention: {kind: mha, num_heads: 2, "
                    "head_dim: 32}\nffn: {kind: dense, intermediate_size: 64}\n")
    broken.write_text("num_layers: 0\n")
    code, out, _ = run(capsys, "specs", "validate", str(good), str(broken))
    assert code == 2 and f"{good}: ok" in out and "num_layers: must be at least 1" in out


@pytest.mark.parametrize("args", [("weights", "deepseek-v3"), ("specs", "list"), ("specs", "show", "llama-2-7b"),
                                  ("schema",), ("compare", "llama-2-7b", "deepseek-v3")])
def test_every_command_prints_one_json_object(capsys, args):
    code, out, _ = run(capsys, *args, "--json")
    assert code == 0
    json.loads(out)  # exactly one object: json.loads fails on trailing text


def test_cli_import_stays_light():
    import subprocess
    import sys
    code = "import sys, mlacalc.cli; print([m for m in ('torch','triton','plotly','pynvml') if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_command_group_map_matches_what_modules_register():
    from mlacalc.cli import COMMAND_GROUPS, GROUPS, make_app

    for group in GROUPS:
        import typer.main

        cmd = typer.main.get_command(make_app((group,)))
        names = set(cmd.commands)
        assert names == {c for c, g in COMMAND_GROUPS.items() if g == group}, group


def test_help_lists_every_command(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for name in ("kv", "weights", "compare", "specs", "schema", "roofline", "fit", "sweep", "train", "profile",
                 "calibrate", "validate", "bench"):
        assert name in out


def test_unwritable_output_file_is_one_line(capsys, tmp_path):
    target = tmp_path / "missing-dir" / "sweep.html"
    code, _, err = run(capsys, "sweep", "deepseek-v2-lite", "--context", "4k", "--batch", "8", "--plot", str(target))
    assert code == 2 and err.count("\n") == 1 and str(target) in err
