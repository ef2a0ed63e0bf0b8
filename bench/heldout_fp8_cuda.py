"""Lab script (GPU): the CUDA fp8 decode's expected time (mlacalc.expected.cuda_fp8_decode_s, fitted to the issue's
fp8 points at 16 and 32 heads) held out at points nobody chose: batch, context, heads (1-16, or 1-32 and two query
tokens with --max-heads 32), layout and paging drawn
at random (seeded), each timed graph-replayed with the L2 flushed through impl "cuda" and, beside it, impl "triton"
(what auto ran before), against the prediction for the card's built-in spec (h100-sxm or h200, by the device name).
Every call's output is first checked against the float64 reference on a small case of the same heads.

    python3 bench/heldout_fp8_cuda.py --out OUT.json [--seed 1] [--n 20] [--max-heads 32]
    python3 bench/heldout_fp8_cuda.py --summary OUT.json [MORE.json]   # errors against the model as it is, speed-ups
"""

from __future__ import annotations

import random
import statistics
import sys

import torch

from common import dump_run, gpu_lab_args, lab_run, record
from labio import read_json

from mlacalc.expected import DecodeShape, cuda_fp8_decode_s
from mlacalc.hardware import load_hardware
from mlacalc.kernels.bench import MLA_SCALE, eager_and_graph
from mlacalc.kernels.decode import mla_decode
from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
from mlacalc.profiler.timing import L2Flusher

D = 576


def draw(rng: random.Random, max_heads: int = 16) -> dict:
    """A random point: up to 16 heads and one query token (the first runs' draws), or with max_heads 32 also 20-32
    heads and, for up to 16 heads, two query tokens a quarter of the time (17-32 rows: two row groups a CTA)."""
    heads = rng.choice([1, 2, 4, 8, 10, 16, 16, 16] + ([20, 24, 32, 32] if max_heads > 16 else []))
    B = rng.randint(1, 192)
    ctx = rng.randint(512, 65536)
    while B * ctx * D > 6e9:     # a cache under 6 GB
        ctx //= 2
    p = dict(B=B, ctx=ctx, heads=heads, paged=rng.random() < 0.5, block=rng.choice([16, 64, 64, 256]))
    if max_heads > 16:
        p["tokens"] = 2 if heads <= 16 and rng.random() < 0.25 else 1
    return p


def _shape(r: dict) -> DecodeShape:
    tokens = r.get("tokens", 1)
    return DecodeShape(seqs=r["B"], rows=tokens * r["heads"], kv_groups=1, keys=r["ctx"], key_bytes=576, dkv=1088,
                       out_dv=512, layers=1, key_elems=576, paged=r["paged"], tokens=tokens)


def summary(paths: list[str]) -> str:
    """The CUDA points of one or more runs against the expected time as it is now (mlacalc.expected.cuda_fp8_decode_s
    for the card each run names: h200 or h100-sxm): |measured / expected - 1| as bench/accuracy_table.py summarises
    it (points, median, 90th percentile, max), how many within 15%, and the CUDA kernel's time over the Triton
    kernel's at the same point (median and range); "" after one line on stderr where a file is missing or not a
    run's JSON."""
    from accuracy_table import summary as accuracy

    errs, speed = [], []
    key = ("B", "ctx", "heads", "paged", "block", "tokens")
    for path in paths:
        run = read_json(path, __file__)
        if not isinstance(run, dict) or not isinstance(run.get("rows"), list):
            if run is not None:
                print(f"heldout_fp8_cuda: {path}: not a lab run's JSON (no 'rows')", file=sys.stderr)
            return ""
        hw = load_hardware("h200" if "H200" in str(run.get("card", "")) else "h100-sxm")
        rows = [r for r in run["rows"] if r.get("graph_ms")]
        triton = {tuple(r.get(k) for k in key): r["graph_ms"] for r in rows if r.get("variant") == "triton"}
        for r in rows:
            if r.get("variant") == "cuda":
                errs.append(abs(100 * (r["graph_ms"] * 1e-3 / cuda_fp8_decode_s(_shape(r), hw) - 1)))
                if tuple(r.get(k) for k in key) in triton:
                    speed.append(r["graph_ms"] / triton[tuple(r.get(k) for k in key)])
    if not errs:
        return "no CUDA point timed"
    n, median, p90, worst = accuracy(errs)
    line = (f"{n} points against the model as it is: |error| median {median}%, p90 {p90}%, max {worst}%, "
            f"{sum(e <= 15 for e in errs)} within 15%")
    if speed:
        line += (f"; cuda / triton median {statistics.median(speed):.3f}, {min(speed):.2f}-{max(speed):.2f} "
                 f"over {len(speed)}")
    return line


def main() -> int:
    if sys.argv[1:2] == ["--summary"]:
        line = summary(sys.argv[2:]) if len(sys.argv) > 2 else ""
        if len(sys.argv) == 2:
            print("usage: python3 bench/heldout_fp8_cuda.py --summary OUT.json [MORE.json ...]", file=sys.stderr)
        if line:
            print(line)
        return 0 if line else 2
    a = gpu_lab_args(__doc__, lambda ap: (ap.add_argument("--seed", type=int, default=1),
                                          ap.add_argument("--n", type=int, default=20),
                                          ap.add_argument("--max-heads", type=int, default=16, choices=[16, 32])))
    if a is None:
        return 2
    name = torch.cuda.get_device_name()
    hw = load_hardware("h200" if "H200" in name else "h100-sxm")
    flusher, rng = L2Flusher(torch.cuda.current_device()), random.Random(a.seed)
    scale = torch.tensor([0.02], device="cuda")
    with lab_run(a.out, seed=a.seed, card=hw.name) as rows:
        for _ in range(a.n):
            p = draw(rng, a.max_heads)
            s_q = p.get("tokens", 1)
            case = make_mla_case([2, 70, 300], heads=p["heads"], s_q=s_q, device="cuda", paged=p["paged"], fp8=True,
                                 block_size=p["block"], seed=a.seed)
            err = rel_error(run_mla_case(lambda *x, **k: mla_decode(*x, impl="cuda", **k), case), case.ref)
            lens = torch.full((p["B"],), p["ctx"], dtype=torch.int32, device="cuda")
            q = torch.randn(p["B"], s_q, p["heads"], D, device="cuda", dtype=torch.bfloat16)
            if p["paged"]:
                nb = -(-p["ctx"] // p["block"])
                cache = torch.randn(p["B"] * nb, p["block"], D, device="cuda", dtype=torch.bfloat16).to(torch.float8_e4m3fn)
                table = torch.randperm(p["B"] * nb, device="cuda").view(p["B"], nb).to(torch.int32)
            else:
                cache = torch.randn(p["B"], p["ctx"], D, device="cuda", dtype=torch.bfloat16).to(torch.float8_e4m3fn)
                table = None
            pred = cuda_fp8_decode_s(_shape(dict(p, tokens=s_q)), hw)
            for impl in ("cuda", "triton"):
                t = eager_and_graph(lambda: mla_decode(q, cache, lens, table, softmax_scale=MLA_SCALE, kv_scale=scale,
                                                       max_seqlen=p["ctx"], impl=impl), flusher)
                record(rows, kind="fp8", variant=impl, **p, check_rel_err=err, expected_ms=pred * 1e3,
                       error_pct=100 * (t["graph_ms"] * 1e-3 / pred - 1) if impl == "cuda" else None, **t)
            dump_run(a.out, rows, seed=a.seed, card=hw.name)
            q = cache = table = None
            torch.cuda.empty_cache()
    print(summary([a.out]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
