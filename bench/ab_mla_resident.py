"""Lab script (GPU): the Triton MLA kernel's split planner counting one program an SM (the default before the
fourteenth session) against counting the programs that stay on an SM at once (mlacalc.expected.mla_resident: two at
16 rows when the keys are MiniCPM3's 288 dims), and the default since, A/B on the same inputs (graph-timed, L2
flushed).

    python3 bench/ab_mla_resident.py --out OUT.json

Variants (kernels/triton_mla_decode.py MLADecodeConfig, the default tile of each row count):
  one   programs_per_sm=1 (the planner's slots are the SMs: the default before the fourteenth session)
  fit   programs_per_sm=2 (the slots the SM actually holds for these tiles: more splits at mid batch)
  auto  the default (programs_per_sm None: one a slot while the plan keeps to one program an SM, else what an SM
        holds, kernels/triton_mla_decode._plan)
Shapes: MiniCPM3 (kv_lora_rank 256, RoPE 32) at 5, 10 and 20 heads a GPU (tp 8, 4, 2), contiguous and paged (64-token
blocks). Each variant is first checked against the float64 reference on a small mixed-length paged case.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import torch

from common import gpu_lab_args

from mlacalc.kernels.bench import run_meta, time_ms
from mlacalc.kernels.launch import num_sms
from mlacalc.kernels.testing import make_mla_case, rel_error, run_mla_case
from mlacalc.kernels.triton_mla_decode import default_mla_config, mla_decode_triton, mla_num_splits
from mlacalc.profiler.timing import L2Flusher, cuda_graph

R, DR, PAGE = 256, 32, 64
HEADS = (5, 10, 20)
POINTS = [(8, 8192), (16, 2048), (32, 4096), (48, 8192), (64, 1024), (96, 16384), (128, 2048), (192, 4096)]


def variants(heads: int) -> dict:
    """The default config for ``heads`` rows and the same with the planner counting two programs an SM."""
    base = default_mla_config(heads, None)
    return {"one": replace(base, programs_per_sm=1), "fit": replace(base, programs_per_sm=2), "auto": base}


def check(heads: int, cfg, r: int = R, dr: int = DR) -> float | str:
    try:
        case = make_mla_case([4097, 1500, 64, 65, 1], heads=heads, r=r, dr=dr, device="cuda", paged=True, seed=1)
        return rel_error(run_mla_case(mla_decode_triton, case, config=cfg), case.ref)
    except Exception as e:  # noqa: BLE001 - a lab script records the failure and goes on
        return f"{type(e).__name__}: {e}"[:300]


def inputs(B: int, ctx: int, heads: int, paged: bool, r: int = R, dr: int = DR):
    q = torch.randn(B, 1, heads, r + dr, device="cuda", dtype=torch.bfloat16)
    kv = torch.randn(B * ctx, r + dr, device="cuda", dtype=torch.bfloat16)
    lens = torch.full((B,), ctx, dtype=torch.int32, device="cuda")
    if not paged:
        return q, kv.view(B, ctx, r + dr), lens, None
    table = torch.randperm(B * ctx // PAGE, device="cuda").view(B, ctx // PAGE).to(torch.int32)
    return q, kv.view(-1, PAGE, r + dr), lens, table


def time_variants(vs: dict, heads: int, points: list, r: int, dr: int, flusher, sms: int, rows: list) -> None:
    """Each variant of ``vs`` (name -> MLADecodeConfig) checked against the float64 reference, then graph-timed at
    every (B, ctx) of ``points``, contiguous and paged, on the same inputs; rows appended to ``rows`` (vs_one: time
    over the first variant's)."""
    ok = {}
    for vname, cfg in vs.items():
        err = check(heads, cfg, r, dr)
        ok[vname] = isinstance(err, float) and err < 2e-2
        rows.append(dict(kind="check", heads=heads, variant=vname, rel_err=err))
        print("check", heads, vname, err, flush=True)
    for B, ctx in points:
        for paged in (False, True):
            q, kv, lens, table = inputs(B, ctx, heads, paged, r, dr)
            out = torch.empty(B, 1, heads, r, device="cuda", dtype=torch.bfloat16)
            base = None
            for vname, cfg in vs.items():
                if not ok[vname]:
                    continue
                fn = lambda: mla_decode_triton(q, kv, lens, table, softmax_scale=0.1, kv_lora_rank=r,  # noqa: E731
                                               max_seqlen=ctx, config=cfg, out=out)
                fn()
                g = cuda_graph(fn)
                t = time_ms(g.replay if g else fn, flusher)
                base = base or t["ms"]
                nbytes = B * ctx * (r + dr) * 2
                row = dict(kind="time", heads=heads, variant=vname, B=B, ctx=ctx, paged=paged,
                           graph=g is not None, gbps=nbytes / (t["ms"] * 1e-3) / 1e9, vs_one=t["ms"] / base,
                           splits=mla_num_splits(B, 1, heads, ctx, sms=sms, kv_lora_rank=r, rope_dim=dr,
                                                 config=cfg), **t)
                rows.append(row)
                print(f"h{heads:<3} B{B:<4} {ctx:>6} {'paged' if paged else 'contig':6} {vname:5} "
                      f"{t['ms']:.4f} ms {row['gbps']:7.0f} GB/s splits {row['splits']:3} x{row['vs_one']:.3f}",
                      flush=True)
            del q, kv, lens, table, out
            torch.cuda.empty_cache()


def main() -> int:
    a = gpu_lab_args(__doc__)
    if a is None:
        return 2
    t_start = time.time()
    flusher = L2Flusher(torch.cuda.current_device())
    sms = num_sms(torch.device("cuda"))
    rows = []
    for heads in HEADS:
        time_variants(variants(heads), heads, POINTS, R, DR, flusher, sms, rows)
        write(a.out, rows, t_start)     # after each head count: a run cut short keeps what it measured
    return 0


def write(path: str, rows: list, t_start: float) -> None:
    command = f"python3 bench/{sys.argv[0].rsplit('/', 1)[-1]} " + " ".join(sys.argv[1:])
    result = dict(meta=run_meta(torch.device("cuda"), command),
                  rows=rows, wall_s=time.time() - t_start)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
