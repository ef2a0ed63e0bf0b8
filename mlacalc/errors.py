"""The one error type that model code raises for bad input.

The CLI catches it once, prints ``error: <field>: <message>`` on one line and exits with code 2.
"""

from __future__ import annotations


class SpecError(ValueError):
    """Bad input: a spec field, a flag value, a file. ``field`` names where (may be empty)."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)
