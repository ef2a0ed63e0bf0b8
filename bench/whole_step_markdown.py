"""Lab script (CPU): render whole-step points (a JSON object of `mlacalc profile ... --whole-step --json` results, as
bench/whole_step_gpu.sh's points merged) as Markdown: per op the floor, expected and measured time.

    python bench/whole_step_markdown.py reports/h200/whole-step.json > reports/h200/whole-step.md
"""

from __future__ import annotations

import json
import sys

from mlacalc.profiler.whole_step import table_rows

HEAD = ["op", "floor us", "expected us", "measured us", "vs floor", "vs expected", "kernels/launches"]


def main() -> None:
    points = json.load(open(sys.argv[1]))
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
