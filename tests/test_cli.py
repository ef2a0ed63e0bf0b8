"""The CLI contract: --json prints one object; bad input is one line on stderr and exit code 2."""

import json
import os

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


def test_specs_validate_names_a_malformed_file_once(capsys, tmp_path):
    """A file-level error (malformed YAML, no such file) carries the file's name itself; the line names it once."""
    broken, missing = tmp_path / "syntax.yaml", tmp_path / "missing.yaml"
    broken.write_text("a: [1, 2\nb: 3\n")
    code, out, _ = run(capsys, "specs", "validate", str(broken), str(missing))
    lines = out.strip().splitlines()
    assert code == 2 and len(lines) == 2
    assert lines[0].startswith(f"{broken}: error: malformed YAML") and lines[0].count(str(broken)) == 1
    assert lines[1].startswith(f"{missing}: error: ") and lines[1].count(str(missing)) == 1


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


@pytest.mark.parametrize("command, refused", [
    ("roofline", ["--pp", "--dp", "--cp", "--sp"]),
    ("fit", ["--pp", "--dp", "--cp", "--sp"]),
    ("sweep", ["--tp", "--pp", "--dp", "--cp", "--sp"]),
])
def test_help_leaves_out_the_degrees_a_command_refuses(capsys, command, refused):
    """roofline, fit and sweep listed --pp, --dp, --cp, --sp (sweep: --tp) in --help with a description, and then
    refused them; they are still accepted and refused in one line, but no longer offered."""
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and "--ep" in out and "--dp-attention" in out
    for flag in refused:
        assert f"{flag} " not in out, (command, flag)
        value = [] if flag == "--sp" else ["2"]
        code, out2, err = run(capsys, command, "deepseek-v3", flag, *value, *(["--tp", "2"] if flag == "--sp" else []))
        assert code == 2 and err.count("\n") == 1, (command, flag, err)


def test_plot_without_plotly_is_one_line(capsys, tmp_path, monkeypatch):
    """sweep --plot without plotly ran the whole sweep and then raised ModuleNotFoundError with a traceback."""
    import sys

    monkeypatch.setitem(sys.modules, "plotly", None)  # importlib.util.find_spec("plotly") -> None: not installed
    target = tmp_path / "sweep.html"
    code, out, err = run(capsys, "sweep", "deepseek-v2-lite", "--context", "4k", "--batch", "8", "--plot", str(target))
    assert code == 2 and out == "" and err.count("\n") == 1 and "pip install plotly" in err
    assert not target.exists()


def test_unwritable_output_file_is_one_line(capsys, tmp_path):
    target = tmp_path / "missing-dir" / "sweep.html"
    code, _, err = run(capsys, "sweep", "deepseek-v2-lite", "--context", "4k", "--batch", "8", "--plot", str(target))
    assert code == 2 and err.count("\n") == 1 and str(target) in err


# ---------------------------------------------------------------------------------------------------------
# No input breaks it: files that are not text, nesting that breaks recursive parsers, NaN and infinity,
# --version and -h everywhere, --json on every command, tables that fit 80 columns.
# ---------------------------------------------------------------------------------------------------------

def _one_error_line(code, out, err):
    return code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1


def test_binary_spec_and_hardware_files_are_one_line(capsys, tmp_path):
    blob = tmp_path / "weights.bin"
    blob.write_bytes(bytes(range(256)) * 4)  # NUL bytes and invalid UTF-8, as in a checkpoint
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))  # no NUL, but not UTF-8
    for args in (("kv", str(blob)), ("kv", str(latin)), ("fit", "deepseek-v3", "--gpu", str(blob))):
        code, out, err = run(capsys, *args)
        assert _one_error_line(code, out, err) and "not a text file" in err, args


def test_specs_validate_gives_a_binary_file_its_own_line(capsys, tmp_path):
    blob = tmp_path / "blob.yaml"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    code, out, _ = run(capsys, "specs", "validate", "llama-2-7b", str(blob), "deepseek-v3")
    assert code == 2
    assert out.splitlines() == ["llama-2-7b: ok", f"{blob}: error: not a text file (binary data)",
                                "deepseek-v3: ok"]


@pytest.mark.parametrize("name,text", [
    ("lists.yaml", "[" * 10_000 + "]" * 10_000),
    ("maps.yaml", "num_layers: " + "{a: " * 10_000 + "1" + "}" * 10_000),
    ("block.yaml", "num_layers:\n" + "".join(" " * i + "- \n" for i in range(2_000))),
    ("deep.json", '{"a": ' * 10_000 + "1" + "}" * 10_000),
])
def test_deep_nesting_is_one_line_not_a_recursion_traceback(capsys, tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    code, out, err = run(capsys, "kv", str(f))
    assert _one_error_line(code, out, err) and "nested too deeply" in err


def test_deep_set_value_is_one_line(capsys):
    code, out, err = run(capsys, "kv", "deepseek-v3", "--set", "num_layers=" + "[" * 10_000)
    assert _one_error_line(code, out, err)


@pytest.mark.parametrize("text,words", [
    ("a0: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"a{i}: &a{i} [{', '.join(['*a' if i == 1 else f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)),
     "each YAML alias counted as the values it copies"),  # "billion laughs": 10**9 values from 10 lines
    ("a: &x [1, *x]\n", "recursive YAML alias"),
    ("num_layers: .nan\n", "finite number"),
    ("num_layers: 2001-01-01\n", "unsupported YAML value"),
    ("num_layers: " + "9" * 5000 + "\n", "cannot be read"),
    ("num_layers: 1e400\nhidden_size: 99999999999999999999999999\n", "too large"),
])
def test_hostile_yaml_values_are_one_line(capsys, tmp_path, text, words):
    f = tmp_path / "spec.yaml"
    f.write_text(text)
    code, out, err = run(capsys, "kv", str(f))
    assert _one_error_line(code, out, err) and words in err, err


def test_json_spec_with_nan_is_refused(capsys, tmp_path):
    f = tmp_path / "config.json"
    f.write_text('{"num_hidden_layers": NaN}')
    code, out, err = run(capsys, "kv", str(f))
    assert _one_error_line(code, out, err) and "NaN" in err


@pytest.mark.parametrize("args", [
    ("kv", "deepseek-v3", "--kv-bits", "nan"), ("kv", "deepseek-v3", "--kv-bits", "inf"),
    ("kv", "deepseek-v3", "--context", "nan"), ("kv", "deepseek-v3", "--context", "1e400"),
    ("kv", "deepseek-v3", "--context", "inf"), ("kv", "deepseek-v3", "--batch", "999999999999999999999"),
    ("kv", "deepseek-v3", "--batch", "9" * 5000), ("kv", "deepseek-v3", "--context", ""),
    ("train", "deepseek-v3", "--reserve-gib", "nan"), ("fit", "deepseek-v3", "--gpu-mem-util", "nan"),
    ("sweep", "deepseek-v3", "--gpu-mem-util", "inf"),
])
def test_nan_inf_and_huge_numbers_are_one_line(capsys, args):
    code, out, err = run(capsys, *args, "--json")
    assert _one_error_line(code, out, err), err


def test_finite_and_parse_count():
    from mlacalc.errors import SpecError
    from mlacalc.units import MAX_COUNT, finite, parse_count

    assert finite(0.9, "--x", 0, 1) == 0.9 and finite(3, "--x") == 3.0
    for bad, lo, hi in ((float("nan"), None, None), (float("inf"), None, None), (-1, 0, None), (2, 0, 1),
                        ("1", None, None), (True, None, None), (10**400, None, None)):
        with pytest.raises(SpecError, match="--x"):
            finite(bad, "--x", lo, hi)
    assert parse_count("128k") == 131072 and parse_count("1e6") == 10**6
    assert parse_count(str(2**53 + 1), maximum=2**60) == 2**53 + 1  # exact, not rounded through a float
    for bad in ("nan", "inf", "-1", "1e400", "1.5", "", "k", "0x10", str(MAX_COUNT + 1), "9" * 5000, 2.5):
        with pytest.raises(SpecError):
            parse_count(bad)


@pytest.mark.parametrize("args", [(), ("kv",), ("specs",), ("specs", "validate"), ("bench",), ("bench", "kernels"),
                                  ("train",), ("profile",), ("sweep",), ("schema",)])
def test_version_on_every_command(capsys, args):
    from importlib.metadata import version

    code, out, err = run(capsys, *args, "--version")
    assert code == 0 and out == f"mlacalc {version('mlacalc')}\n" and err == ""


@pytest.mark.parametrize("args", [(), ("kv",), ("specs",), ("specs", "show"), ("bench", "kernels"), ("fit",)])
def test_short_h_is_help(capsys, args):
    code_h, out_h, _ = run(capsys, *args, "-h")
    code_help, out_help, _ = run(capsys, *args, "--help")
    assert code_h == code_help == 0 and out_h == out_help and "Usage:" in out_h


def test_a_group_without_its_command_shows_help(capsys):
    for args in ((), ("specs",), ("bench",)):
        code, out, err = run(capsys, *args)
        assert code == 0 and out.startswith("Usage:") and err == ""


def test_every_command_has_json():
    import typer.main

    from mlacalc.cli import GROUPS, make_app

    for group in GROUPS:
        todo = [("", typer.main.get_command(make_app((group,))))]
        while todo:
            path, cmd = todo.pop()
            if getattr(cmd, "commands", None):
                todo.extend((f"{path} {n}", c) for n, c in cmd.commands.items())
            else:
                assert any("--json" in p.opts for p in cmd.params if hasattr(p, "opts")), path


def test_bench_kernels_json_without_a_gpu_is_one_line(capsys, tmp_path):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the benchmark would run")
    code, out, err = run(capsys, "bench", "kernels", "--out", str(tmp_path / "k.json"), "--json")
    assert _one_error_line(code, out, err) and "GPU" in err
    assert not (tmp_path / "k.json").exists()


def test_json_output_is_strict_or_an_error():
    from mlacalc.commands.common import emit

    with pytest.raises(ValueError, match=r"models\[1\]\.ratio"):
        emit(True, {"models": [{"ratio": 1.0}, {"ratio": float("nan")}]}, lambda: None)


def test_error_message_with_a_line_break_stays_one_line(capsys):
    code, out, err = run(capsys, "kv", "no\nsuch\nmodel")
    assert _one_error_line(code, out, err) and "no\\nsuch\\nmodel" in err


def test_tables_fit_80_columns_without_cutting(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    for args, words in (
            (("compare", "deepseek-v3", "llama-2-7b", "deepseek-v2-lite", "--context", "128k"),
             ["deepseek-v3", "llama-2-7b", "deepseek-v2-lite", "671.03 B", "68.62 KiB"]),
            (("sweep", "deepseek-v3", "--as", "mha", "--gpus", "1,8", "--gpu", "h100-sxm,h200"),
             ["deepseek-v3", "131,072", "h100-sxm", "h200"]),
            (("kv", "deepseek-v3", "--context", "128k", "--batch", "64", "--tp", "8"), ["549.00 GiB", "131,072"]),
            (("specs", "list"), ["deepseek-v2-lite", "llama-2-7b"]),
            (("train", "deepseek-v3", "--tensors"), ["deepseek-v3"]),
            (("fit", "deepseek-v3", "--as", "mha", "--as", "gqa:8"), ["deepseek-v3", "gqa:8)"]),
    ):
        code, out, _ = run(capsys, *args)
        assert code == 0, args
        assert max(len(line) for line in out.splitlines()) <= 80, args
        assert "…" not in out, args
        flat = " ".join(out.split())  # a long name may wrap at its spaces
        for w in words:
            assert w in flat or w in out, (args, w)


@pytest.mark.parametrize("columns", range(70, 141, 5))
def test_compare_keeps_every_cell_at_any_width(capsys, monkeypatch, columns):
    """The compact layout (no outer border) once counted the outer border's cells as chrome, left the column widths to
    rich, and at 100 columns the last column (active parameters) and the caption were cut off."""
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, _ = run(capsys, "compare", "deepseek-67b", "deepseek-v2@dtypes.kv=6", "deepseek-v3", "llama-3.1-70b",
                       "--context", "128k")
    assert code == 0
    for cell in ("66.59 B", "20.85 B", "36.63 B", "69.50 B", "380.00 KiB", "93.3%", "deepseek-67b"):
        assert cell in out, (columns, cell)
    assert "multi-token-prediction modules" in " ".join(out.split()), columns


def test_a_narrow_table_keeps_its_title_and_notes_on_long_lines():
    """Title and caption wrapped at the table's width: train's two-column table printed its title as "Stored
    activations per" / "layer, one micro-batch, one" / "GPU"."""
    from rich.console import Console

    from mlacalc import report

    note = "a note of many words " * 8
    t = report.table("Stored activations per layer, one micro-batch, one GPU", ["part", "bytes"],
                     [["norms", "128.06 MiB"], ["total", "1.28 GiB"]], note.strip())
    for width, widest in ((130, 100), (100, 100), (60, 60)):
        con = Console(width=width, record=True, file=open(os.devnull, "w"))
        con.print(t)
        lines = [line.rstrip() for line in con.export_text().splitlines()]
        table_width = max(len(line) for line in lines if line.startswith(("┏", "│")))
        assert lines[0] == "Stored activations per layer, one micro-batch, one GPU", width
        notes = lines[next(i for i, line in enumerate(lines) if line.startswith("└")) + 1:]
        assert table_width < max(len(line) for line in notes) <= widest, width
        assert " ".join(" ".join(notes).split()) == " ".join(note.split())


def test_fit_names_the_group_batch_and_the_shortfall(capsys):
    """fit's table is titled "per GPU", but its largest batch is the whole TP group's (128 on 8 GPUs with
    --dp-attention is 16 per GPU); and weights past the usable memory showed as a KV budget of "0 B"."""
    code, out, _ = run(capsys, "fit", "deepseek-v3", "--gpu", "h800", "--tp", "8")
    assert code == 0
    # 7.97 GiB short without the MTP module a non-drafting server does not load (9.33 GiB with it, 1.35 GiB a GPU:
    # tests/test_audit8.py)
    assert "largest batch (8 GPUs)" in out and "none (7.97 GiB short)" in out
    code, out, _ = run(capsys, "fit", "llama-3.1-8b", "--gpu", "h200")
    assert code == 0 and "largest batch " in out and "GPUs)" not in out


def test_prose_columns_are_left_aligned(capsys, monkeypatch):
    """specs list right-aligned its descriptions, wrapped into ragged-left blocks; figures stay right-aligned."""
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = run(capsys, "specs", "list")
    assert code == 0
    # checked by position, not by border characters: at 100 columns the list falls back to a borderless layout once
    # its name column holds "nemotron-3-super-120b-a12b"
    lines = out.splitlines()
    row = next(i for i, line in enumerate(lines) if line.lstrip().startswith("deepseek-67b"))
    first, wrapped = lines[row], lines[row + 1]
    assert "380.00 KiB" in first and "Dense Llama-style" in first
    # left-aligned prose: the wrapped line starts in the description's own column (right-aligned, it was ragged-left)
    assert len(wrapped) - len(wrapped.lstrip()) == first.index("Dense Llama-style")


def test_fit_table_layouts_at_80_columns():
    """Wide tables fall back to fewer columns (constants lifted), transposed, then stacked; never cut."""
    from rich.console import Console

    from mlacalc import report

    names = [f"model-number-{i}" for i in range(6)]
    rows = [[n] + [f"{(i * 7 + j) * 1234567:,}.25 GiB" for i in range(1, 10)] for j, n in enumerate(names)]
    t = report.table("wide", ["model"] + [f"column {i}" for i in range(1, 10)], rows, "a caption")
    con = Console(width=80, record=True, file=open(os.devnull, "w"))
    con.print(t)
    text = con.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    for r in rows:
        for cell in r:
            assert cell in text


@pytest.mark.parametrize("n,shown", [(1023, "1,023 B"), (1024, "1.00 KiB"), (1536, "1.50 KiB"),
                                     (2**20 - 1, "1.00 MiB"), (2**30 - 1, "1.00 GiB"), (2**20 * 1023.5, "1,023.50 MiB")])
def test_bytes_pick_the_unit_after_rounding(n, shown):
    """Audit 5: 1,048,575 B read "1,024.00 KiB" (the unit chosen before rounding to the two decimals shown)."""
    from mlacalc.units import fmt_bytes
    assert fmt_bytes(n) == shown


@pytest.mark.parametrize("n,shown", [(999, "999"), (999_999, "1.00 M"), (6.74e9, "6.74 B"), (999_999_999_999, "1.00 T")])
def test_counts_pick_the_unit_after_rounding(n, shown):
    """Audit 5: 999,999 parameters read "1,000.00 K"."""
    from mlacalc.units import fmt_count
    assert fmt_count(n) == shown


def test_kv_note_names_a_cache_form_only_where_there_is_a_choice(capsys):
    """`--cache compressed|naive` is MLA's choice (latent or decompressed per-head K/V); the note said "GQA
    (compressed cache)" for Llama, naming a form GQA does not have."""
    code, out, _ = run(capsys, "kv", "llama-3.1-8b")
    assert code == 0 and "GQA, KV at 16 bits/element" in out and "cache)" not in out
    code, out, _ = run(capsys, "kv", "deepseek-v3", "--cache", "naive")
    assert code == 0 and "MLA (naive cache), KV at 16 bits/element" in out


def test_roofline_and_fit_captions_name_the_checkpoints_quantization(capsys):
    """The captions printed one width, dtypes.weights: "weights 16-bit" for gpt-oss-120b, whose routed experts are
    MXFP4 (4 bits + one e8m0 scale per 32 values = 4.25) and priced so in the table above the caption. A
    --weight-dtype still prices every matrix at one width, and says so."""
    for command in (("roofline", "gpt-oss-120b", "--gpu", "h200", "--context", "8192", "--batch", "8"),
                    ("fit", "gpt-oss-120b", "--gpu", "h200")):
        code, out, _ = run(capsys, *command)
        prose = " ".join(out.split())
        assert code == 0 and "weights: routed_experts mxfp4 at 4.25 bits (scales included), the rest at >= 16 bits" \
            in prose and "weights 16-bit" not in prose
        code, out, _ = run(capsys, *command, "--weight-dtype", "fp8")
        assert code == 0 and "weights 8-bit; KV 16-bit" in " ".join(out.split())


@pytest.mark.parametrize("argv", [
    ["kv", "deepseek-v2@dtypes.kv=6", "--kv-bits", "4"],
    ["kv", "deepseek-v2", "--set", "dtypes.kv=6", "--kv-bits", "4"],
    ["roofline", "deepseek-v2@dtypes.kv=6", "--kv-bits", "4"],
    ["fit", "deepseek-v2@dtypes.kv=6", "--kv-bits", "4", "--tp", "8"],
    ["compare", "deepseek-67b", "deepseek-v2@dtypes.kv=6", "--kv-bits", "4"],
])
def test_a_global_kv_flag_that_replaces_a_models_own_kv_dtype_says_so(capsys, argv):
    """deepseek-v2@dtypes.kv=6 (or --set dtypes.kv=6) with --kv-bits 4 sized the cache at 4 bits without a word: the
    global flag wins, as before, but now stderr and --json's "warnings" say what it replaced (review 2). The KV stays
    at the flag's bits: DeepSeek-V2's 60 layers x (512 + 64) elements x 4 / 8 = 17,280 B a token."""
    import json as _json

    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    line = "--kv-bits 4 replaces the KV dtype its own override sets (dtypes.kv=6); the global flag wins"
    assert err.splitlines() == [f"warning: deepseek-v2: {line}"]
    d = _json.loads(out)
    found = d.get("warnings") or [w for m in d.get("models", []) + d.get("fits", []) for w in m.get("warnings", [])]
    assert found == [line]
    if argv[0] == "kv":
        assert d["kv_bytes_per_token"] == 60 * (512 + 64) * 4 / 8 == 17_280


def test_a_kv_flag_alone_or_an_override_alone_warns_nothing(capsys):
    for argv in (["kv", "deepseek-v2@dtypes.kv=6"], ["kv", "deepseek-v2", "--kv-bits", "4"]):
        code, _, err = run(capsys, *argv, "--json")
        assert code == 0 and err == ""


def test_sweep_says_once_on_stderr_that_a_global_kv_flag_replaced_the_models_own(capsys):
    """The sweep's JSON has no "warnings" list: the line goes to stderr alone, once, and stdout stays one object."""
    import json as _json

    code, out, err = run(capsys, "sweep", "deepseek-v2@dtypes.kv=6", "--kv-bits", "4", "--gpus", "8", "--context",
                         "4k", "--batch", "1", "--json")
    assert code in (0, None) and _json.loads(out)["rows"]
    assert err.splitlines() == ["warning: deepseek-v2: --kv-bits 4 replaces the KV dtype its own override sets "
                                "(dtypes.kv=6); the global flag wins"]


def test_roofline_says_the_floor_throughput_is_the_groups(capsys):
    """At --tp 8 the caption read "(12 per GPU; floor 190)": the floor is the whole group's tokens/s (the JSON's
    tokens_per_s, 8 x its tokens_per_s_per_gpu), not per GPU like the figure before it (review 2)."""
    import json as _json

    args = ["roofline", "llama-3.1-70b", "--tp", "8", "--batch", "8"]
    d = _json.loads(run(capsys, *args, "--json")[1])
    assert d["tokens_per_s"] == pytest.approx(8 * d["tokens_per_s_per_gpu"])
    code, out, _ = run(capsys, *args)
    text = " ".join(out.split())           # the caption wraps at the console width
    assert code in (0, None)
    assert (f"({d['expected']['tokens_per_s_per_gpu']:,.0f} per GPU; floor {d['tokens_per_s']:,.0f} in all)"
            in text), text
