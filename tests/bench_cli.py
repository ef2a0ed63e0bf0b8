"""Benchmark (not a test): wall time of `mlacalc kv` and `mlacalc compare` as a user runs them.

    python tests/bench_cli.py [--runs 10]

Prints the median and the worst of N runs of each command (a fresh process each time, start-up included).
The budget is 0.3 s on a 2-core machine.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS = [
    ["kv", "deepseek-v3", "--context", "128k"],
    ["kv", "deepseek-v3", "--context", "128k", "--json"],
    ["compare", "deepseek-67b", "deepseek-v2@dtypes.kv=6", "--context", "128k"],
    ["compare", "deepseek-67b", "deepseek-v2", "deepseek-v3", "llama-3.1-70b", "--json"],
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    exe = shutil.which("mlacalc") or sys.exit("mlacalc is not on PATH: pip install . first")
    for cmd in COMMANDS:
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            subprocess.run([exe, *cmd], check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t)
        print(f"{statistics.median(times):6.3f} s median  {max(times):6.3f} s worst   mlacalc {' '.join(cmd)}")


if __name__ == "__main__":
    main()
