"""Curve figures in the book's visual language: Fig. 4 (shots), Fig. 6 (sample size), the bin sweep.

Colours: a scenario's colour where the lines are scenarios, a selector's colour and marker where
they are selectors (:mod:`.plotting`).
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D

from ..vocabulary import scenario_order
from .plotting import (book_figure, legend_above, meta_label, scenario_colour, selector_order, selector_styles,
                       styled, wrap)


def _scenario_handles(scenarios, marker: str = "o") -> list[Line2D]:
    return [Line2D([], [], color=scenario_colour(s), marker=marker, label=s) for s in scenarios]


def _curve(ax, g: pd.DataFrame, x: str, colour: str, marker: str = "o", error_alpha: float = 1.0) -> None:
    """Mean +- std of one line (std NaN -> no error bar; ``error_alpha`` < 1 for wide, overlapping bars)."""
    bars = ax.errorbar(g[x], g["mean"], yerr=g["std"].fillna(0), color=colour, marker=marker, ms=4.5, mfc=colour,
                       mec="white", mew=0.5, capsize=2, elinewidth=0.9)
    for artist in (*bars[1], *bars[2]):
        artist.set_alpha(error_alpha)


def _plain_log_ticks(ax) -> None:
    """Log-axis labels as plain numbers (10, 100, 1,000)."""
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))


@styled
def plot_shots(shots: pd.DataFrame) -> plt.Figure:
    """Fig. 4: (a) fraction of improved tasks by number of shots, one line per scenario; (b) AUROC improvement
    of the best of k suggested sources per scenario (facets, shared y axis), one line per selector.

    ``shots`` has columns panel (``a``/``b``), scenario, selector, shots, mean, std (std: over the
    three training repetitions). Any further selector of panel ``b`` (e.g. a benchmarked distance)
    gets a style of its own.
    """
    a, b = shots[shots["panel"] == "a"], shots[shots["panel"] == "b"]
    fig = plt.figure(figsize=(7.8, 5.6), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.05])
    ax_a = top.subplots()
    scen_a = scenario_order(a["scenario"])
    styles = selector_styles(selector_order(shots["selector"]))
    for scen in scen_a:
        for sel, g in a[a["scenario"] == scen].groupby("selector", sort=False):
            _curve(ax_a, g, "shots", scenario_colour(scen), styles[sel][1])
    ax_a.set(xlabel="shots (suggested source tasks)", ylabel="fraction of improved\ntasks (BA)",
             xticks=sorted(a["shots"].unique()))
    ax_a.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax_a.set_title("a", loc="left", fontweight="bold")
    ax_a.legend(handles=_scenario_handles(scen_a), loc="center left", bbox_to_anchor=(1.01, 0.5))
    scen_b = scenario_order(b["scenario"])
    axes = bottom.subplots(1, len(scen_b), sharey=True, squeeze=False)[0]
    names = selector_order(b["selector"])
    for ax, scen in zip(axes, scen_b):
        ax.axhline(0, color="black", lw=0.9, ls="--")
        for sel in names:
            g = b[(b["scenario"] == scen) & (b["selector"] == sel)]
            _curve(ax, g, "shots", styles[sel][0], styles[sel][1])
        ax.set_title(wrap(scen, 14), color=scenario_colour(scen))
        ax.set(xlabel="shots", xticks=sorted(b["shots"].unique()))
    axes[0].set_ylabel("AUROC improvement")
    bottom.text(0.005, 0.99, "b", fontweight="bold", fontsize=9, va="top")
    handles = [Line2D([], [], color=styles[n][0], marker=styles[n][1], label=n) for n in names]
    handles.append(Line2D([], [], color="black", ls="--", label="No transfer"))
    bottom.legend(handles=handles, loc="outside lower center", ncol=len(handles))
    return fig


@styled
def plot_sample_size(df: pd.DataFrame, meta: str = "percentile", metric: str = "BA",
                     chance: float | None = 0.75, title: str | None = None,
                     ylim: tuple[float, float] | None = None) -> plt.Figure:
    """Fig. 6: the meta metric of the best of 3 suggestions against the fingerprint sample size (log axis).

    One facet per bKLD variant (shared y axis, ``ylim`` to compare two figures), one line per
    scenario; error bars: std over the resamplings (none for the full fingerprint); dashed: the
    expectation of random selection.
    """
    sub = df[(df["meta_metric"] == meta) & (df["metric"] == metric)]
    variants = list(dict.fromkeys(sub["variant"]))
    fig, axes = book_figure(3.0, ncols=len(variants), sharey=True)
    scenarios = scenario_order(sub["scenario"])
    for ax, variant in zip(axes[0], variants):
        for scen in scenarios:
            g = sub[(sub["variant"] == variant) & (sub["scenario"] == scen)]
            _curve(ax, g, "samples", scenario_colour(scen))
        if chance is not None:
            ax.axhline(chance, color="grey", ls="--", lw=1)
        ax.set(xscale="log", title=variant, xlabel="images per fingerprint")
        ticks = sorted(sub["samples"].unique())
        ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
        ax.minorticks_off()
    axes[0, 0].set_ylabel(f"three-shot {meta_label(meta).lower()} ({metric})")
    if ylim is not None:
        axes[0, 0].set_ylim(*ylim)
    handles = _scenario_handles(scenarios)
    if chance is not None:
        handles.append(Line2D([], [], color="grey", ls="--", label=f"random selection ({chance:g})"))
    legend_above(fig, handles, ncol=len(handles), title=title)
    return fig


@styled
def plot_curve_grid(df: pd.DataFrame, x: str, rows: str | None = None, cols: str = "meta_metric",
                    hue: str = "scenario", xscale: str = "log", col_order: Sequence | None = None,
                    xlabel: str | None = None) -> plt.Figure:
    """Mean +- std curves against a swept parameter: ``rows`` x ``cols`` facets, one line per scenario.

    Every column shares its y axis (one meta metric per column); the scenario legend sits above. The error
    bars (standard deviations over targets, wide and overlapping) are drawn pale.
    """
    row_values = list(dict.fromkeys(df[rows])) if rows else [None]
    col_values = list(col_order or dict.fromkeys(df[cols]))
    fig, axes = book_figure(1.75 * len(row_values) + 0.9, nrows=len(row_values), ncols=len(col_values),
                            sharex=True, sharey="col")
    hues = scenario_order(df[hue])
    for i, r in enumerate(row_values):
        for j, c in enumerate(col_values):
            ax = axes[i, j]
            sub = df[(df[cols] == c) & ((df[rows] == r) if rows else True)]
            for h in hues:
                _curve(ax, sub[sub[hue] == h], x, scenario_colour(h), error_alpha=0.3)
            ax.set_xscale(xscale)
            if xscale == "log":
                _plain_log_ticks(ax)
            if i == 0:
                ax.set_title(meta_label(c))
            if j == 0 and rows:
                ax.set_ylabel(wrap(r, 18))
            if i == len(row_values) - 1:
                ax.set_xlabel(xlabel or x)
    legend_above(fig, _scenario_handles(hues), ncol=len(hues))
    return fig
