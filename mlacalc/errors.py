"""The error types that model code raises for bad input.

The CLI catches them once, prints ``error: <where>: <message>`` on one line and exits with code 2. Library code
names what is wrong the way a Python caller wrote it: a spec field (``attention.num_kv_heads``) through
:class:`SpecError`, a function argument (``tp``, ``context``) through :class:`ArgError`; the CLI turns argument
names into its flags (``tp`` -> ``--tp``).
"""

from __future__ import annotations


class SpecError(ValueError):
    """Bad input: a spec field, a flag value, a file. ``field`` names where (may be empty)."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class ArgError(SpecError):
    """A bad value of a library function's argument. ``argument`` is its Python name (``tp``, ``micro_batch``)."""

    def __init__(self, argument: str, message: str):
        super().__init__(argument, message)
        self.argument = argument


def show(value, limit: int = 40) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters. An int too long for ``repr`` (Python
    refuses over 4,300 digits: ``Parallelism(tp=10**5000)`` raised that ValueError instead of the
    :class:`ArgError`) is shown by its size."""
    try:
        text = repr(value)
    except ValueError:
        return f"a {'negative ' if isinstance(value, int) and value < 0 else ''}number of thousands of digits"
    return text if len(text) <= limit else text[:limit - 3] + "..."
