"""Lab script (CPU): is the Gluon kernel's split planner the best fixed grid off the issue's grid? For seeded uniform
points of bench/random_vs_flashmla.py --uniform (batch 8-128, context 4k-32k, 64/128 heads), the load-balance model's
busiest SM (kernels/schedule.py: grid_loads, makespan; one program an SM) under the planner's split count and under
the best of 1-64 splits, each over FlashMLA's balanced cut (the model of bench/imbalance_vs_measured.py). Prints the
medians and maxima by heads and the points where the best count beats the planner's by the most.

    python bench/grid_best_splits.py [--seed 1] [--n 300]
"""

from __future__ import annotations

import argparse
import statistics

from imbalance_vs_measured import FLASHMLA_BLOCK, FLASHMLA_OVERHEAD, balanced
from random_vs_flashmla import draw_uniform

from mlacalc.kernels.gluon_mla_decode import BLOCK_H, default_gluon_config, gluon_splits, split_keys
from mlacalc.kernels.schedule import grid_loads, makespan, segment_overhead_tiles


def busiest(B: int, ctx: int, H: int, splits: int | None, sms: int) -> tuple[int, int]:
    """(busiest SM's keys, split count) of the fixed grid with `splits` (None: the planner's)."""
    cfg = default_gluon_config(H, page_size=64)
    sp, per = gluon_splits(B, H, ctx, sms=sms, block_n=split_keys(cfg), num_splits=splits)
    ov = segment_overhead_tiles(BLOCK_H, cfg.block_n, 576, 512, q_bytes=2, kv_bytes=2)
    loads = grid_loads([ctx] * B, block_n=cfg.block_n, tokens_per_split=per, num_splits=sp, overhead=ov)
    hp = -(-H // BLOCK_H)
    return makespan([x for x in loads for _ in range(hp)], sms) * cfg.block_n, sp


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1 (else argparse's one-line usage error, exit 2)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n", type=positive, default=300)
    ap.add_argument("--sms", type=positive, default=132)
    a = ap.parse_args()
    rows = []
    for B, ctx, H in draw_uniform(a.seed, a.n):
        if H < BLOCK_H:
            continue
        fm = balanced([ctx] * B, FLASHMLA_BLOCK, FLASHMLA_OVERHEAD, -(-H // BLOCK_H), a.sms)[0]
        planned, sp = busiest(B, ctx, H, None, a.sms)
        best, bs = min(busiest(B, ctx, H, s, a.sms) for s in range(1, 65))
        rows.append((planned / fm, best / fm, B, ctx, H, sp, bs))
    if not rows:
        print(f"grid_best_splits: no point of 64 or more heads among the {a.n} drawn")
        return 2
    for H in sorted({r[4] for r in rows}):
        sel = [r for r in rows if r[4] == H]
        print(f"{H} heads, {len(sel)} points: planner / FlashMLA median {statistics.median(r[0] for r in sel):.3f} "
              f"(max {max(r[0] for r in sel):.3f}); best split count / FlashMLA median "
              f"{statistics.median(r[1] for r in sel):.3f} (max {max(r[1] for r in sel):.3f})")
    gain = sorted(rows, key=lambda r: r[1] / r[0])[:8]
    print("largest gains of the best count over the planner's (planner, best, B, ctx, heads, splits, best splits):")
    for r in gain:
        print(f"  {r[0]:.3f} {r[1]:.3f} {r[2:]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
