"""Lab script: the new/old time ratio per point of a bench/ab_seesaw.py JSON (best of its rounds), FlashMLA beside.

    python3 bench/ab_summary.py AB.json
"""

from __future__ import annotations

import collections
import json
import math
import sys


def main(path: str) -> int:
    times = collections.defaultdict(list)
    for r in json.load(open(path))["rows"]:
        if r.get("graph_ms") is not None and "variant" in r:
            point = tuple(r.get(k) for k in ("kind", "B", "ctx", "heads", "layout"))
            times[point, r["variant"]].append(r["graph_ms"])
    ratios = []
    for (point, variant), ms in sorted(times.items(), key=str):
        if variant != "new32" or (point, "old32") not in times:
            continue
        new, old = min(ms), min(times[point, "old32"])
        ratios.append(new / old)
        fm = min(times.get((point, "flashmla"), [float("nan")]))
        print(point, f"new {new:.4f} ms old {old:.4f} ms new/old {new / old:.3f}",
              f"new/flashmla {new / fm:.3f} old/flashmla {old / fm:.3f}")
    if not ratios:
        print("no new32/old32 pairs")
        return 1
    g = math.exp(sum(map(math.log, ratios)) / len(ratios))
    print(f"new32 / old32 (best of rounds): geomean {g:.3f}, range {min(ratios):.3f}-{max(ratios):.3f},",
          f"n {len(ratios)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python3 bench/ab_summary.py AB.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
