"""Measured transfer outcomes and single-task baselines of one evaluation setting.

Outcome files (read by :mod:`taskfp_lib.upstream.readers`) hold one row per repetition ``r``,
source ``s`` and target ``t`` with the target's test performance ``p`` after the transfer; baseline
files one row per repetition and one column per target. The evaluation needs them as wide matrices
``[source, target]`` of one repetition or of the mean over the three (the paper's "tripled" and
"single" evaluations).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..tasks import is_shrinkable
from ..upstream.readers import outcome_filename, outcome_path, read_baseline_file, read_transfer_file
from ..vocabulary import AGGREGATES, BASELINE_KEY, METRICS, PAPER_SCENARIOS, SCENARIOS


def aggregate_transfer(df: pd.DataFrame, aggregate: str) -> pd.DataFrame:
    """Wide matrix ``[source, target]`` of one repetition (first/second/third) or of their mean.

    The mean is pandas' group-by mean over the repetitions of each (source, target) pair; rows are
    sorted by source name.
    """
    rep = AGGREGATES[aggregate]
    if rep is None:
        long = df.groupby(["s", "t"])["p"].mean()
    else:
        long = df[df["r"] == rep].set_index(["s", "t"])["p"]
    wide = long.unstack("t")
    return wide.sort_index()


def aggregate_baseline(df: pd.DataFrame, aggregate: str) -> pd.Series:
    """Baseline per target: the column mean over the repetitions, or one repetition."""
    rep = AGGREGATES[aggregate]
    return df.mean(axis=0) if rep is None else df.loc[rep]


@dataclass
class Outcomes:
    """All outcome files of one evaluation setting, read once; aggregated matrices are cached.

    Attributes
    ----------
    transfer : dict
        ``(scenario, metric) -> long DataFrame (r, s, t, p)``.
    baseline_shrunk, baseline_full : dict
        ``metric -> DataFrame`` (repetitions x targets).
    shrunk : dict
        ``scenario -> bool``: whether the scenario is evaluated on shrunk targets.
    validation : bool
        Validation targets (True) or development targets.
    """

    transfer: dict
    baseline_shrunk: dict
    baseline_full: dict
    shrunk: dict
    validation: bool = True
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def matrix(self, scenario: str, metric: str, aggregate: str) -> pd.DataFrame:
        """Outcomes ``[source, target]`` of a scenario, base metric and aggregate (see :func:`aggregate_transfer`)."""
        key = ("matrix", scenario, metric, aggregate)
        if key not in self._cache:
            self._cache[key] = aggregate_transfer(self.transfer[(scenario, metric)], aggregate)
        return self._cache[key]

    def baseline(self, scenario: str, metric: str, aggregate: str, targets) -> pd.Series:
        """Baseline per target: shrunk baseline when the scenario is shrunk and the target shrinkable."""
        key = ("baseline", scenario, metric, aggregate, tuple(targets))
        if key not in self._cache:
            self._cache[key] = self._baseline(scenario, metric, aggregate, targets)
        return self._cache[key].copy()

    def _baseline(self, scenario: str, metric: str, aggregate: str, targets) -> pd.Series:
        full = aggregate_baseline(self.baseline_full[metric], aggregate)
        shrunk = aggregate_baseline(self.baseline_shrunk[metric], aggregate) if metric in self.baseline_shrunk \
            else None
        values = {}
        for t in targets:
            use_shrunk = self.shrunk[scenario] and is_shrinkable(t) and shrunk is not None and t in shrunk.index
            values[t] = shrunk[t] if use_shrunk else full[t]
        return pd.Series(values, dtype=float)


def load_outcomes(validation: bool = True, metrics=METRICS, scenarios=PAPER_SCENARIOS,
                  shrunk: dict | None = None, directory: str | Path | None = None) -> Outcomes:
    """Read the outcome files of an evaluation setting.

    Parameters
    ----------
    validation : bool
        The 43 validation targets (True) or the development targets.
    scenarios : sequence of str
        Scenario labels (default: the paper's four); any registered scenario can be read.
    shrunk : dict, optional
        ``scenario -> bool``; default: all scenarios shrunk (the paper's setting). Scenarios whose
        files have no SHRUNK field exist only shrunk.
    directory : path-like, optional
        A folder with files in the published layout (e.g. a fresh experiment grid); default: the
        verified published files.
    """
    shrunk = {s: True for s in scenarios} | dict(shrunk or {})
    transfer, base_s, base_f = {}, {}, {}
    for metric in metrics:
        for label in scenarios:
            scen = SCENARIOS[label]
            if not scen.has_shrunk_field and not shrunk[label]:
                raise ValueError(f"{label}: only shrunk-target outcomes exist")
            name = outcome_filename(scen.key, metric, validation, shrunk[label])
            transfer[(label, metric)] = read_transfer_file(outcome_path(name, directory))
        base_f[metric] = read_baseline_file(outcome_path(outcome_filename(BASELINE_KEY, metric, validation, False),
                                                         directory))
        try:
            base_s[metric] = read_baseline_file(outcome_path(outcome_filename(BASELINE_KEY, metric, validation, True),
                                                             directory))
        except FileNotFoundError:
            if any(shrunk[s] for s in scenarios):
                raise
    return Outcomes(transfer, base_s, base_f, shrunk, validation)
