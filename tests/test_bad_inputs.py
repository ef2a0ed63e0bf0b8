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


