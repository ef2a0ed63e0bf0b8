"""The ``mlacalc`` command line: a thin shell over the formulas.

Commands live in ``mlacalc/commands/*.py``; each module has ``register(app)``. This file builds the app, and
turns bad input into one line on stderr with exit code 2 (``SpecError`` from the model code, or a usage error
from the parser). Heavy imports (torch, triton, plotly, pynvml) happen inside the commands that need them.
"""

from __future__ import annotations

import sys

import typer

from .commands import core, gpu, perf, train
from .errors import SpecError

app = typer.Typer(
    name="mlacalc",
    help="How much memory, how fast, and how sure are we? KV cache, weights, FLOPs and rooflines for "
         "MHA, MQA, GQA and MLA, proven on a real GPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
for module in (core, perf, train, gpu):
    module.register(app)


def _fail(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        rv = app(args=argv, standalone_mode=False)
    except SpecError as e:
        _fail(str(e))
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", 130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as e:
        # Click's UsageError (a bad flag or value). Matched by name: typer >= 0.29 vendors click as
        # typer._click, older typer uses click itself, and the GPU machine has typer 0.27.
        if not any(c.__name__ == "UsageError" for c in type(e).__mro__):
            raise
        ctx = getattr(e, "ctx", None)
        _fail(f"{ctx.command_path + ': ' if ctx else ''}{e.format_message()}")
    sys.exit(rv if isinstance(rv, int) else 0)
