"""Dump every bundled spec's and HF fixture's ``--json`` output of kv, weights, roofline and train, to compare two
checkouts byte for byte (a reader change must leave every model it does not mean to change identical).

Run once per checkout (``--code``: the tree whose ``mlacalc`` is imported), reading the same models (``--root``: the
tree whose ``model_specs/`` and ``tests/fixtures/hf/`` are read, so the names in the output agree), then diff:

    git -C /work/main archive main | tar -x -C /tmp/main-ref
    python bench/same_json.py --code /tmp/main-ref --root . > /tmp/before.json
    python bench/same_json.py --code . --root . > /tmp/after.json
    python bench/same_json.py --diff /tmp/before.json /tmp/after.json

Each output is keyed by model and command; a refusal is kept as its exit code and its one line. No GPU, nothing
written but stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# the option sets of each command (docs/zoo-facts.md section 34 checked these)
COMMANDS = (
    ("kv", "--context", "32768"),
    ("kv", "--context", "4096", "--tp", "2"),
    ("weights",),
    ("weights", "--tp", "4"),
    ("weights", "--tp", "2", "--pp", "2"),
    ("weights", "--weight-dtype", "int4"),
    ("roofline", "--context", "4096", "--batch", "8"),
    ("roofline", "--phase", "prefill", "--context", "2048", "--tp", "2"),
    ("roofline", "--context", "4096", "--weight-dtype", "int4"),
    ("train",),
    ("train", "--attention-kernel", "eager"),
    ("train", "--tp", "2"),
    ("train", "--zero", "3", "--dp", "8", "--pp", "2"),
)


def models(root: Path) -> list[str]:
    """Every bundled spec and every fixture config.json under ``root``."""
    specs = sorted(str(p) for p in (root / "model_specs").glob("*.yaml"))
    hf = sorted(str(p) for p in (root / "tests" / "fixtures" / "hf").glob("*/config.json"))
    return specs + hf


def one(argv: list[str]) -> str:
    """stdout of ``mlacalc argv`` (its own error handling: a refusal exits 2 with one line on stderr), or the exit
    code and stderr where it does not exit 0."""
    import contextlib
    import io

    from mlacalc.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as e:
            code = e.code or 0
    return out.getvalue() if code == 0 else f"exit {code}: {err.getvalue().strip()}"


def dump(code: Path, root: Path) -> dict:
    sys.path.insert(0, str(code))
    import mlacalc

    assert Path(mlacalc.__file__).resolve().parent == code / "mlacalc", mlacalc.__file__
    return {f"{Path(model).relative_to(root)} :: {' '.join(cmd)}": one([cmd[0], model, *cmd[1:], "--json"])
            for model in models(root) for cmd in COMMANDS}


def diff(before: dict, after: dict) -> int:
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    only = sorted(before.keys() ^ after.keys())
    for k in changed:
        print("changed:", k)
    for k in only:
        print("in one run only:", k)
    print(f"{len(before.keys() & after.keys())} outputs compared, {len(changed)} changed, {len(only)} in one only")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, help="tree whose model_specs/ and tests/fixtures/hf/ are read")
    ap.add_argument("--code", type=Path, help="tree whose mlacalc is imported")
    ap.add_argument("--diff", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    a = ap.parse_args()
    if a.diff:
        return diff(*(json.loads(p.read_text()) for p in a.diff))
    json.dump(dump(a.code.resolve(), a.root.resolve()), sys.stdout, indent=0, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
