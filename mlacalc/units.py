"""Parsing sizes (``128k``) and dtypes, formatting bytes in labelled binary units.

Conventions:
- Count suffixes are binary, as context lengths are quoted in practice: ``k``/``K`` = 1024, ``M`` = 1024**2,
  ``G`` = 1024**3 (so ``128k`` = 131,072 tokens, DeepSeek-V3's and Llama-3.1's context window).
- Byte outputs use IEC units: KiB, MiB, GiB, TiB (powers of 1024).
"""

from __future__ import annotations

import math

from .errors import SpecError

_COUNT_SUFFIX = {"k": 1024, "K": 1024, "m": 1024**2, "M": 1024**2, "g": 1024**3, "G": 1024**3}

# Bits per element of each named storage dtype. int4/fp4 are packed two per byte.
DTYPE_BITS = {"fp32": 32, "float32": 32, "bf16": 16, "bfloat16": 16, "fp16": 16, "float16": 16,
              "fp8": 8, "fp8_e4m3": 8, "fp8_e5m2": 8, "int8": 8, "int4": 4, "fp4": 4}


def parse_count(text: str | int, what: str = "value", minimum: int = 1) -> int:
    """Parse ``4096``, ``128k``, ``1M`` or ``1.5k`` into an int; reject values below ``minimum``."""
    if isinstance(text, bool):
        raise SpecError(what, f"expected a whole number, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        s = str(text).strip().replace("_", "")
        mult = 1
        if s and s[-1] in _COUNT_SUFFIX:
            mult, s = _COUNT_SUFFIX[s[-1]], s[:-1]
        try:
            f = float(s) * mult
        except ValueError:
            raise SpecError(what, f"expected a number such as 4096 or 128k, got {text!r}") from None
        if not math.isfinite(f) or f != int(f):
            raise SpecError(what, f"expected a whole number, got {text!r}")
        value = int(f)
    if value < minimum:
        raise SpecError(what, f"must be at least {minimum}, got {value}")
    return value


def dtype_bits(dtype: str | int | float, what: str = "dtype") -> float:
    """Bits per element for a dtype name (``bf16``, ``fp8``, ``int4``) or a bit count (``6``)."""
    if isinstance(dtype, bool):
        raise SpecError(what, f"expected a dtype name or a bit count, got {dtype!r}")
    if isinstance(dtype, (int, float)):
        bits = float(dtype)
    else:
        key = str(dtype).strip().lower()
        if key in DTYPE_BITS:
            return float(DTYPE_BITS[key])
        try:
            bits = float(key.removesuffix("bit").removesuffix("bits"))
        except ValueError:
            names = ", ".join(sorted({"fp32", "bf16", "fp16", "fp8", "int8", "int4"}))
            raise SpecError(what, f"unknown dtype {dtype!r} (known: {names}, or a bit count)") from None
    if not (0 < bits <= 64):
        raise SpecError(what, f"bits per element must be in (0, 64], got {bits:g}")
    return bits


def fmt_bytes(n: float) -> str:
    """``1536`` -> ``'1.50 KiB'``; plain bytes below 1 KiB."""
    if n < 1024:
        return f"{n:,.0f} B" if n == int(n) else f"{n:,.2f} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        n /= 1024
        if n < 1024 or unit == "PiB":
            return f"{n:,.2f} {unit}"
    raise AssertionError("unreachable")


def fmt_count(n: float) -> str:
    """Parameter counts: ``6.74e9`` -> ``'6.74 B'`` (decimal, as papers quote parameters)."""
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:,.2f} {unit}"
    return f"{n:,.0f}"
