"""Commands of this group are registered here (filled by their issue)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
