"""The book's knowledge-cloud page: demo tasks fingerprinted, a cloud, a query and a self-check.

:func:`knowledge_cloud_demo` runs the page's workflow (the paper's Fig. 1 on medical demo tasks):
the cloud tasks' features are extracted once and give the reference ranges and the fingerprints
(:func:`~taskfp_lib.fingerprints.fingerprint_tasks`); the fingerprints go into a
:class:`~taskfp_lib.cloud.KnowledgeCloud`; the new task is fingerprinted with the same probe, ranges
and reading settings and ranks the cloud's tasks once per task distance, with the margin of each
top-k selection (:func:`~taskfp_lib.cloud.ranking_margin`); every cloud task is re-fingerprinted with
another seed and must find its original (:func:`~taskfp_lib.cloud.self_check`).

:class:`CloudDemo` holds what it computed, its tables and its results files
(``knowledge_cloud_demo``, ``knowledge_cloud_demo_selfcheck``); :func:`plot_rankings` and
:func:`plot_fingerprints` draw the page's figures for the book's content width.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..vocabulary import DEFAULT_DISTANCE

__all__ = ["CloudDemo", "knowledge_cloud_demo", "plot_fingerprints", "plot_rankings"]

#: bins of the fingerprint heatmaps (one of the demo's bin counts)
HEATMAP_BINS = 100


@dataclass
class CloudDemo:
    """What :func:`knowledge_cloud_demo` computed.

    Attributes
    ----------
    tasks : DataFrame
        One row per task: task, role (cloud or query), domain, file types, images, classes.
    cloud : KnowledgeCloud
    cloud_fps : dict of name -> Fingerprint
    query : Fingerprint
    rankings : DataFrame
        The cloud's answers: distance_name, rank, source, distance, data_shareable, label (one row per
        distance and cloud task; rank 1 = closest).
    margins : DataFrame
        One row per distance: the margin of its top-k selection (:func:`~taskfp_lib.cloud.ranking_margin`).
    checks : DataFrame
        The self-check, one row per cloud task and distance.
    distances : list of str
    k : int
    stamp : dict
        Probe and settings written into every row of the results files.
    warning : str or None
        The probe warning (:func:`~taskfp_lib.fingerprints.probe_warning`) of the query and the cloud.
    """

    tasks: pd.DataFrame
    cloud: Any
    cloud_fps: dict
    query: Any
    rankings: pd.DataFrame
    margins: pd.DataFrame
    checks: pd.DataFrame
    distances: list
    k: int
    stamp: dict
    warning: str | None

    def labels(self) -> list[str]:
        """The distances' labels, in the order asked for."""
        from ..distances import get_distance

        return [get_distance(d).label for d in self.distances]

    def ranking_table(self) -> pd.DataFrame:
        """Rank (rows) x distance (columns): the cloud task at that rank.

        The column labels get a space after their commas (``bKLD(large, unweighted)``), so that a
        narrow page can wrap them.
        """
        table = self.rankings.pivot(index="rank", columns="label", values="source")[self.labels()]
        return table.rename(columns=lambda label: label.replace(",", ", ")).rename_axis(columns=None)

    def shown_top_sources(self) -> pd.DataFrame:
        """:meth:`top_sources` for reading: the margin in percent (``n/a`` where undefined), no empty flags."""
        top = self.top_sources().set_index("distance")
        top["relative margin"] = top["relative margin"].map(_percent)
        top["degenerate"] = top["degenerate"].fillna("")
        return top.rename_axis(columns=None)

    def top_sources(self) -> pd.DataFrame:
        """One row per distance: the top-k sources, the relative margin and the degeneracy flag."""
        top = self.rankings[self.rankings["rank"] <= self.k]
        margins = self.margins.set_index("distance")
        return pd.DataFrame([{"distance": label, f"top-{self.k} sources": ", ".join(top[top.label == label].source),
                              "relative margin": margins.at[label, "relative_margin"],
                              "degenerate": margins.at[label, "degenerate"]} for label in self.labels()])

    def self_check_summary(self) -> pd.DataFrame:
        """Per distance: how many copies found their original first, and the median relative margin."""
        summary = self.checks.groupby("distance", sort=False).agg(
            copy_nearest=("copy_nearest", "sum"), median_relative_margin=("relative_margin", "median"))
        summary["copy_nearest"] = summary["copy_nearest"].astype(int).astype(str) + f" of {len(self.cloud_fps)}"
        return summary

    def shown_self_check_summary(self) -> pd.DataFrame:
        """:meth:`self_check_summary` for reading: named columns, the margin in percent."""
        summary = self.self_check_summary()
        return pd.DataFrame({"copy nearest to its original": summary["copy_nearest"],
                             "median relative margin": summary["median_relative_margin"].map(_percent)})

    def self_check_margins(self) -> pd.DataFrame:
        """Task (rows) x distance (columns): the relative margin of the copy's original."""
        return self.checks.pivot(index="task", columns="distance", values="relative_margin")[self.labels()].rename_axis(
            columns=None)

    def result(self):
        """The page's results files and figures as a :class:`~taskfp_lib.paper.results.RecipeResult`."""
        from ..paper.results import RecipeResult

        out = self.rankings[["distance_name", "label", "rank", "source", "distance", "data_shareable"]].merge(
            self.margins.rename(columns={"distance": "label"})[["label", "margin", "relative_margin", "degenerate"]],
            on="label")
        random = "random" in (self.warning or "")
        return RecipeResult(
            tables={"knowledge_cloud_demo": out.assign(**self.stamp),
                    "knowledge_cloud_demo_selfcheck": self.checks.assign(**self.stamp)},
            figures={"rankings": lambda: plot_rankings(self.rankings, self.labels(), self.k, random),
                     "fingerprints": lambda: plot_fingerprints(self.fingerprints_shown(), self.query)})

    def fingerprints_shown(self) -> dict:
        """The query, its closest and its farthest cloud task by the first distance (title -> Fingerprint)."""
        first = self.rankings[self.rankings.distance_name == self.distances[0]].sort_values("rank")
        best, worst = first.source.iloc[0], first.source.iloc[-1]
        return {f"query: {self.query.task}": self.query, f"closest: {best}": self.cloud.get(best),
                f"farthest: {worst}": self.cloud.get(worst)}


def _percent(value: float) -> str:
    """A relative margin in percent (two decimals), ``n/a`` where it is undefined."""
    return "n/a" if pd.isna(value) else f"{100 * value:.2f} %"


def _demo_tasks(work: Path, *, seed: int, demo_image_size: int, cloud_task_dirs, query_dir, query_task: str,
                preset: str) -> tuple[dict, str, pd.DataFrame]:
    """The task readers (cloud tasks first, the query last), the query's name and the overview table."""
    from ..fingerprints import ImageFolderTask
    from ..imaging import DEMO_TASKS, build_demo_tasks

    demo = {}
    if cloud_task_dirs is None or query_dir is None:
        demo = build_demo_tasks(work / "tasks", seed=seed, image_size=demo_image_size)
    cloud_dirs = {Path(d).name: Path(d) for d in cloud_task_dirs} if cloud_task_dirs else \
        {n: p for n, p in demo.items() if n != query_task and not n.startswith("pool/")}
    query_path = Path(query_dir) if query_dir else demo[query_task]
    dirs = {**cloud_dirs, query_path.name: query_path}
    tasks = {n: ImageFolderTask(p, preset=preset) for n, p in dirs.items()}
    overview = pd.DataFrame([{
        "task": n, "role": "query" if n == query_path.name else "cloud",
        "domain": DEMO_TASKS[n].domain if n in DEMO_TASKS else "",
        "file types": ", ".join(sorted({it.path.name.partition(".")[2] or "(no suffix)" for it in t.scan.items})),
        "images": len(t), "classes": ", ".join(t.classes)} for n, t in tasks.items()])
    return tasks, query_path.name, overview


def knowledge_cloud_demo(work: str | Path | None = None, *, model: str = "resnet34", pretrained: bool = False,
                         checkpoint=None, image_size: int = 32, n_samples: int = 300,
                         bins: Sequence[int] = (100, 1000), seed: int = 0, demo_image_size: int = 64,
                         cloud_task_dirs=None, query_dir=None, query_task: str = "mr_region", preset: str = "auto",
                         ranges_file=None, distances: Sequence[str] = (DEFAULT_DISTANCE,), k: int = 3,
                         device: str = "cpu", threads: int | None = None) -> CloudDemo:
    """Run the knowledge-cloud workflow of the book's page (module docstring); parameters as the page's.

    ``work`` is the folder of the demo images and the cloud (default: a new temporary folder). Every
    random step is seeded by ``seed`` (the self-check's copies by ``seed + 1``).
    """
    from ..distances import get_distance
    from ..fingerprints import FeatureExtractor, ReferenceRanges, fingerprint_task, fingerprint_tasks, probe_warning
    from . import KnowledgeCloud, TaskMeta
    from .checks import margin_record, ranking_margin, self_check

    work = Path(work) if work else Path(tempfile.mkdtemp(prefix="taskfp_demo_"))
    tasks, query_name, overview = _demo_tasks(work, seed=seed, demo_image_size=demo_image_size,
                                              cloud_task_dirs=cloud_task_dirs, query_dir=query_dir,
                                              query_task=query_task, preset=preset)
    extractor = FeatureExtractor(model, pretrained=pretrained, checkpoint=checkpoint, init_seed=seed,
                                 image_size=image_size, device=device)
    cloud_tasks = {n: t for n, t in tasks.items() if n != query_name}
    given = ReferenceRanges.load(ranges_file) if ranges_file else None
    opts = dict(n=n_samples, seed=seed, bins=list(bins), progress=False, threads=threads)
    ranges, cloud_fps = fingerprint_tasks(cloud_tasks, extractor, ranges=given, **opts)
    cloud = KnowledgeCloud.create(work / "cloud")
    for fp in cloud_fps.values():
        cloud.add(fp, TaskMeta(data_shareable=cloud_task_dirs is None,
                               notes="built-in demo task" if cloud_task_dirs is None else None))
    query = fingerprint_task(tasks[query_name], ranges, extractor, **opts)
    rankings = pd.concat([cloud.query(query, distance=d, k=0).assign(label=get_distance(d).label) for d in distances],
                         ignore_index=True)
    margins = pd.DataFrame([{"distance": get_distance(d).label,
                             **margin_record(ranking_margin(rankings[rankings.distance_name == d]["distance"], k))}
                            for d in distances])
    checks = pd.concat([self_check(tasks[n], ranges, extractor, cloud_fps, original=cloud_fps[n], seed=seed,
                                   n=n_samples, bins=list(bins), distances=list(distances), progress=False,
                                   threads=threads) for n in cloud_fps], ignore_index=True)
    stamp = dict(query=query.task, extractor=extractor.identity["name"], weights=extractor.identity["weights"],
                 probe_source=extractor.probe["source"], preset=preset, image_size=image_size, n_samples=n_samples,
                 seed=seed, ranges_sha256=ranges.sha256)
    return CloudDemo(tasks=overview, cloud=cloud, cloud_fps=cloud_fps, query=query, rankings=rankings,
                     margins=margins, checks=checks, distances=list(distances), k=k, stamp=stamp,
                     warning=probe_warning([query, *cloud_fps.values()]))


def _finite(values: pd.Series) -> pd.Series:
    """The distances that can be drawn (``inf`` and the largest float, which stands for it, are not)."""
    return values.where(np.isfinite(values) & (values < 1e300))


def plot_rankings(rankings: pd.DataFrame, labels: Sequence[str], k: int, random_probe: bool = False):
    """One panel per distance: the cloud's tasks ranked for the query (top-k orange), drawn for the book's width.

    A panel whose finite distances span more than three decades shows log10 distances; infinite
    distances are labelled ``inf`` instead of drawn.
    """
    import matplotlib.pyplot as plt

    from ..paper.plotting import RC, book_figure

    ncols = 2
    nrows = -(-len(labels) // ncols)
    with plt.rc_context(RC):
        fig, axes = book_figure(1.75 * nrows + 0.4, nrows=nrows, ncols=ncols)
        for ax, label in zip(axes.flat, labels):
            r = rankings[rankings.label == label].sort_values("rank", ascending=False)
            vals = _finite(r["distance"])
            huge = np.log10(vals.max()) - np.log10(max(vals.min(), 1e-300)) > 3
            pos = np.arange(len(r))
            ax.barh(pos, np.log10(vals) if huge else vals,
                    color=["#ff7f0e" if x <= k else "#9e9e9e" for x in r["rank"]])
            ax.set_yticks(pos, r["source"])
            for y, v in enumerate(r["distance"]):
                if not (np.isfinite(v) and v < 1e300):
                    ax.text(0.02, y, "inf", transform=ax.get_yaxis_transform(), va="center", fontsize=8,
                            color="#d62728")
            ax.set_title(label)
            if vals.isna().all():  # nothing to draw: no scale either
                ax.set_xticks([])
                ax.set_xlabel("every distance infinite")
            else:
                ax.set_xlabel("log10 distance" if huge else "distance (lower = closer)")
            ax.grid(axis="y", visible=False)
        for ax in axes.flat[len(labels):]:
            ax.set_visible(False)
        if random_probe:
            fig.suptitle("Random probe: the mechanics, not the paper's method", fontsize=9, color="#d62728")
    return fig


def plot_fingerprints(shown: dict, query, bins: int = HEATMAP_BINS):
    """Heatmaps of fingerprints (feature x bin, share of draws), features ordered by the query's mean bin."""
    import matplotlib.pyplot as plt

    from ..paper.plotting import RC, book_figure

    order = np.argsort(query.histogram(bins) @ np.arange(bins))
    vmax = np.quantile(query.histogram(bins), 0.99)
    with plt.rc_context(RC):
        fig, axes = book_figure(3.0, ncols=len(shown), sharey=True)
        for ax, (title, fp) in zip(axes[0], shown.items()):
            im = ax.imshow(fp.histogram(bins)[order], aspect="auto", cmap="viridis", vmax=vmax,
                           interpolation="nearest")
            ax.set_title(title)
            ax.set_xlabel("bin")
            ax.grid(False)
        axes[0, 0].set_ylabel("feature (sorted)")
        fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="share of draws")
    return fig
