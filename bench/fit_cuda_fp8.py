"""Lab script (CPU): the CUDA fp8 decode's two time coefficients (mlacalc.expected.CUDA_FP8_FIXED_US and
CUDA_FP8_STREAM_EFF) fitted to an A/B run of bench/ab_fp8_cuda.py, and each point's time against the fp8 floor of
that run (576 B a key at the copy bandwidth it measured) and against the model.

The model (mlacalc.expected.cuda_fp8_decode_s): a call takes a fixed time (two launches, the first tile's wait, the
last tile's dots, the merge's launch) plus the cache's bytes and the split partials' bytes (written, then read by the
merge) streamed at a share of the card's datasheet bandwidth. Least squares on the relative error, over the variant
impl "cuda" (the default), best of rounds; the card's datasheet bandwidth is the hardware spec's (--gpu).

    python bench/fit_cuda_fp8.py reports/h100/tuning/ab_fp8_cuda_session_cq.json --gpu h100-sxm [--variant cuda_late]
"""

from __future__ import annotations

import argparse
import json
import sys

from mlacalc.expected import (CUDA_FP8_FIT_CLOCK_GHZ, DecodeShape, cuda_fp8_chain_keys, cuda_fp8_decode_s,
                              cuda_fp8_streamed_bytes)
from mlacalc.errors import SpecError
from mlacalc.hardware import load_hardware

from labio import read_json


def points(path: str, variant: str, heads: tuple[int, ...] = ()) -> list[tuple[DecodeShape, float, dict]]:
    """(shape, best graph-timed seconds over the rounds, the point with its fp8 floor in ms) of each point `variant`
    ran in an ab_fp8_cuda.py run (at the head counts `heads` only, where given)."""
    best: dict = {}
    for r in json.load(open(path))["rows"]:
        if heads and r.get("heads") not in heads:
            continue
        if r.get("kind") == "fp8" and r.get("variant") == variant and r.get("graph_ms"):
            k = (r["B"], r["ctx"], r["heads"], r["layout"])
            best[k] = min(best.get(k, (float("inf"), 0.0)), (r["graph_ms"] * 1e-3, r["floor_ms"]))
    out = []
    for (B, ctx, H, layout), (t, floor_ms) in sorted(best.items()):
        shape = DecodeShape(seqs=B, rows=H, kv_groups=1, keys=ctx, key_bytes=576, dkv=1088, out_dv=512, layers=1,
                            key_elems=576, paged=layout != "contiguous")
        out.append((shape, t, dict(B=B, ctx=ctx, heads=H, layout=layout, floor_ms=floor_ms)))
    return out


def fit(pts, hw, model: str = "stream") -> tuple[float, float]:
    """model "stream" (one row group): (fixed us, streaming share of the datasheet bandwidth), t = F + bytes / (bw e);
    "chain" (two row groups): (fixed us, SM cycles a key), t = F + chain keys x cycles / clock
    (mlacalc.expected.cuda_fp8_chain_keys, the spec's boost clock). Least squares in 1/t units (relative errors)
    over F and the slope, closed form."""
    if model == "chain":
        clock_hz = (hw.boost_clock_ghz or CUDA_FP8_FIT_CLOCK_GHZ) * 1e9
        xs = [cuda_fp8_chain_keys(s, hw.sms) / clock_hz for s, _, _ in pts]
    else:
        xs = [cuda_fp8_streamed_bytes(s, hw.sms) / hw.mem_bandwidth_bytes_s for s, _, _ in pts]
    ts = [t for _, t, _ in pts]
    # minimise sum ((F + x k - t) / t)^2 over F, k: the normal equations of weights 1 / t^2
    w = [1 / t ** 2 for t in ts]
    s1, sx, sxx = sum(w), sum(wi * x for wi, x in zip(w, xs)), sum(wi * x * x for wi, x in zip(w, xs))
    st, sxt = sum(wi * t for wi, t in zip(w, ts)), sum(wi * x * t for wi, x, t in zip(w, xs, ts))
    det = s1 * sxx - sx * sx
    F = (st * sxx - sx * sxt) / det
    k = (s1 * sxt - sx * st) / det
    return F * 1e6, (k if model == "chain" else 1 / k)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--gpu", default="h100-sxm")
    ap.add_argument("--variant", default="cuda")
    ap.add_argument("--heads", type=int, nargs="*", default=[], help="only these head counts (default: all)")
    ap.add_argument("--model", choices=["stream", "chain"], default="stream",
                    help="stream: one row group's pair; chain: two row groups' (fixed us, cycles a key)")
    a = ap.parse_args()
    if read_json(a.run, __file__, key="rows") is None:
        return 2
    try:
        hw = load_hardware(a.gpu)
    except SpecError as e:
        print(f"fit_cuda_fp8: {e}", file=sys.stderr)
        return 2
    pts = points(a.run, a.variant, tuple(a.heads))
    if len(pts) < 2:
        print(f"fit_cuda_fp8: {len(pts)} timed point(s) of variant {a.variant!r} in {a.run}; two at least are needed",
              file=sys.stderr)
        return 2
    F, e = fit(pts, hw, a.model)
    slope = (f"{e:.1f} SM cycles a key of a CTA's chain" if a.model == "chain"
             else f"streaming {e:.3f} of {hw.mem_bandwidth_bytes_s / 1e9:.0f} GB/s")
    print(f"{len(pts)} points of {a.variant} on {hw.name}: fixed {F:.1f} us, {slope}")
    for shape, t, p in pts:
        pred = cuda_fp8_decode_s(shape, hw)
        print(f"  B {p['B']:4d} x {p['ctx']:6d} keys, {p['heads']:3d} heads, {p['layout']:10s} measured "
              f"{t * 1e6:8.1f} us ({t * 1e3 / p['floor_ms']:.2f}x the fp8 floor)  model {pred * 1e6:8.1f} us  "
              f"{100 * (pred / t - 1):+6.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
