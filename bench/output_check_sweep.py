"""The profiler's output check over random points, on the CPU: does its reference agree with the eager kernels?

Draws the decode points of bench/random_points.py's seeds (the same models, tensor parallelism, layouts, windows and
query tokens the GPU runs draw), shrinks each to what a CPU runs in a moment (batch <= 3, context <= 300, one layer;
an fp8 cache as bf16, since eager decode takes no per-tensor fp8), runs the step the profiler builds with the eager
kernels (MLA: eager, MHA/GQA: SDPA) and checks it as the profiler does (profiler/output_check.py). DSA points are left
out (sparse decode runs on Triton only; tests/test_profiler_output_check.py checks its reference). Prints one line a
point that fails and a count; exit 1 when any fails.

    python bench/output_check_sweep.py --seeds 18 19 [--wide]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from random_points import draw_points  # noqa: E402

from mlacalc.hardware import load_hardware  # noqa: E402
from mlacalc.profiler import predict  # noqa: E402
from mlacalc.spec import load_spec  # noqa: E402


def shrunk(cfg, spec):
    """The point at CPU size, on the eager kernels."""
    mla = predict.mla_kernel(spec.attention)
    context = min(cfg.context, 300)
    return dataclasses.replace(cfg, batch=min(cfg.batch, 3), context=context, layers=1,
                               kernel="eager" if mla else "sdpa", q_tokens=min(cfg.q_tokens, context),
                               kv_dtype="bf16" if cfg.kv_dtype == "fp8" else cfg.kv_dtype)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[18, 19])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--wide", action="store_true", help="random_points.py's --wide models too")
    a = ap.parse_args()
    import torch

    from mlacalc.profiler.output_check import check_outputs
    from mlacalc.profiler.results import output_check_words
    from mlacalc.profiler.run import _alloc_kv, _decode_step

    hw = load_hardware("h100-sxm")
    checked = failed = sparse = 0
    worst = 0.0
    for seed in a.seeds:
        for cfg in draw_points(seed, a.n, hw, 40 << 30, a.wide):
            spec = load_spec(cfg.model)
            if predict.sparse_topk(spec) is not None:
                sparse += 1
                continue
            c = shrunk(cfg, spec)
            c.validate(spec)
            torch.manual_seed(0)
            layers, tables = _alloc_kv(c, spec, torch, device="cpu")
            _, _, checks = _decode_step(c, spec, layers, tables, torch, device="cpu")
            res = check_outputs(checks, c.batch - 1)
            checked += 1
            worst = max(worst, res.get("rel_error", 0.0))
            if not res.get("ok"):
                failed += 1
                print(f"{cfg.key()} (as {c.key()}): {output_check_words(res)}")
    print(f"seeds {a.seeds}: {checked} points checked, {failed} failed, worst relative error {worst:.2g}; "
          f"{sparse} DSA points left out")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
