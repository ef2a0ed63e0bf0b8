"""bench/fuzz_kernels_gpu.py's harness on the CPU: its draws stay within the reference's host budget, and its CPU
mode (eager MLA, SDPA GQA) passes every case it runs, so a failure on the GPU is the kernel's, not the harness's."""

import random
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from fuzz_kernels_gpu import MAX_ROW_KEYS, draw  # noqa: E402


def test_draws_are_valid_and_bounded():
    rng = random.Random(7)
    kinds = set()
    for _ in range(300):
        c = draw(rng)
        kinds.add(c["kind"])
        keys = max(c["lens"]) if c["kind"] != "sparse" else min(max(c["lens"]), c["topk"])
        assert len(c["lens"]) == c["B"] >= 1 and min(c["lens"]) >= c["s_q"]
        assert c["B"] * c["s_q"] * c["heads"] * keys <= MAX_ROW_KEYS
        if c["kind"] == "gqa":
            assert c["heads"] % c["kv_heads"] == 0
    assert kinds == {"mla", "sparse", "gqa"}


def test_the_cpu_mode_passes_its_cases():
    r = subprocess.run([sys.executable, str(BENCH / "fuzz_kernels_gpu.py"), "--cpu", "--cases", "25", "--seed", "4"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "{'ok': " in r.stdout and "WRONG" not in r.stdout and "ERROR" not in r.stdout
