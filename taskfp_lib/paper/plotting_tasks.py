"""Task figures in the book's visual language: Fig. 3 (per-task overview), task maps, affinity heatmaps.

Every task is drawn in the colour of its imaging domain (:data:`.plotting.DOMAIN_COLOURS`).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .plotting import BOOK_WIDTH, DOMAIN_COLOURS, book_figure, styled

#: the four task properties of Fig. 3 (columns of ``fig3_tasks``) and their column headers
TASK_PROPERTIES = {"samples": "size", "classes": "classes", "imbalance": "imbalance", "dimension": "dimension"}
#: layout of Fig. 3 in inches: row height, header, name column, property cell width, gap between the blocks
_ROW, _HEAD, _NAME, _CELL, _GAP = 0.17, 0.62, 2.42, 0.33, 0.2


#: abbreviations of the longest task names in figure labels (Supplementary Table 2 has the full names)
_ABBREVIATIONS = {"therapeutic interventions": "therap. interventions", "quality of mucosal views": "mucosal views",
                  "enlarged cardiomediastinum": "enl. cardiomediastinum"}


def short_task_name(name: str) -> str:
    """A task name for figure labels: words instead of underscores, without a trailing "classification",
    the three longest names abbreviated."""
    text = name.replace("_", " ").replace("-", " ")
    for suffix in (" object classification", " image categorization", " classification", " v2"):
        text = text.removesuffix(suffix)
    for long, short in _ABBREVIATIONS.items():
        text = text.replace(long, short)
    return text


def _axes_at(fig, left: float, top: float, width: float, height: float):
    """Axes placed in inches from the figure's top-left corner."""
    w, h = fig.get_size_inches()
    ax = fig.add_axes((left / w, 1 - (top + height) / h, width / w, height / h))
    ax.set_axis_off()
    return ax


def _task_block(fig, left: float, tasks: pd.DataFrame, title: str, norm) -> None:
    """One block of Fig. 3: domain swatch, id and name per task, then a cell per property (value printed)."""
    n = len(tasks)
    names = _axes_at(fig, left, _HEAD, _NAME, _ROW * n)
    names.set(xlim=(0, _NAME), ylim=(n - 0.5, -0.5))
    for k, row in enumerate(tasks.itertuples()):
        names.add_patch(plt.Rectangle((0.02, k - 0.36), 0.12, 0.72, color=DOMAIN_COLOURS.get(row.domain, "#999999")))
        names.text(0.2, k, row.paper_id, va="center", fontsize=8, fontweight="bold")
        names.text(0.52, k, short_task_name(row.name), va="center", fontsize=7.5)
    names.text(0.02, -1.9, title, fontsize=9, fontweight="bold", va="center")
    cells = _axes_at(fig, left + _NAME, _HEAD, _CELL * len(TASK_PROPERTIES), _ROW * n)
    values = tasks[list(TASK_PROPERTIES)].to_numpy(dtype=float)
    cells.imshow(values, cmap="RdBu_r", norm=norm, aspect="auto", extent=(-0.5, len(TASK_PROPERTIES) - 0.5, n - 0.5,
                                                                         -0.5))
    for (i, j), v in np.ndenumerate(values):
        cells.text(j, i, f"{round(v, 1) + 0.0:.1f}".replace("-", "\u2212"), ha="center", va="center", fontsize=7.5)
    for j, header in enumerate(TASK_PROPERTIES.values()):
        cells.text(j - 0.2, -0.9, header, rotation=45, ha="left", va="bottom", fontsize=8)
    cells.set(xlim=(-0.5, len(TASK_PROPERTIES) - 0.5), ylim=(n - 0.5, -0.5))


@styled
def plot_task_overview(tasks: pd.DataFrame) -> plt.Figure:
    """Fig. 3: the 71 tasks by paper id, development (left) and validation (right) tasks, each with its imaging
    domain (colour) and its four Box-Cox-transformed, z-scored properties (size, classes, imbalance,
    dimension; blue below the mean of the 71 tasks, red above, value printed).

    ``tasks`` has columns paper_id, name, phase, domain and the properties of :data:`TASK_PROPERTIES`.
    """
    from matplotlib.colors import TwoSlopeNorm

    tasks = tasks.sort_values("paper_id")
    dev, val = tasks[tasks["phase"] == "development"], tasks[tasks["phase"] == "validation"]
    block = _NAME + _CELL * len(TASK_PROPERTIES)
    fig = plt.figure(figsize=(2 * block + _GAP + 0.1, _HEAD + _ROW * max(len(dev), len(val)) + 0.1))
    values = tasks[list(TASK_PROPERTIES)].to_numpy(dtype=float)
    limit = float(np.nanmax(np.abs(values))) * 1.6  # pale colours: the printed values stay legible
    norm = TwoSlopeNorm(0.0, -limit, limit)
    _task_block(fig, 0.05, dev, f"Development tasks ({len(dev)})", norm)
    _task_block(fig, 0.05 + block + _GAP, val, f"Validation tasks ({len(val)})", norm)
    domains = [d for d in DOMAIN_COLOURS if d in set(tasks["domain"])]
    w, h = fig.get_size_inches()
    fig.legend(handles=[Patch(color=DOMAIN_COLOURS[d], label=d) for d in domains], title="imaging domain",
               loc="upper left", bbox_to_anchor=(0.05 / w, 1 - (_HEAD + _ROW * (len(dev) + 0.8)) / h), ncol=2,
               handlelength=1.0, columnspacing=0.8, alignment="left", fontsize=8)
    return fig


@styled
def plot_task_maps(maps: pd.DataFrame) -> plt.Figure:
    """t-SNE task maps (one panel per selector), tasks coloured by imaging domain, marker = development or
    validation task; one legend below the panels."""
    selectors = list(dict.fromkeys(maps["selector"]))
    fig, axes = book_figure(4.3, ncols=len(selectors))
    markers = {"development": "o", "validation": "^"}
    for ax, sel in zip(axes[0], selectors):
        sub = maps[maps["selector"] == sel]
        for phase, marker in markers.items():
            g = sub[sub["phase"] == phase]
            ax.scatter(g["x"], g["y"], c=[DOMAIN_COLOURS.get(d, "#999999") for d in g["domain"]], marker=marker,
                       s=26, edgecolors="black", linewidths=0.3)
        ax.set(title=sel, xticks=[], yticks=[])
        ax.grid(False)
        ax.set_aspect("equal", adjustable="datalim")
    domains = [d for d in DOMAIN_COLOURS if d in set(maps["domain"])]
    handles = [Patch(color=DOMAIN_COLOURS[d], label=d) for d in domains]
    handles += [Line2D([], [], ls="none", marker=m, mfc="white", mec="black", label=f"{p} task")
                for p, m in markers.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, handlelength=1.0, columnspacing=1.0)
    return fig


@styled
def plot_affinity_heatmaps(matrices: dict[str, pd.DataFrame]) -> plt.Figure:
    """Affinity matrices (sources x targets), one panel per selector, one colour scale (clipped to the 1st
    and 99th percentile of all values)."""
    values = np.concatenate([m.to_numpy(dtype=float).ravel() for m in matrices.values()])
    vmin, vmax = np.nanpercentile(values, [1, 99])
    fig, axes = book_figure(2.15 * len(matrices) + 0.4, nrows=len(matrices), sharex=True)
    for ax, (name, m) in zip(axes[:, 0], matrices.items()):
        im = ax.imshow(m.to_numpy(dtype=float), cmap="viridis",
                       aspect="auto", vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(name, loc="left")
        ax.set_ylabel(f"{m.shape[0]} source tasks")
        ax.set(xticks=[], yticks=[])
        ax.grid(False)
    axes[-1, 0].set_xlabel(f"{m.shape[1]} target tasks (incl. shrunk variants)")
    fig.colorbar(im, ax=axes[:, 0], label="affinity (bright = close)", shrink=0.6)
    return fig
