"""Benchmark: a sweep of 10,000 configurations (target: under 2 s on a 2-core machine). Prints the time.

    python tests/bench_sweep.py

4 attention variants x 2 GPU kinds x 5 GPU counts x 25 contexts x 10 batches of DeepSeek-V3 decode.
Spec and hardware loading (YAML) happen once, outside the timed part, as in ``mlacalc sweep``.
"""

from __future__ import annotations

import os
import time

from mlacalc.hardware import load_hardware
from mlacalc.spec import load_spec
from mlacalc.sweep import sweep


def main() -> None:
    variants = [(v or "mla", load_spec("deepseek-v3", [], v)) for v in (None, "mha", "gqa:8", "mqa")]
    gpus = [load_hardware("h100-sxm"), load_hardware("h200")]
    counts = [1, 2, 4, 8, 16]
    contexts = [1024 * (i + 1) for i in range(25)]
    batches = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        sw = sweep(variants, gpus, counts, contexts, batches)
        best = min(best, time.perf_counter() - t0)
    n = len(sw.rows)
    print(f"sweep of {n:,} configurations: {best:.3f} s best of 3 ({best / n * 1e6:.0f} us each) "
          f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
