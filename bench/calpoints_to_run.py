"""Lab script (CPU): a `calibrate --kernels` run rebuilt from the `calpoint` lines of its device log, for a run cut
short before it wrote its JSON (each point is logged as it lands: mlacalc.profiler.kernel_calibration). The result
holds the decode points only (no ceilings, GEMM or prefill points); bench/merge_calibrations.py takes it with
``--from``.

    python bench/calpoints_to_run.py RUN.log OUT.json "NOTE"
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        with open(argv[0]) as f:
            points = [json.loads(line.split(" ", 1)[1]) for line in f if line.startswith("calpoint ")]
    except (OSError, ValueError, IndexError) as e:  # a missing log or a torn line: one line, not a traceback
        print(f"calpoints_to_run: {type(e).__name__}: {e}".splitlines()[0], file=sys.stderr)
        return 2
    if not points:
        print(f"calpoints_to_run: {argv[0]}: no calpoint lines", file=sys.stderr)
        return 2
    with open(argv[1], "w") as f:
        json.dump(dict(source=argv[0], note=argv[2], calibration_points=points), f, indent=1)
    print(f"{len(points)} points ({', '.join(sorted({p['backend'] for p in points}))}) -> {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
