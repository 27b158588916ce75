"""Escaping of user-provided strings for every place they are shown (one home).

Task names, meta fields, file names and measure names come from other labs and end up in HTML
reports, CSV files opened in spreadsheets and terminals. The helpers here make them inert:

* :func:`html_text`          -- text for HTML (``&``, ``<``, ``>``, quotes escaped);
* :func:`markdown_code`      -- a Markdown inline code span that no backtick can break out of;
* :func:`csv_cell` / :func:`csv_safe_frame` -- spreadsheet formulas neutralised (OWASP rule: a cell
  that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'``);
* :func:`terminal_text`       -- control characters (ANSI escapes, bidi overrides, NUL) shown as
  ``\\xNN``/``\\uNNNN`` instead of being interpreted;
* :func:`one_line`            -- a message as one terminal-safe line;
* :func:`check_task_name`     -- the rule every task name obeys (printable, short, no active first
  character).
"""
from __future__ import annotations

import html
import re
from typing import Any

from .limits import MAX_TASK_NAME_CHARS

#: first characters a spreadsheet interprets as the start of a formula
SPREADSHEET_ACTIVE = ("=", "+", "-", "@", "\t", "\r")


def html_text(value: Any) -> str:
    """``value`` as HTML text: ``&``, ``<``, ``>``, ``"`` and ``'`` escaped."""
    return html.escape(str(value), quote=True)


def markdown_code(value: Any) -> str:
    """``value`` as a Markdown inline code span (a fence longer than any backtick run inside)."""
    text = terminal_text(str(value)).replace("\n", " ")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def csv_cell(value: Any) -> Any:
    """Neutralise a string that a spreadsheet would run as a formula; other values unchanged."""
    if isinstance(value, str) and value.startswith(SPREADSHEET_ACTIVE):
        return "'" + value
    return value


def _map_text(df, fn):
    """Copy of ``df`` with ``fn`` applied to every text cell, column label and index label."""
    import pandas as pd

    out = df.copy()
    for col in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col])):
            out[col] = out[col].map(fn, na_action="ignore").astype(object)
    out.columns = [fn(c) for c in out.columns]
    if not pd.api.types.is_numeric_dtype(out.index):
        out.index = [fn(i) for i in out.index]
    return out


def csv_safe_frame(df):
    """Copy of a DataFrame whose string cells, index and column labels pass :func:`csv_cell`."""
    return _map_text(df, csv_cell)


def _escape_char(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(value: Any) -> str:
    """``str(value)`` with every non-printable character except space shown as an escape."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape_char(ch) for ch in text)


def terminal_frame(df):
    """Copy of a DataFrame whose string cells and labels pass :func:`terminal_text` (for printing)."""
    return _map_text(df, lambda v: terminal_text(v) if isinstance(v, str) else v)


def one_line(message: Any, limit: int = 2_000) -> str:
    """A message as one terminal-safe line of at most ``limit`` characters."""
    text = " ".join(str(message).split("\n"))
    text = terminal_text(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def task_name_problem(name: Any) -> str | None:
    """Why ``name`` is not a valid task name, or None when it is.

    A task name is a non-empty string of at most :data:`~taskfp_lib.limits.MAX_TASK_NAME_CHARS`
    printable characters that starts with neither white space nor a spreadsheet-active character
    (``= + - @``), so it can be shown in a terminal, an HTML report and a CSV file as it is.
    """
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if len(name) > MAX_TASK_NAME_CHARS:
        return f"is {len(name)} characters long (at most {MAX_TASK_NAME_CHARS})"
    if not name.isprintable():
        return f"contains control characters ({terminal_text(name)!r})"
    if name[0].isspace() or name.startswith(SPREADSHEET_ACTIVE):
        return f"starts with {name[0]!r} (white space and = + - @ are not allowed first)"
    return None


def check_task_name(name: Any, where: str = "") -> str:
    """Return ``name`` if it is a valid task name, else raise ``ValueError`` naming ``where``."""
    problem = task_name_problem(name)
    if problem:
        shown = terminal_text(name)[:60] if isinstance(name, str) else type(name).__name__
        raise ValueError(f"{where + ': ' if where else ''}task name {shown!r} {problem}")
    return name
