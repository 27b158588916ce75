"""What a book page does with a recipe's result: glue its figures and tables for the page's captions.

A page (notebook) computes one :class:`~taskfp_lib.paper.results.RecipeResult` and hands its
figures to :func:`glue_figures`; its markdown cells place them with MyST ``glue:figure``
directives, which carry the number, the caption, the alt text and the link to the results file
(the figure is not shown where it was computed). Tables are glued with :func:`glue_table`, which
also shows them in the cell output, so that the notebook regression tests (nbval) compare them.
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
    """Glue ``table`` under ``name`` and show it in the cell output (for nbval; the book shows the glued copy)."""
    from myst_nb import glue

    glue(name, table, display=True)


def glue_text(name: str, value) -> None:
    """Glue a number or string for ``{glue:text}`` in the page's text (not shown where it was computed)."""
    from myst_nb import glue

    glue(name, value, display=False)
