"""The ``mlacalc`` command line: a thin shell over the formulas.

Commands live in ``mlacalc/commands/*.py``; each module has ``register(app)``. This file builds the app, gives
every command ``-h``/``--help`` and ``--version``, and turns bad input into one line on stderr with exit code 2
(``SpecError`` from the model code, a usage error from the parser, or input that broke a reader: too deep,
not text, too big). Any other exception is a bug and keeps its traceback. Heavy imports (torch, triton, plotly,
pynvml) happen inside the commands that need them.
"""

from __future__ import annotations

import re
import sys

from typing import TYPE_CHECKING

from .errors import SpecError

if TYPE_CHECKING:
    import typer

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


def make_app(groups=GROUPS) -> "typer.Typer":
    """The typer app with the commands of ``groups`` registered (typer is imported here, so ``import mlacalc.cli``
    needs nothing beyond the standard library)."""
    import importlib

    import typer

    app = typer.Typer(
        name="mlacalc",
        help="How much memory, how fast, and how sure are we? KV cache, weights, FLOPs and rooflines for "
             "MHA, MQA, GQA and MLA, proven on a real GPU.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every command's context
    )
    # A callback keeps the app a command group even when one command is registered (typer would otherwise
    # run that command directly and reject its name as an extra argument).
    app.callback()(_root)
    for group in groups:
        importlib.import_module(f".commands.{group}", __package__).register(app)
    return app


def _groups_for(argv: list[str]) -> tuple[str, ...]:
    """The one group the command line needs, or all of them (top-level help, typos, no command)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return (COMMAND_GROUPS[first],) if first in COMMAND_GROUPS else GROUPS


HELP = ("-h", "--help")


def _help_where_asked(cmd, argv: list[str]) -> list[str]:
    """``argv`` with help flags typed before a command's name moved after it: ``mlacalc -h kv`` (and ``mlacalc specs
    -h show``) shows that command's help, as ``mlacalc kv -h`` does, rather than the list of commands (click answers
    the first group whose options hold the flag). What follows the command is left as typed."""
    node, path, i, asked = cmd, [], 0, False
    while i < len(argv):
        subs = getattr(node, "commands", None) or {}
        if argv[i] in HELP:
            asked = True
        elif argv[i] in subs:
            path.append(argv[i])
            node = subs[argv[i]]
        else:
            break
        i += 1
    return path + ["--help"] + argv[i:] if asked and path else argv


def version() -> str:
    """The installed package's version (``importlib.metadata``), or ``unknown`` when run from a bare checkout."""
    from importlib.metadata import PackageNotFoundError, version as dist_version

    try:
        return dist_version("mlacalc")
    except PackageNotFoundError:
        return "unknown"


def _print_version(ctx, param, value) -> None:
    if value and not ctx.resilient_parsing:
        print(f"mlacalc {version()}")
        ctx.exit()


def _add_version_option(cmd) -> None:
    """``--version`` (eager: answers before any missing argument is noticed) on ``cmd`` and every subcommand,
    added to the click objects typer builds (so no command module has to declare it)."""
    from typer.core import TyperOption

    todo = [cmd]
    while todo:
        c = todo.pop()
        c.params.append(TyperOption(param_decls=["--version"], is_flag=True, is_eager=True, expose_value=False,
                                    callback=_print_version, help="Print the version and exit."))
        todo.extend(getattr(c, "commands", {}).values())


# What an integer option takes: an optional sign and ASCII digits. click's int type calls int(), which also took
# "1_0" (underscores) and other scripts' digits ("８", "٣"), which mlacalc.units.parse_count refuses for counts.
_INT_TEXT = re.compile(r"[+-]?[0-9]+")


def _strict_ints(cmd) -> None:
    """Every integer option of ``cmd`` and its subcommands (``--tp``, ``--block-size``, ``--reps``, ...) refuses text
    other than ASCII digits, and every float option (``--kv-bits``, ``--gpu-mem-util``, ``--reserve-gib``) text that is
    not ASCII, as a usage error (one line, exit 2), before click's ``int()`` or ``float()`` reads it: ``float()`` took
    other scripts' digits too (``--reserve-gib ٣`` was 3 GiB, ``--kv-bits ８`` 8 bits). Each option gets a copy of its
    type under a checking subclass (click's INT and FLOAT are shared objects), so no command module has to declare
    anything."""
    import copy

    strict: dict[type, type] = {}
    todo = [cmd]
    while todo:
        c = todo.pop()
        for p in c.params:
            t = type(p.type)
            names = {k.__name__ for k in t.__mro__}
            kind = "int" if "IntParamType" in names else "float" if "FloatParamType" in names else None
            if kind and t not in strict.values():
                p.type = copy.copy(p.type)
                p.type.__class__ = strict.setdefault(t, _strict_type(t, kind))
        todo.extend(getattr(c, "commands", {}).values())


def _strict_type(base: type, kind: str) -> type:
    """``base`` (click's IntParamType or FloatParamType, or a subclass such as IntRange) with its text checked before
    its ``int()`` (ASCII digits) or ``float()`` (ASCII)."""

    class Strict(base):
        def convert(self, value, param, ctx):
            if isinstance(value, str):
                if kind == "int" and not _INT_TEXT.fullmatch(value.strip()):
                    self.fail(f"{value!r} is not a whole number in ASCII digits", param, ctx)
                if kind == "float" and not value.isascii():
                    self.fail(f"{value!r} is not a number in ASCII digits", param, ctx)
            return super().convert(value, param, ctx)

    Strict.__name__ = "Strict" + base.__name__
    return Strict


def _one_line(message: str) -> str:
    """``message`` on one line: line breaks (from a file name or a value the user typed) shown as ``\\n``."""
    return "\\n".join(message.splitlines()) or "(no message)"


def _fail(message: str, code: int = 2) -> None:
    if sys.stderr is not None:       # closed (2>&-): print(file=None) would write the error on stdout
        try:
            print(f"error: {_one_line(message)}", file=sys.stderr)
        except OSError:
            # stderr that cannot be written (2>/dev/full): the line is lost either way, and the OSError ended the
            # run with a traceback and exit code 1 instead of the error's own code
            pass
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    import typer
    import typer.main

    args = sys.argv[1:] if argv is None else list(argv)
    if sys.stdout is None:
        # started with stdout closed (>&-): every command writes there, and rich's console raised AttributeError
        _fail("standard output is closed; nowhere to write the answer")
    try:
        cmd = typer.main.get_command(make_app(_groups_for(args)))
        _add_version_option(cmd)
        _strict_ints(cmd)
        args = _help_where_asked(cmd, args)
        rv = cmd.main(args=args, prog_name="mlacalc", standalone_mode=False)
    except SpecError as e:
        from .commands.common import flag_message

        _fail(flag_message(e))
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", 130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as e:
        # A file the user named cannot be read or written (--plot, --out, --trace): one line, usage error.
        where = f"{e.filename}: " if e.filename else ""
        _fail(f"{where}{e.strerror or e}")
    except RecursionError:
        # Input nested deeper than a recursive reader can follow (spec files are depth-checked in mlacalc.files;
        # this catches the rest, e.g. a --set value of 10,000 brackets).
        _fail("input nested too deeply")
    except UnicodeError as e:
        # Bytes that are not text in the user's input, or a name the terminal's encoding cannot print.
        _fail(f"not valid text: {e.reason}")
    except MemoryError:
        _fail("out of memory: the input asks for more than this machine has")
    except Exception as e:
        # Click's UsageError (a bad flag or value). Matched by name: typer >= 0.29 vendors click as
        # typer._click, older typer uses click itself, and the GPU machine has typer 0.27.
        names = {c.__name__ for c in type(e).__mro__}
        if "UsageError" not in names:
            raise
        ctx = getattr(e, "ctx", None)
        if "NoArgsIsHelpError" in names and ctx is not None:
            # `mlacalc`, `mlacalc specs`: a group with no command shows its help, as --help does.
            try:
                print(ctx.get_help())
            except BrokenPipeError:
                pass
            sys.exit(0)
        _fail(f"{ctx.command_path + ': ' if ctx else ''}{e.format_message()}")
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":      # `python -m mlacalc.cli kv ...` ran nothing and exited 0 (as `python -m mlacalc` runs)
    main()
