"""Lab script (CPU): a validation run's measurements judged against another calibration. Copies VALIDATE.json (from
`mlacalc validate --suite expected`) into OUT_DIR with its hardware spec replaced by HARDWARE.yaml (e.g. the committed
reports/h200/h200.yaml instead of the calibration made in the same device call), recomputes every point's predictions
with the current code (profiler.validate.rerender with repredict: measurements as run) and writes validate.json and
validate.md there, whose Accuracy table is then that calibration's held-out score on those measurements.

    python bench/revalidate.py VALIDATE.json HARDWARE.yaml OUT_DIR
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


def main(argv: list[str]) -> int:
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
    result = json.load(open(path))
    result["meta"]["repredicted"] += (f"; against the hardware spec {hw_path} in place of the run's own (`python "
                                      f"bench/revalidate.py {src} {hw_path} {out}`)")
    with open(path, "w") as f:
        json.dump(result, f)
    rerender(out)
    md = open(os.path.join(out, "validate.md")).read()
    start = md.index("## Accuracy")
    print(md[start:md.index("\n## ", start + 3)].strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
