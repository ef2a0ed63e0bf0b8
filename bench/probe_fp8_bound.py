"""Lab script (GPU): what bounds the fp8 Gluon decode. Deliberately broken variants of kernels/gluon_mla_seesaw.py,
each one text edit of the widening group's `_widen_part` applied here to the committed source, are timed beside the
kernel as committed and beside the bf16 kernel on the same 32-key tile (graph-timed, L2 flushed, best of two rounds
in alternating order). Their outputs are wrong by design and never checked: a variant that runs at the bf16 kernel's
time has removed what bounds the fp8 one.

    base             the committed kernel
    no_widen         the fp8 bytes land, the widening group waits for them and signals the compute groups at once
                     (no loads, conversions or stores: the conversion work removed, the handover chain kept)
    half_widen       only the parts that carry the RoPE columns widened (a value half and the RoPE part of each
                     tile: 320 of 576 columns)

Not in the list any more: `no_land_wait` (converting without waiting for the copy to land) and `relay` (neither
waiting nor converting): the first faulted on the H100 ("unspecified launch failure": a copy landing on a barrier
nobody waits for), which ends the process and with it the variants after it (twenty-fifth session,
reports/h100/tuning/session_bi_probe_fp8.log). Measured there at 128 x 32k x 64 heads, paged: base 1.675 ms,
no_widen 1.330, half_widen 1.324: the widening group's conversion throughput is the bound.

    python3 bench/probe_fp8_bound.py --out OUT.json
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile

import torch

from ab_seesaw import inputs, load_kernel, use
from common import dump_run, gpu_lab_args, record

from mlacalc.kernels import gluon_mla_decode as gmd
from mlacalc.kernels.bench import MLA_SCALE, eager_and_graph
from mlacalc.profiler.timing import L2Flusher

SOURCE = os.path.join(os.path.dirname(gmd.__file__), "gluon_mla_seesaw.py")
WIDEN = ("    _widen(_fp8_upper(raw_half, buf), kv_half.index(buf), D_LAT // 2, BLOCK_N, True)\n"
         "    if ROPE:\n"
         "        _widen(_fp8_upper(raw_rope, buf), kv_rope.index(buf), D_LAT // 8, BLOCK_N, True)\n")
HALF = ("    if ROPE:\n"
        "        _widen(_fp8_upper(raw_half, buf), kv_half.index(buf), D_LAT // 2, BLOCK_N, True)\n"
        "        _widen(_fp8_upper(raw_rope, buf), kv_rope.index(buf), D_LAT // 8, BLOCK_N, True)\n")
EDITS = {"base": [], "no_widen": [(WIDEN, "")], "half_widen": [(WIDEN, HALF)]}
POINTS = [(128, 32768, 64, "paged64"), (32, 32768, 64, "paged64"), (32, 32768, 128, "paged64"),
          (128, 4096, 64, "paged64")]


def variant_file(name: str, folder: str) -> str:
    src = open(SOURCE).read()
    for old, new in EDITS[name]:
        if src.count(old) != 1:
            raise SystemExit(f"probe_fp8_bound: edit {name!r} does not match the committed kernel once")
        src = src.replace(old, new)
    path = os.path.join(folder, f"seesaw_{name}.py")
    with open(path, "w") as f:
        f.write(src.replace("from .", "from mlacalc.kernels."))
    return path


def main() -> int:
    a = gpu_lab_args(__doc__)
    if a is None:
        return 2
    flusher = L2Flusher(torch.cuda.current_device())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))  # a device script's `timeout`: still write what landed
    committed = gmd._mla_decode_seesaw_kernel
    rows = []
    with tempfile.TemporaryDirectory() as d:
        kernels = {n: load_kernel(variant_file(n, d)) for n in EDITS}
        scale = torch.tensor([0.02], device="cuda")
        cfg = gmd.GluonMLAConfig()  # 32-key tiles for both caches (the fp8 kernel's tile)
        try:
            for B, ctx, H, layout in POINTS:
                q, cache, lens, table, _ = inputs(B, ctx, H, layout)
                fp8 = cache.to(torch.float8_e4m3fn)
                point = dict(kind="probe", B=B, ctx=ctx, heads=H, layout=layout)
                names = list(kernels) + ["bf16"]
                for rnd in range(2):
                    for name in (names[::-1] if rnd else names):
                        use(committed if name == "bf16" else kernels[name])
                        if name == "bf16":
                            fn = lambda: gmd.mla_decode_gluon(q, cache, lens, table, softmax_scale=MLA_SCALE,  # noqa: E731
                                                              max_seqlen=ctx, config=cfg)
                        else:
                            fn = lambda: gmd.mla_decode_gluon(q, fp8, lens, table, softmax_scale=MLA_SCALE,  # noqa: E731
                                                              kv_scale=scale, max_seqlen=ctx)
                        record(rows, variant=name, round=rnd, **point, **eager_and_graph(fn, flusher))
                q = cache = fp8 = None
                torch.cuda.empty_cache()
        finally:
            use(committed)
            dump_run(a.out, rows, triton=__import__("triton").__version__)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
