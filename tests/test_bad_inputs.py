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


