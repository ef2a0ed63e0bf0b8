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
