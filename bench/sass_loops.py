"""Lab script (CPU, no GPU): compile decode kernels for sm_90 with the installed Triton and count the SASS of their
loops, the figures docs/kernels-notes.md quotes ("Issue 14: counters first").

    python bench/sass_loops.py                        # the Triton MLA kernel, 16-head tile, contiguous and paged
    python bench/sass_loops.py --gluon                # ... and the Gluon seesaw kernel (its warp groups' loops; bf16
                                                      # contiguous and paged, 64-key tiles, and fp8 caches)
    PYTHONPATH=DIR python bench/sass_loops.py --gluon # another Triton (e.g. 3.6, the GPU machine's, unpacked in DIR)
    python bench/sass_loops.py --gluon-sched          # the Gluon kernel's fixed grid beside its scheduled mode
    python bench/sass_loops.py --gluon --sparse --flat  # ... the sparse kernels too; --flat: Q's loop-invariant view
                                                      # (stack_q=False), the build before the thirtieth session
    python bench/sass_loops.py --versus FILE          # FlashMLA's two loops beside the Gluon 64-key tile's
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
import dataclasses
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


def loops(ins: list[tuple[int, str]]) -> list[tuple[int, int, list[str]]]:
    """(first address, last address, instructions) of each loop: a conditional backward branch over more than 128
    instructions."""
    found = []
    for addr, text in ins:
        m = re.search(r"BRA\s+(?:`\(\.L_x_\d+\)\s*)?0x([0-9a-f]+)", text)
        if m and 128 * 16 < addr - int(m.group(1), 16) and "@" in text:
            top = int(m.group(1), 16)
            found.append((top, addr, [t for a, t in ins if top <= a <= addr]))
    return found


def report(name: str, ins: list[tuple[int, str]]) -> None:
    spills = sum(1 for _, t in ins if opcode(t) in ("STL", "LDL"))
    print(f"{name}: {len(ins)} instructions, {spills} STL/LDL")
    for top, addr, body in loops(ins):
        common = collections.Counter(opcode(t) for t in body).most_common(6)
        spilled = sum(1 for t in body if opcode(t) in ("STL", "LDL"))
        print(f"  loop {top:#x}-{addr:#x}: {len(body)} instructions, {spilled} STL/LDL, {common}")


def unmasked_pair(ins: list[tuple[int, str]]) -> list[list[str]]:
    """The two compute groups' unmasked loops of a seesaw kernel, WG0's then WG1's: the loops without a masking
    select per score (fewer than 64 SEL), WG1's the one with more FMUL (it rescales its accumulator by a0 a1 and
    WG0 its P0 by a1: 292-322 against 132-164). The compilers lay the loops out in different orders."""
    plain = [body for _, _, body in loops(ins) if sum(opcode(t) == "SEL" for t in body) < 64]
    return sorted(plain, key=lambda body: sum(opcode(t) == "FMUL" for t in body))


def versus(cubin: str) -> None:
    """Opcode by opcode, the two compute groups' unmasked loops of a cubin's first function (FlashMLA's) beside the
    Gluon 64-key tile's at rescale slack 0 and 8; only the opcodes whose counts differ."""
    from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig, compile_sm90

    theirs = unmasked_pair(parse(cuobjdump(cubin).split("Function : ")[1]))
    ours = [unmasked_pair(sass(compile_sm90(GluonMLAConfig(block_n=64, rescale_slack=slack)))) for slack in (0.0, 8.0)]
    for g, group in enumerate(("WG0", "WG1")):
        bodies = [theirs[g], ours[0][g], ours[1][g]]
        counts = [collections.Counter(opcode(t) for t in body) for body in bodies]
        print(f"{group} unmasked loop: theirs {len(bodies[0])}, slack 0 {len(bodies[1])}, slack 8 {len(bodies[2])}")
        for op in sorted(set().union(*counts), key=lambda o: -(counts[0][o] + counts[1][o])):
            if len({c[op] for c in counts}) > 1:
                print(f"  {op:10s} {counts[0][op]:5d} {counts[1][op]:5d} {counts[2][op]:5d}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gluon", action="store_true", help="also the Gluon seesaw kernel")
    ap.add_argument("--gluon-sched", action="store_true",
                    help="only the Gluon kernel, fixed grid and scheduled mode, given a schedule or computing its own "
                         "(bf16, 32- and 64-key tiles)")
    ap.add_argument("--sparse", action="store_true", help="also the Gluon sparse (DSA) kernel, bf16 and fp8-ds rows")
    ap.add_argument("--flat", action="store_true",
                    help="the Gluon kernels with Q's loop-invariant view (stack_q=False: gluon_mla_seesaw._stack_q)")
    ap.add_argument("--cubin", help="only this cubin's functions (e.g. FlashMLA's, compiled by nvcc: see above)")
    ap.add_argument("--versus", metavar="CUBIN",
                    help="FlashMLA's cubin: its two unmasked loops beside the Gluon 64-key tile's, opcode by opcode")
    a = ap.parse_args()
    if a.versus:
        print("triton", triton.__version__)
        versus(a.versus)
        return
    if a.cubin:
        for function in cuobjdump(a.cubin).split("Function : ")[1:]:
            report(function.split("\n")[0][:72], parse(function))
        return
    print("triton", triton.__version__, "(Q's flat view)" if a.flat else "")
    stack = not a.flat
    if a.gluon_sched:
        from mlacalc.kernels.gluon_mla_decode import GluonMLAConfig, compile_sm90

        for block_n in (64, 32):
            for paged in (False, True):
                for scheduled, own in ((False, False), (True, False), (True, True)):
                    k = compile_sm90(GluonMLAConfig(block_n=block_n, stack_q=stack), paged=paged, scheduled=scheduled,
                                     own_schedule=own)
                    mode = "scheduled, own record" if own else "scheduled" if scheduled else "fixed grid"
                    report(f"Gluon seesaw {block_n}-key tiles, {'paged' if paged else 'contiguous'}, {mode}", sass(k))
        return
    for paged in (False, True):
        report(f"Triton MLA 16/64/4/3 {'paged64' if paged else 'contiguous'}", sass(compile_mla(paged)))
    if a.gluon:
        from mlacalc.kernels.gluon_mla_decode import FP8_TILE, GluonMLAConfig, compile_sm90

        cfg = GluonMLAConfig(stack_q=stack)
        report("Gluon seesaw (64 rows, 4 x 32 keys)", sass(compile_sm90(cfg)))
        report("Gluon seesaw (64 rows, 2 x 64 keys: more than 64 rows)",
               sass(compile_sm90(dataclasses.replace(cfg, block_n=64))))
        report("Gluon seesaw (64 rows, 2 x 64 keys, rescale slack 8)",
               sass(compile_sm90(dataclasses.replace(cfg, block_n=64, rescale_slack=8.0))))
        report("Gluon seesaw, paged (64-token blocks)", sass(compile_sm90(cfg, paged=True)))
        report("Gluon seesaw, fp8 cache (4 x 32 keys widened in place by a third group)",
               sass(compile_sm90(cfg, fp8=True)))
        report("Gluon seesaw, fp8 cache, paged, its default (one pair prefetched into L2)",
               sass(compile_sm90(dataclasses.replace(FP8_TILE, stack_q=stack), fp8=True, paged=True)))
    if a.sparse:
        from mlacalc.kernels.gluon_mla_sparse import compile_sparse_sm90

        for fp8_ds in (False, True):
            report(f"Gluon sparse, {'fp8-ds' if fp8_ds else 'bf16'} rows, paged",
                   sass(compile_sparse_sm90(fp8_ds=fp8_ds, stack_q=stack)))


if __name__ == "__main__":
    main()
