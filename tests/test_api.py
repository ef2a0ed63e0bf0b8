"""The Python API returns the reports the CLI prints: ``to_json()`` equals the command's ``--json``."""

import json

import pytest

import mlacalc
from mlacalc.cli import main


def cli_json(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        main(list(argv) + ["--json"])
    out = capsys.readouterr()
    assert e.value.code == 0, out.err
    return json.loads(out.out)


def same(report_json, cli):
    """Equal after a JSON round trip (tuples become lists, ints stay ints)."""
    assert json.loads(json.dumps(report_json)) == cli


def test_all_names_are_exported():
    assert set(mlacalc.__all__) >= {"load_spec", "load_hardware", "Parallelism", "kv_cache", "weights", "roofline",
                                    "fit", "train_memory", "SpecError"}
    for name in mlacalc.__all__:
        assert getattr(mlacalc, name) is not None


def test_kv_cache_matches_the_cli(capsys):
    spec = mlacalc.load_spec("deepseek-v3")
    r = mlacalc.kv_cache(spec, context=32768, batch=4, parallel=mlacalc.Parallelism(tp=8, dp_attention=True))
    same(r.to_json(), cli_json(capsys, "kv", "deepseek-v3", "--context", "32k", "--batch", "4", "--tp", "8",
                               "--dp-attention"))
    # by hand: 61 layers x (512 + 64) x 2 bytes x 32,768 tokens x ceil(4 / 8) = 1 sequence per GPU
    assert r.per_gpu.total == 61 * 576 * 2 * 32768


def test_weights_matches_the_cli(capsys):
    r = mlacalc.weights("deepseek-v3", parallel=mlacalc.Parallelism(tp=8, ep=8))
    same(r.to_json(), cli_json(capsys, "weights", "deepseek-v3", "--tp", "8", "--ep", "8"))
    assert r.params.total == 671_026_404_352          # without the MTP module, as the paper counts
    assert r.mtp_params == 11_610_060_800


def test_roofline_matches_the_cli(capsys):
    r = mlacalc.roofline("deepseek-v3", "h200", batch=64, context="32k",
                         parallel=mlacalc.Parallelism(tp=8, dp_attention=True, ep=8))
    same(r.to_json(), cli_json(capsys, "roofline", "deepseek-v3", "--gpu", "h200", "--batch", "64", "--context",
                               "32k", "--tp", "8", "--dp-attention", "--ep", "8"))


def test_fit_matches_the_cli(capsys):
    f = mlacalc.fit("llama-3.1-8b", "h100-sxm", context="8k")
    same({"fits": [f.to_json()]}, cli_json(capsys, "fit", "llama-3.1-8b", "--context", "8k"))


def test_train_memory_matches_the_cli(capsys):
    m = mlacalc.train_memory("deepseek-v2-lite", "h200", seq="4k", recompute="mla-latent")
    same(m.to_json(), cli_json(capsys, "train", "deepseek-v2-lite", "--gpu", "h200", "--seq", "4k",
                               "--recompute", "mla-latent"))
    assert m.to_json()["mla_latent_vs_expanded"] is not None


def test_fp8_ds_kv_dtype_matches_the_cli(capsys):
    """Audit 5: ``kv_dtype="fp8-ds"`` raised "unknown dtype" in the API while ``--kv-dtype fp8-ds`` sized FlashMLA's
    656-byte rows in every command. By hand: 656 B of MLA row + 132 B of indexer key = 788 B a token and layer."""
    spec = mlacalc.load_spec("deepseek-v3.2")
    r = mlacalc.kv_cache(spec, context=4096, kv_dtype="fp8-ds")
    same(r.to_json(), cli_json(capsys, "kv", "deepseek-v3.2", "--context", "4k", "--kv-dtype", "fp8-ds"))
    assert r.per_token_layer.total == 788 and r.per_sequence.total == 788 * 61 * 4096
    par = mlacalc.Parallelism(tp=8)
    step = mlacalc.roofline(spec, "h200", batch=8, context="8k", parallel=par, kv_dtype="fp8-ds")
    same(step.to_json(), cli_json(capsys, "roofline", "deepseek-v3.2", "--gpu", "h200", "--batch", "8", "--context",
                                  "8k", "--tp", "8", "--kv-dtype", "fp8-ds"))
    f = mlacalc.fit(spec, "h200", context="8k", parallel=par, kv_dtype="fp8-ds")
    same({"fits": [f.to_json()]}, cli_json(capsys, "fit", "deepseek-v3.2", "--gpu", "h200", "--context", "8k",
                                           "--tp", "8", "--kv-dtype", "fp8-ds"))


def test_library_errors_name_arguments_and_the_cli_names_flags(capsys):
    with pytest.raises(mlacalc.SpecError) as e:
        mlacalc.kv_cache("deepseek-v3", context=0)
    assert e.value.field == "context"
    with pytest.raises(mlacalc.SpecError) as e:
        mlacalc.weights("llama-3.1-8b", parallel=mlacalc.Parallelism(tp=3))
    assert e.value.field == "tp" and "--" not in str(e.value)
    with pytest.raises(SystemExit):
        main(["weights", "llama-3.1-8b", "--tp", "3"])
    assert capsys.readouterr().err.startswith("error: --tp: ")
