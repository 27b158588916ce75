"""The ``taskfp`` command line interface.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` on it.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from .._threads import ENV_VAR, set_process_threads

#: modules of this package that contribute sub-commands, in help order
SUBCOMMAND_MODULES = ("data", "fingerprint", "cloud", "benchmark", "transfer")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskfp",
        description=(
            "Task fingerprinting: fingerprint a task, query a knowledge cloud of earlier tasks, "
            "transfer from the closest ones and benchmark task distances on the 71-task ground truth."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:  # a sub-command whose module is not there yet
            if err.name == f"{__name__}.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if os.environ.get(ENV_VAR, "").strip():  # the documented thread option of every sub-command
            set_process_threads()
        return int(args.func(args) or 0)
    except (ValueError, OSError, RuntimeError) as err:
        print(f"taskfp {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
