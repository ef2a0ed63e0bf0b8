"""What the held-out check scripts share (bench/external_checks.py, the vLLM, SGLang and held-out capacity checks,
bench/train_memory_checks.py): their one option, and the blank of a table cell. Torch-free, unlike bench/common.py
(the device scripts'): these run on the CPU, by path, with bench/ on sys.path."""

from __future__ import annotations

import argparse


def json_flag_args(doc: str, argv: list[str] | None) -> argparse.Namespace:
    """A check script's arguments: ``--json`` (one JSON object per point, else the markdown tables), its description
    the first line of ``doc``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="one JSON object per point")
    return ap.parse_args(argv)


def dash(x, fmt: str = "{:.2f}") -> str:
    """A table cell: ``x`` in ``fmt``, or "-" where the point has no such figure."""
    return "-" if x is None else fmt.format(x)
