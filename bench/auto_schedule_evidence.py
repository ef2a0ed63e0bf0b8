"""Lab script (CPU): the figures behind gluon_mla_decode.auto_schedules, from committed H100 runs, printed:

  1. the fit of scheduled / fixed = a x modelled ratio + c / the fixed grid's time (us), least squares over the
     grid A/B at 64-128 heads (--fit, bench/ab_sched_uniform.py's run), and its rms there and on a held-out run of
     bench/random_vs_flashmla.py --uniform --schedule all (--held-out), with the points a ratio under 0.89 picks;
  2. the fixed grid's time a key of its busiest SM at 128 heads (the --fit run's fixed rows from 32k keys or batch
     128): the rule's GRID_KEY_US;
  3. --before / --after (the same seed's --uniform runs before and after the rule's first version, ratio < 0.89
     alone): at 128 heads, ours before and after and whether the rule schedules now; where the first version
     scheduled, the schedule filled once (the before run's `sched` column), auto's own minus it (the fill), and the
     saving the rule predicts before the fill against the one measured.

The model ratio is the load-balance model's (bench/imbalance_vs_measured.py: ours_fixed, balanced).

    python bench/auto_schedule_evidence.py    # the committed runs of the twenty-eighth and twenty-ninth sessions
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from imbalance_vs_measured import balanced, ours_fixed

from mlacalc.kernels.gluon_mla_decode import (AUTO_SCHEDULE_MARGIN, SCHEDULE_PER_RATIO, SCHEDULE_US, GRID_KEY_US,
                                              auto_schedules, default_gluon_config, gluon_splits, split_keys)

TUNING = Path(__file__).resolve().parent.parent / "reports/h100/tuning"
SMS = 132


def model_ratio(B: int, ctx: int, H: int) -> tuple[float, int]:
    """(the balanced schedule's busiest part over the fixed grid's busiest SM, the latter in keys) at uniform lengths."""
    lens = [ctx] * B
    fixed, block_n, ov, hp, slots = ours_fixed(B, ctx, H, lens, SMS)
    return balanced(lens, block_n, ov, hp, SMS, slots)[0] / fixed, fixed


def grid_points(path: Path) -> list[tuple]:
    """(B, ctx, heads, layout, scheduled / fixed, fixed us) of an ab_sched_uniform run, best of rounds, 64+ heads."""
    best: dict = {}
    for r in json.loads(path.read_text())["rows"]:
        if r.get("kind") != "check" and r["heads"] >= 64:
            k = (r["B"], r["ctx"], r["heads"], r["layout"])
            best.setdefault(k, {})[r["variant"]] = min(best.get(k, {}).get(r["variant"], math.inf), r["graph_ms"])
    return [(*k, v["sched"] / v["fixed"], v["fixed"] * 1e3) for k, v in sorted(best.items())]


def fit(points: list[tuple]) -> tuple[float, float]:
    """Least squares of y = a x + c z over (x = modelled ratio, z = 1 / fixed us, y = measured ratio)."""
    xs = [(model_ratio(B, ctx, H)[0], 1 / t, y) for B, ctx, H, _, y, t in points]
    sxx, sxz, szz = (sum(x * x for x, _, _ in xs), sum(x * z for x, z, _ in xs), sum(z * z for _, z, _ in xs))
    sxy, szy = sum(x * y for x, _, y in xs), sum(z * y for _, z, y in xs)
    det = sxx * szz - sxz * sxz
    return (sxy * szz - szy * sxz) / det, (sxx * szy - sxz * sxy) / det


def rms(points: list[tuple], a: float, c: float) -> float:
    return math.sqrt(statistics.mean((a * model_ratio(B, ctx, H)[0] + c / t - y) ** 2
                                     for B, ctx, H, _, y, t in points))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fit", type=Path, default=TUNING / "ab_sched_uniform_session_bn.json")
    ap.add_argument("--held-out", type=Path, default=TUNING / "uniform_vs_flashmla_seed1_session_bp.json")
    ap.add_argument("--before", type=Path, default=TUNING / "uniform_vs_flashmla_seed1_session_bp.json")
    ap.add_argument("--after", type=Path, default=TUNING / "uniform_vs_flashmla_seed1_session_bq.json")
    a = ap.parse_args()
    missing = [str(p) for p in (a.fit, a.held_out, a.before, a.after) if not p.is_file()]
    if missing:
        print(f"auto_schedule_evidence: no such run: {', '.join(missing)}")
        return 2
    grid = grid_points(a.fit)
    slope, c = fit(grid)
    held = [(r["B"], r["ctx"], r["heads"], "paged64", r["sched_ratio"] / r["ratio"], r["ours_ms"] * 1e3)
            for r in json.loads(a.held_out.read_text())["rows"] if "sched_ratio" in r and r["heads"] >= 64]
    print(f"fit over {len(grid)} grid points: scheduled / fixed = {slope:.3f} x model + {c:.1f} us / fixed us, "
          f"rms {rms(grid, slope, c):.3f}; held out ({len(held)} points) rms {rms(held, slope, c):.3f}")
    for heads in (64, 128):
        res = [y - slope * model_ratio(B, ctx, H)[0] - c / t for B, ctx, H, _, y, t in grid + held
               if H == heads and ctx < 10_000]
        print(f"  {heads} heads under 10k keys, measured - fit: {min(res):+.3f} to {max(res):+.3f} ({len(res)} points)")
    for B, ctx, H, _, y, _t in held:
        r = model_ratio(B, ctx, H)[0]
        if r < 0.89:
            print(f"  ratio < 0.89: {B} x {ctx} x {H} heads, model {r:.3f}, scheduled / fixed measured {y:.3f}")
    per_key = [t / model_ratio(B, ctx, H)[1] for B, ctx, H, _, _, t in grid
               if H == 128 and (ctx >= 32768 or B == 128)]
    print(f"fixed grid at 128 heads, us a key of its busiest SM: {min(per_key):.4f}-{max(per_key):.4f} "
          f"(GRID_KEY_US {GRID_KEY_US})")
    before = {(r["B"], r["ctx"], r["heads"]): r for r in json.loads(a.before.read_text())["rows"]}
    cfg = default_gluon_config(128, page_size=64)
    for r in json.loads(a.after.read_text())["rows"]:
        key = (r["B"], r["ctx"], r["heads"])
        if r["heads"] != 128 or key not in before or "sched_ratio" not in before[key]:
            continue
        b = before[key]
        splits, per = gluon_splits(r["B"], 128, r["ctx"], sms=SMS, block_n=split_keys(cfg))
        ratio, keys = model_ratio(r["B"], r["ctx"], 128)
        saved = keys * GRID_KEY_US * (1 - SCHEDULE_PER_RATIO * ratio - AUTO_SCHEDULE_MARGIN) - SCHEDULE_US
        own = auto_schedules(r["B"], 128, r["ctx"], sms=SMS, config=cfg, tokens_per_split=per, num_splits=splits)
        line = (f"  {r['B']:>4} x {r['ctx']:>6}: ours {b['ours_ms']:.4f} -> {r['ours_ms']:.4f} ms "
                f"({r['ours_ms'] / b['ours_ms']:.3f}; / FlashMLA {b['ratio']:.3f} -> {r['ratio']:.3f}), "
                f"schedules now {own}")
        if ratio < 0.89:   # the first version scheduled here
            explicit = b["sched_ratio"] * b["flashmla_ms"]
            line += (f"; filled once {explicit:.4f} ms, auto - that {(r['ours_ms'] - explicit) * 1e3:+.1f} us; "
                     f"saving predicted {saved:.1f} us before the fill, measured "
                     f"{(b['ours_ms'] - r['ours_ms']) * 1e3:.1f} us")
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
