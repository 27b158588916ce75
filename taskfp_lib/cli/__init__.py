"""The ``taskfp`` command line interface.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` on it.
"""
from __future__ import annotations

import argparse
import importlib
import sys

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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, RuntimeError) as err:
        print(f"taskfp {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
