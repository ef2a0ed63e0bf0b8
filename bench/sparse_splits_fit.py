"""Lab script (CPU): what an A/B run of bench/ab_sparse_splits.py says about the sparse decode's split count, the
figures docs/kernels-notes.md ("Sparse decode's split count measured") and gluon_mla_sparse.sparse_gluon_splits
quote.

1. Per row format, a least-squares fit over every point and variant (best of rounds) of
       time (us) = a + b x (slots a split x waves) + c x (partial rows / 1,000)
   where a split holds ceil(ceil(2048 / s) / 32) x 32 slots, waves = ceil(programs / SMs) with programs = batch x
   ceil(heads / 64) x splits, and partial rows = batch x heads x splits (fp32 rows of 512 written, then merged).
   b is the time a slot of a split's chunk costs: the planner's byte price says 656 / 1,152 of a bf16 slot for an
   fp8-ds one.
2. With --model HARDWARE.yaml: at each point where the fp8-ds wave rule changes the plan, the expected-time model's
   time with the rule over its time with the byte plan (mlacalc.expected, rule off by a huge chunk), beside the
   measured w128 / plan ratio when the file has both variants.

    python bench/sparse_splits_fit.py reports/h200/tuning/ab_sparse_splits_session_bm.json
    python bench/sparse_splits_fit.py reports/h100/tuning/ab_sparse_splits_session_bo.json --model reports/h200/h200.yaml
"""

from __future__ import annotations

import argparse
import collections
import json
import math

import numpy as np

TOPK, SMS, TILE = 2048, 132, 32
FORCED = {"s16": 16, "s24": 24, "s32": 32}


def best_times(rows: list[dict]) -> dict:
    """{(B, heads, cache, variant): (best graph ms, splits)} of the A/B rows (splits as recorded, else derived)."""
    best = {}
    for r in rows:
        if r.get("kind") != "sparse" or r.get("graph_ms") is None:
            continue
        k = (r["B"], r["heads"], r["cache"], r["variant"])
        splits = r.get("splits") or FORCED.get(r["variant"]) or r["planned_splits"]
        splits = math.ceil(TOPK / chunk(splits))  # recounted after whole tiles, as plan_splits does
        if k not in best or r["graph_ms"] < best[k][0]:
            best[k] = (r["graph_ms"], splits)
    return best


def chunk(splits: int) -> int:
    """Slots a split takes: whole 32-slot tiles."""
    return math.ceil(math.ceil(TOPK / splits) / TILE) * TILE


def fit(best: dict, cache: str) -> tuple[np.ndarray, float]:
    """(a, b, c) of the linear model for one row format, and the rms relative error of its fit."""
    X, y = [], []
    for (B, H, c, _), (ms, s) in best.items():
        if c == cache:
            waves = math.ceil(B * math.ceil(H / 64) * s / SMS)
            X.append([1.0, chunk(s) * waves, B * H * s / 1e3])
            y.append(ms * 1e3)
    X, y = np.array(X), np.array(y)
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    return coef, float(np.sqrt(np.mean((X @ coef / y - 1) ** 2)))


def model_ratios(best: dict, hw_path: str) -> None:
    import mlacalc.expected as E
    from mlacalc.hardware import load_hardware
    from mlacalc.kernels.cache import fp8_ds_row_bytes

    hw = load_hardware(hw_path)
    model = dict(hw.kernels)["auto"]
    for B, H in sorted({(B, H) for B, H, c, _ in best if c == "fp8_ds"}):
        shape = E.DecodeShape(seqs=B, rows=H, kv_groups=1, keys=TOPK, key_bytes=fp8_ds_row_bytes(512, 64), dkv=1088,
                              out_dv=512, layers=1, key_elems=576, tokens=1, gathered=True, slots=TOPK)
        times, splits = [], []
        for wave_chunk in (E.SPARSE_FP8_WAVE_CHUNK, 10**9):   # the rule, then effectively off
            saved, E.SPARSE_FP8_WAVE_CHUNK = E.SPARSE_FP8_WAVE_CHUNK, wave_chunk
            try:
                times.append(E.decode_attention_s(shape, hw, model, hw.flops_per_s(16), E.PLANNERS["auto"], True))
                splits.append(E.sparse_split_plan(shape, SMS).splits)
            finally:
                E.SPARSE_FP8_WAVE_CHUNK = saved
        if splits[0] == splits[1]:
            continue
        new, old = best.get((B, H, "fp8_ds", "w128")), best.get((B, H, "fp8_ds", "plan"))
        measured = f"{new[0] / old[0]:.3f}" if new and old else "-"
        print(f"  batch {B:3d} x {H:3d} heads: splits {splits[1]} -> {splits[0]}, model rule / byte plan "
              f"{times[0] / times[1]:.3f}, measured w128 / plan {measured}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ab_json")
    ap.add_argument("--model", help="a hardware YAML: the expected-time model's ratios at the rule's points")
    a = ap.parse_args()
    try:
        best = best_times(json.load(open(a.ab_json))["rows"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"sparse_splits_fit: cannot read {a.ab_json} as a bench/ab_sparse_splits.py run: {e!r}")
        return 2
    if not best:
        print(f"sparse_splits_fit: {a.ab_json} has no timed sparse rows (a bench/ab_sparse_splits.py run?)")
        return 2
    counts = collections.Counter(c for _, _, c, _ in best)
    for cache in sorted(counts):
        (a0, b0, c0), rms = fit(best, cache)
        print(f"{cache:7s} {counts[cache]:3d} points: a = {a0:.1f} us, b = {b0:.4f} us a slot of a chunk, "
              f"c = {c0:.3f} us a 1,000 partial rows (rms {rms:.1%})")
    if a.model:
        print("fp8-ds wave rule (points where it changes the plan):")
        model_ratios(best, a.model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
