"""Lab script (CPU): how one calibration's decode fit fares as one or two of its coefficients move, the rest held --
the rms log error over the backend's calibration points (what `mlacalc calibrate --kernels` minimises), on a grid.

    python bench/fit_scan.py CALIBRATE.json HARDWARE.yaml BACKEND NAME=V1,V2,... [NAME=V1,V2,...]
    python bench/fit_scan.py reports/h200/calibrate.json reports/h200/h200.yaml auto \\
        small_tile_mma_eff=0.2,0.25 dequant_gelem_s=12.5,16     # docs/kernels-notes.md, twelfth session

HARDWARE.yaml gives the ceilings and the held coefficients (its `kernels:` entry for BACKEND).
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from dataclasses import replace

from mlacalc.expected import PLANNERS, decode_attention_s, runs_gluon
from mlacalc.hardware import load_hardware
from mlacalc.profiler.kernel_calibration import point_shape, split_by_kernel


def main(argv: list[str]) -> int:
    if len(argv) < 4 or not all("=" in a for a in argv[3:]):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    cal_path, hw_path, backend, *axes = argv
    hw = load_hardware(hw_path)
    held = dict(hw.kernels)[backend]
    recs = [p for p in json.load(open(cal_path))["calibration_points"] if p.get("backend") in ("auto", "flashmla")]
    own = [r for b in ("auto", "flashmla")
           for k, rs in split_by_kernel(b, [r for r in recs if r["backend"] == b]).items() if k == backend for r in rs]
    pts = [(point_shape(r), r["measured_s"]) for r in own]
    grid = {name: [float(v) for v in values.split(",")] for name, values in (a.split("=", 1) for a in axes)}
    print(f"{backend}: {len(pts)} calibration points; held: {held}")
    for combo in itertools.product(*grid.values()):
        m = replace(held, **dict(zip(grid, combo)))
        err = math.sqrt(sum(math.log(decode_attention_s(s, hw, m, hw.flops_per_s(16), PLANNERS.get(backend, "waves"),
                                                        runs_gluon(backend, hw)) / t) ** 2 for s, t in pts) / len(pts))
        print("  " + ", ".join(f"{k}={v:g}" for k, v in zip(grid, combo)) + f": rms log error {err:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
