"""Parsing sizes (``128k``) and dtypes, formatting bytes in labelled binary units.

Conventions:
- Count suffixes are binary, as context lengths are quoted in practice: ``k``/``K`` = 1024, ``M`` = 1024**2,
  ``G`` = 1024**3 (so ``128k`` = 131,072 tokens, DeepSeek-V3's and Llama-3.1's context window).
- Byte outputs use IEC units: KiB, MiB, GiB, TiB (powers of 1024).
"""

from __future__ import annotations

import math
import re

from .errors import SpecError

_COUNT_SUFFIX = {"k": 1024, "K": 1024, "m": 1024**2, "M": 1024**2, "g": 1024**3, "G": 1024**3}

# Bits per element of each named storage dtype. int4/fp4 are packed two per byte.
DTYPE_BITS = {"fp32": 32, "float32": 32, "bf16": 16, "bfloat16": 16, "fp16": 16, "float16": 16,
              "fp8": 8, "fp8_e4m3": 8, "fp8_e5m2": 8, "int8": 8, "int4": 4, "fp4": 4}


# The largest count parse_count accepts unless told otherwise: 2**50 (about 1.1e15) tokens or sequences is far
# beyond any deployment, and keeps every product of counts and bytes exact in a float64.
MAX_COUNT = 2**50

# The most decoder layers a spec may have (the formulas loop over layers; the deepest model has ~130): see
# mlacalc.spec, whose layer counts it bounds, and mlacalc.hf, which lists a config's layers before the spec is built.
MAX_LAYERS = 10_000


def finite(value, name: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """``value`` as a float, or ``SpecError(name, ...)`` for a non-number, NaN, infinity or a value outside
    ``[minimum, maximum]`` (either bound may be None). For numeric options and file fields."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(name, f"expected a number, got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond float range
        raise SpecError(name, f"number too large ({_magnitude(value)})") from None
    if not math.isfinite(v):
        raise SpecError(name, f"must be a finite number, got {value}")
    if minimum is not None and v < minimum:
        raise SpecError(name, f"must be at least {minimum:g}, got {v:g}")
    if maximum is not None and v > maximum:
        raise SpecError(name, f"must be at most {maximum:g}, got {v:g}")
    return v


# A count as typed before its suffix: one optional sign, ASCII digits with underscores only between two digits (as
# Python writes 1_000), an optional fraction and exponent. float() alone took "_1", "1_" and "1__0" (underscores
# stripped first), Arabic-Indic or full-width digits and "5 k" (a space before the suffix), while an int() path
# checked isascii().
_COUNT_TEXT = re.compile(r"[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?",
                         re.ASCII)


def largest_fitting(fits, limit: int) -> int:
    """The largest n in [1, limit] with ``fits(n)`` true, for a ``fits`` that holds up to some n and fails past it
    (a context or batch against a memory budget); 0 where ``fits(1)`` fails. Binary search: O(log limit) calls."""
    if not fits(1):
        return 0
    if fits(limit):
        return limit
    lo, hi = 1, limit                       # fits(lo), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def parse_count(text: str | int, what: str = "value", minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """Parse ``4096``, ``128k``, ``1M``, ``1.5k``, ``1e6`` or ``1_000`` into an int in ``[minimum, maximum]``; anything
    else (NaN, infinity, a fraction, words, other scripts' digits) is a ``SpecError`` naming ``what``."""
    if isinstance(text, bool):
        raise SpecError(what, f"expected a whole number, got {text!r}")
    if isinstance(text, int):
        value = text
    elif isinstance(text, float):
        if not math.isfinite(text) or text != int(text):
            raise SpecError(what, f"expected a whole number, got {text!r}")
        value = int(text)
    else:
        s = str(text).strip()
        mult = 1
        if s and s[-1] in _COUNT_SUFFIX:
            mult, s = _COUNT_SUFFIX[s[-1]], s[:-1]
        if not _COUNT_TEXT.fullmatch(s):
            raise SpecError(what, f"expected a number such as 4096 or 128k, got {text!r}")
        s = s.replace("_", "")
        # plain integers exactly (float would round 2**53 + 1)
        if s.lstrip("+-").isdigit():
            if len(s) > 30:  # int() refuses beyond 4,300 digits; any of these is over maximum anyway
                raise SpecError(what, f"too large: at most {maximum:,}, got a {len(s)}-digit number")
            value = int(s) * mult
        else:
            f = float(s) * mult
            if not math.isfinite(f) or f != int(f):
                raise SpecError(what, f"expected a whole number, got {text!r}")
            value = int(f)
    if value < minimum:
        raise SpecError(what, f"must be at least {minimum}, got {value if value > -MAX_COUNT else _magnitude(value)}")
    if value > maximum:
        raise SpecError(what, f"too large: at most {maximum:,}, got {_magnitude(value)}")
    return value


def parse_bytes(text: str, what: str = "value", maximum: int = 2**60) -> int:
    """A size in bytes from ``text`` as :func:`parse_count` reads it, but a fraction of the suffix allowed and rounded
    to the nearest byte: ``0.61G`` = round(0.61 x 1024**3) = 654,982,513 B, as vLLM's logs print GiB to two decimals.
    At least 0, at most ``maximum`` (an exabyte); anything else is a ``SpecError`` naming ``what``."""
    s = str(text).strip()
    mult = 1
    if s and s[-1] in _COUNT_SUFFIX:
        mult, s = _COUNT_SUFFIX[s[-1]], s[:-1]
    if isinstance(text, bool) or not _COUNT_TEXT.fullmatch(s):
        raise SpecError(what, f"expected a size such as 0.61G or 512M, got {text!r}")
    f = float(s.replace("_", "")) * mult
    if not math.isfinite(f) or f > maximum:
        raise SpecError(what, f"too large: at most {maximum:,} bytes, got {text!r}")
    if f < 0:
        raise SpecError(what, f"must be at least 0, got {text!r}")
    return round(f)


def _magnitude(value: int) -> str:
    """``1.84e+19`` for a large int, or its digit count where a float cannot hold it (``10**400``: formatting it
    with ``:g`` raised OverflowError, a traceback for ``kv_cache(spec, context=10**400)``)."""
    try:
        return f"{value:.3g}"
    except OverflowError:
        pass
    sign = "negative " if value < 0 else ""
    try:
        return f"a {len(str(abs(value)))}-digit {sign}number"
    except ValueError:       # over Python's 4,300-digit limit on int -> str
        return f"a {sign}number of thousands of digits"


def dtype_bits(dtype: str | int | float, what: str = "dtype") -> float:
    """Bits per element for a dtype name (``bf16``, ``fp8``, ``int4``) or a bit count (``6``)."""
    if isinstance(dtype, bool):
        raise SpecError(what, f"expected a dtype name or a bit count, got {dtype!r}")
    if isinstance(dtype, (int, float)):
        bits = finite(dtype, what)
    else:
        key = str(dtype).strip().lower()
        if key in DTYPE_BITS:
            return float(DTYPE_BITS[key])
        try:
            if not key.isascii():       # float() also reads other scripts' digits: "٣" (Arabic-Indic) was 3 bits
                raise ValueError(key)
            bits = finite(float(key.removesuffix("bit").removesuffix("bits")), what)
        except ValueError:
            names = ", ".join(sorted({"fp32", "bf16", "fp16", "fp8", "int8", "int4"}))
            raise SpecError(what, f"unknown dtype {dtype!r} (known: {names}, or a bit count)") from None
    # At least 1 bit: no cache or checkpoint stores less, and 1e-300 bits made "the largest batch" a number of
    # sequences too large for a float.
    if not (1 <= bits <= 64):
        raise SpecError(what, f"bits per element must be in [1, 64], got {bits:g}")
    return bits


def fmt_bytes(n: float) -> str:
    """``1536`` -> ``'1.50 KiB'``; plain bytes below 1 KiB. The unit is chosen after rounding to the two decimals
    shown, so 1,048,575 B reads ``1.00 MiB``, not ``1,024.00 KiB``."""
    if round(n, 2) < 1024:
        return f"{n:,.0f} B" if n == int(n) else f"{n:,.2f} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        n /= 1024
        if round(n, 2) < 1024 or unit == "PiB":
            return f"{n:,.2f} {unit}"
    raise AssertionError("unreachable")


def fmt_count(n: float) -> str:
    """Parameter counts: ``6.74e9`` -> ``'6.74 B'`` (decimal, as papers quote parameters); the unit is chosen
    after rounding to the two decimals shown."""
    units = (("T", 1e12, 2), ("B", 1e9, 2), ("M", 1e6, 2), ("K", 1e3, 2), ("", 1, 0))
    for (unit, scale, _), (_, lower, digits) in zip(units, units[1:]):
        if abs(round(n / lower, digits)) >= 1000:   # as the unit below would show it: 999,999 is 1.00 M
            return f"{n / scale:,.2f} {unit}"
    return f"{n:,.0f}"
