"""The benchmark: a new measure as one more selector, given the paper's full analysis by the paper's recipes.

:func:`benchmark` evaluates a validated distance matrix next to the paper's selectors and composes
the recipes of :mod:`taskfp_lib.paper.recipes` (the evaluation table, Supplementary Table 4's win
rates, the stability scores, Fig. 5's rankings, Supplementary Fig. 1, Fig. 4's curves) with the
benchmark's own statistics (chance levels, paired tests, positions, verdicts, selection overlaps).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .._safety import csv_cell, csv_safe_frame, terminal_text
from ..evaluation import evaluate
from ..evaluation.affinity import affinity_from_distance, load_affinities
from ..evaluation.outcomes import Outcomes, load_outcomes
from ..evaluation.selection import top_k_indices
from ..limits import MAX_TASK_NAME_CHARS
from ..paper import recipes
from ..paper.results import write_results
from ..tasks import ALL_TASKS, ALL_TASKS_INCLUDING_SHRUNK, VAL_TASKS
from ..vocabulary import SELECTOR_SETS
from .chance import CHANCE_LABEL, chance_scores
from .development import DevelopmentPosition, development_position
from .direction import below_chance_note
from .paired import paired_comparison, scenario_positions
from .validation import DistanceValidationError, evaluated_pairs, validate_distance
from .verdict import verdicts

#: selectors drawn next to the new measure in the gain curves (those of the paper's Fig. 4b)
CURVE_REFERENCES: tuple[str, ...] = tuple(recipes.FIG4_PANELS["b"][0])
#: bootstraps of the paired comparisons
N_BOOTSTRAP_PAIRED = 2000


def check_measure_name(name, selector_set: str = "paper") -> str:
    """Return ``name`` if it can label a measure: printable, not too long, not a selector of the set.

    Any printable text is allowed (it is escaped wherever it is shown); a name that starts with a
    spreadsheet-active character is neutralised in the CSV files.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("the measure needs a non-empty name")
    if len(name) > MAX_TASK_NAME_CHARS or not name.isprintable():
        raise ValueError(f"measure name {terminal_text(name)[:60]!r} must be at most {MAX_TASK_NAME_CHARS} printable "
                         f"characters")
    if name in SELECTOR_SETS[selector_set]:
        raise ValueError(f"name {name!r} is a selector of the {selector_set!r} set; choose another name")
    if name == CHANCE_LABEL:
        raise ValueError(f"name {name!r} labels the chance rows of the report; choose another name")
    return name


def evaluate_measure(distance: pd.DataFrame, name: str, outcomes: Outcomes, **kwargs) -> pd.DataFrame:
    """Evaluation rows of one raw distance (default: tripled, both metrics, all scenarios, top-3 average,
    all meta metrics; ``kwargs`` go to :func:`taskfp_lib.evaluation.evaluate`)."""
    return evaluate(outcomes, {name: affinity_from_distance(distance)}, **kwargs)


def reference_evaluations(selector_set: str = "paper", outcomes: Outcomes | None = None) -> pd.DataFrame:
    """Evaluation rows of a selector set (:func:`taskfp_lib.paper.recipes.tripled_evaluations`), computed once
    and reused for several measures."""
    return recipes.tripled_evaluations(selector_set, outcomes)


def meta_metric_table(evaluations: pd.DataFrame, chance: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean and std (ddof 1) of every selector's scores per scenario and meta metric, with its rank.

    ``rank`` = position of the mean within (scenario, meta metric), 1 = best. ``chance`` (from
    :func:`~taskfp_lib.benchmark.chance.chance_scores`) adds the unranked row :data:`CHANCE_LABEL`.
    """
    g = evaluations.groupby(["scenario", "meta_metric", "selector"], sort=False)["score"]
    out = g.agg(mean="mean", std="std", n="size").reset_index()
    out["rank"] = out.groupby(["scenario", "meta_metric"])["mean"].rank(ascending=False, method="min")
    if chance is not None:
        c = chance.groupby(["scenario", "meta_metric"], sort=False)["score"].agg(mean="mean", std="std", n="size")
        c = c.reset_index().assign(selector=CHANCE_LABEL, rank=np.nan)
        out = pd.concat([out, c[out.columns]], ignore_index=True)
    return out


def gain_curves(outcomes: Outcomes, distance: pd.DataFrame, name: str,
                references: Sequence[str] = CURVE_REFERENCES, budgets=range(1, 6)) -> pd.DataFrame:
    """Fig. 4's best-of-k curves with the new measure (:func:`taskfp_lib.paper.recipes.fig4_shots_table`).

    Panel ``a``: fraction of improved targets (gain, BA) of the new measure; panel ``b``: AUROC
    improvement of the references and the new measure.
    """
    (_, meta_a, metric_a), (_, meta_b, metric_b) = recipes.FIG4_PANELS["a"], recipes.FIG4_PANELS["b"]
    panels = {"a": ([name], meta_a, metric_a), "b": ([*references, name], meta_b, metric_b)}
    return recipes.fig4_shots_table(outcomes, budgets, panels=panels,
                                    affinities={name: affinity_from_distance(distance)})


def selection_overlap(affinities: dict[str, pd.DataFrame], name: str, k: int = 3,
                      targets: Sequence[str] = VAL_TASKS) -> pd.DataFrame:
    """How often the measure's top-k selection equals another selector's, over the evaluated targets.

    Returns
    -------
    DataFrame
        selector, identical_targets (targets with the same set of k sources), n_targets,
        shared_sources (mean size of the intersection), sorted by identical_targets, best first.
    """
    mask = evaluated_pairs(targets).to_numpy()
    cols = np.flatnonzero(mask.any(axis=0))

    def chosen(aff: pd.DataFrame) -> list[frozenset]:
        a = aff.reindex(index=ALL_TASKS, columns=ALL_TASKS_INCLUDING_SHRUNK).to_numpy()[:, cols]
        idx = top_k_indices(np.where(mask[:, cols], a, np.nan), k)
        return [frozenset(idx[:, j][idx[:, j] >= 0]) for j in range(cols.size)]

    mine = chosen(affinities[name])
    rows = []
    for other, aff in affinities.items():
        if other != name:
            theirs = chosen(aff)
            rows.append({"selector": other, "identical_targets": sum(a == b for a, b in zip(mine, theirs)),
                         "n_targets": cols.size, "shared_sources": float(np.mean([len(a & b) for a, b in
                                                                                   zip(mine, theirs)]))})
    return pd.DataFrame(rows).sort_values("identical_targets", ascending=False, kind="stable").reset_index(drop=True)


def overlap_note(overlap: pd.DataFrame, name: str, k: int = 3) -> str | None:
    """A note when the measure's top-k selections coincide with a selector's for all or most targets."""
    if not len(overlap):
        return None
    top = overlap.iloc[0]
    same = overlap.loc[overlap["identical_targets"] == top["n_targets"], "selector"].tolist()
    if same:
        return (f"The top-{k} selections of {name} coincide with those of {', '.join(same)} for all "
                f"{top['n_targets']} targets: the top-{k} meta metrics (regret, percentile, improvement, gain) score "
                f"them identically, and only weightedtau, which reads the whole ranking, can tell them apart.")
    if top["identical_targets"] >= 0.75 * top["n_targets"]:
        return (f"The top-{k} selections of {name} coincide with those of {top['selector']} for "
                f"{top['identical_targets']} of {top['n_targets']} targets.")
    return None


@dataclass
class BenchmarkResult:
    """Everything the benchmark report shows; every table is a tidy DataFrame (see :meth:`tables`)."""

    name: str
    selector_set: str
    evaluations: pd.DataFrame
    meta_table: pd.DataFrame
    win_rates: pd.DataFrame
    stability: pd.DataFrame
    ranks: pd.DataFrame
    summary: pd.DataFrame
    rank_then_mean: pd.DataFrame
    gain_curves: pd.DataFrame | None
    paired: pd.DataFrame
    verdicts: pd.DataFrame
    positions: pd.DataFrame
    parameters: dict = field(default_factory=dict)
    overlap: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    development: DevelopmentPosition | None = None
    development_skipped: list[str] = field(default_factory=list)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Machine-readable outputs: file stem -> DataFrame (``rank_counts`` dropped from the ranks)."""
        out = {"benchmark_meta_metrics": self.meta_table, "benchmark_win_rates": self.win_rates,
               "benchmark_stability": self.stability,
               "benchmark_bootstrap_ranks": self.ranks.drop(columns="rank_counts"),
               "benchmark_ranking_summary": self.summary, "benchmark_rank_then_mean": self.rank_then_mean,
               "benchmark_paired": self.paired, "benchmark_verdicts": self.verdicts,
               "benchmark_positions": self.positions}
        if self.gain_curves is not None:
            out["benchmark_gain_curves"] = self.gain_curves
        if self.development is not None:
            out["benchmark_development"] = self.development.table()
        return out

    def write(self, directory: str | Path | None = None, evaluations: bool = False) -> list[Path]:
        """Write :meth:`tables` to ``<directory>/<stem>.csv`` with a leading ``measure`` column.

        Rows of other measures in an existing file are kept (one block per measure); every text
        cell is neutralised for spreadsheets (:func:`taskfp_lib._safety.csv_safe_frame`).
        """
        tables = dict(self.tables())
        if evaluations:
            tables["benchmark_evaluations"] = self.evaluations[self.evaluations["selector"] == self.name]
        key = {"measure": csv_cell(self.name)}
        paths = []
        for stem, df in tables.items():
            df = df.copy()
            df.insert(0, "measure", self.name)
            paths.append(write_results(csv_safe_frame(df), stem, directory, replace=key))
        return paths


def _rankings(ev: pd.DataFrame, selector_set: str, n_bootstrap: int, seed: int) -> dict:
    """The paper's ranking recipes on the evaluation table with the measure (selector_set column dropped)."""
    drop = lambda df: df.drop(columns="selector_set")  # noqa: E731
    ranks, summary = recipes.fig5_rankings(ev, selector_set, n_bootstrap, seed)
    return {"win_rates": drop(recipes.table4_win_rates(ev, selector_set)),
            "stability": drop(recipes.stability_table(ev, selector_set)), "ranks": drop(ranks),
            "summary": drop(summary),
            "rank_then_mean": drop(recipes.supfig1_rank_then_mean(ev, selector_set, n_bootstrap, seed))}


def _statistics(ev: pd.DataFrame, name: str, selector_set: str, n_bootstrap: int, seed: int,
                n_bootstrap_paired: int, ranks: pd.DataFrame) -> dict:
    """Paired tests against every selector, scenario positions and verdicts."""
    paired = pd.concat([paired_comparison(ev, name, other, n_bootstrap=n_bootstrap_paired, seed=seed)
                        for other in SELECTOR_SETS[selector_set]], ignore_index=True)
    positions = scenario_positions(recipes.without_gain(ev), n_bootstrap=n_bootstrap, seed=seed)
    return {"paired": paired, "positions": positions, "verdicts": verdicts(positions, ranks, name, paired)}


def _development(distance: pd.DataFrame, name: str, comparison, options: dict) -> tuple:
    """(position, []) among the development variants, or (None, [why not]) when the matrix cannot be placed."""
    try:
        return development_position(distance, name, comparison=comparison, similarity=False,
                                    allow_partial=options.get("allow_partial", False),
                                    source=options.get("source", name)), []
    except DistanceValidationError as err:
        return None, [f"The development placement is not possible for this matrix: {err}"]


def benchmark(distance: pd.DataFrame, name: str = "My distance", *, selector_set: str = "paper",
              outcomes: Outcomes | None = None, reference: pd.DataFrame | None = None, n_bootstrap: int = 1000,
              seed: int = 42, n_bootstrap_paired: int = N_BOOTSTRAP_PAIRED, curves: bool = True,
              validate: bool = True, notes: Sequence[str] = (), development: bool = False,
              development_comparison=None, **validate_kwargs) -> BenchmarkResult:
    """Score a raw distance matrix against the paper's selectors with the paper's full analysis.

    Parameters
    ----------
    distance : DataFrame, shape (71, 127)
        Raw distances in the published orientation (checked by
        :func:`~taskfp_lib.benchmark.validation.validate_distance` unless ``validate=False``;
        ``validate_kwargs`` such as ``similarity=True`` are passed on).
    name : str
        Label of the measure (any printable text; not a selector name of the set).
    selector_set : {"paper", "revision"}
    reference : DataFrame, optional
        Precomputed :func:`reference_evaluations` of the selector set.
    n_bootstrap, seed : int
        Bootstraps of the rankings and positions (each seeded with ``seed``).
    n_bootstrap_paired : int
        Bootstraps of the paired comparisons.
    curves : bool
        Compute the gain curves (budgets 1-5).
    notes : sequence of str
        Notes of an earlier validation (``validate=False``), shown with the verdict.
    development : bool
        Also place the measure among the 798 variants of the development comparison
        (:func:`~taskfp_lib.benchmark.development.development_position`; about 15 s, or less with a
        precomputed ``development_comparison``). A matrix that cannot be placed (e.g. development
        columns left out with ``allow_partial``) is reported in ``development_skipped``.
    """
    if selector_set not in SELECTOR_SETS:
        raise ValueError(f"unknown selector set {selector_set!r}; choose from {sorted(SELECTOR_SETS)}")
    check_measure_name(name, selector_set)
    notes = list(notes)
    if validate:
        distance = validate_distance(distance, notes=notes, **validate_kwargs)
    outcomes = load_outcomes() if outcomes is None else outcomes
    ref = reference_evaluations(selector_set, outcomes) if reference is None else reference
    ev = pd.concat([ref, evaluate_measure(distance, name, outcomes)], ignore_index=True)
    meta_table = meta_metric_table(ev, chance_scores(outcomes))
    parts = _rankings(ev, selector_set, n_bootstrap, seed)
    parts.update(_statistics(ev, name, selector_set, n_bootstrap, seed, n_bootstrap_paired, parts["ranks"]))
    affinities = {name: affinity_from_distance(distance), **load_affinities(SELECTOR_SETS[selector_set])}
    overlap = selection_overlap(affinities, name)
    notes += [n for n in (below_chance_note(meta_table, name, CHANCE_LABEL), overlap_note(overlap, name)) if n]
    params = {"name": name, "selector_set": selector_set, "n_bootstrap": n_bootstrap, "seed": seed,
              "n_bootstrap_paired": n_bootstrap_paired}
    dev, skipped = (_development(distance, name, development_comparison, validate_kwargs) if development
                    else (None, []))
    return BenchmarkResult(
        name=name, selector_set=selector_set, evaluations=ev, meta_table=meta_table,
        gain_curves=gain_curves(outcomes, distance, name) if curves else None, parameters=params, overlap=overlap,
        development=dev, development_skipped=skipped,
        notes=notes, **parts)


__all__ = ["BenchmarkResult", "CURVE_REFERENCES", "benchmark", "check_measure_name", "evaluate_measure",
           "gain_curves", "meta_metric_table", "overlap_note", "reference_evaluations", "selection_overlap"]
