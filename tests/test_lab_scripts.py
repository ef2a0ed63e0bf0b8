"""The lab scripts under bench/ (outside the installed package, run by hand or by a device call) at least parse:
every Python one compiles and every device script passes `bash -n`. A device call is scarce (minutes of GPU time a
session), so a typo found there costs a call; found here it costs nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
PY = sorted(BENCH.glob("*.py"))
SH = sorted(BENCH.glob("*.sh"))


def test_there_are_lab_scripts_to_check():
    assert len(PY) > 20 and len(SH) > 20


@pytest.mark.parametrize("path", PY, ids=lambda p: p.name)
def test_lab_script_compiles(path):
    compile(path.read_text(), str(path), "exec")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_device_scripts_parse():
    bad = []
    for path in SH:
        r = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        if r.returncode != 0:
            bad.append(f"{path.name}: {r.stderr.strip()}")
    assert not bad, bad


def test_alternating_rounds_reverse_the_order_every_other_round(monkeypatch):
    """bench/common.alternating, the order of an A/B's timed calls: a, b, c, then c, b, a, then a, b, c again."""
    pytest.importorskip("torch")
    monkeypatch.syspath_prepend(str(BENCH))
    from common import alternating

    assert list(alternating(["a", "b", "c"])) == [(0, "a"), (0, "b"), (0, "c"), (1, "c"), (1, "b"), (1, "a")]
    assert [n for _, n in alternating(["a", "b"], rounds=3)] == ["a", "b", "b", "a", "a", "b"]


def test_lab_run_writes_what_landed_however_the_run_ends(monkeypatch):
    """bench/common.lab_run: the rows appended inside the block are written when it ends, also when it raises, with
    the Triton version and the caller's meta; a device script's `timeout` (SIGTERM) exits 124, so it writes them too."""
    pytest.importorskip("torch")
    pytest.importorskip("triton")
    import signal

    monkeypatch.syspath_prepend(str(BENCH))
    import common

    written = []
    monkeypatch.setattr(common, "dump_run", lambda path, rows, **meta: written.append((path, list(rows), meta)))
    before = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(RuntimeError):
            with common.lab_run("out.json", seed=3) as rows:
                rows.append({"a": 1})
                assert signal.getsignal(signal.SIGTERM) is not before
                with pytest.raises(SystemExit) as stop:
                    signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
                assert stop.value.code == 124
                raise RuntimeError("cut")
    finally:
        signal.signal(signal.SIGTERM, before)
    assert len(written) == 1
    path, rows, meta = written[0]
    assert (path, rows, meta["seed"]) == ("out.json", [{"a": 1}], 3)
    assert meta["triton"] == __import__("triton").__version__


def test_this_sessions_dsa_lab_scripts_refuse_bad_input_in_one_line(monkeypatch, capsys, tmp_path):
    """bench/dsa_gather_scaling.py given a missing or non-JSON file, and bench/dsa_bandwidth_check.py's --batches
    given a word or a zero: one line and exit 2 (they were a FileNotFoundError and a ValueError traceback)."""
    pytest.importorskip("torch")
    import argparse

    monkeypatch.syspath_prepend(str(BENCH))
    import dsa_bandwidth_check
    import dsa_gather_scaling

    notes = tmp_path / "notes.md"
    notes.write_text("# not JSON\n")
    for arg in (str(tmp_path / "missing.json"), str(notes)):
        assert dsa_gather_scaling.main([arg]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "usage: bench/dsa_gather_scaling.py" in err
    ap = argparse.ArgumentParser()
    dsa_bandwidth_check._args(ap)
    assert ap.parse_args([]).batches == [64, 132, 247] and ap.parse_args(["--batches", "3,4"]).batches == [3, 4]
    for bad in ("x", "0", "4,-1"):
        with pytest.raises(SystemExit) as e:
            ap.parse_args(["--batches", bad])
        assert e.value.code == 2 and "invalid _batches value" in capsys.readouterr().err


def _needs(*mods: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in mods)


@pytest.mark.parametrize("argv,mods", [
    (["ab_summary.py", "{missing}"], ()),
    (["ab_summary.py", "{notes}", "a/b"], ()),
    (["fit_cuda_fp8.py", "{missing}"], ()),
    (["fit_cuda_fp8.py", "{empty_rows}", "--gpu", "no-such-gpu"], ()),
    (["peers_markdown.py", "{missing}"], ("torch", "triton")),
    (["peers_markdown.py", "{empty_rows}"], ("torch", "triton")),
    (["ncu_summary.py", "{missing}"], ()),
    (["schedule_summary.py", "{notes}"], ()),
    (["accuracy_table.py", "{missing}"], ()),
    (["heldout_fp8_cuda.py", "--summary", "{missing}"], ("torch", "triton")),
    (["defaults_from_calibration.py", "{missing}", "h100-sxm"], ()),
], ids=lambda v: v[0] if isinstance(v, list) else None)
def test_summary_scripts_refuse_a_bad_file_in_one_line(argv, mods, tmp_path):
    """The lab scripts that read a run's file, given a missing file, a markdown file or a JSON without rows (or an
    unknown GPU): one line on stderr naming the script, exit status 2, no traceback (bench/labio.read_json)."""
    import sys

    if not _needs(*mods):
        pytest.skip(f"needs {', '.join(mods)}")
    notes = tmp_path / "notes.md"
    notes.write_text("# not JSON\n")
    empty = tmp_path / "empty.json"
    empty.write_text('{"rows": []}')
    files = dict(missing=str(tmp_path / "missing.json"), notes=str(notes), empty_rows=str(empty))
    args = [str(BENCH / argv[0])] + [a.format(**files) for a in argv[1:]]
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr[-500:]
