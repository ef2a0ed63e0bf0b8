"""Lab script (CPU): the figures the notes, README and gluon_mla_decode quote from committed GPU runs of auto's own
schedule, printed from their JSON (no GPU).

  * a bench/auto_schedule_trace.py run (rows with a `variant`): each point's graph time a call by variant (us; own
    and fill where they ran a schedule), own minus the same schedule filled once (`explicit`: what the own record costs; OWN_RECORD_US), fill minus explicit
    (the fill kernel's way), own / fixed; then the median and range of own - explicit over every file given;
  * a bench/random_vs_flashmla.py --uniform run (rows with a `ratio`): ours / FlashMLA by head count, min / median /
    max, and over all its points.

    python bench/schedule_summary.py reports/h100/tuning/auto_schedule_trace_own_session_by.json
    python bench/schedule_summary.py reports/h100/tuning/uniform_vs_flashmla_seed{6,7,8,9}_session_cb.json
"""

from __future__ import annotations

import statistics
import sys

from labio import read_json


def scheduled(row: dict) -> bool:
    """Whether a trace row's call ran a schedule (its profile has the slots' merge or the fill): `own` and `fill`
    keep the fixed grid where the rule's ratio is not under the threshold (e.g. 54 x 16,428 in session_by)."""
    return any(k.startswith(("_combine_slots", "_schedule_kernel")) for k in row.get("kernels_us") or {})


def trace_points(rows: list) -> dict:
    """{(B, ctx): {variant: graph us}} of a trace run; `own` and `fill` only where they ran a schedule."""
    out: dict = {}
    for r in rows:
        if r["variant"] in ("own", "fill") and not scheduled(r):
            continue
        out.setdefault((r["B"], r["ctx"]), {})[r["variant"]] = r["graph_ms"] * 1e3
    return out


def own_over_explicit(rows: list) -> list[float]:
    """own - explicit (us a call) at each point of a trace run where both ran the schedule."""
    return [v["own"] - v["explicit"] for v in trace_points(rows).values() if "own" in v and "explicit" in v]


def by_heads(rows: list) -> dict:
    """{heads (0: all): (min, median, max)} of a uniform run's ours / FlashMLA."""
    groups = {0: [r["ratio"] for r in rows]}
    for r in rows:
        groups.setdefault(r["heads"], []).append(r["ratio"])
    return {h: (min(v), statistics.median(v), max(v)) for h, v in sorted(groups.items())}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[0])
        return 2
    extra = []
    for path in argv:
        rows = read_json(path, __file__, key="rows")
        if rows is None:
            return 2
        print(path)
        if rows and "variant" in rows[0]:
            for (B, ctx), v in trace_points(rows).items():
                cols = ", ".join(f"{k} {us:.1f}" for k, us in v.items())
                own = v.get("own")
                diffs = "".join(f"; {k} - explicit {v[k] - v['explicit']:+.1f}" for k in ("own", "fill")
                                if k in v and "explicit" in v)
                ratio = f"; own / fixed {own / v['fixed']:.3f}" if own and "fixed" in v else ""
                print(f"  {B:>4} x {ctx:>6}: {cols}{diffs}{ratio}")
            extra += own_over_explicit(rows)
        else:
            for h, (lo, mid, hi) in by_heads(rows).items():
                print(f"  {'all' if h == 0 else f'{h} heads'}: {lo:.3f} / {mid:.3f} / {hi:.3f} (min / median / max)")
    if extra:
        print(f"own - explicit over {len(extra)} points: median {statistics.median(extra):.1f} us, range "
              f"{min(extra):.1f}-{max(extra):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
