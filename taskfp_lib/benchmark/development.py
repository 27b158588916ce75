"""Where a new task distance would have stood in the development comparison of the 798 variants (issue 12).

:func:`development_position` runs a distance matrix (the published 71 x 127 layout, the same input
as ``taskfp benchmark``) through the comparison's steps (variety filter, development evaluation,
means) and places it on the published leaderboards without changing them: its means are relativised
on the retained variants' scale and its options compared with theirs.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..evaluation.affinity import affinity_from_distance
from ..evaluation.outcomes import Outcomes, load_outcomes
from ..evaluation.selection import SelectionTieError
from ..paper.development import (OPTIONS, PAPER_SETTINGS, VARIETY_THRESHOLD, DevelopmentComparison,
                                 development_comparison, evaluate_development, scenario_means, variety)
from ..tasks import VAL_TASKS, development_targets as development_target_tasks
from ..upstream.readers import load_task_infos
from .validation import DistanceValidationError, validate_distance
from .verdict import HTML, PLAIN, TextStyle


@dataclass
class DevelopmentPosition:
    """A new measure placed among the development variants.

    Attributes
    ----------
    name : str
    variety : float
        Share of distinct closest sources over the 43 validation targets.
    kept : bool
        Whether it passes the variety filter (variety > 0.25); the places below assume it does.
    summary : DataFrame
        One row per option: ``option, value, position, n_retained, leader, leader_value,
        paper_positions`` (position 1 = best; ``rank_based``: lower values are better).
    means, relative, per_scenario : DataFrame
        One row each: the 20 means, their relativised values and the options per scenario.
    """

    name: str
    variety: float
    kept: bool
    summary: pd.DataFrame
    means: pd.DataFrame
    relative: pd.DataFrame
    per_scenario: pd.DataFrame

    def text(self, style: TextStyle = PLAIN) -> str:
        """One plain-language paragraph (``PLAIN``: Markdown emphasis; ``HTML``: the name escaped)."""
        s, b = self.summary.set_index("option"), style.strong
        n = int(s["n_retained"].iloc[0])
        places = "; ".join(f"{o} {b(str(int(s.loc[o, 'position'])))} of {n} ({s.loc[o, 'value']:.3f}; best "
                           f"{s.loc[o, 'leader']} {s.loc[o, 'leader_value']:.3f})" for o in s.index)
        kept = ("passes the variety filter" if self.kept else
                f"would be {b('dropped by the variety filter')} (variety <= {VARIETY_THRESHOLD:g}); the places "
                f"below are where it would stand if it were kept")
        return (f"On the development tasks, {style.name(self.name)} (variety {self.variety:.3f}) {kept}. Position "
                f"among the retained variants per aggregation option: {places}.")

    def html(self) -> str:
        """:meth:`text` as HTML, the name escaped."""
        return self.text(HTML)

    def table(self) -> pd.DataFrame:
        """The rows of ``benchmark_development.csv``: the summary with the variety and the filter's verdict."""
        return self.summary.assign(variety=self.variety, kept=self.kept)


def development_targets() -> list[str]:
    """Targets whose pairs the development comparison reads: the 43 validation targets (variety filter)
    and the development targets with fewer than 40 classes (evaluation)."""
    return [*VAL_TASKS, *development_target_tasks(load_task_infos())]


def development_position(distance: pd.DataFrame, name: str = "My distance", *,
                         comparison: DevelopmentComparison | None = None, outcomes: Outcomes | None = None,
                         validate: bool = True, **validate_kwargs) -> DevelopmentPosition:
    """Place a raw distance matrix among the development comparison's variants.

    Parameters
    ----------
    distance : DataFrame
        Raw distances in the published layout (rows = 71 source tasks, columns = 127 target names;
        lower = closer), checked with :func:`taskfp_lib.benchmark.validate_distance` on the pairs of
        :func:`development_targets` unless ``validate=False`` (``validate_kwargs`` such as
        ``similarity=True`` or ``transpose=True`` are passed on).
    name : str
    comparison : DevelopmentComparison, optional
        The published comparison (default: computed without ensembles, about 15 s).
    outcomes : Outcomes, optional
        Development outcomes (default ``load_outcomes(validation=False)``).

    Raises
    ------
    DistanceValidationError
        The messages of the benchmark's validation, or a tie for the closest source of a validation
        target (the variety filter needs one closest source per target).
    """
    if validate:
        distance = validate_distance(distance, targets=development_targets(), **validate_kwargs)
    affinity = affinity_from_distance(distance, zscore_axis=0)
    try:
        var = float(variety({name: affinity})[name])
    except SelectionTieError as err:
        raise DistanceValidationError(f"{validate_kwargs.get('source', name)}: {err}; the variety filter of the "
                                      f"development comparison needs one closest source per validation target. "
                                      f"Break the ties (e.g. add a tiny task-specific offset).") from None
    comparison = development_comparison(ensembles=False, progress=False) if comparison is None else comparison
    outcomes = load_outcomes(validation=False) if outcomes is None else outcomes
    means, _ = scenario_means(evaluate_development({name: affinity}, outcomes))
    relative, per_scenario, totals, pos = comparison.place(means)
    rows = []
    for option in OPTIONS:
        board = comparison.leaderboard(option)
        paper = board[board["variant"].isin(PAPER_SETTINGS)]
        rows.append({"option": option, "value": float(totals.loc[name, option]), "position": int(pos.loc[name, option]),
                     "n_retained": len(comparison.kept), "leader": board["variant"].iloc[0],
                     "leader_value": float(board[option].iloc[0]),
                     "paper_positions": ", ".join(f"{PAPER_SETTINGS[v]} {p}" for v, p in
                                                  zip(paper["variant"], paper["position"]))})
    return DevelopmentPosition(name, var, var > VARIETY_THRESHOLD, pd.DataFrame(rows), means, relative, per_scenario)


__all__ = ["DevelopmentPosition", "development_position", "development_targets"]
