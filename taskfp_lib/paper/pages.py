"""What a book page does with a recipe's result: glue its figures and tables for the page's captions.

A page (notebook) computes one :class:`~taskfp_lib.paper.results.RecipeResult` and hands its
figures to :func:`glue_figures`; its markdown cells place them with MyST ``glue:figure``
directives, which carry the number, the caption, the alt text and the link to the results file
(the figure is not shown where it was computed). Tables are glued with :func:`glue_table`, which
also shows them in the cell output, so that the notebook regression tests (nbval) compare them.

A figure on a page, in a markdown cell (tables the same, without ``:alt:`` and ``:width:``)::

    ```{glue:figure} fig5_grid
    :name: fig-5-bottom
    :alt: A 4 by 4 grid of bubble plots, rows = scenarios, columns = meta metrics, ...
    :width: 100%

    **Fig. 5 (bottom).** What the figure shows, what the marks mean, what the error bars are.

    Data: [`fig5_bootstrap_ranks.csv`](../results/fig5_bootstrap_ranks.csv); inputs: ...
    ```

Numbers: the paper's own (Fig. 5, Supplementary Table 4); B1, B2, ... for the figures and tables the
book adds (tables on the paper's pages; figures and tables on the pages of the method on your own
data, the benchmark and federated learning); R1, R2, ... for the figures and tables of the
repository revision. Each series counts figures and tables separately, in the order of the table of
contents. The benchmark report's page is also the report ``taskfp benchmark`` renders on its own,
which numbers its figures and tables from 1 (:func:`taskfp_lib.cli.benchmark.hide_parameters`).
``:width: 100%`` makes a click open the full-resolution image; the figure functions of
:mod:`.plotting` draw for the book's width.
"""
from __future__ import annotations

from typing import Iterable

import matplotlib.pyplot as plt
import pandas as pd

from .results import RecipeResult


def glue_figure(name: str, fig: plt.Figure) -> None:
    """Glue ``fig`` under ``name`` (PNG at the figure's own dpi) without showing it, and close it."""
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)


def glue_figures(result: RecipeResult, names: Iterable[str] | None = None, prefix: str = "") -> list[str]:
    """Draw and glue the figures ``names`` (default: all) of a recipe result as ``<prefix><name>``."""
    glued = []
    for name in (result.figures if names is None else names):
        glue_figure(prefix + name, result.figure(name))
        glued.append(prefix + name)
    return glued


def glue_table(name: str, table: pd.DataFrame):
    """Glue ``table`` under ``name`` and show it in the cell output (for nbval; the book shows the glued copy).

    The table is rendered whole: every row, every column, no cell text cut short.
    """
    from myst_nb import glue

    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.max_colwidth", None):
        glue(name, table, display=True)


def glue_text(name: str, value) -> None:
    """Glue a number or string for ``{glue:text}`` in the page's text (not shown where it was computed).

    numpy scalars are glued as Python numbers, so that a format spec (``{glue:text}`key:.3f```) applies.
    """
    from myst_nb import glue

    glue(name, value.item() if hasattr(value, "item") else value, display=False)


def glue_markdown(name: str, text: str) -> None:
    """Glue Markdown text for a ``{glue:md}`` directive (not shown where it was computed)."""
    from IPython.display import Markdown
    from myst_nb import glue

    glue(name, Markdown(text), display=False)
