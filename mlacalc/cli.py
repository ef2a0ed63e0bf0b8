"""The ``mlacalc`` command line: a thin shell over the formulas.

Commands live in ``mlacalc/commands/*.py``; each module has ``register(app)``. This file builds the app, and
turns bad input into one line on stderr with exit code 2 (``SpecError`` from the model code, or a usage error
from the parser). Heavy imports (torch, triton, plotly, pynvml) happen inside the commands that need them.
"""

from __future__ import annotations

import sys

import typer

from .errors import SpecError

# Which module holds each top-level command. Only the invoked command's module is imported and registered:
# typer inspects every registered command's signature at start-up, and the calculator must answer in 0.3 s.
# `tests/test_cli.py` checks that this map matches what the modules register.
COMMAND_GROUPS = {
    "kv": "core", "weights": "core", "compare": "core", "specs": "core", "schema": "core",
    "roofline": "perf", "fit": "perf", "sweep": "perf",
    "train": "train",
    "profile": "gpu", "calibrate": "gpu", "validate": "gpu", "bench": "gpu",
}
GROUPS = ("core", "perf", "train", "gpu")


def _root() -> None:
    """Top-level group: no options of its own."""


def make_app(groups=GROUPS) -> typer.Typer:
    """The typer app with the commands of ``groups`` registered."""
    import importlib

    app = typer.Typer(
        name="mlacalc",
        help="How much memory, how fast, and how sure are we? KV cache, weights, FLOPs and rooflines for "
             "MHA, MQA, GQA and MLA, proven on a real GPU.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    # A callback keeps the app a command group even when one command is registered (typer would otherwise
    # run that command directly and reject its name as an extra argument).
    app.callback()(_root)
    for group in groups:
        importlib.import_module(f".commands.{group}", __package__).register(app)
    return app


def _groups_for(argv: list[str]) -> tuple[str, ...]:
    """The one group the command line needs, or all of them (help, typos, no command)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first in COMMAND_GROUPS and not any(a in ("--help", "-h") for a in argv[:argv.index(first)]):
        return (COMMAND_GROUPS[first],)
    return GROUPS


def _fail(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        rv = make_app(_groups_for(args))(args=args, standalone_mode=False)
    except SpecError as e:
        _fail(str(e))
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", 130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as e:
        # A file the user named cannot be read or written (--plot, --out, --trace): one line, usage error.
        where = f"{e.filename}: " if e.filename else ""
        _fail(f"{where}{e.strerror or e}")
    except Exception as e:
        # Click's UsageError (a bad flag or value). Matched by name: typer >= 0.29 vendors click as
        # typer._click, older typer uses click itself, and the GPU machine has typer 0.27.
        if not any(c.__name__ == "UsageError" for c in type(e).__mro__):
            raise
        ctx = getattr(e, "ctx", None)
        _fail(f"{ctx.command_path + ': ' if ctx else ''}{e.format_message()}")
    sys.exit(rv if isinstance(rv, int) else 0)
