"""Lab script: the Markdown summary of bench/ncu_gpu.sh's Nsight Compute output (one details page per case).

    python3 bench/ncu_summary.py reports/h200/ncu/ncu.txt.gz > reports/h200/ncu/summary.md

One row per (case, kernel): duration, executed instructions, IPC, issue-slot use, tensor-pipe use, DRAM
throughput, registers, shared memory, local-memory spill requests and the three largest stall reasons (cycles
between two issued instructions of a warp).
"""

from __future__ import annotations

import gzip
import re
import sys

METRICS = {
    "us": r"Duration\s+(us|ms)\s+([\d.,]+)",
    "instructions": r"Executed Instructions\s+inst\s+([\d,]+)",
    "ipc": r"Executed Ipc Active\s+inst/cycle\s+([\d.]+)",
    "issue %": r"Issue Slots Busy\s+%\s+([\d.]+)",
    "tensor %": r"sm__pipe_tensor_cycles_active\.avg\.pct_of_peak_sustained_active\s+%\s+([\d.]+)",
    "DRAM %": r"DRAM Throughput\s+%\s+([\d.]+)",
    "regs": r"Registers Per Thread\s+register/thread\s+(\d+)",
    "smem KB": r"Dynamic Shared Memory Per Block\s+(Kbyte|byte)/block\s+([\d.]+)",
    "spill req": r"Local Memory Spilling Requests\s+([\d,]+)",
}


def _value(name: str, text: str) -> str:
    m = re.search(METRICS[name], text)
    if not m:
        return ""
    if name == "us":
        v = float(m.group(2).replace(",", ""))
        return f"{v * 1000 if m.group(1) == 'ms' else v:.1f}"
    if name == "smem KB":
        v = float(m.group(2))
        return f"{v / 1000 if m.group(1) == 'byte' else v:.1f}"
    return m.group(m.lastindex)


def _stalls(text: str) -> str:
    rows = re.findall(r"Stall ([A-Za-z ]+?)\s+inst\s+([\d.]+)", text)
    top = sorted(((float(v), k.strip()) for k, v in rows), reverse=True)[:3]
    return ", ".join(f"{k} {v:.2f}" for v, k in top)


def summarize(raw: str) -> str:
    out = ["| case | kernel | " + " | ".join(METRICS) + " | top stalls (cycles) |",
           "|---|---|" + "---:|" * len(METRICS) + "---|"]
    for case in re.split(r"^===== case ", raw, flags=re.M)[1:]:
        name = case.split("\n", 1)[0].strip()
        for kernel in re.split(r"\n  (?=\S+.*\(\d+, \d+, \d+\)x\(\d+, \d+, \d+\))", case)[1:]:
            kname = re.sub(r"^void\s+", "", kernel.split("(", 1)[0].split("<", 1)[0].strip())  # no template args
            vals = [_value(k, kernel) for k in METRICS]
            out.append(f"| {name} | {kname} | " + " | ".join(vals) + f" | {_stalls(kernel)} |")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 bench/ncu_summary.py NCU.csv[.gz]", file=sys.stderr)
        return 2
    path = argv[0]
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt") as f:
            text = f.read()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        print(f"ncu_summary: {path}: cannot be read ({type(e).__name__})", file=sys.stderr)
        return 2
    print(summarize(text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
