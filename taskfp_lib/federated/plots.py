"""Figures of the MedUniverse chapter: the protocol, the gain per stage, the side-by-side comparison."""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["book_figures", "plot_protocol", "plot_stage_gains", "plot_comparison"]

_STEPS = [
    ((0.50, 0.86), "Server: base model = MIM encoder\n(SimMIM on the unlabelled pool)", "#dbe8f5"),
    ((0.14, 0.42), "Client A\nprivate images + labels\nfine-tunes encoder + head", "#eef5e6"),
    ((0.50, 0.42), "Client B\n...", "#eef5e6"),
    ((0.86, 0.42), "Client C\n(next stage)", "#f3f3f3"),
    ((0.50, 0.06), "stage closes after K valid models:\naggregate encoders (FedAvg) -> next base model", "#fbeede"),
]


def _box(ax, xy, text, color):
    ax.text(*xy, text, ha="center", va="center", fontsize=8, transform=ax.transAxes,
            bbox={"boxstyle": "round,pad=0.5", "fc": color, "ec": "0.4"})


def _arrow(ax, start, end, text, color="0.2", offset=(0.0, 0.0)):
    ax.annotate("", xy=end, xytext=start, xycoords="axes fraction",
                arrowprops={"arrowstyle": "->", "color": color, "lw": 1.2})
    mid = ((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1])
    ax.text(*mid, text, fontsize=7, color=color, ha="center", va="center", transform=ax.transAxes)


def plot_protocol(ax=None):
    """The MedUniverse protocol as implemented here (numbers = steps of the strategy's docstring)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.2))
    ax.set_axis_off()
    for xy, text, color in _STEPS:
        _box(ax, xy, text, color)
    _arrow(ax, (0.40, 0.78), (0.18, 0.52), "(2) query: #classes ->\nbase + random head", "#1f5fa8", (-0.09, 0.02))
    _arrow(ax, (0.50, 0.78), (0.50, 0.53), "(2) base + head", "#1f5fa8", (0.08, 0.0))
    _arrow(ax, (0.18, 0.32), (0.40, 0.13), "(3) encoder only\n(head stays)", "#2e7d32", (-0.10, 0.0))
    _arrow(ax, (0.50, 0.32), (0.50, 0.15), "(3) encoder", "#2e7d32", (0.07, 0.0))
    _arrow(ax, (0.70, 0.10), (0.80, 0.33), "(4) stage s+1", "#b35900", (0.07, -0.03))
    ax.text(0.86, 0.86, "(1) MIM pretraining\n(5) each stage: every client\nfine-tunes the base model\n"
            "and reports held-out accuracy", fontsize=7, ha="center", va="center", transform=ax.transAxes)
    return ax


def plot_stage_gains(stages: pd.DataFrame, ax=None):
    """Accuracy gain over the MIM baseline per stage: mean over tasks (error bars: sd over seeds) and per task."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    per_task = stages.groupby(["task", "stage"]).gain.mean().unstack("task")
    for task in per_task.columns:
        ax.plot(per_task.index, per_task[task], lw=0.8, alpha=0.6, marker=".", label=task)
    per_seed = stages.groupby(["stage", "seed"]).gain.mean().unstack("seed")
    sd = per_seed.std(axis=1, ddof=1) if per_seed.shape[1] > 1 else per_seed.iloc[:, 0] * np.nan
    ax.errorbar(per_seed.index, per_seed.mean(axis=1), yerr=sd, color="k", lw=2, capsize=4,
                label="mean over tasks (sd over seeds)")
    ax.axhline(0, color="0.5", lw=0.8, ls="--")
    ax.set_xlabel("stage (0 = MIM baseline)")
    ax.set_ylabel("accuracy gain over MIM baseline")
    ax.set_xticks(per_task.index)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


def plot_comparison(comparison: pd.DataFrame, ax=None):
    """Held-out accuracy per client task: MIM baseline, fingerprint-selected transfer, federated model.

    Bars are means over seeds, error bars the sd over seeds.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6))
    cols = {"mim_accuracy": "MIM baseline", "fingerprint_accuracy": "transfer from fingerprint-selected source",
            "federated_accuracy": "MedUniverse final base model"}
    mean = comparison.groupby("target")[list(cols)].mean()
    sd = comparison.groupby("target")[list(cols)].std(ddof=1)
    x = np.arange(len(mean))
    for i, (col, label) in enumerate(cols.items()):
        ax.bar(x + (i - 1) * 0.27, mean[col], width=0.27, yerr=sd[col].fillna(0), capsize=2, label=label)
    ax.set_xticks(x, mean.index, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    return ax


def book_figures(stages: pd.DataFrame, comparison: pd.DataFrame) -> dict:
    """The chapter's three figures (``protocol``, ``stage_gains``, ``comparison``), drawn for the book's content
    width in its visual language (:mod:`taskfp_lib.paper.plotting`)."""
    import matplotlib.pyplot as plt

    from ..paper.plotting import RC, book_figure

    draw = {"protocol": (3.6, plot_protocol), "stage_gains": (3.2, lambda ax: plot_stage_gains(stages, ax)),
            "comparison": (3.4, lambda ax: plot_comparison(comparison, ax))}
    figures = {}
    with plt.rc_context(RC):
        for name, (height, plot) in draw.items():
            fig, axes = book_figure(height)
            plot(axes[0, 0])
            figures[name] = fig
    return figures
