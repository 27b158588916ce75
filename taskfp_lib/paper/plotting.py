"""The book's visual language, defined once, and the figures of the rankings (Fig. 5, Supp. Fig. 1).

Every figure of the book is drawn for the book's content width, :data:`BOOK_WIDTH` inches at
100 px per inch (about 780 px), saved at :data:`DPI` (about 1400 px wide, shown at half to full
size; a click on a figure opens the full-resolution image). Text is never smaller than 8 pt
(11 px on the page).

* every selector has one colour and one marker (:data:`SELECTOR_STYLES`; :func:`selector_styles`
  gives further measures, e.g. a distance being benchmarked, styles of their own);
* every scenario has one colour (:attr:`taskfp_lib.vocabulary.Scenario.colour`), every imaging
  domain one colour (:data:`DOMAIN_COLOURS`);
* panels and facets follow the paper's orders (scenarios as in Fig. 5's rows, meta metrics as in
  its columns); legends sit outside the data.

The curve figures (Fig. 4, Fig. 6, the bin sweep) are in :mod:`.plotting_curves`, the task figures
(Fig. 3, task maps, affinity heatmaps) in :mod:`.plotting_tasks`.
"""
from __future__ import annotations

import functools
import textwrap
from typing import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ..tasks import DOMAIN_TAGS, domain_label
from ..vocabulary import (BKLD_VARIANTS, META_METRICS, RANKING_META_METRICS, SCENARIOS, SELECTOR_SETS, SELECTORS,
                          scenario_order)

#: the book's content width in inches (at 100 px per inch on the page)
BOOK_WIDTH = 7.8
#: resolution of the saved figures: ~1400 px for the full width, shown at ~0.55 of it
DPI = 180
#: matplotlib settings of every book figure (applied per figure, never globally)
RC = {
    "figure.dpi": DPI, "savefig.dpi": DPI, "figure.facecolor": "white", "savefig.facecolor": "white",
    "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "legend.fontsize": 8, "legend.title_fontsize": 8, "legend.frameon": False,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "axes.axisbelow": True,
    "grid.color": "#e6e6e6", "grid.linewidth": 0.6, "axes.edgecolor": "#444444", "axes.linewidth": 0.7,
    "lines.linewidth": 1.3, "lines.markersize": 5, "errorbar.capsize": 2,
}

#: colour and marker of every selector of the paper and the repository revision (from the vocabulary's
#: records, in the legend order: the bKLD variants first)
SELECTOR_STYLES: dict[str, tuple[str, str]] = {
    s.label: (s.colour, s.marker) for s in sorted(SELECTORS.values(), key=lambda s: s.label not in BKLD_VARIANTS)}
#: styles of measures that are not selectors of the paper (a distance being benchmarked, ...), in order
EXTRA_STYLES: tuple[tuple[str, str], ...] = (("#000000", "p"), ("#e7298a", "<"), ("#66a61e", ">"),
                                             ("#a6761d", "8"), ("#1b9e77", "d"))
#: colour of every imaging domain of Fig. 3 (and the task maps)
DOMAIN_COLOURS: dict[str, str] = dict(zip(
    [domain_label(t) for t in DOMAIN_TAGS],
    ["#e377c2", "#bcbd22", "#ff7f0e", "#d62728", "#7f7f7f", "#c5b0d5", "#17becf", "#9467bd", "#8c564b",
     "#1f77b4", "#2ca02c", "#f7b6d2", "#98df8a", "#ffbb78"]))
#: the paper's label of every meta metric and the colour of every scenario (kept for callers of the old names)
META_LABELS: dict[str, str] = {name: m.label for name, m in META_METRICS.items()}
SCENARIO_COLORS: dict[str, str] = {label: s.colour for label, s in SCENARIOS.items()}
#: figure functions that live in the sibling modules, reachable here as ``plotting.<name>``
_ELSEWHERE = {"plot_shots": "plotting_curves", "plot_sample_size": "plotting_curves",
              "plot_curve_grid": "plotting_curves", "plot_task_overview": "plotting_tasks",
              "plot_task_maps": "plotting_tasks", "plot_affinity_heatmaps": "plotting_tasks"}


def __getattr__(name: str):
    """``plotting.plot_shots`` etc.: the curve and task figures, imported on first use (no import cycle)."""
    if name in _ELSEWHERE:
        import importlib

        return getattr(importlib.import_module(f"{__package__}.{_ELSEWHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def styled(func):
    """Decorator: draw the figure under :data:`RC` (and never change matplotlib's global settings)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with plt.rc_context(RC):
            return func(*args, **kwargs)
    return wrapper


def book_figure(height: float, width: float = BOOK_WIDTH, nrows: int = 1, ncols: int = 1, **kwargs):
    """A figure of ``width`` x ``height`` inches with a grid of axes (constrained layout).

    Returns ``(fig, axes)`` with ``axes`` a 2-D array of shape (nrows, ncols).
    """
    return plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, layout="constrained", **kwargs)


def selector_style(name: str) -> tuple[str, str]:
    """``(colour, marker)`` of a selector of the paper or the revision; a measure of its own gets the first
    of :data:`EXTRA_STYLES` (use :func:`selector_styles` for several)."""
    return SELECTOR_STYLES.get(name, EXTRA_STYLES[0])


def selector_styles(names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``(colour, marker)`` per name: the fixed style of the paper's selectors, :data:`EXTRA_STYLES` in order
    for every other measure (e.g. the distance a benchmark report evaluates)."""
    extra = iter(EXTRA_STYLES * 4)
    return {n: SELECTOR_STYLES[n] if n in SELECTOR_STYLES else next(extra) for n in dict.fromkeys(names)}


def selector_order(names: Iterable[str]) -> list[str]:
    """Selectors in a fixed order: the paper's set, the revision's additions, then any other name."""
    known = list(dict.fromkeys(SELECTOR_SETS["paper"] + SELECTOR_SETS["revision"]))
    present = list(dict.fromkeys(names))
    return [s for s in known if s in present] + [s for s in present if s not in known]


def marker_size(marker: str, size: float) -> float:
    """``size`` for a marker, larger for the star (which looks smaller than the others at the same size)."""
    return size * 1.4 if marker == "*" else size


def selector_handles(names: Iterable[str], styles: dict | None = None) -> list[Line2D]:
    """Legend entries (marker in the selector's colour) for ``names``."""
    names = list(names)
    styles = styles or selector_styles(names)
    return [Line2D([], [], ls="none", marker=styles[n][1], ms=marker_size(styles[n][1], 7), mfc=styles[n][0],
                   mec="black", mew=0.5, label=n) for n in names]


def scenario_colour(label: str) -> str:
    """The colour of a scenario (grey for one that is not registered, e.g. the MSD study)."""
    return SCENARIOS[label].colour if label in SCENARIOS else "#444444"


def meta_label(name: str) -> str:
    """The paper's name of a meta metric with its direction (``Regret (lower is better)``)."""
    meta = META_METRICS.get(name)
    if meta is None:
        return str(name)
    return f"{meta.label} (lower is better)" if not meta.higher_is_better else meta.label


def wrap(label: str, width: int = 12) -> str:
    """A label broken into lines of at most ``width`` characters (``Model\\nArchitecture``)."""
    return "\n".join(textwrap.wrap(str(label), width)) or str(label)


def selector_label(name: str, width: int = 12) -> str:
    """A selector name for a tick label, broken after its comma when long (``bKLD(small,\ntarget)``)."""
    return name.replace(",", ",\n", 1) if len(name) > width and "," in name else name


def legend_above(fig, handles, ncol: int | None = None, title: str | None = None):
    """One legend for the whole figure, above the panels (outside the data)."""
    ncol = ncol or min(len(handles), 5)
    return fig.legend(handles=handles, loc="outside upper center", ncol=ncol, title=title, handletextpad=0.3,
                      columnspacing=1.2)


# --- rankings -----------------------------------------------------------------------------------------


def _blob_panel(ax, sub: pd.DataFrame, styles: dict, n_ranks: int, max_area: float) -> None:
    """One bubble plot: selectors ordered by mean rank (best on the right), bubble area = rank frequency."""
    sub = sub.sort_values("mean_rank", ascending=False).reset_index(drop=True)
    for x, row in sub.iterrows():
        colour, marker = styles[row["selector"]]
        counts = row["rank_counts"]
        total = sum(counts.values())
        ax.scatter([x] * len(counts), list(counts), s=[max_area * c / total for c in counts.values()],
                   color=colour, alpha=0.45, linewidths=0)
        ax.errorbar(x, row["mean_rank"], yerr=row["std_rank"], fmt=marker, color="black", ms=marker_size(marker, 6),
                    mfc=colour, mec="black", mew=0.5, elinewidth=0.8, capsize=1.5)
    ax.set_xticks(range(len(sub)), [""] * len(sub))
    ax.tick_params(axis="x", length=0)
    ax.set_xlim(-0.7, len(sub) - 0.3)
    ax.set_ylim(n_ranks + 0.6, 0.4)
    ax.set_yticks(range(1, n_ranks + 1))
    ax.grid(axis="x", visible=False)


@styled
def plot_bootstrap_blobs(ranks: pd.DataFrame, metas: Sequence[str] = RANKING_META_METRICS,
                         title: str | None = None) -> plt.Figure:
    """Fig. 5 (bottom) and every other bootstrap grid: scenarios (rows) x meta metrics (columns).

    ``ranks`` holds scenario, meta_metric, selector, mean_rank, std_rank and rank_counts (rank ->
    count). Per panel the selectors are ordered by mean rank, the best on the right (as in the
    paper); bubble area = how often a selector obtained a rank over the bootstraps; marker = mean
    rank, error bar = std. Colour and marker identify the selector (one legend above the grid).
    """
    scenarios = scenario_order(ranks["scenario"])
    metas = [m for m in metas if m in set(ranks["meta_metric"])]
    names = selector_order(ranks["selector"])
    styles = selector_styles(names)
    n_ranks = len(names)
    fig, axes = book_figure(1.55 * len(scenarios) + 1.0, nrows=len(scenarios), ncols=len(metas), sharey=True)
    max_area = (4.5 * 72 / max(n_ranks, 6) / 2) ** 2  # a bubble of frequency 1 fills its column
    for i, scen in enumerate(scenarios):
        for j, meta in enumerate(metas):
            ax = axes[i, j]
            sub = ranks[(ranks["scenario"] == scen) & (ranks["meta_metric"] == meta)]
            _blob_panel(ax, sub, styles, n_ranks, max_area)
            if i == 0:
                ax.set_title(meta_label(meta))
            if j == 0:
                ax.set_ylabel(f"{wrap(scen, 14)}\nrank", color=scenario_colour(scen))
    legend_above(fig, selector_handles(names, styles), ncol=min(n_ranks, 5 if n_ranks > 8 else 4), title=title)
    return fig


@styled
def plot_ranking_summary(summary: pd.DataFrame, ylabel: str = "mean rank over the panels") -> plt.Figure:
    """Fig. 5 (top): each selector's mean rank over the panels, error bar = std; best on the right, rank 1 on top."""
    s = summary.sort_values("mean_rank", ascending=False).reset_index(drop=True)
    styles = selector_styles(selector_order(s["selector"]))
    fig, axes = book_figure(2.7)
    ax = axes[0, 0]
    for x, row in s.iterrows():
        colour, marker = styles[row["selector"]]
        ax.errorbar(x, row["mean_rank"], yerr=row["std"], fmt=marker, color="black", ms=marker_size(marker, 8),
                    mfc=colour, mec="black", mew=0.6, elinewidth=1, capsize=3)
    ax.set_xticks(range(len(s)), [selector_label(n) for n in s["selector"]])
    ax.invert_yaxis()
    ax.set_ylabel(f"{ylabel}\n(1 = best)")
    ax.grid(axis="x", visible=False)
    return fig


@styled
def plot_rank_then_mean(df: pd.DataFrame, metas: Sequence[str] = RANKING_META_METRICS) -> plt.Figure:
    """Supplementary Fig. 1: per meta metric (rows) and scenario (y, paper order from the top) the bootstrap
    mean rank of every selector (x, 1 = best on the left), error bar = std over the bootstrap means."""
    metas = [m for m in metas if m in set(df["meta_metric"])]
    names = selector_order(df["selector"])
    styles = selector_styles(names)
    scen = scenario_order(df["scenario"])
    fig, axes = book_figure(0.4 * len(scen) * len(metas) + 0.45 * len(metas) + 0.9, nrows=len(metas), sharex=True)
    offsets = (np.arange(len(names)) - (len(names) - 1) / 2) * (0.7 / len(names))
    for ax, meta in zip(axes[:, 0], metas):
        sub = df[df["meta_metric"] == meta]
        for k, sel in enumerate(names):
            g = sub[sub["selector"] == sel].set_index("scenario").reindex(scen)
            colour, marker = styles[sel]
            ax.errorbar(g["mean_rank"], np.arange(len(scen)) + offsets[k], xerr=g["std"], fmt=marker, color=colour,
                        ms=marker_size(marker, 5), mfc=colour, mec="black", mew=0.4, elinewidth=0.9, capsize=1.5)
        ax.set_yticks(range(len(scen)), scen)
        ax.set_ylim(len(scen) - 0.5, -0.5)
        ax.set_title(meta_label(meta), loc="left")
        for y in np.arange(len(scen) - 1) + 0.5:
            ax.axhline(y, color="#cccccc", lw=0.6)
        ax.grid(axis="y", visible=False)
    axes[-1, 0].set_xlabel("mean rank (1 = best)")
    legend_above(fig, selector_handles(names, styles), ncol=min(len(names), 5 if len(names) > 8 else 4))
    return fig


@styled
def plot_win_rates(table: pd.DataFrame) -> plt.Figure:
    """Supplementary Table 4 as a heatmap (win rate in %, rows sorted by the mean, best at the bottom)."""
    wide = table.pivot_table(index="selector", columns="scenario", values="win_rate_percent", sort=False)
    wide = wide.sort_values("mean")
    fig, axes = book_figure(0.32 * len(wide) + 1.1, width=6.2)
    ax = axes[0, 0]
    im = ax.imshow(wide.to_numpy(dtype=float), cmap="viridis", aspect="auto")
    for (i, j), v in np.ndenumerate(wide.to_numpy(dtype=float)):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                color="white" if v < np.nanmean(wide.to_numpy(dtype=float)) else "black")
    ax.set_xticks(range(wide.shape[1]), [wrap(c, 12) for c in wide.columns])
    ax.set_yticks(range(wide.shape[0]), wide.index)
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="win rate (%)", shrink=0.8)
    return fig
