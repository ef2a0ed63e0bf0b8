"""One device call: GPU tests, a tile-config sweep of the Triton MLA kernel, then the full benchmark.

    python bench/gpu_check.py --out DIR [--quick] [--no-sweep]      (from any folder: the tests are found from here)

Writes DIR/pytest.txt, DIR/sweep.json, DIR/kernels.json, DIR/kernels.md and prints a short summary last.
Each sweep config is first checked for correctness (mixed lengths up to 4097, paged, poisoned output) and only
then timed; the fastest correct config per row class (s_q * heads <= 16, <= 32, more) feeds the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict

from common import TESTS


def run_tests(out_dir: str) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
         str(TESTS / "test_kernels_gpu.py")],
        capture_output=True, text=True,
    )
    with open(os.path.join(out_dir, "pytest.txt"), "w") as f:
        f.write(proc.stdout + "\n" + proc.stderr)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    print(f"gpu tests: rc={proc.returncode} {tail} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"rc": proc.returncode, "summary": tail}


SWEEP = [  # (block_h, block_n, num_warps, num_stages)
    (16, 64, 4, 3), (16, 32, 4, 3), (32, 32, 4, 3), (64, 32, 8, 2), (64, 32, 8, 3), (64, 64, 8, 2),
    (64, 16, 8, 4), (64, 32, 16, 2),
]
SWEEP_POINTS = {"r16": [(32, 16384, 16), (128, 4096, 16)], "r32": [(64, 4096, 32)],
                "r64": [(64, 4096, 128), (128, 1024, 64), (1, 16384, 128)]}


def sweep(out_dir: str) -> dict:
    import torch

    from mlacalc.kernels.bench import MLA_R, MLA_SCALE, make_timer
    from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
    from mlacalc.kernels.triton_mla_decode import MLADecodeConfig, mla_decode_triton

    dev = torch.device("cuda")
    timer = make_timer()
    results, best = [], {}
    D = 576
    for cls, points in SWEEP_POINTS.items():
        heads_check = points[0][2]
        for bh, bn, w, st in SWEEP:
            cfg = MLADecodeConfig(block_h=bh, block_n=bn, num_warps=w, num_stages=st)
            entry = dict(cls=cls, config=asdict(cfg))
            try:
                case = make_mla_case([4097, 65, 1, 64], heads=heads_check, paged=True, device="cuda")
                err = rel_error(run_mla_case(mla_decode_triton, case, config=cfg), case.ref)
                entry["rel_err"] = err
                if not err < 1e-2:
                    entry["status"] = "wrong"
                    results.append(entry)
                    continue
                total = 0.0
                entry["times"] = {}
                for B, ctx, H in points:
                    kv = torch.randn(B, ctx, D, device=dev, dtype=torch.bfloat16)
                    pool = kv.view(-1, 64, D)
                    table = torch.randperm(B * ctx // 64, device=dev).view(B, -1).to(torch.int32)
                    lens = torch.full((B,), ctx, dtype=torch.int32, device=dev)
                    q = torch.randn(B, 1, H, D, device=dev, dtype=torch.bfloat16)
                    kw = dict(softmax_scale=MLA_SCALE, kv_lora_rank=MLA_R, max_seqlen=ctx, config=cfg)
                    for layout, args in (("contiguous", (kv, lens, None)), ("paged64", (pool, lens, table))):
                        t = timer(lambda: mla_decode_triton(q, *args, **kw), budget_s=0.08, max_reps=20)["ms"]
                        gbps = B * ctx * D * 2 / (t * 1e-3) / 1e9
                        entry["times"][f"{B}x{ctx}x{H}/{layout}"] = (t, gbps)
                        total += t / points_ref(results, cls, B, ctx, H, layout, t)
                    del kv, pool
                entry["score"] = total  # sum over points of time relative to the first valid config
                entry["status"] = "ok"
            except Exception as exc:  # out of resources, compile failure...
                entry["status"] = f"error: {type(exc).__name__}: {str(exc)[:300]}"
            results.append(entry)
            print(f"sweep {cls} {bh}/{bn}/{w}/{st}: {entry.get('status')} err={entry.get('rel_err')} "
                  + " ".join(f"{k}={v[0]:.3f}ms/{v[1]:.0f}GB/s" for k, v in entry.get("times", {}).items()),
                  flush=True)
        ok = [e for e in results if e["cls"] == cls and e.get("status") == "ok"]
        if ok:
            best[cls] = min(ok, key=lambda e: e["score"])["config"]
    with open(os.path.join(out_dir, "sweep.json"), "w") as f:
        json.dump({"results": results, "best": best}, f, indent=1)
    return best


_REF: dict = {}


def points_ref(results, cls, B, ctx, H, layout, t):
    """First time seen for a point: the normaliser that makes sweep scores comparable across points."""
    return _REF.setdefault((cls, B, ctx, H, layout), t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--no-tests", action="store_true")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    t0 = time.perf_counter()
    tests = {"rc": None} if a.no_tests else run_tests(a.out)
    configs = None
    if not a.no_sweep:
        from mlacalc.kernels.triton_mla_decode import MLADecodeConfig

        best = sweep(a.out)
        configs = {k: MLADecodeConfig(**v) for k, v in best.items()}
        print("best configs:", json.dumps(best), flush=True)
    print(f"tests + sweep took {time.perf_counter() - t0:.0f} s", flush=True)
    from mlacalc.kernels.bench import run_benchmark

    res = run_benchmark(os.path.join(a.out, "kernels.json"), quick=a.quick, mla_configs=configs)
    print(f"benchmark wall {res['wall_s']:.0f} s", flush=True)
    print(json.dumps({"tests": tests, "targets": res["targets"]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
