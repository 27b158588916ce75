"""Transfer outcomes and single-task baselines in the published layout (spec 2).

File names: ``load_<exp>_experiment%<METRIC>%<SHRUNK>%<VALIDATION>.csv`` for arch, multi_task and
baseline; ``load_<exp>_experiment%<METRIC>%<VALIDATION>.csv`` for pretrain and augmentation (these
two were run on shrunk targets only). Transfer files hold the columns ``r, s, t, p``; baseline files
one row per repetition and one column per target.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .tasks import is_shrinkable

#: canonical scenario names, in the paper's order, and their upstream experiment keys
SCENARIOS: dict[str, str] = {
    "Model Architecture": "arch",
    "Pretraining Data": "pretrain",
    "Augmentation Policy": "augmentation",
    "Co-Training Data": "multi_task",
}
#: upstream key strings (with the ``<br>``) of each scenario
UPSTREAM_SCENARIO_LABELS = {s: s.replace(" ", "<br>") for s in SCENARIOS}
METRICS = ("BA", "AUROC")
#: repetition aggregates: name -> repetition index (None = mean over the repetitions)
AGGREGATES: dict[str, int | None] = {"first": 0, "second": 1, "third": 2, "mean": None}
TRIPLED = ("first", "second", "third")
_NO_SHRUNK_FIELD = {"pretrain", "augmentation"}


def outcome_filename(exp: str, metric: str, validation: bool = True, shrunk: bool = True) -> str:
    """Published file name of an outcome file (keywords sorted: metric < shrunk < validation)."""
    if exp not in set(SCENARIOS.values()) | {"baseline"}:
        raise ValueError(f"unknown experiment {exp!r}")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    if exp in _NO_SHRUNK_FIELD:
        return f"load_{exp}_experiment%{metric}%{validation}.csv"
    return f"load_{exp}_experiment%{metric}%{shrunk}%{validation}.csv"


def _resolve(name: str, directory: str | Path | None) -> Path:
    if directory is None:
        from .data import data_path

        return data_path(f"cache/exp/{name}")
    path = Path(directory) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: outcome file not found")
    return path


def read_transfer_file(path: str | Path) -> pd.DataFrame:
    """Read a transfer-outcome file and check its columns (r, s, t, p)."""
    path = Path(path)
    df = pd.read_csv(path, index_col=0)
    missing = {"r", "s", "t", "p"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; expected r, s, t, p")
    if df["p"].isna().any():
        raise ValueError(f"{path}: {int(df['p'].isna().sum())} missing performance values")
    if df.duplicated(["r", "s", "t"]).any():
        raise ValueError(f"{path}: duplicate (r, s, t) rows")
    return df


def aggregate_transfer(df: pd.DataFrame, aggregate: str) -> pd.DataFrame:
    """Wide matrix ``[source, target]`` of one repetition (first/second/third) or of the mean (spec 2.5)."""
    rep = AGGREGATES[aggregate]
    if rep is None:
        long = df.groupby(["s", "t"])["p"].mean()
    else:
        long = df[df["r"] == rep].set_index(["s", "t"])["p"]
    wide = long.unstack("t")
    return wide.sort_index()


def read_baseline_file(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    df = pd.read_csv(path, index_col=0)
    if list(df.index) != list(range(len(df))) or len(df) == 0:
        raise ValueError(f"{path}: expected one row per repetition indexed 0, 1, ..., got {list(df.index)}")
    return df


def aggregate_baseline(df: pd.DataFrame, aggregate: str) -> pd.Series:
    """Baseline per target: the column mean over the repetitions, or one repetition."""
    rep = AGGREGATES[aggregate]
    return df.mean(axis=0) if rep is None else df.loc[rep]


@dataclass
class Outcomes:
    """All outcome files of one evaluation setting, read once.

    Attributes
    ----------
    transfer : dict
        ``(scenario, metric) -> long DataFrame (r, s, t, p)``.
    baseline_shrunk, baseline_full : dict
        ``metric -> DataFrame`` (repetitions x targets).
    shrunk : dict
        ``scenario -> bool``: whether the scenario is evaluated on shrunk targets.
    """

    transfer: dict
    baseline_shrunk: dict
    baseline_full: dict
    shrunk: dict
    validation: bool = True

    def matrix(self, scenario: str, metric: str, aggregate: str) -> pd.DataFrame:
        return aggregate_transfer(self.transfer[(scenario, metric)], aggregate)

    def baseline(self, scenario: str, metric: str, aggregate: str, targets) -> pd.Series:
        """Baseline per target: shrunk baseline when the scenario is shrunk and the target shrinkable."""
        full = aggregate_baseline(self.baseline_full[metric], aggregate)
        shrunk = aggregate_baseline(self.baseline_shrunk[metric], aggregate) if metric in self.baseline_shrunk \
            else None
        values = {}
        for t in targets:
            use_shrunk = self.shrunk[scenario] and is_shrinkable(t) and shrunk is not None and t in shrunk.index
            values[t] = shrunk[t] if use_shrunk else full[t]
        return pd.Series(values, dtype=float)


def load_outcomes(validation: bool = True, metrics=METRICS, scenarios=tuple(SCENARIOS),
                  shrunk: dict | None = None, directory: str | Path | None = None) -> Outcomes:
    """Read the outcome files of an evaluation setting.

    Parameters
    ----------
    validation : bool
        The 43 validation targets (True) or the development targets.
    shrunk : dict, optional
        ``scenario -> bool``; default: all scenarios shrunk (the paper's setting). Pretraining and
        augmentation only exist shrunk.
    directory : path-like, optional
        A folder with files in the published layout (e.g. a fresh experiment grid); default: the
        verified published files.
    """
    shrunk = {s: True for s in SCENARIOS} | dict(shrunk or {})
    transfer, base_s, base_f = {}, {}, {}
    for metric in metrics:
        for scen in scenarios:
            exp = SCENARIOS[scen]
            if exp in _NO_SHRUNK_FIELD and not shrunk[scen]:
                raise ValueError(f"{scen}: only shrunk-target outcomes exist")
            name = outcome_filename(exp, metric, validation, shrunk[scen])
            transfer[(scen, metric)] = read_transfer_file(_resolve(name, directory))
        base_f[metric] = read_baseline_file(_resolve(outcome_filename("baseline", metric, validation, False),
                                                     directory))
        try:
            base_s[metric] = read_baseline_file(_resolve(outcome_filename("baseline", metric, validation, True),
                                                         directory))
        except FileNotFoundError:
            if any(shrunk[s] for s in scenarios):
                raise
    return Outcomes(transfer, base_s, base_f, shrunk, validation)


__all__ = ["SCENARIOS", "METRICS", "AGGREGATES", "TRIPLED", "Outcomes", "load_outcomes", "outcome_filename",
           "aggregate_transfer", "aggregate_baseline", "read_transfer_file", "read_baseline_file"]
