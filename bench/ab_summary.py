"""Lab script: the new/old time ratio per point of a bench/ab_seesaw.py JSON (best of its rounds), FlashMLA beside.

    python3 bench/ab_summary.py AB.json [PAIRS]      PAIRS: e.g. new64/new32,old64/new32 (default new32/old32)
"""

from __future__ import annotations

import collections
import math
import statistics
import sys

from labio import read_json


def vs_flashmla(times: dict, variant: str) -> None:
    """`variant` / FlashMLA (best of rounds) over the points where both ran: median and max, then by head count
    (min / median / max)."""
    by_heads = collections.defaultdict(list)
    for (point, v), ms in times.items():
        if v == variant and (point, "flashmla") in times:
            by_heads[point[3]].append(min(ms) / min(times[point, "flashmla"]))
    every = sorted(r for rs in by_heads.values() for r in rs)
    if not every:
        return
    print(f"  {variant} / flashmla over {len(every)} points: median {statistics.median(every):.3f}, "
          f"max {every[-1]:.3f}")
    for heads, rs in sorted(by_heads.items()):
        rs.sort()
        print(f"    {heads} heads: {rs[0]:.3f} / {statistics.median(rs):.3f} / {rs[-1]:.3f}")


def main(path: str, pairs: str = "new32/old32") -> int:
    """`pairs`: comma-separated A/B variant names; per pair and point the ratio of their best rounds (and each one's
    ratio to the point's floor where the run recorded it)."""
    times = collections.defaultdict(list)
    floor: dict = {}     # a point's floor (ms), where the run recorded it
    rows = read_json(path, __file__, key="rows")
    if rows is None:
        return 2
    for r in rows:
        if r.get("graph_ms") is not None and "variant" in r:
            point = tuple(r.get(k) for k in ("kind", "B", "ctx", "heads", "layout", "cache"))
            times[point, r["variant"]].append(r["graph_ms"])
            if r.get("floor_ms"):
                floor[point] = r["floor_ms"]
    found = False
    for pair in pairs.split(","):
        a, b = pair.split("/")
        ratios = []
        for (point, variant), ms in sorted(times.items(), key=str):
            if variant != a or (point, b) not in times:
                continue
            new, old = min(ms), min(times[point, b])
            ratios.append(new / old)
            fm = min(times.get((point, "flashmla"), [float("nan")]))
            x_floor = (f" x floor {new / floor[point]:.2f} / {old / floor[point]:.2f}" if point in floor else "")
            print(point, f"{a} {new:.4f} ms {b} {old:.4f} ms {a}/{b} {new / old:.3f}",
                  f"{a}/flashmla {new / fm:.3f} {b}/flashmla {old / fm:.3f}{x_floor}")
        if ratios:
            found = True
            g = math.exp(sum(map(math.log, ratios)) / len(ratios))
            print(f"{a} / {b} (best of rounds): geomean {g:.3f}, range {min(ratios):.3f}-{max(ratios):.3f},",
                  f"n {len(ratios)}")
            for v in (a, b):
                vs_flashmla(times, v)
    if not found:
        print(f"no pairs {pairs}")
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and not all(
            p.count("/") == 1 for p in sys.argv[2].split(","))):
        print("usage: python3 bench/ab_summary.py AB.json [A/B,C/D,...]", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
