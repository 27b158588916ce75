"""The ``taskfp`` command line interface.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` on it.

Every failure is reported as one line ``taskfp <command>: error: <message>`` on stderr (exit
status 1; argparse's own usage errors exit with 2): the library's errors name the file, field or
option. An unexpected exception is reported the same way with its type; set ``TASKFP_TRACEBACK=1``
to see the traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from .._safety import one_line
from .._threads import ENV_VAR, set_process_threads

#: modules of this package that contribute sub-commands, in help order
SUBCOMMAND_MODULES = ("data", "fingerprint", "cloud", "benchmark", "transfer", "federated")
#: environment variable that lets exceptions propagate with their traceback (debugging)
TRACEBACK_ENV = "TASKFP_TRACEBACK"


def _record_progs(parser: argparse.ArgumentParser) -> None:
    """Store each sub-parser's full name (``taskfp cloud add``) as the default ``_prog`` of its namespace."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(_prog=sub.prog)
                _record_progs(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskfp",
        description=(
            "Task fingerprinting: fingerprint a task, query a knowledge cloud of earlier tasks, "
            "transfer from the closest ones and benchmark task distances on the 71-task ground truth."
        ),
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"taskfp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:  # a sub-command whose module is not there yet
            if err.name == f"{__name__}.{name}":
                continue
            raise
        module.register(sub)
    _record_progs(parser)
    return parser


def describe_error(err: BaseException) -> str:
    """One line for an exception: the library's own message, or its type and text when unexpected."""
    from .._files import FileFormatError

    if isinstance(err, KeyError) and not isinstance(err, ValueError):
        text = str(err.args[0]) if err.args else "missing key"
        return one_line(text)
    if isinstance(err, MemoryError):
        return "out of memory (the input is too large for this machine)"
    expected = (ValueError, OSError, RuntimeError, FileFormatError, LookupError)
    if isinstance(err, expected) or type(err).__module__.startswith("taskfp_lib"):
        text = str(err) or type(err).__name__
        if isinstance(err, OSError) and err.filename and str(err.filename) not in text:
            text = f"{err.filename}: {err.strerror or text}"
        return one_line(text)
    return one_line(f"unexpected {type(err).__name__}: {err} (set {TRACEBACK_ENV}=1 for the traceback)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    prog = getattr(args, "_prog", f"taskfp {args.command}")
    try:
        if os.environ.get(ENV_VAR, "").strip():  # the documented thread option of every sub-command
            set_process_threads()
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001  -- the one place that turns every failure into one line
        if os.environ.get(TRACEBACK_ENV) == "1":
            raise
        print(f"{prog}: error: {describe_error(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
