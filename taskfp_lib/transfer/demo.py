"""Small real image tasks, available offline, derived from scikit-learn's bundled digits images.

The 1,797 8x8 greyscale digit images (``sklearn.datasets.load_digits``) are upscaled and
written as PNG image-folder tasks (one sub-folder per class), so that the pipelines and the
experiment grid can be exercised end to end on CPU in seconds.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from .._files import atomic_directory

__all__ = ["DIGIT_TASKS", "outcome_table", "plot_outcomes", "write_digit_task", "write_digit_tasks"]

#: task name -> (class names, digit -> class index or None to leave the digit out)
DIGIT_TASKS: dict[str, tuple[tuple[str, ...], Callable[[int], int | None]]] = {
    "digits_low_high": (("low", "high"), lambda d: int(d >= 5)),
    "digits_parity": (("even", "odd"), lambda d: d % 2),
    "digits_mod3": (("r0", "r1", "r2"), lambda d: d % 3),
    "digits_round": (("straight", "round"), lambda d: int(d in (0, 3, 6, 8, 9))),
    "digits_0to4": (tuple(f"d{i}" for i in range(5)), lambda d: d if d < 5 else None),
    "digits_ten": (tuple(f"d{i}" for i in range(10)), lambda d: d),
}


def write_digit_task(name: str, out_dir: str | os.PathLike, size: int = 32, max_per_class: int | None = None,
                     seed: int = 0) -> Path:
    """Write the digits task ``name`` (a key of :data:`DIGIT_TASKS`) as an image folder.

    Parameters
    ----------
    name : str
    out_dir : path
        The task is written to ``out_dir/name`` (atomically: a temporary folder, then a rename).
    size : int
        Side length of the written PNG images.
    max_per_class : int, optional
        Keep at most this many images per class (chosen with ``seed``).
    seed : int

    Returns
    -------
    pathlib.Path
        The task folder.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    if name not in DIGIT_TASKS:
        raise ValueError(f"unknown digits task {name!r}; known: {sorted(DIGIT_TASKS)}")
    classes, label_of = DIGIT_TASKS[name]
    digits = load_digits()
    images = np.clip(digits.images * (255.0 / 16.0), 0, 255).astype(np.uint8)
    labels = np.array([label_of(int(d)) if label_of(int(d)) is not None else -1 for d in digits.target])
    rng = np.random.default_rng(seed)
    final = Path(out_dir) / name
    with atomic_directory(final) as tmp:
        for c, cls in enumerate(classes):
            idx = np.flatnonzero(labels == c)
            if max_per_class is not None and len(idx) > max_per_class:
                idx = np.sort(rng.choice(idx, size=max_per_class, replace=False))
            (tmp / cls).mkdir()
            for i in idx:
                img = Image.fromarray(images[i], mode="L").resize((size, size), Image.BILINEAR)
                img.save(tmp / cls / f"{i:04d}.png")
    return final


def write_digit_tasks(out_dir: str | os.PathLike, names=None, size: int = 32, max_per_class: int | None = None,
                      seed: int = 0) -> dict[str, Path]:
    """Write several digits tasks (default: all of :data:`DIGIT_TASKS`); returns name -> folder."""
    names = list(DIGIT_TASKS) if names is None else list(names)
    return {n: write_digit_task(n, out_dir, size, max_per_class, seed) for n in names}


def outcome_table(outcomes, targets, scenarios, metrics=("BA", "AUROC")):
    """Mean outcome (over the repetitions) of every (scenario, metric, target, source), next to the target's
    single-task baseline.

    Parameters
    ----------
    outcomes : taskfp_lib.evaluation.outcomes.Outcomes
        Outcomes read from a grid's files (``load_outcomes(directory=...)``).
    targets, scenarios, metrics : sequences of str

    Returns
    -------
    DataFrame
        scenario, metric, target, source, outcome, baseline (one row per evaluated pair).
    """
    import pandas as pd

    rows = []
    for scen in scenarios:
        for metric in metrics:
            m = outcomes.matrix(scen, metric, "mean")
            base = outcomes.baseline(scen, metric, "mean", targets)
            rows += [{"scenario": scen, "metric": metric, "target": t, "source": s, "outcome": m.at[s, t],
                      "baseline": base[t]} for t in targets for s in m.index[m[t].notna()]]
    return pd.DataFrame(rows)


def plot_outcomes(table, markers=("o", "s", "^", "D", "v", "P")):
    """The demo's transfer outcomes: metrics (rows) x scenarios (columns), per target the outcome of every source
    (marker = source, colour = scenario) and the single-task baseline (black line).

    ``table`` is :func:`outcome_table`'s. Drawn for the book's content width.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from ..paper.plotting import RC, book_figure, legend_above, scenario_colour

    scenarios, metrics = list(dict.fromkeys(table["scenario"])), list(dict.fromkeys(table["metric"]))
    targets, sources = list(dict.fromkeys(table["target"])), sorted(set(table["source"]))
    marker = dict(zip(sources, markers))
    with plt.rc_context(RC):
        fig, axes = book_figure(1.7 * len(metrics) + 0.9, nrows=len(metrics), ncols=len(scenarios), sharey="row")
        for (i, metric), (j, scen) in ((a, b) for a in enumerate(metrics) for b in enumerate(scenarios)):
            ax, d = axes[i, j], table[(table["metric"] == metric) & (table["scenario"] == scen)]
            for x, target in enumerate(targets):
                dt = d[d["target"] == target].sort_values("source")
                offsets = np.linspace(-0.18, 0.18, max(len(dt), 1))
                for dx, (_, row) in zip(offsets, dt.iterrows()):
                    ax.plot(x + dx, row["outcome"], marker[row["source"]], color=scenario_colour(scen), mec="black",
                            mew=0.4, ms=6)
                ax.hlines(dt["baseline"].iloc[0], x - 0.32, x + 0.32, color="black", lw=1.2)
            ax.set_xticks(range(len(targets)), [t.removeprefix("digits_") for t in targets])
            ax.set_xlim(-0.6, len(targets) - 0.4)
            ax.grid(axis="x", visible=False)
            ax.set_title(scen if i == 0 else "", color=scenario_colour(scen))
            if j == 0:
                ax.set_ylabel(f"{metric}\n(mean of the repetitions)")
        handles = [Line2D([], [], ls="none", marker=marker[s], mfc="#bbbbbb", mec="black", mew=0.4, ms=6,
                          label=f"source {s}") for s in sources]
        handles.append(Line2D([], [], color="black", lw=1.2, label="single-task baseline"))
        legend_above(fig, handles, ncol=3)
        fig.supxlabel("target task (digits_...)", fontsize=9)
    return fig
