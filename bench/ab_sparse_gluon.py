"""Lab script (GPU): sparse top-k MLA decode (DSA) through the Gluon kernel (the seesaw compute groups fed
by a cp.async gather group) against the Triton sparse kernel, graph-timed with the L2 flushed, at the benchmark's
sparse points (topk 2048 of a 32k paged context) and a few more, with the floor as `mlacalc bench kernels --peers`
counts it. The Gluon kernel is checked against the float64 reference first; a failed check is recorded and it is
not timed. bf16 rows and fp8-ds rows (656 bytes: dequantised to fp16 by the gather group).

    python3 bench/ab_sparse_gluon.py --out OUT.json [--quick]   # --quick: the first four points only
    python3 bench/ab_sparse_gluon.py --check                    # only the correctness check
    python3 bench/ab_sparse_gluon.py --out OUT.json --base MODULE  # also mlacalc.kernels.MODULE's kernel (kind=base)
    python3 bench/ab_sparse_gluon.py --out OUT.json --base MODULE --no-triton  # the two Gluon kernels only
    python3 bench/ab_sparse_gluon.py --out OUT.json --ctx 1024     # contexts under the top-k (-1 padded lists)

--base times another copy of the Gluon sparse wrapper beside the current one in the same run (same inputs, same
clocks): a copy of the committed kernel that a device script puts into kernels/ before it tries a change (repeat it
for several earlier versions).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

import torch

from common import record

from mlacalc.kernels.bench import MLA_SCALE, _floor_ms, eager_and_graph, sparse_decode_cost, sparse_inputs
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.gluon_mla_sparse import mla_decode_sparse_gluon
from mlacalc.kernels.testing import make_sparse_case, rel_error, run_sparse_case
from mlacalc.profiler.calibrate import measure_ceilings
from mlacalc.profiler.timing import L2Flusher

TOPK, CTX = 2048, 32768
POINTS = [(8, 64), (8, 128), (64, 64), (64, 128), (32, 128), (128, 64),  # (batch, heads)
          (8, 16), (64, 16), (64, 32), (128, 16)]  # fewer heads than the Gluon kernel's 64 rows


def check() -> dict:
    """The Gluon kernel on mixed lengths with unused slots and NaN past the lengths, against the float64 reference
    (fp8-ds: over the dequantised rows)."""
    errs = {}
    for heads, topk, ds in ((128, 2048, False), (64, 100, False), (128, 2048, True), (64, 100, True),
                            (16, 2048, False), (16, 2048, True)):
        case = make_sparse_case([4097, 2500, 65, 1], heads=heads, topk=topk, fp8_ds=ds, device="cuda", seed=heads)
        errs[f"rel_err_h{heads}_topk{topk}_{'fp8_ds' if ds else 'bf16'}"] = rel_error(
            run_sparse_case(mla_decode_sparse_gluon, case), case.ref)
    return errs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", help="JSON of the timed rows (required unless --check)")
    ap.add_argument("--quick", action="store_true", help="the first four points only")
    ap.add_argument("--check", action="store_true", help="only the correctness check, printed")
    ap.add_argument("--base", action="append", default=[],
                    help="module under mlacalc.kernels with an earlier mla_decode_sparse_gluon, timed too (repeatable: "
                         "rows of kind base, each with its module)")
    ap.add_argument("--no-triton", action="store_true", help="leave the Triton sparse kernel out (an A/B of two "
                    "Gluon kernels: --base)")
    ap.add_argument("--ctx", type=int, default=CTX, help="context of every sequence (under the top-k: -1 padded, "
                    "the floor over the used rows)")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("ab_sparse_gluon: needs a CUDA GPU (sm_90)", file=sys.stderr)
        return 2
    if a.check:
        print("sparse Gluon check", check(), flush=True)
        return 0
    if not a.out:
        ap.error("--out is required unless --check")
    points = POINTS[:4] if a.quick else POINTS
    dev = torch.device("cuda")
    flusher = L2Flusher(torch.cuda.current_device())
    ceil = measure_ceilings(flusher=flusher)
    rows: list = []
    try:
        err = check()
    except Exception as e:  # noqa: BLE001 - a lab script records the failure and goes on
        err = dict(error=f"{type(e).__name__}: {e}"[:400])
    ok = "error" not in err and max(err.values()) < 2e-2
    record(rows, kind="check", **err)
    bases = {m: importlib.import_module(f"mlacalc.kernels.{m}").mla_decode_sparse_gluon for m in a.base}
    for B in sorted({b for b, _ in points}):
        (kv, ds), table, lens, idx = sparse_inputs(B, a.ctx, TOPK, dev)
        for H in [h for b, h in points if b == B]:
            q = torch.randn(B, 1, H, 576, device=dev, dtype=torch.bfloat16)
            for fmt, cache in (("bf16", kv), ("fp8_ds", ds)):
                nbytes, flops = sparse_decode_cost(B, min(TOPK, a.ctx), H, cache.shape[-1] * cache.element_size())
                point = dict(B=B, heads=H, cache=fmt, topk=TOPK, ctx=a.ctx, floor_ms=_floor_ms(nbytes, flops, ceil))
                if not a.no_triton:
                    record(rows, kind="triton", **point, **eager_and_graph(lambda: mla_decode(
                        q, cache, lens, table, indices=idx, softmax_scale=MLA_SCALE, impl="triton"), flusher))
                if ok:
                    record(rows, kind="gluon", **point, **eager_and_graph(lambda: mla_decode_sparse_gluon(
                        q, cache, idx, table, lens, softmax_scale=MLA_SCALE), flusher))
                for module, base in bases.items():
                    record(rows, kind="base", base=module, **point, **eager_and_graph(lambda: base(
                        q, cache, idx, table, lens, softmax_scale=MLA_SCALE), flusher))
        kv = ds = table = idx = None
        torch.cuda.empty_cache()
    with open(a.out, "w") as f:
        json.dump(dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, ceilings=ceil,
                       triton=__import__("triton").__version__, rows=rows), f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
