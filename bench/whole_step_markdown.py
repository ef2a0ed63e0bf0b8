"""Lab script (CPU): render whole-step points (a JSON object of `mlacalc profile ... --whole-step --json` results, as
bench/whole_step_gpu.sh's points merged) as Markdown: per op the floor, expected and measured time.

    python bench/whole_step_markdown.py reports/h200/whole-step.json > reports/h200/whole-step.md
    python bench/whole_step_markdown.py reports/h200/whole-step.json --reprice reports/h200/h200.yaml \
        --write-json reports/h200/whole-step.json > sections.md

--reprice HW.yaml: each point's floor and expected times recomputed with this code and HW.yaml's coefficients (the
measurements as run: profiler.whole_step.assemble over the stored measured ops); --write-json: the re-priced points
written back.
"""

from __future__ import annotations

import json
import sys

from mlacalc.profiler.whole_step import table_rows

# what profiler.whole_step.measure returned for a point, which assemble spreads into it beside the prediction
MEASURED_KEYS = ("status", "measured_ops", "step_kernel_s", "outside_s", "unlinked_s", "step_eager_s", "moe_impl",
                 "attention_impl", "notes", "device", "torch", "wall_s")

HEAD = ["op", "floor us", "expected us", "measured us", "vs floor", "vs expected", "kernels/launches"]


def reprice(point: dict, hw) -> dict:
    """The point with its prediction recomputed on ``hw`` by this code, the measurements as run."""
    from mlacalc.profiler.whole_step import StepConfig, assemble, predict_step
    from mlacalc.spec import load_spec

    cfg = StepConfig(**point["config"])
    spec = load_spec(cfg.model)
    return assemble(cfg, spec, predict_step(cfg, spec, hw), {k: point[k] for k in MEASURED_KEYS if k in point})


def main() -> None:
    args = sys.argv[1:]
    opts = {}
    for flag in ("--reprice", "--write-json"):
        if flag in args:
            i = args.index(flag)
            opts[flag] = args[i + 1]
            del args[i:i + 2]
    from mlacalc.errors import SpecError
    from mlacalc.hardware import load_hardware

    try:
        points = json.load(open(args[0]))
        if "--reprice" in opts:
            hw = load_hardware(opts["--reprice"])
            points = {name: reprice(p, hw) for name, p in points.items()}
    except (IndexError, OSError, ValueError, KeyError, TypeError, SpecError) as e:   # one line, not a traceback
        print(f"whole_step_markdown: {type(e).__name__}: {e}".splitlines()[0], file=sys.stderr)
        raise SystemExit(2)
    if "--write-json" in opts:
        with open(opts["--write-json"], "w") as f:
            json.dump(points, f, indent=1)
    for name, p in points.items():
        print(f"## {p['key']}\n")
        print(f"{p.get('scale_note', '')}; attention {p.get('attention_impl')}, experts {p.get('moe_impl')}; "
              f"eager step {p.get('step_eager_s', 0) * 1e6:,.0f} us; {p.get('device', '')}, torch {p.get('torch', '')}"
              f"{'; ' + '; '.join(p['notes']) if p.get('notes') else ''}\n")
        print("| " + " | ".join(HEAD) + " |\n|" + "---|" * len(HEAD))
        for r in table_rows(p):
            print("| " + " | ".join(str(x) for x in r) + " |")
        print()


if __name__ == "__main__":
    main()
