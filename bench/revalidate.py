"""Lab script (CPU): a validation run's measurements judged against another calibration. Copies VALIDATE.json (from
`mlacalc validate --suite expected`) into OUT_DIR with its hardware spec replaced by HARDWARE.yaml (e.g. the committed
reports/h200/h200.yaml instead of the calibration made in the same device call), recomputes every point's predictions
with the current code (profiler.validate.rerender with repredict: measurements as run) and writes validate.json and
validate.md there, whose Accuracy table is then that calibration's held-out score on those measurements.

--phase PHASE (prefill, decode or train): recompute that phase's points alone, the others' predictions kept as
VALIDATE.json has them -- for a refit of one phase's coefficients (e.g. `fit_expected.py --sdpa`), where the other
points' stored predictions are the file's own and the current code would also reprice them for unrelated changes
(e.g. the decode kernel `auto` picks now for a shape, which is not the one measured there).

    python bench/revalidate.py VALIDATE.json HARDWARE.yaml OUT_DIR [--phase PHASE]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from mlacalc.errors import SpecError
from mlacalc.files import read_data
from mlacalc.hardware import load_hardware
from mlacalc.profiler.validate import rerender


PHASES = ("prefill", "decode", "train")


def main(argv: list[str]) -> int:
    phase = None
    if len(argv) == 5 and argv[3] == "--phase" and argv[4] in PHASES:
        argv, phase = argv[:3], argv[4]
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    src, hw_path, out = argv
    try:
        result = json.load(open(src))
        load_hardware(hw_path)                       # a spec the calculator accepts, or its one-line error
        result["meta"]["hardware"] = read_data(Path(hw_path), hw_path, "yaml")
    except (OSError, ValueError, KeyError, TypeError, SpecError) as exc:  # a missing or malformed input: one line
        print(f"revalidate: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    result["meta"]["hardware_path"] = hw_path
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "validate.json"), "w") as f:
        json.dump(result, f)
    rerender(out, repredict=True)
    path = os.path.join(out, "validate.json")
    new = json.load(open(path))
    flag = ""
    if phase is not None:             # the other phases' points back as VALIDATE.json has them
        new["points"] = [q if q.get("config", {}).get("phase") == phase else p
                         for q, p in zip(new["points"], result["points"], strict=True)]
        n = sum(p.get("config", {}).get("phase") == phase and p.get("status") == "ok" for p in new["points"])
        before = result["meta"].get("repredicted") or "as run"
        new["meta"]["repredicted"] = (f"{n} {phase} points' predictions recomputed on the CPU with the committed code, "
                                      f"measurements as run; the other points' as before ({before})")
        flag = f" --phase {phase}"
    result = new
    result["meta"]["repredicted"] += (f"; against the hardware spec {hw_path} in place of the run's own (`python "
                                      f"bench/revalidate.py {src} {hw_path} {out}{flag}`)")
    with open(path, "w") as f:
        json.dump(result, f)
    rerender(out)
    md = open(os.path.join(out, "validate.md")).read()
    start = md.index("## Accuracy")
    print(md[start:md.index("\n## ", start + 3)].strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
