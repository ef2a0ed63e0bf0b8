"""Issue 14, round 2 (one device call): e4m3 x e4m3 tensor-core dots for the fp8 decode kernels against the
current defaults, and a verdict per head class.

    python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . && \
        python3 bench/tune_fp8_round2.py --out $OUT/tune_fp8_round2.json          (< 150 s on an H200)

Candidates (docs/kernels-notes.md, "Issue 14, round 2"): fp8_mode "dot" / "dot_dual" (the query quantised to e4m3
per row in the kernel, p as e4m3, fp8 wgmma for both dots; 64-row tiles, 16 heads padded to 64 rows) beside the
default of each kind and head count (`default_mla_config(..., fp8=True)`, `default_sparse_config(H, True)`).

1. Precompile in worker processes (tune_fp8_sparse.precompile: a worker that dies costs only its share).
2. Check each candidate on the GPU (tune_fp8_sparse.check: bf16 queries, float64 reference over the cache as
   stored, planned splits and one split). Bound: 2e-2 for the fp16-dot modes, 6e-2 for the e4m3-dot modes (their
   stated tolerance: ~4% on Gaussian data, tests/test_kernels_cpu.py). A failure is recorded and not timed.
3. Graph-time (L2 flushed, tune_fp8_sparse.graph_ms): dense fp8 16/64/128 heads at B 32/128 x ctx 4k/32k (paged,
   64-token blocks, shuffled); sparse fp8-ds 16/64/128 heads at B = 64, topk 2048 of 32k. x floor against the same
   floors as round 1 (bytes at the measured copy rate, FLOPs at the bf16 matmul rate).
4. Verdict per kind and head count, printed as `SET fp8_dense/h16 = <variant>` and stored in the JSON's `verdicts`:
   the variant with the lowest geomean x floor over the points, among those that passed their check and ran at
   every point. An e4m3-dot variant replaces the default only when it is at least DOT_MARGIN (20%) faster (it costs
   accuracy, so it must be much faster); another variant when it is at least 3% faster; else `default` stays.

JSON: meta, ceilings, rows (as tune_fp8_sparse: kind, variant, config, B, ctx, heads, ms, floor_ms, x_floor, error,
check_err), best (geomeans per kind/heads), verdicts {kind/hH: {set, config, geomean_x_floor, default_geomean,
speedup_vs_default, reason}}.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tune_fp8_sparse as r1  # noqa: E402  (round 1: checks, inputs, graph timing, precompile workers)
from mlacalc.kernels.bench import MLA_DR, MLA_R, MLA_SCALE, _floor_ms, mla_decode_cost, run_meta, \
    sparse_decode_cost, write_result  # noqa: E402
from mlacalc.kernels.cache import fp8_ds_row_bytes  # noqa: E402
from mlacalc.kernels.triton_mla_decode import FP8_DOT_MODES, MLADecodeConfig, default_mla_config, \
    mla_decode_triton  # noqa: E402
from mlacalc.kernels.triton_mla_sparse import SparseMLAConfig, default_sparse_config, mla_decode_sparse  # noqa: E402
from mlacalc.profiler.calibrate import measure_ceilings  # noqa: E402
from mlacalc.profiler.timing import L2Flusher  # noqa: E402

HEADS = (16, 64, 128)
DENSE_POINTS = [(B, ctx) for B in (32, 128) for ctx in (4096, 32768)]
SPARSE_POINTS = [(64, 32768)]
BUDGET_S = 140.0  # no new timing past this
PRECOMPILE_S = 60.0
DOT_MARGIN = 0.8  # an e4m3-dot variant must reach <= 0.8 x the default's geomean to replace it
OTHER_MARGIN = 0.97

M = MLADecodeConfig
S = SparseMLAConfig

# kind -> {variant: config}, the same for every head count (64-row tiles: fp8 wgmma needs 64 rows and K >= 32, so
# block_n >= 32; 4 warps and 128-row tiles spill 430-540 B when compiled for sm_90, so they are not offered)
CANDIDATES = {
    "fp8_dense": {
        "dot_dual_64x32_w8s3": M(block_h=64, block_n=32, num_warps=8, num_stages=3, fp8_mode="dot_dual"),
        "dot_dual_64x64_w8s2": M(block_h=64, block_n=64, num_warps=8, num_stages=2, fp8_mode="dot_dual"),
        "dot_64x32_w8s3": M(block_h=64, block_n=32, num_warps=8, num_stages=3, fp8_mode="dot"),
    },
    "sparse_fp8_ds": {
        "dot_dual_64x32_w8s3": S(block_h=64, block_n=32, num_warps=8, num_stages=3, fp8_mode="dot_dual"),
        "dot_64x32_w8s3": S(block_h=64, block_n=32, num_warps=8, num_stages=3, fp8_mode="dot"),
    },
}


def default_config(kind: str, H: int):
    if kind == "fp8_dense":
        return default_mla_config(H, None, fp8=True, paged=True)
    return default_sparse_config(H, True)


def all_variants():
    """(kind, heads, name, config) of every candidate, in run order (the default first per kind and heads)."""
    out = []
    for kind, cands in CANDIDATES.items():
        for H in HEADS:
            out.append((kind, H, "default", default_config(kind, H)))
            out += [(kind, H, name, cfg) for name, cfg in cands.items()]
    return out


def is_dot(cfg) -> bool:
    return cfg.fp8_mode in FP8_DOT_MODES


def bound(cfg) -> float:
    return 6e-2 if is_dot(cfg) else 2e-2


def verdicts(best: dict, configs: dict) -> dict:
    """Per kind/heads: which variant the defaults should take (module docstring, step 4)."""
    out = {}
    for key, b in best.items():
        gm = b["geomean_x_floor"]
        d = gm.get("default")
        if d is None:
            out[key] = {"set": None, "reason": "the default did not run at every point: no verdict"}
            continue
        pick, reason = "default", "no candidate beat the default by its margin"
        for name in sorted(gm, key=gm.get):
            if name == "default":
                break
            margin = DOT_MARGIN if is_dot(configs[(key, name)]) else OTHER_MARGIN
            if gm[name] <= margin * d:
                pick, reason = name, f"{d / gm[name]:.2f}x faster than the default (margin {1 / margin:.2f}x)"
                break
        out[key] = {"set": pick, "config": asdict(configs[(key, pick)]), "geomean_x_floor": gm[pick],
                    "default_geomean": d, "speedup_vs_default": d / gm[pick], "best_any": min(gm, key=gm.get),
                    "reason": reason}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="JSON file to write")
    ap.add_argument("--warm", nargs=3, metavar=("INDEX", "COUNT", "LOG"), help=argparse.SUPPRESS)
    ap.add_argument("--no-precompile", action="store_true", help="compile in this process only")
    a = ap.parse_args(argv)
    if a.warm:
        r1.warm(int(a.warm[0]), int(a.warm[1]), a.warm[2], entries=all_variants(), check_fn=r1.check)
        return 0
    if not a.out:
        ap.error("--out is required")
    t_start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_start:6.1f}s] {msg}", flush=True)

    dev = torch.device("cuda")
    unfinished = set()
    if not a.no_precompile:
        with tempfile.TemporaryDirectory() as tmp:
            unfinished = r1.precompile(log, tmp, script=os.path.abspath(__file__), cap_s=PRECOMPILE_S)
    flusher = L2Flusher(torch.cuda.current_device())
    ceil = measure_ceilings(log, flusher=flusher)
    result = {**run_meta(dev, "python3 bench/tune_fp8_round2.py --out FILE.json"), "ceilings": ceil,
              "rules": {"check_bound_dot": 6e-2, "check_bound_other": 2e-2, "dot_margin": DOT_MARGIN,
                        "other_margin": OTHER_MARGIN}, "rows": []}
    rows = result["rows"]
    row = r1.row

    ok = {}
    configs = {}
    for i, (kind, H, name, cfg) in enumerate(all_variants()):
        configs[(f"{kind}/h{H}", name)] = cfg
        if i in unfinished:
            rows.append(row(kind, name, cfg, None, None, H, error="skipped: its precompile worker died on it"))
            continue
        if time.perf_counter() - t_start > BUDGET_S - 45:
            rows.append(row(kind, name, cfg, None, None, H, error="skipped: time budget"))
            continue
        try:
            err = r1.check(kind, H, cfg)
            good = err < bound(cfg)
            rows.append(row(kind, name, cfg, None, None, H, check_err=err,
                            error=None if good else f"rel err {err:.3g} >= {bound(cfg)}"))
            if good:
                ok[(kind, H, name)] = cfg
        except Exception as e:  # noqa: BLE001 - a compile error, a bad config: recorded, the run goes on
            rows.append(row(kind, name, cfg, None, None, H, error=f"{type(e).__name__}: {str(e)[:300]}"))
    log(f"checks: {len(ok)} passed" + "".join(
        f"\n    {r['kind']} h{r['heads']} {r['variant']}: check_err {r['check_err']} {r['error'] or 'ok'}"
        for r in rows))
    write_result(a.out, result, t_start)

    def timed(kind, H, B, ctx, floor, call):
        for (k, h, name), cfg in ok.items():
            if k != kind or h != H:
                continue
            if time.perf_counter() - t_start > BUDGET_S:
                rows.append(row(kind, name, cfg, B, ctx, H, floor_ms=floor, error="skipped: time budget"))
                continue
            try:
                ms = r1.graph_ms(lambda cfg=cfg: call(cfg), flusher)
                rows.append(row(kind, name, cfg, B, ctx, H, ms=ms, floor_ms=floor,
                                error=None if ms is not None else "graph capture failed"))
            except Exception as e:  # noqa: BLE001
                rows.append(row(kind, name, cfg, B, ctx, H, floor_ms=floor,
                                error=f"{type(e).__name__}: {str(e)[:300]}"))

    scale = torch.tensor([0.02], device=dev)
    D = MLA_R + MLA_DR
    for B, ctx in DENSE_POINTS:
        try:
            pool, table, lens = r1.dense_inputs(B, ctx, dev)
            for H in HEADS:
                q = torch.randn(B, 1, H, D, device=dev, dtype=torch.bfloat16)
                floor = _floor_ms(*mla_decode_cost(B, ctx, H, 1), ceil)
                timed("fp8_dense", H, B, ctx, floor, lambda cfg, q=q, pool=pool, lens=lens, table=table, ctx=ctx:
                      mla_decode_triton(q, pool, lens, table, softmax_scale=MLA_SCALE, kv_scale=scale,
                                        max_seqlen=ctx, config=cfg))
            del pool, table, lens
        except Exception as e:  # noqa: BLE001 - e.g. out of memory: the other points still run
            log(f"fp8 dense B={B} ctx={ctx}: {type(e).__name__}: {str(e)[:200]}")
        torch.cuda.empty_cache()
        log(f"fp8 dense B={B} ctx={ctx} done")
        write_result(a.out, result, t_start)
    for B, ctx in SPARSE_POINTS:
        try:
            caches, table, lens, idx = r1.sparse_inputs(B, ctx, dev)
            cache = caches["sparse_fp8_ds"]
            for H in HEADS:
                q = torch.randn(B, 1, H, D, device=dev, dtype=torch.bfloat16)
                floor = _floor_ms(*sparse_decode_cost(B, r1.TOPK, H, fp8_ds_row_bytes(MLA_R, MLA_DR)), ceil)
                timed("sparse_fp8_ds", H, B, ctx, floor, lambda cfg, q=q, cache=cache, idx=idx, table=table,
                      lens=lens: mla_decode_sparse(q, cache, idx, table, lens, softmax_scale=MLA_SCALE, config=cfg))
        except Exception as e:  # noqa: BLE001
            log(f"sparse B={B} ctx={ctx}: {type(e).__name__}: {str(e)[:200]}")
        torch.cuda.empty_cache()
        log(f"sparse fp8-ds B={B} ctx={ctx} done")

    result["best"] = r1.summarize(rows, kinds=CANDIDATES)
    result["verdicts"] = verdicts(result["best"], configs)
    write_result(a.out, result, t_start)
    r1.print_table(rows, result["best"], kinds=CANDIDATES)
    print()
    for key, v in result["verdicts"].items():
        if v["set"] is None:
            print(f"SET {key} = ? ({v['reason']})")
        else:
            print(f"SET {key} = {v['set']} (geomean x floor {v['geomean_x_floor']:.2f}, default "
                  f"{v['default_geomean']:.2f}; best of all {v['best_any']}; {v['reason']}) config {v['config']}")
    log(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
