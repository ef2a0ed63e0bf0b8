"""Lab script (CPU): does load imbalance explain the measured mixed-length gap to FlashMLA, and what would a balanced
schedule leave? Reads a GPU run of bench/random_vs_flashmla.py (default: reports/h200/tuning/
random_vs_flashmla_seed1_t36.json), regenerates each point's sequence lengths from the run's seed (the same CPU
torch generator, checked against the mean length the run recorded), and plans, for each point, the three launches
in the Python mirrors of the kernels' planners (no GPU, no kernel run):

  * ours, fixed grid: the plan `mla_decode(impl="auto")` launched there: the Gluon kernel's splits at >= 64 heads
    (gluon_splits, its split unit and 64-row head blocks, one program an SM), the Triton kernel's below
    (triton_mla_decode._plan, with the programs an SM it holds);
  * ours, balanced: the same tile cut by kernels/schedule.py (the Triton kernel's opt-in schedule; for the Gluon
    kernel a plan only, not built);
  * FlashMLA: its own balanced cut (64-key blocks, a fixed 5 blocks a segment: csrc/api/dense_decode.h), 64-row
    head blocks.

Each plan gives the busiest program slot's work in keys (tiles x the tile's keys, a segment's overhead included), the
time of a kernel whose every key costs the same. `model` = ours fixed / FlashMLA in those keys; `balanced` = ours
balanced / FlashMLA. If imbalance is what separates the two kernels at mixed lengths, `measured / model` is about
constant within a head class (the per-key cost ratio of the two kernels, ~1.0 at uniform lengths on the H200) and
`measured x balanced / model` is what the balanced schedule would measure. That column is a prediction to be
checked on the GPU, not a measurement. `pieces` (and the prediction after it) plans the simpler kernel change: one
segment of the balanced cut a program, no loop over segments inside the program, the programs handed to the SMs
in launch order.

    python bench/imbalance_vs_measured.py [--run FILE] [--sms 132] [--check FILE]

--check FILE (a bench/random_vs_flashmla.py --schedule all --padded-gluon run at the same seed, e.g.
reports/h200/tuning/random_sched_seed1_t36.json) prints, per head count, what was measured with the schedule and on
the padded Gluon tile beside what was predicted.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import torch

from random_vs_flashmla import BLOCK, draw, draw_uniform

from mlacalc.kernels.gluon_mla_decode import BLOCK_H, default_gluon_config, gluon_splits, split_keys
from mlacalc.kernels.schedule import (grid_loads, makespan, part_loads, part_segments, plan_schedule,
                                      schedule_parts, segment_overhead_tiles)
from mlacalc.kernels.triton_mla_decode import _plan, mla_resident_programs

RUN = Path(__file__).resolve().parent.parent / "reports/h200/tuning/random_vs_flashmla_seed1_t36.json"
FLASHMLA_BLOCK, FLASHMLA_OVERHEAD = 64, 5  # its 64-key blocks and fixed per-segment cost (dense_decode.h)


def lengths(seed: int, n: int, uniform: bool = False) -> list[tuple[int, int, int, list[int]]]:
    """(B, ctx, heads, lengths) of the run's points, drawn as bench/random_vs_flashmla.py draws them (`uniform`: its
    --uniform points, every sequence ctx keys long)."""
    if uniform:
        return [(B, ctx, H, [ctx] * B) for B, ctx, H in draw_uniform(seed, n)]
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return [(B, ctx, H, torch.randint(ctx // 2, ctx + 1, (B,), generator=gen, dtype=torch.int32).tolist())
            for B, ctx, H in draw(seed, n)]


def ours_fixed(B: int, ctx: int, H: int, lens: list[int], sms: int) -> tuple[float, int, int, int, int]:
    """(busiest slot's keys, block_n, overhead tiles, head programs, program slots) of the plan impl="auto"
    launches."""
    if H >= BLOCK_H:  # the Gluon kernel: 64-row head blocks, one program an SM
        cfg = default_gluon_config(H, page_size=BLOCK)
        splits, per_split = gluon_splits(B, H, ctx, sms=sms, block_n=split_keys(cfg))
        hp, slots, block_n, rows = -(-H // BLOCK_H), sms, cfg.block_n, BLOCK_H
    else:
        cfg, block_h, head_blocks, splits, per_split = _plan(B, 1, H, ctx, sms=sms, token_bytes=576 * 2,
                                                             kv_lora_rank=512, fp8=False, config=None,
                                                             num_splits=None, paged=True)
        hp, block_n, rows = head_blocks * cfg.split_v, cfg.block_n, min(block_h, H)
        slots = sms * mla_resident_programs(576, block_h, cfg)
    ov = segment_overhead_tiles(rows, block_n, 576, 512, q_bytes=2, kv_bytes=2)
    loads = grid_loads(lens, block_n=block_n, tokens_per_split=per_split, num_splits=splits, overhead=ov)
    loads = [x for x in loads for _ in range(hp)]
    return makespan(loads, slots) * block_n, block_n, ov, hp, slots


def balanced(lens: list[int], block_n: int, overhead: int, head_programs: int, sms: int,
             slots: int | None = None) -> tuple[float, float]:
    """Busiest slot's keys when the same tiles are cut by kernels/schedule.py into one wave of parts: (a program a
    part, looping over the part's segments; a program a segment, the segments handed to `slots` program slots (one
    an SM by default) in launch order)."""
    G = schedule_parts(head_programs, sms)
    sched = plan_schedule(lens, block_n=block_n, overhead=overhead, parts=G)
    pieces = [t1 - t0 + overhead for p in range(G) for _, t0, t1, _ in part_segments(sched, p)]
    pieces = [x for x in pieces for _ in range(head_programs)]
    return max(part_loads(sched)) * block_n, makespan(pieces, slots or sms) * block_n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=str(RUN), help="a bench/random_vs_flashmla.py JSON")
    ap.add_argument("--sms", type=int, default=132)
    ap.add_argument("--check", help="a random_vs_flashmla.py run with --schedule all --padded-gluon, same seed")
    a = ap.parse_args(argv)
    run = json.loads(Path(a.run).read_text())
    rows = run["rows"]
    points = lengths(run["seed"], len(rows), run.get("uniform", False))
    print(f"{a.run}: {run['gpu']}, seed {run['seed']}; keys of the busiest slot, {a.sms} SMs")
    print(f"{'B':>4} {'ctx':>6} {'H':>4} {'measured':>8} {'model':>6} {'meas/model':>10} {'balanced':>8} "
          f"{'predicted':>9} {'pieces':>6} {'predicted':>9}")
    out = []
    for r, (B, ctx, H, lens) in zip(rows, points):
        if (B, ctx, H) != (r["B"], r["ctx"], r["heads"]) or not math.isclose(sum(lens) / B, r["mean_len"],
                                                                              rel_tol=1e-6):
            print(f"lengths of point {B} x {ctx} x {H} do not match the run's (mean {r['mean_len']}): a different "
                  "generator or seed", file=sys.stderr)
            return 2
        fixed, block_n, ov, hp, slots = ours_fixed(B, ctx, H, lens, a.sms)
        fm = balanced(lens, FLASHMLA_BLOCK, FLASHMLA_OVERHEAD, -(-H // BLOCK_H), a.sms)[0]
        ours_bal, ours_pieces = balanced(lens, block_n, ov, hp, a.sms, slots)
        model, bal, pcs = fixed / fm, ours_bal / fm, ours_pieces / fm
        pred, pred_pcs = r["ratio"] * bal / model, r["ratio"] * pcs / model
        out.append(dict(heads=H, measured=r["ratio"], model=model, balanced=bal, predicted=pred,
                        predicted_pieces=pred_pcs))
        print(f"{B:>4} {ctx:>6} {H:>4} {r['ratio']:>8.3f} {model:>6.3f} {r['ratio'] / model:>10.3f} {bal:>8.3f} "
              f"{pred:>9.3f} {pcs:>6.3f} {pred_pcs:>9.3f}")
    for H in sorted({o["heads"] for o in out}):
        sel = [o for o in out if o["heads"] == H]
        med = lambda k: statistics.median(o[k] for o in sel)  # noqa: E731
        ratio = [o["measured"] / o["model"] for o in sel]
        print(f"{H:>3} heads, {len(sel):>2} points: measured median {med('measured'):.3f} (max "
              f"{max(o['measured'] for o in sel):.3f}); measured/model median {statistics.median(ratio):.3f} "
              f"(range {min(ratio):.3f}-{max(ratio):.3f}); predicted balanced median {med('predicted'):.3f} "
              f"(max {max(o['predicted'] for o in sel):.3f}); a program a segment {med('predicted_pieces'):.3f} (max "
              f"{max(o['predicted_pieces'] for o in sel):.3f})")
    _padded_gluon(rows, points, out, a.sms)
    m, p = [o["measured"] for o in out], [o["predicted"] for o in out]
    print(f"all {len(out)} points: measured median {statistics.median(m):.3f} max {max(m):.3f}; predicted balanced "
          f"median {statistics.median(p):.3f} max {max(p):.3f}")
    if a.check:
        _check(json.loads(Path(a.check).read_text()), out)
    return 0


def _check(run: dict, predicted: list[dict]) -> None:
    """Measured (a run with the schedule) beside predicted, per head count: medians (max) of ours / FlashMLA."""
    rows = run["rows"]

    def cell(values) -> str:
        return f"{statistics.median(values):.3f} ({max(values):.3f})" if values else "-"

    print(f"check against {run['gpu']} run (seed {run['seed']}): ours / FlashMLA, median (max)")
    print(f"{'heads':>5} {'fixed':>15} {'scheduled':>15} {'predicted':>15} {'gluon fixed':>15} {'gluon sched':>15}")
    for H in sorted({r["heads"] for r in rows}):
        sel = [r for r in rows if r["heads"] == H]
        col = lambda k: [r[k] for r in sel if k in r]  # noqa: E731
        pred = [o["predicted"] for o in predicted if o["heads"] == H]
        print(f"{H:>5} {cell(col('ratio')):>15} {cell(col('sched_ratio')):>15} {cell(pred):>15} "
              f"{cell(col('gluon_ratio')):>15} {cell(col('gluon_sched_ratio')):>15}")
    agree = [r["sched_agree"] for r in rows if "sched_agree" in r]
    print(f"scheduled vs fixed output: largest relative difference {max(agree):.4f} over {len(agree)} points")


def _padded_gluon(rows, points, out, sms: int) -> None:
    """Under 64 heads, the Gluon kernel's 64-row tile padded (impl="gluon", merged unmeasured) does a 64-head
    program's work, so its per-key cost ratio to FlashMLA is taken from the 64-head points (their median measured /
    model): printed as a prediction for those points, with the fixed split plan and with the balanced cut."""
    factor = statistics.median(o["measured"] / o["model"] for o in out if o["heads"] == 64)
    for H in sorted({o["heads"] for o in out if o["heads"] < BLOCK_H}):
        fixed, cut = [], []
        for r, (B, ctx, h, lens) in zip(rows, points):
            if h != H:
                continue
            fm = balanced(lens, FLASHMLA_BLOCK, FLASHMLA_OVERHEAD, 1, sms)[0]
            keys, block_n, ov, hp, _ = ours_fixed(B, ctx, BLOCK_H, lens, sms)  # the 64-row tile's plan
            fixed.append(factor * keys / fm)
            cut.append(factor * balanced(lens, block_n, ov, hp, sms)[0] / fm)
        print(f"{H:>3} heads on the padded Gluon tile (per-key factor {factor:.3f} from the 64-head points): predicted "
              f"fixed grid median {statistics.median(fixed):.3f} (max {max(fixed):.3f}), balanced cut median "
              f"{statistics.median(cut):.3f} (max {max(cut):.3f})")


if __name__ == "__main__":
    raise SystemExit(main())
