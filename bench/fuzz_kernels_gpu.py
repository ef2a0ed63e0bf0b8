"""Seeded fuzz of valid decode calls on the GPU (a lab script, not a test): random shapes nobody chose, each checked
against the float64 reference. Where bench/fuzz_kernels.py throws malformed calls at the wrappers on the CPU, this
throws well-formed ones at the kernels: dense MLA (impl auto / triton / gluon / eager; DeepSeek's 512 + 64 dims and
MiniCPM3's 256 + 32; bf16, fp16 and a per-tensor fp8 cache; contiguous or paged in blocks of 16-256; 1-4 query tokens;
1-128 heads; lengths from 1 to ~20k, equal or mixed), sparse top-k MLA (bf16 or fp8-ds rows, positions through a
table or pool rows without one, top-k 16-2048, padded slots) and GQA (triton / sdpa; head dims 64-256, groups 1-8,
paged in blocks of 16-64). The GPU tests hold fixed shapes; outside checks re-time the kernels at points of their
choosing, so this draws such points.

A case passes when the wrapper returns within the GPU tests' bounds of the reference (relative error 1e-2 over a
16-bit cache, 2e-2 over fp8 against its dequantised values), or refuses the call with one KernelInputError (listed,
not a failure: e.g. gluon for a shape it does not take). Anything else (a wrong output, NaN, another exception) is a
failure, printed with the case. JSON of every case to --out.

    python bench/fuzz_kernels_gpu.py --cases 150 --seed 1 --out fuzz_gpu.json     (on the GPU machine)
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import traceback

import torch

from mlacalc.kernels.checks import KernelInputError
from mlacalc.kernels.decode import gqa_decode, mla_decode
from mlacalc.kernels.testing import (make_gqa_case, make_mla_case, make_sparse_case, rel_error, run_gqa_case,
                                     run_mla_case, run_sparse_case)

HEADS = [1, 2, 4, 8, 16, 16, 20, 32, 32, 48, 64, 64, 96, 128, 128]


def lengths(rng: random.Random, B: int, s_q: int, top: int) -> list[int]:
    """B lengths >= s_q: all equal (a third of the draws) or each uniform in [s_q, top]."""
    if rng.random() < 1 / 3:
        return [top] * B
    return [rng.randint(s_q, top) for _ in range(B)]


def log_int(rng: random.Random, lo: int, hi: int) -> int:
    return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


def draw_mla(rng: random.Random) -> dict:
    s_q = rng.choice([1, 1, 1, 2, 3, 4])
    minicpm = rng.random() < 0.1
    fp8 = not minicpm and rng.random() < 0.25
    return dict(kind="mla", heads=rng.choice(HEADS), s_q=s_q, B=log_int(rng, 1, 40),
                top=max(s_q, log_int(rng, 1, 20000)), r=256 if minicpm else 512, dr=32 if minicpm else 64,
                dtype="float16" if (not fp8 and rng.random() < 0.2) else "bfloat16", fp8=fp8,
                paged=rng.random() < 0.6, block=rng.choice([16, 32, 64, 64, 64, 128, 256]),
                impl=rng.choice(["auto", "auto", "auto", "triton", "gluon", "eager"]))


def draw_sparse(rng: random.Random) -> dict:
    fp8_ds = rng.random() < 0.5
    return dict(kind="sparse", heads=rng.choice([8, 16, 16, 32, 64, 64, 128, 128]), s_q=rng.choice([1, 1, 2]),
                B=log_int(rng, 1, 24), top=log_int(rng, 16, 12000), topk=rng.choice([16, 64, 128, 512, 2048, 2048]),
                fp8_ds=fp8_ds, table=rng.random() < 0.7, packed=rng.random() < 0.5,
                block=rng.choice([64, 64, 32, 128]), impl=rng.choice(["auto", "auto", "triton", "gluon"]))


def draw_gqa(rng: random.Random) -> dict:
    kv_heads = rng.choice([1, 2, 4, 8])
    return dict(kind="gqa", kv_heads=kv_heads, heads=kv_heads * rng.choice([1, 2, 4, 5, 8]),
                head_dim=rng.choice([64, 80, 96, 128, 128, 256]), s_q=rng.choice([1, 1, 2, 4]),
                B=log_int(rng, 1, 40), top=log_int(rng, 1, 20000), paged=rng.random() < 0.5,
                block=rng.choice([16, 32, 64]), impl=rng.choice(["triton", "triton", "sdpa"]))


# the float64 reference runs on the host: query rows x keys of a case at most this (~0.1 TFLOP of float64 dots at
# 576 + 512 values a pair, a second or so on the GPU machine's 16 cores)
MAX_ROW_KEYS = 4e7


def draw(rng: random.Random) -> dict:
    u = rng.random()
    case = draw_mla(rng) if u < 0.5 else draw_sparse(rng) if u < 0.75 else draw_gqa(rng)
    rows = case["s_q"] * case["heads"]
    keys = min(case["top"], case.get("topk", case["top"]))        # a sparse query reads its top-k at most
    case["B"] = max(1, min(case["B"], int(MAX_ROW_KEYS // (rows * keys))))
    if "topk" not in case:                                         # one sequence over the budget: shorter
        case["top"] = max(case["s_q"], min(case["top"], int(MAX_ROW_KEYS // rows)))
    case["lens"] = lengths(rng, case["B"], case["s_q"], case["top"])
    case["seed"] = rng.randrange(1 << 30)
    return case


def run_case(c: dict, dev: str = "cuda") -> tuple[float, float]:
    """(relative error against the reference, the case's bound); raises what the wrapper raises."""
    if c["kind"] == "mla":
        case = make_mla_case(c["lens"], heads=c["heads"], s_q=c["s_q"], r=c["r"], dr=c["dr"],
                             dtype=getattr(torch, c["dtype"]), device=dev, paged=c["paged"], block_size=c["block"],
                             fp8=c["fp8"], seed=c["seed"])
        out = run_mla_case(lambda *a, **k: mla_decode(*a, impl=c["impl"], **k), case)
        return rel_error(out, case.ref), 2e-2 if c["fp8"] else 1e-2
    if c["kind"] == "sparse":
        case = make_sparse_case(c["lens"], heads=c["heads"], s_q=c["s_q"], topk=c["topk"], device=dev,
                                block_size=c["block"], fp8_ds=c["fp8_ds"], table=c["table"], packed=c["packed"],
                                seed=c["seed"])
        out = run_sparse_case(lambda q, kv, idx, bt, sl, **k: mla_decode(q, kv, sl, bt, indices=idx,
                                                                         impl=c["impl"], **k), case)
        return rel_error(out, case.ref), 2e-2 if c["fp8_ds"] else 1e-2
    case = make_gqa_case(c["lens"], heads=c["heads"], kv_heads=c["kv_heads"], head_dim=c["head_dim"], s_q=c["s_q"],
                         device=dev, paged=c["paged"], block_size=c["block"], seed=c["seed"])
    out = run_gqa_case(lambda *a, **k: gqa_decode(*a, impl=c["impl"], **k), case)
    return rel_error(out, case.ref), 1e-2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=150)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--budget-s", type=float, default=400.0, help="stop drawing after this many seconds")
    ap.add_argument("--out", help="JSON of every case and its outcome")
    ap.add_argument("--cuda-share", type=float, default=0.0,
                    help="share of the fp8 MLA cases of <= 32 rows through auto or triton sent to impl cuda instead "
                         "(decided by a second generator, so a seed's draws are what they were without it)")
    ap.add_argument("--cpu", action="store_true", help="the harness on the CPU: the eager MLA and SDPA GQA calls "
                                                         "of the draw only (sparse decode and Triton need a GPU)")
    a = ap.parse_args()
    dev = "cpu" if a.cpu else "cuda"
    if not a.cpu and not torch.cuda.is_available():
        print("no CUDA GPU here: this fuzz runs the kernels on one (--cpu: the harness on the CPU)")
        return 2
    rng, cuda_rng = random.Random(a.seed), random.Random(a.seed + 10_000)
    rows, t0 = [], time.perf_counter()
    for i in range(a.cases):
        if time.perf_counter() - t0 > a.budget_s:
            print(f"budget spent after {i} cases")
            break
        c = draw(rng)
        if (c["kind"] == "mla" and c.get("fp8") and c["r"] == 512 and c["impl"] in ("auto", "triton")
                and c["s_q"] * c["heads"] <= 32 and cuda_rng.random() < a.cuda_share):
            c["impl"] = "cuda"     # kernels/cuda_mla_fp8.py: up to 32 rows over e4m3
        if a.cpu:
            if c["kind"] == "sparse" or c["impl"] in ("triton", "gluon", "auto", "cuda"):
                c["impl"] = {"mla": "eager", "gqa": "sdpa"}.get(c["kind"])
            if c["impl"] is None:
                continue
        try:
            err, bound = run_case(c, dev)
            c.update(outcome="ok" if err <= bound else "WRONG", rel_err=err, bound=bound)
        except KernelInputError as e:
            c.update(outcome="refused", why=str(e).splitlines()[0][:200])
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            c.update(outcome="out of memory")
        except Exception as e:  # noqa: BLE001 -- what the fuzz is for: every other escape is a finding
            frame = traceback.extract_tb(e.__traceback__)[-1]
            c.update(outcome="ERROR", why=f"{type(e).__name__}: {str(e).splitlines()[0][:200]} "
                                          f"({frame.filename.split('/')[-1]}:{frame.lineno})")
        rows.append(c)
        if c["outcome"] not in ("ok", "refused"):
            shown = {k: v for k, v in c.items() if k != "lens"}
            print(f"case {i}: {c['outcome']} {json.dumps(shown)} lens[:8]={c['lens'][:8]}", flush=True)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    worst = max((r["rel_err"] / r["bound"] for r in rows if "rel_err" in r), default=0.0)
    print(f"{len(rows)} cases (seed {a.seed}) in {time.perf_counter() - t0:.0f} s: {counts}; "
          f"worst error / bound {worst:.2f}")
    for r in rows:
        if r["outcome"] == "refused":
            print(f"  refused: {r['kind']} impl={r['impl']}: {r['why']}")
    if a.out:
        with open(a.out, "w") as f:
            gpu = "cpu" if a.cpu else torch.cuda.get_device_name(0)
            json.dump(dict(seed=a.seed, gpu=gpu, torch=torch.__version__, triton=__import__("triton").__version__,
                           counts=counts, rows=rows), f, indent=1)
    return 1 if any(r["outcome"] in ("WRONG", "ERROR") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
