"""Lab script (GPU): the fp8 e4m3 cache through the Gluon kernel (a third warp group widens fp8 tiles inside the 16-bit
buffers) against the Triton fp8 kernel, with the bf16 Gluon kernel on the same shape for scale, graph-timed with the
L2 flushed. The Gluon kernel is checked against the float64 reference on a small mixed-length case first; a failed
check is recorded and it is not timed. (Earlier designs it was measured against, removed since: fp8 staging tiles
beside two 16-bit buffers, bf16 widenings: reports/h200/tuning/ab_fp8_gluon*.json.)

    python3 bench/ab_fp8_gluon.py --out OUT.json [--quick]   # --quick: three of the points
    python3 bench/ab_fp8_gluon.py --check                    # only the correctness check
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from common import mla_inputs, record

from mlacalc.kernels import gluon_mla_decode as gmd
from mlacalc.kernels.bench import MLA_SCALE, eager_and_graph
from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
from mlacalc.kernels.triton_mla_decode import mla_decode_triton
from mlacalc.profiler.timing import L2Flusher

POINTS = [(32, 32768, 128, "paged64"), (128, 4096, 128, "contiguous"), (32, 4096, 64, "paged64"),
          (128, 32768, 64, "paged64"), (8, 32768, 128, "contiguous"), (128, 32768, 128, "paged64")]


def check() -> dict:
    """The Gluon kernel on a small mixed-length fp8 case, against the float64 reference (over the dequantised cache
    and over the latents before quantisation)."""
    case = make_mla_case([4097, 1500, 64, 65, 1], heads=128, device="cuda", paged=True, fp8=True, seed=1)
    out = run_mla_case(gmd.mla_decode_gluon, case)
    return dict(rel_err=rel_error(out, case.ref), rel_err_unquantised=rel_error(out, case.ref_unquantised))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", help="JSON of the timed rows (required unless --check)")
    ap.add_argument("--quick", action="store_true", help="three points (a device call's spare minute)")
    ap.add_argument("--check", action="store_true", help="only the correctness check, printed")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("ab_fp8_gluon: needs a CUDA GPU (sm_90)", file=sys.stderr)
        return 2
    if a.check:
        print("fp8 Gluon check", check(), flush=True)
        return 0
    if not a.out:
        ap.error("--out is required unless --check")
    points = POINTS[::2] if a.quick else POINTS
    flusher = L2Flusher(torch.cuda.current_device())
    rows: list = []
    try:
        err = check()
    except Exception as e:  # noqa: BLE001 - a lab script records the failure and goes on
        err = dict(error=f"{type(e).__name__}: {e}"[:400])
    ok = err.get("rel_err", 1.0) < 2e-2
    record(rows, kind="check", **err)
    scale = torch.tensor([0.02], device="cuda")
    for B, ctx, H, layout in points:
        q, kv, pool, table, lens = mla_inputs(B, ctx, H, torch.device("cuda"))
        bf16, table = (pool, table) if layout == "paged64" else (kv, None)
        fp8 = bf16.to(torch.float8_e4m3fn)
        point = dict(B=B, ctx=ctx, heads=H, layout=layout)
        if ok:
            record(rows, kind="gluon_fp8", **point, **eager_and_graph(lambda: gmd.mla_decode_gluon(
                q, fp8, lens, table, softmax_scale=MLA_SCALE, kv_scale=scale, max_seqlen=ctx), flusher))
        record(rows, kind="triton_fp8", **point, **eager_and_graph(lambda: mla_decode_triton(
            q, fp8, lens, table, softmax_scale=MLA_SCALE, kv_scale=scale, max_seqlen=ctx), flusher))
        record(rows, kind="gluon_bf16", **point, **eager_and_graph(lambda: gmd.mla_decode_gluon(
            q, bf16, lens, table, softmax_scale=MLA_SCALE, max_seqlen=ctx), flusher))
        q = kv = pool = bf16 = fp8 = None
        torch.cuda.empty_cache()
    with open(a.out, "w") as f:
        json.dump(dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__,
                       triton=__import__("triton").__version__, rows=rows), f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
