"""Lab script (GPU): the GQA decode kernel's launch plan, A/B on the same inputs (graph-timed, L2 flushed).

    python3 bench/ab_gqa_plan.py --out OUT.json [--quick]

Variants (kernels/triton_gqa_decode.py GQADecodeConfig):
  old   3 stages (two K/V tiles in flight), the planner counting 4 programs an SM (the plan before 2026-12-03:
        only 3 fit at head dim 128 and 1 at 256, so a planned wave ran as two)
  st3   3 stages, the planner counting the programs that fit (gqa_resident_programs)
  st2   2 stages (one tile in flight, half the shared memory), counting the programs that fit
  auto  the default (GQADecodeConfig(): the stage count keeping the most programs on an SM)
Shapes: query heads, KV heads, head dim, query tokens of real models (per GPU). Each variant is first checked
against the float64 reference on a small mixed-length paged case of each shape; a failed check is recorded and that
variant is not timed on that shape.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from common import gpu_lab_args

from mlacalc.kernels.bench import run_meta, time_ms
from mlacalc.kernels.testing import make_gqa_case, rel_error, run_gqa_case
from mlacalc.kernels.launch import num_sms
from mlacalc.kernels.triton_gqa_decode import GQADecodeConfig, gqa_decode_triton, gqa_num_splits, gqa_tiling
from mlacalc.profiler.timing import L2Flusher, cuda_graph

SHAPES = {  # name: (query heads, KV heads, head dim, query tokens)
    "llama-3.1-8b": (32, 8, 128, 1),
    "qwen3-235b": (64, 4, 128, 1),
    "llama-3.1-70b-q2": (64, 8, 128, 2),
    "gpt-oss-d64": (64, 8, 64, 1),
    "qwen3-next-d256": (16, 2, 256, 1),
    "gemma-3-12b-d256": (16, 8, 256, 1),
    "falcon-7b-mqa": (71, 1, 64, 1),
}
VARIANTS = {"old": GQADecodeConfig(num_stages=3, programs_per_sm=4), "st3": GQADecodeConfig(num_stages=3),
            "st2": GQADecodeConfig(num_stages=2), "auto": GQADecodeConfig()}
BATCHES, CONTEXTS, PAGE = (1, 8, 32, 128), (4096, 32768), 16
MAX_CACHE_BYTES = 24 * 2**30


def check(shape, cfg) -> float | str:
    Hq, Hkv, D, s_q = shape
    try:
        case = make_gqa_case([4097, 1500, 64, 65, s_q], heads=Hq, kv_heads=Hkv, head_dim=D, s_q=s_q, device="cuda",
                             paged=True, block_size=PAGE, seed=1)
        return rel_error(run_gqa_case(gqa_decode_triton, case, config=cfg), case.ref)
    except Exception as e:  # noqa: BLE001 - a lab script records the failure and goes on
        return f"{type(e).__name__}: {e}"[:300]


def inputs(B, ctx, shape, layout):
    Hq, Hkv, D, s_q = shape
    k = torch.randn(B * ctx, Hkv, D, device="cuda", dtype=torch.bfloat16)
    v = torch.randn_like(k)
    q = torch.randn(B, s_q, Hq, D, device="cuda", dtype=torch.bfloat16)
    lens = torch.full((B,), ctx, dtype=torch.int32, device="cuda")
    if layout == "contiguous":
        return q, k.view(B, ctx, Hkv, D), v.view(B, ctx, Hkv, D), lens, None
    table = torch.randperm(B * ctx // PAGE, device="cuda").view(B, ctx // PAGE).to(torch.int32)
    return q, k.view(-1, PAGE, Hkv, D), v.view(-1, PAGE, Hkv, D), lens, table


def main() -> int:
    a = gpu_lab_args(__doc__, lambda ap: ap.add_argument("--quick", action="store_true",
                                                         help="batch 32 and 128, 32k context only"))
    if a is None:
        return 2
    t_start = time.time()
    flusher = L2Flusher(torch.cuda.current_device())
    sms = num_sms(torch.device("cuda"))
    rows, ok = [], {}
    for name, shape in SHAPES.items():
        for vname, cfg in VARIANTS.items():
            err = check(shape, cfg)
            ok[name, vname] = isinstance(err, float) and err < 2e-2
            t = gqa_tiling(shape[3] * shape[0] // shape[1], shape[2], cfg)
            rows.append(dict(kind="check", shape=name, variant=vname, rel_err=err, tiling=t.__dict__))
            print("check", name, vname, err, t, flush=True)
    batches, contexts = ((32, 128), (32768,)) if a.quick else (BATCHES, CONTEXTS)
    for name, shape in SHAPES.items():
        Hq, Hkv, D, s_q = shape
        for B in batches:
            for ctx in contexts:
                nbytes = 2 * B * ctx * Hkv * D * 2
                if nbytes > MAX_CACHE_BYTES:
                    continue
                for layout in ("contiguous", "paged16"):
                    q, k, v, lens, table = inputs(B, ctx, shape, layout)
                    out = torch.empty_like(q)
                    base = None
                    for vname, cfg in VARIANTS.items():
                        if not ok[name, vname]:
                            continue
                        fn = lambda: gqa_decode_triton(q, k, v, lens, table, max_seqlen=ctx, config=cfg, out=out)  # noqa: E731
                        fn()
                        g = cuda_graph(fn)
                        t = time_ms(g.replay if g else fn, flusher)
                        base = base or t["ms"]
                        row = dict(kind="time", shape=name, variant=vname, B=B, ctx=ctx, layout=layout,
                                   heads=Hq, kv_heads=Hkv, head_dim=D, s_q=s_q, graph=g is not None,
                                   splits=gqa_num_splits(B, s_q, Hq, Hkv, ctx, D, sms=sms, config=cfg),
                                   gbps=nbytes / (t["ms"] * 1e-3) / 1e9, vs_old=t["ms"] / base, **t)
                        rows.append(row)
                        print(f"{name:18} B{B:<4} {ctx:>6} {layout:10} {vname:5} {t['ms']:.4f} ms "
                              f"{row['gbps']:7.0f} GB/s  x{row['vs_old']:.3f}", flush=True)
                    del q, k, v, lens, table, out
                    torch.cuda.empty_cache()
        write(a.out, rows, t_start)     # after each shape: a run cut short keeps what it measured
    return 0


def write(path: str, rows: list, t_start: float) -> None:
    result = dict(meta=run_meta(torch.device("cuda"), "python3 bench/ab_gqa_plan.py " + " ".join(sys.argv[1:])),
                  variants={k: v.__dict__ for k, v in VARIANTS.items()}, rows=rows, wall_s=time.time() - t_start)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
