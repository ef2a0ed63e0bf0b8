"""Plain-Python pieces of the profiler: summary statistics, predicted-against-measured rows, atomic files.

Nothing here imports torch, so the logic is testable on any machine.

- :func:`summarize` turns repeated timings into median and spread (p10..p90 as a percentage of the median).
- :class:`Comparison` is one predicted-against-measured figure with its signed error in percent,
  ``100 * (measured - predicted) / predicted`` (positive: the real thing is bigger or slower than predicted),
  and an optional tolerance that decides ``ok``.
- :func:`write_atomic` writes a file through a temporary in the same folder and ``os.replace``, so a reader (or
  an interrupted run) never sees half a file.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DOES_NOT_FIT = "does not fit"

# Accuracy targets of issue 6 for predicted-against-measured figures (percent; 0 = exact to the byte).
TOL_KV = 0.0
TOL_PEAK_INFER = 2.0
TOL_PEAK_TRAIN = 5.0
TOL_LATENCY = 15.0


@dataclass(frozen=True)
class Summary:
    """Repeated measurements of one thing (seconds, bytes, ...): median and spread."""

    n: int
    median: float
    mean: float
    minimum: float
    maximum: float
    p10: float
    p90: float

    @property
    def spread_pct(self) -> float:
        """(p90 - p10) / median in percent: how much repetitions disagree."""
        return 100.0 * (self.p90 - self.p10) / self.median if self.median else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "spread_pct": self.spread_pct}


def _quantile(sorted_xs: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of an already sorted list."""
    if len(sorted_xs) == 1:
        return sorted_xs[0]
    pos = q * (len(sorted_xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def summarize(samples: list[float]) -> Summary:
    """Median, mean, extremes and p10/p90 of ``samples`` (at least one)."""
    if not samples:
        raise ValueError("summarize needs at least one sample")
    xs = sorted(float(x) for x in samples)
    return Summary(n=len(xs), median=statistics.median(xs), mean=statistics.fmean(xs), minimum=xs[0],
                   maximum=xs[-1], p10=_quantile(xs, 0.10), p90=_quantile(xs, 0.90))


def error_pct(predicted: float | None, measured: float | None) -> float | None:
    """Signed error of the prediction in percent of the prediction; None when either side is missing."""
    if predicted is None or measured is None:
        return None
    if predicted == 0:
        return 0.0 if measured == 0 else math.inf
    return 100.0 * (measured - predicted) / predicted


@dataclass(frozen=True)
class Comparison:
    """One figure predicted beside measured. ``tolerance_pct`` None: shown, not judged; 0: must be exact."""

    name: str
    unit: str
    predicted: float | None
    measured: float | None
    tolerance_pct: float | None = None

    @property
    def error_pct(self) -> float | None:
        return error_pct(self.predicted, self.measured)

    @property
    def ok(self) -> bool | None:
        if self.tolerance_pct is None or self.error_pct is None:
            return None
        if self.tolerance_pct == 0:
            return self.predicted == self.measured
        return abs(self.error_pct) <= self.tolerance_pct

    def as_dict(self) -> dict:
        return {"name": self.name, "unit": self.unit, "predicted": self.predicted, "measured": self.measured,
                "error_pct": self.error_pct, "tolerance_pct": self.tolerance_pct, "ok": self.ok}


def _json_default(o: Any) -> Any:
    for attr in ("as_dict", "to_json", "to_dict"):
        if hasattr(o, attr):
            return getattr(o, attr)()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def _finite(o: Any) -> Any:
    """inf/NaN -> None, so the files are strict JSON (browsers' JSON.parse rejects Infinity)."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def to_json_text(payload: Any) -> str:
    plain = json.loads(json.dumps(payload, default=_json_default))
    return json.dumps(_finite(plain), indent=1, allow_nan=False) + "\n"


def write_atomic(path: str | os.PathLike, text: str | bytes) -> Path:
    """Write ``text`` to ``path`` all at once: a temporary file beside it, fsync, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8") if isinstance(text, str) else text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    return write_atomic(path, to_json_text(payload))


def wrong_output(point: dict) -> bool:
    """Whether a point's output check ran and failed: its timings are of a call that computed the wrong thing."""
    check = point.get("output_check") or {}
    return check.get("ok") is False


def output_check_words(check: dict) -> str:
    """The output check in a few words: 'output ok (rel err 0.0029)', 'output WRONG (rel err 0.98)', or why not
    checked."""
    if "skipped" in check:
        return f"output not checked ({check['skipped']})"
    return f"output {'ok' if check['ok'] else 'WRONG'} (rel err {check['rel_error']:.2g})"
