"""Lab script (CPU, no GPU): compile decode kernels for sm_90 with the installed Triton and count the SASS of their
loops, the figures docs/kernels-notes.md quotes ("Issue 14: counters first").

    python bench/sass_loops.py                        # the Triton MLA kernel, 16-head tile, contiguous and paged
    python bench/sass_loops.py --gluon                # ... and the Gluon seesaw kernel (its warp groups' loops; bf16
                                                      # contiguous and paged, 64-key tiles, and fp8 caches)
    PYTHONPATH=DIR python bench/sass_loops.py --gluon # another Triton (e.g. 3.6, the GPU machine's, unpacked in DIR)
    python bench/sass_loops.py --gluon-sched          # the Gluon kernel's fixed grid beside its scheduled mode
    python bench/sass_loops.py --cubin FILE           # any cubin's loops, e.g. FlashMLA's dense decode built here
                                                      # on the CPU (nvcc 13, about 65 s; its includes as in
                                                      # .peers/build_flashmla.py, tarball unpacked in /tmp/fm):
        cd /tmp/fm/fm && nvcc -cubin -arch=sm_90a -O3 -std=c++20 -DNDEBUG -DFLASH_MLA_DISABLE_FP16 \
          --expt-relaxed-constexpr --expt-extended-lambda --use_fast_math -I/usr/local/cuda/include/cccl -Icsrc \
          -Icsrc/api -Icsrc/kerutils/include -Icsrc/sm90 -Icsrc/cutlass/include -Icsrc/cutlass/tools/util/include \
          csrc/sm90/decode/dense/instantiations/bf16.cu -o /tmp/fm/bf16.cubin

Per kernel: instructions, local-memory spill loads/stores (STL/LDL), and for each loop (a backward branch over more
than 128 instructions) its instruction count and commonest opcodes. Static counts: a branch inside a loop counts
both of its sides.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import tempfile

import triton

from mlacalc.kernels.triton_mla_decode import compile_sm90


def compile_mla(paged: bool, block_h=16, block_n=64, warps=4, stages=3):
    """The bf16 Triton MLA decode kernel (DeepSeek's dims) for sm_90."""
    return compile_sm90(512, 64, block_h, block_n, warps, stages, paged=paged)


def sass(kernel) -> list[tuple[int, str]]:
    """(address, instruction) of a compiled kernel, from the cuobjdump Triton ships."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "k.cubin")
        with open(path, "wb") as f:
            f.write(kernel.asm["cubin"])
        return parse(cuobjdump(path))


def cuobjdump(path: str) -> str:
    """The SASS text of a cubin, from the cuobjdump Triton ships."""
    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    return subprocess.run([tool, "-sass", path], capture_output=True, text=True, check=True).stdout


def parse(text: str) -> list[tuple[int, str]]:
    """(address, instruction) of one function's SASS text."""
    return [(int(m.group(1), 16), m.group(2).strip())
            for m in re.finditer(r"^\s+/\*([0-9a-f]{4,5})\*/\s+(.*?);", text, re.M)]


def opcode(instr: str) -> str:
    return re.sub(r"^@!?U?P\w+\s+", "", instr).split()[0].split(".")[0]


def report(name: str, ins: list[tuple[int, str]]) -> None:
    spills = sum(1 for _, t in ins if opcode(t) in ("STL", "LDL"))
    print(f"{name}: {len(ins)} instructions, {spills} STL/LDL")
    for addr, text in ins:
        m = re.search(r"BRA\s+(?:`\(\.L_x_\d+\)\s*)?0x([0-9a-f]+)", text)
        if m and 128 * 16 < addr - int(m.group(1), 16) and "@" in text:  # a conditional backward branch: a loop
            body = [t for a, t in ins if int(m.group(1), 16) <= a <= addr]
            top = collections.Counter(opcode(t) for t in body).most_common(6)
            spilled = sum(1 for t in body if opcode(t) in ("STL", "LDL"))
            print(f"  loop {int(m.group(1), 16):#x}-{addr:#x}: {len(body)} instructions, {spilled} STL/LDL, {top}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gluon", action="store_true", help="also the Gluon seesaw kernel")
    ap.add_argument("--gluon-sched", action="store_true",
                    help="only the Gluon kernel, fixed grid and scheduled mode (bf16, 32- and 64-key tiles)")
    ap.add_argument("--cubin", help="only this cubin's functions (e.g. FlashMLA's, compiled by nvcc: see above)")
    a = ap.parse_args()
    if a.cubin:
        for function in cuobjdump(a.cubin).split("Function : ")[1:]:
            report(function.split("\n")[0][:72], parse(function))
        return
    print("triton", triton.__version__)
    if a.gluon_sched:
        from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig, compile_sm90

        for block_n in (64, 32):
            for paged in (False, True):
                for scheduled in (False, True):
                    k = compile_sm90(GluonMLAConfig(block_n=block_n), paged=paged, scheduled=scheduled)
                    report(f"Gluon seesaw {block_n}-key tiles, {'paged' if paged else 'contiguous'}, "
                           f"{'scheduled' if scheduled else 'fixed grid'}", sass(k))
        return
    for paged in (False, True):
        report(f"Triton MLA 16/64/4/3 {'paged64' if paged else 'contiguous'}", sass(compile_mla(paged)))
    if a.gluon:
        from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig, compile_sm90

        report("Gluon seesaw (64 rows, 4 x 32 keys)", sass(compile_sm90()))
        report("Gluon seesaw (64 rows, 2 x 64 keys: more than 64 rows)", sass(compile_sm90(GluonMLAConfig(block_n=64))))
        report("Gluon seesaw (64 rows, 2 x 64 keys, rescale slack 8)",
               sass(compile_sm90(GluonMLAConfig(block_n=64, rescale_slack=8.0))))
        report("Gluon seesaw, paged (64-token blocks)", sass(compile_sm90(paged=True)))
        report("Gluon seesaw, fp8 cache (4 x 32 keys widened in place by a third group)", sass(compile_sm90(fp8=True)))


if __name__ == "__main__":
    main()
