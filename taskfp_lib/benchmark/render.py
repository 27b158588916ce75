"""HTML pieces of the benchmark report, with every user-provided string escaped.

The measure's name, the CSV file name and the notes come from the user; the report shows them as
text (:func:`taskfp_lib._safety.html_text`), never as Markdown or HTML, so that a name such as
``<script>...</script>`` or ``[x](javascript:...)`` is displayed, not run. Tables are wrapped in a
horizontally scrolling box so that wide ones are not clipped.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from .._safety import html_text
from .report import BenchmarkResult
from .verdict import HTML as HTML_STYLE, verdicts

#: style of the box around a table: scroll sideways instead of clipping
SCROLL_STYLE = "overflow-x:auto;max-width:100%;margin-bottom:1em"
#: how to benchmark one's own distance (shown with the worked examples)
OWN_CSV_COMMAND = 'taskfp benchmark my_distance.csv --name "My distance"'


#: longest measure name drawn in a figure (longer ones are shortened with an ellipsis)
MAX_FIGURE_LABEL = 28


class Html:
    """A piece of HTML that notebooks display as such (``_repr_html_``), with a plain-text twin (``repr``).

    Parameters
    ----------
    text : str
        The HTML (every user string in it already escaped).
    plain : str, optional
        The same content as plain text (what a text-only front end and the notebook tests see);
        default: the HTML without its tags, entities decoded.
    """

    def __init__(self, text: str, plain: str | None = None):
        self.text = text
        self.plain = plain if plain is not None else html.unescape(re.sub(r"<[^>]*>", "", text))

    def _repr_html_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.plain

    def __str__(self) -> str:
        return self.text


def figure_label(name: str, limit: int = MAX_FIGURE_LABEL) -> str:
    """A measure's name for figure labels: at most ``limit`` characters, ``$`` not read as mathtext."""
    short = name if len(name) <= limit else name[: limit - 1] + "\u2026"
    return short.replace("$", r"\$")


def for_figures(df: pd.DataFrame, name: str, column: str = "selector") -> pd.DataFrame:
    """``df`` with the measure's name replaced by :func:`figure_label` in ``column`` (for the plotting functions)."""
    return df.assign(**{column: df[column].replace({name: figure_label(name)})})


def wide_table(df: pd.DataFrame, digits: int | None = 3, index: bool = True) -> Html:
    """``df`` as an escaped HTML table in a box that scrolls sideways.

    Parameters
    ----------
    df : DataFrame
    digits : int or None
        Round floats to this many decimals (None: as they are).
    index : bool
        Show the index.
    """
    shown = df.round(digits) if digits is not None else df
    table = shown.to_html(escape=True, index=index, border=0, classes="dataframe table", na_rep="")
    return Html(f'<div class="taskfp-wide-table" style="{SCROLL_STYLE}">{table}</div>',
                shown.to_string(index=index, na_rep=""))


def _code(value) -> str:
    return f"<code>{html_text(value)}</code>"


def intro(name: str, selector_set: str, n_selectors: int, distance_csv: str | None = None,
          example: str | None = None, ensemble_weights: Mapping[str, float] | None = None) -> Html:
    """The opening paragraph: which measure, from which file (or which worked example), against what."""
    who = f"<strong>{html_text(name)}</strong>"
    if distance_csv is not None:
        source = f"the distance matrix in {_code(Path(distance_csv).name)} (full path {_code(distance_csv)})"
    elif example == "ensemble":
        parts = " + ".join(f"{w:g} &times; {html_text(s)}" for s, w in (ensemble_weights or {}).items())
        source = (f"a worked example generated on the fly: an ensemble of published distances, the weighted sum of "
                  f"their z-scored affinities ({parts}), negated into a distance. To benchmark your own distance, run "
                  f"{_code(OWN_CSV_COMMAND)}")
    else:
        source = "a worked example generated on the fly: a seeded uniform random distance (the sanity floor)"
    return Html(f"<p>This report scores {who}, {source}, against the {n_selectors} task selectors of the "
                f"{html_text(selector_set)} set on the published transfer outcomes, with the paper's full analysis. "
                f"The verdict comes first; the sections below give the evidence.</p>")


def notes(texts: Sequence[str], title: str = "Please check") -> Html:
    """Advisory notes (direction of the matrix, coinciding selections) as a warning box; empty without notes."""
    if not texts:
        return Html("")
    items = "".join(f"<p>{html_text(t)}</p>" for t in texts)
    return Html(f'<div class="admonition warning"><p class="admonition-title">{html_text(title)}</p>{items}</div>')


def verdict(result: BenchmarkResult) -> Html:
    """The verdict per scenario (and the development-phase place, when computed) as an HTML list."""
    rows = verdicts(result.positions, result.ranks, result.name, result.paired, style=HTML_STYLE)
    items = [f"<li>{v}</li>" for v in rows["verdict"]]
    if result.development is not None:
        items.append(f"<li>{result.development.html()}</li>")
    return Html("<ul>" + "".join(items) + "</ul>")


def development(position) -> Html:
    """The development-phase place (:class:`~taskfp_lib.benchmark.development.DevelopmentPosition`): the
    sentence and the table per aggregation option."""
    return Html(f"<p>{position.html()}</p>" + wide_table(position.table(), index=False).text)


def provenance(parameters: Mapping) -> Html:
    """The footer of :func:`taskfp_lib.paper.results.provenance` as HTML, the parameters (user strings) escaped."""
    from ..paper.results import code_version
    from ..upstream.manifest import manifest_digest

    params = json.dumps(dict(parameters), sort_keys=True, default=str)
    return Html(f"<p><strong>Provenance.</strong> Code: {_code(code_version())}; parameters: {_code(params)}; data "
                f"manifest sha256: {_code(manifest_digest()[:16])} ({_code('data_manifest/manifest.csv')}).</p>")


__all__ = ["Html", "development", "figure_label", "for_figures", "intro", "notes", "provenance", "verdict", "wide_table"]
