"""Lab script (CPU, no GPU): shared memory and registers of the GQA decode kernel's programs as the installed Triton
compiles them for sm_90, beside kernels/triton_gqa_decode.py's gqa_smem_bytes and GQA_REGS (the planner counts the
programs that fit an SM from those).

    python bench/gqa_resources.py                 # the installed Triton (3.9 here)
    PYTHONPATH=DIR python bench/gqa_resources.py  # another one (3.6, the GPU machine's, unpacked from its wheel in DIR)
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile

import triton

from mlacalc.kernels.triton_gqa_decode import GQA_REGS, compile_sm90, gqa_smem_bytes


def registers(kernel) -> tuple[int, int]:
    """(registers a thread, stack bytes) of a compiled kernel, from the cuobjdump Triton ships."""
    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "k.cubin")
        with open(path, "wb") as f:
            f.write(kernel.asm["cubin"])
        out = subprocess.run([tool, "-res-usage", path], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"REG:(\d+)", out).group(1)), int(re.search(r"STACK:(\d+)", out).group(1))


def main() -> None:
    print("triton", triton.__version__)
    print(f"{'head dim':>8} {'rows':>4} {'stages':>6} {'shared B':>9} {'formula':>8} {'regs':>4} {'table':>5} stack")
    for head_dim in (32, 64, 128, 256):
        for rows in (16, 32, 64):
            for stages in (2, 3):
                k = compile_sm90(head_dim, rows, stages)
                regs, stack = registers(k)
                print(f"{head_dim:>8} {rows:>4} {stages:>6} {k.metadata.shared:>9} "
                      f"{gqa_smem_bytes(head_dim, rows, stages):>8} {regs:>4} {GQA_REGS[head_dim, rows]:>5} {stack}",
                      flush=True)


if __name__ == "__main__":
    main()
