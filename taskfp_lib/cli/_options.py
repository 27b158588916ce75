"""Argument types shared by the sub-commands: every option is checked when it is parsed.

A bad value is reported by argparse as one line ``taskfp <command>: error: argument -n/--samples:
...`` before any long work starts (feature extraction, downloads).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..limits import MAX_BINS


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, got {text!r}")
    return value


def bin_count(text: str) -> int:
    """A histogram bin count in 1..MAX_BINS."""
    value = _int(text)
    if not 1 <= value <= MAX_BINS:
        raise argparse.ArgumentTypeError(f"must be a bin count between 1 and {MAX_BINS}, got {text!r}")
    return value


def unit_float(text: str) -> float:
    """A float in [0, 1] (a quantile)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {text!r}")
    return value


def output_file(text: str) -> Path:
    """A file path that can be written: not a folder, and its nearest existing folder is writable."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not writable")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write into {str(parent)!r}")
    return path
