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
