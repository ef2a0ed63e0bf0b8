"""Lab script (CPU): merge the decode calibration points of several `mlacalc calibrate --kernels --json` runs into one
file: ``measured_s`` is the geometric mean of the medians of the runs that measured the point (two runs halve the
variance a one-run fit absorbs). The first run's point list is the merged list: every later run must have measured
only points of it (a later calibration may add points; an earlier one cannot have points the first lacks). The first
run's other fields (ceilings, gemm and sdpa points) are kept as they are; each merged point lists its runs' times.

    python bench/merge_calibrations.py [--first-only GROUP] [--from RUN.json GROUP] OUT.json RUN1.json RUN2.json [...]

--first-only GROUP: points of that kernel group take the first run's time alone, the later runs having timed a
kernel since changed. --from RUN.json GROUP: a run made after a kernel of GROUP changed, which may have been cut
short (e.g. rebuilt from the `calpoint` lines of a device log by bench/calpoints_to_run.py): its points join the
merge, and GROUP's take its time alone. Groups: gluon-dense-16bit (our MLA decode on the Gluon seesaw kernel,
16-bit cache: tiles of 64+ rows through the auto backend; its loop was split in the sixteenth session, 0.93-0.995x
the points' time); gluon-wide-16bit (those of more than 64 rows a sequence: its 64-key tile, the default there under
Triton 3.6 from the eighteenth session, 0.83-0.87x the 32-key tile's time at 128 heads from batch 32).

then `python bench/fit_expected.py OUT.json HARDWARE.yaml --write HARDWARE.yaml` fits the decode coefficients to it.
"""

from __future__ import annotations

import json
import math
import sys


def gluon_dense_16bit(point: dict) -> bool:
    """Whether a calibration point runs the Gluon seesaw kernel over a 16-bit cache (auto backend, 64+ rows)."""
    from mlacalc.expected import gluon_dense
    from mlacalc.profiler.kernel_calibration import point_shape

    sixteen_bit = point["kv_dtype"] in ("bf16", "fp16")
    return point["backend"] == "auto" and sixteen_bit and gluon_dense(point_shape(point), True)


def gluon_wide_16bit(point: dict) -> bool:
    """Whether a calibration point runs the Gluon seesaw kernel's 64-key tile (auto backend, more than 64 rows a
    sequence over a 16-bit cache: mlacalc.expected.gluon_wide_tile)."""
    from mlacalc.expected import gluon_wide_tile
    from mlacalc.profiler.kernel_calibration import point_shape

    return point["backend"] == "auto" and gluon_wide_tile(point_shape(point), True)


GROUPS = {"gluon-dense-16bit": gluon_dense_16bit, "gluon-wide-16bit": gluon_wide_16bit}
USAGE = ("usage: python bench/merge_calibrations.py [--first-only GROUP] [--from RUN.json GROUP] OUT.json RUN1.json "
         "RUN2.json [...]")


def merge(runs: list[dict], first_only=lambda point: False, later: dict | None = None,
          later_only=lambda point: False) -> dict:
    """The first run with its decode points' ``measured_s`` replaced by the geometric mean over the ``runs`` that
    measured each (keyed by backend and point key); a later run's point the first lacks is an error. Points for
    which ``first_only`` holds keep the first run's time alone. ``later``: a run made after the others (--from),
    whose points join the mean, except those for which ``later_only`` holds, which take its time alone."""
    def decode(run):
        return {(p["backend"], p["key"]): p for p in run["calibration_points"] if "key" in p}

    maps = [decode(r) for r in runs]
    late = decode(later) if later else {}
    keys = set(maps[0])
    for i, m in enumerate(maps[1:] + [late], start=2):
        if set(m) - keys:
            raise SystemExit(f"run {i} measured points the first did not: {sorted(set(m) - keys)[:3]} ...")
    out = json.loads(json.dumps(runs[0]))
    for p in out["calibration_points"]:
        if "key" not in p:
            continue
        key = (p["backend"], p["key"])
        times = [m[key]["measured_s"] for m in maps if key in m]
        if first_only(p):
            times = times[:1]
        if key in late:
            times = [late[key]["measured_s"]] if later_only(p) else times + [late[key]["measured_s"]]
        p["measured_s"] = math.exp(sum(math.log(t) for t in times) / len(times))
        p["runs_measured_s"] = times
        p.pop("fitted_s", None)         # the fit of one run; bench/fit_expected.py fits the merged points
    out["merged_from"] = len(runs) + bool(later)
    out["note"] = ("decode points merged over the runs (runs_measured_s); `kernels` is the first run's own fit, not "
                   "the merged points' (bench/fit_expected.py writes that into the hardware file)")
    return out


def main(argv: list[str]) -> int:
    first_only = later_only = lambda point: False  # noqa: E731
    later_path = None
    if argv[:1] == ["--first-only"]:
        if len(argv) < 2 or argv[1] not in GROUPS:
            print(f"merge_calibrations: --first-only takes one of {sorted(GROUPS)}", file=sys.stderr)
            return 2
        first_only, argv = GROUPS[argv[1]], argv[2:]
    if argv[:1] == ["--from"]:
        if len(argv) < 3 or argv[2] not in GROUPS:
            print(f"merge_calibrations: --from takes a run and one of {sorted(GROUPS)}", file=sys.stderr)
            return 2
        later_path, later_only, argv = argv[1], GROUPS[argv[2]], argv[3:]
    if len(argv) < 3:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        runs = [json.load(open(f)) for f in argv[1:]]
        later = json.load(open(later_path)) if later_path else None
        merged = merge(runs, first_only, later, later_only)
    except (OSError, ValueError, KeyError, TypeError) as e:     # a missing or foreign file: one line, not a traceback
        print(f"merge_calibrations: {type(e).__name__}: {e}".splitlines()[0], file=sys.stderr)
        return 2
    with open(argv[0], "w") as f:
        json.dump(merged, f, indent=1)
    spread = [abs(math.log(max(p["runs_measured_s"]) / min(p["runs_measured_s"])))
              for p in merged["calibration_points"] if "runs_measured_s" in p]
    print(f"{len(spread)} decode points merged from {len(runs) + bool(later_path)} runs; run-to-run spread: median "
          f"{100 * sorted(spread)[len(spread) // 2]:.1f}%, max {100 * max(spread):.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
