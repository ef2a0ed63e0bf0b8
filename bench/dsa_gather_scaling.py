"""Lab script (CPU): the DSA gather rate a SM, scaled by the card's bandwidth a SM (as it was until the thirty-second
session) or not (mlacalc.expected._kernel_model now), against H100 measurements no coefficient was fitted to: the
paged DSA points of the H100's calibration run (its one contiguous point read the wrong rows, docs/kernels-notes.md)
and the DSA points of the H100's random seeds, priced with the built-in h100-sxm card. Prints median and max
|measured / expected - 1| in percent (the validation reports' error) for each way: the figures expected.py's comment
and README quote.

    python bench/dsa_gather_scaling.py [CALIBRATE.json] [VALIDATE.json ...]
    (default: reports/h100/tuning/calibrate_points_session_cg.json, reports/h100/validate-random-seed{15,16,17}.json)
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from mlacalc.expected import DEFAULT_SMS_BANDWIDTH, PLANNERS, decode_attention_s, kernel_model, runs_gluon
from mlacalc.hardware import load_hardware
from mlacalc.profiler.kernel_calibration import point_shape

ROOT = Path(__file__).resolve().parent.parent
CALIBRATION = ROOT / "reports" / "h100" / "tuning" / "calibrate_points_session_cg.json"
SEEDS = [ROOT / "reports" / "h100" / f"validate-random-seed{s}.json" for s in (15, 16, 17)]


def calibration_points(path) -> list[dict]:
    """The paged DSA points (auto backend) of a calibrate run: model, tp, batch, context, ... and measured_s."""
    pts = json.load(open(path))["calibration_points"]
    return [p for p in pts if p.get("backend") == "auto" and p.get("paged") and point_shape(p).gathered]


def validation_points(paths) -> list[dict]:
    """The DSA decode points through auto of validation runs: each point's config (what point_shape reads) with its
    measured time."""
    out = []
    for path in paths:
        for p in json.load(open(path))["points"]:
            cfg = p["config"]
            c = {x["name"]: x for x in p.get("comparisons", [])}.get("latency_expected_s")
            if p.get("attention") == "dsa" and cfg["phase"] == "decode" and cfg["kernel"] == "auto" and c:
                out.append(dict(cfg, measured_s=c["measured"]))
    return out


def errors(points, hw, model) -> list[float]:
    """|measured / expected - 1| in percent of each point under `model`."""
    return [abs(p["measured_s"] / decode_attention_s(point_shape(p), hw, model, hw.flops_per_s(16), PLANNERS["auto"],
                                                     runs_gluon("auto", hw)) - 1) * 100 for p in points]


def main(argv: list[str]) -> int:
    cal = Path(argv[0]) if argv else CALIBRATION
    seeds = [Path(a) for a in argv[1:]] or SEEDS
    try:
        points = (("calibration (paged DSA)", calibration_points(cal)), ("random seeds (DSA)", validation_points(seeds)))
    except (OSError, ValueError, KeyError, TypeError) as e:   # a missing file, or not a calibrate/validate JSON
        print(f"dsa_gather_scaling: {type(e).__name__}: {e}".splitlines()[0] + "; usage: "
              + __doc__.split("    python ")[1].splitlines()[0], file=sys.stderr)
        return 2
    hw = load_hardware("h100-sxm")
    unscaled = kernel_model(hw, "auto")
    scaled = replace(unscaled, gather_sm_gb_s=unscaled.gather_sm_gb_s * hw.mem_bandwidth_gb_s / hw.sms
                     / DEFAULT_SMS_BANDWIDTH)
    for name, pts in points:
        for way, m in (("scaled", scaled), ("unscaled", unscaled)):
            e = errors(pts, hw, m)
            print(f"{name:24} {way:8} gather {m.gather_sm_gb_s:5.1f} GB/s: {len(e)} points, median "
                  f"{statistics.median(e):.1f}%, max {max(e):.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
