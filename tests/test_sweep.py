"""Sweep: every combination once, table/CSV/JSON outputs, the HTML chart, skipped layouts."""

from __future__ import annotations

import csv
import io
import json

import pytest

from mlacalc.cli import main
from mlacalc.hardware import load_hardware
from mlacalc.spec import load_spec
from mlacalc.sweep import sweep


def test_one_row_per_combination_and_fits_matches_max_batch():
    variants = [("v2-lite", load_spec("deepseek-v2-lite")), ("as mha", load_spec("deepseek-v2-lite", [], "mha"))]
    sw = sweep(variants, [load_hardware("h100-sxm"), load_hardware("l40s")], [1, 2], [1024, 8192], [1, 64])
    assert len(sw.rows) == 2 * 2 * 2 * 2 * 2
    for r in sw.rows:
        assert r.fits == (r.batch <= r.max_batch)
    assert set(sw.focus) == {"v2-lite", "as mha"}


def test_layouts_that_cannot_split_are_skipped_not_fatal():
    sw = sweep([("m", load_spec("deepseek-v2-lite"))], [load_hardware("h100-sxm")], [1, 3], [1024], [1])
    assert {r.gpus for r in sw.rows} == {1}
    assert sw.skipped and sw.skipped[0]["gpus"] == 3


def run(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_cli_csv_and_json(capsys):
    base = ["sweep", "deepseek-v2-lite", "--context", "1k,4k", "--batch", "1,8", "--gpus", "1", "--as", "gqa:4"]
    code, out, _ = run(base + ["--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 2 * 2 * 2 and "tokens_per_s_per_gpu" in rows[0]
    code, out, _ = run(base + ["--json"], capsys)
    d = json.loads(out)
    assert code == 0 and len(d["rows"]) == 8 and d["focus"]["gpus"] == 1


def test_cli_plot_is_self_contained_html(tmp_path, capsys):
    path = tmp_path / "s.html"
    code, out, _ = run(["sweep", "deepseek-v2-lite", "--context", "1k,8k,32k", "--batch", "1,16", "--gpus", "1,2",
                        "--as", "mha", "--plot", str(path), "--json"], capsys)
    assert code == 0 and json.loads(out)["rows"]
    html = path.read_text()
    assert path.stat().st_size > 1_000_000                     # plotly.js is inside the file
    assert "cdn.plot.ly" not in html.split("<body>")[-1][:2000]
    assert "attn_core" in html and "Largest batch" in html


def test_cli_bad_format_exit_2(capsys):
    code, out, err = run(["sweep", "deepseek-v2-lite", "--format", "xml"], capsys)
    assert code == 2 and err.startswith("error:")


def test_cli_warns_once_a_context_past_the_models_limit(capsys):
    """fit, roofline and compare warn when --context passes max_position_embeddings; the sweep said nothing (review
    2). Llama-3.1-8B's config.json: max_position_embeddings 131072 = 128k, so 256k (262,144) warns, 4k does not, and
    the --as variant (the same model's limit) does not warn a second time. stdout stays one JSON object."""
    code, out, err = run(["sweep", "llama-3.1-8b", "--context", "4k,256k", "--batch", "1", "--gpus", "1",
                          "--as", "mha", "--json"], capsys)
    assert code in (0, None) and json.loads(out)["rows"]
    assert err.splitlines() == ["warning: --context 262,144 exceeds llama-3.1-8b's max_position_embeddings 131,072"]


def test_dp_attention_on_one_gpu_is_skipped_with_the_reason(capsys):
    """roofline and fit refuse --dp-attention at tp 1 ("needs tp > 1"); the sweep ran its 1-GPU rows as plain attention
    without a word (review 2). Now the count is skipped like an --ep it cannot split: --gpus 1,2 keeps the 2-GPU rows
    (DeepSeek-V2-Lite's 16 heads, each rank all of them for ceil(8 / 2) = 4 of the 8 sequences) and names 1 GPU in
    skipped; --gpus 1 alone has nothing to lay out, one line and exit 2."""
    sw = sweep([("m", load_spec("deepseek-v2-lite"))], [load_hardware("h100-sxm")], [1, 2], [4096], [8],
               dp_attention=True)
    assert {r.gpus for r in sw.rows} == {2}
    assert [(s["gpus"], s["argument"]) for s in sw.skipped] == [(1, "dp_attention")]
    assert "needs tp > 1" in sw.skipped[0]["reason"]
    code, out, err = run(["sweep", "deepseek-v2-lite", "--dp-attention", "--gpus", "1,2", "--context", "4k",
                          "--batch", "8", "--json"], capsys)
    d = json.loads(out)
    assert code in (0, None) and {r["gpus"] for r in d["rows"]} == {2} and d["skipped"][0]["gpus"] == 1
    code, out, err = run(["sweep", "deepseek-v2-lite", "--dp-attention", "--gpus", "1", "--context", "4k",
                          "--batch", "8"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "--dp-attention" in err and "needs tp > 1" in err


def test_prefill_rows_say_time_to_first_token(capsys):
    """A prefill step serves every prompt of the batch before any emits a token, so its whole time is the time to first
    token; the table showed it as "per token" (688.20 ms for Llama-3.1-8B, 8 prompts of 4k on an H100: review 2).
    JSON keeps time_per_output_token_s as roofline's (prefill: the step) and adds time_to_first_token_s, the same
    number, on prefill rows only."""
    args = ["sweep", "llama-3.1-8b", "--context", "4k", "--batch", "8", "--gpus", "1"]
    code, out, _ = run(args + ["--phase", "prefill", "--json"], capsys)
    row = json.loads(out)["rows"][0]
    assert row["fits"] and row["time_to_first_token_s"] == row["step_time_s"] == row["time_per_output_token_s"] > 0
    code, out, _ = run(args + ["--phase", "prefill"], capsys)
    assert "time to first token" in out and "per token" not in out
    code, out, _ = run(args + ["--json"], capsys)
    assert json.loads(out)["rows"][0]["time_to_first_token_s"] is None     # decode: no first token in the step
    code, out, _ = run(args, capsys)
    assert "per token" in out and "first token" not in out
