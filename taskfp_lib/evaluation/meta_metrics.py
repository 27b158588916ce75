"""Meta metrics: how good are the sources a task selector suggests for a target.

The paper's Methods, "Validation metrics". Every score is oriented so that **higher is better**
(the names and directions are the records of :mod:`taskfp_lib.vocabulary`):

* ``percentile`` (the paper's "Percentile"): percentile rank of the selected sources' outcomes among
  all valid sources (average ranks, divided by their number; 1 = the best source).
* ``regret_score``: :math:`1 - \\frac{|o^* - p|}{1 - \\min(o^*, p)}` with the oracle
  :math:`o^* = \\max_s O_s` (0 when :math:`o^* = p = 1`); the paper's regret (lower is better) is
  ``1 - regret_score`` (:func:`taskfp_lib.vocabulary.paper_regret`).
* ``improvement`` (the paper's "Improvement"): :math:`p - b` with the single-task baseline ``b``.
* ``gain``: :math:`[p > b]`.
* ``weightedtau``: scipy's weighted Kendall tau between affinities and outcomes over the valid
  sources (budget-independent).

``mode="avg"`` averages the score over the k selected sources (summed in selection order);
``mode="best"`` scores only the best outcome among them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..vocabulary import TOP_META_METRICS

MODES = ("avg", "best")
# scipy's weightedtau without its generic axis/NaN-policy wrapper (half the cost per call; inputs here
# are already NaN-free 1-D arrays); the same function and result as ``stats.weightedtau``
_weightedtau = getattr(stats.weightedtau, "__wrapped__", stats.weightedtau)


def percentile_ranks(outcomes: np.ndarray) -> np.ndarray:
    """Average rank of each entry within its column, divided by the column's count (NaN ignored).

    Parameters
    ----------
    outcomes : ndarray, shape (n_sources, n_targets)

    Returns
    -------
    ndarray, shape (n_sources, n_targets)
    """
    o = pd.DataFrame(np.asarray(outcomes, dtype=float))
    return (o.rank(axis=0, method="average") / o.count(axis=0)).to_numpy()


def _regret_value(oracle, p):
    source_gap = np.abs(oracle - p)
    perf_gap = 1.0 - np.minimum(oracle, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = 1.0 - source_gap / perf_gap
    return np.where((source_gap == 0) & (perf_gap == 0), 0.0, value)


def top_k_scores(outcomes: np.ndarray, selected: np.ndarray, baseline: np.ndarray, mode: str = "avg",
                 metrics: Sequence[str] = TOP_META_METRICS, ranks: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Top-k meta metrics of many targets at once.

    Parameters
    ----------
    outcomes : ndarray, shape (n_sources, n_targets)
        Transfer outcome of each valid source (NaN for sources that are not valid).
    selected : ndarray of int, shape (k, n_targets)
        Row indices of the selected sources, best first (-1 = none).
    baseline : ndarray, shape (n_targets,)
    mode : {"avg", "best"}
    ranks : ndarray, shape (n_sources, n_targets), optional
        ``percentile_ranks(outcomes)`` when already computed (it depends on the outcomes only).

    Returns
    -------
    dict
        meta metric -> ndarray of shape (n_targets,)
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    o = np.asarray(outcomes, dtype=float)
    sel = np.asarray(selected)
    cols = np.arange(o.shape[1])
    mask = sel >= 0
    perf = np.where(mask, o[np.where(mask, sel, 0), cols], np.nan)  # (k, n_targets)
    n_sel = mask.sum(axis=0)
    oracle = np.nanmax(np.where(np.isnan(o), -np.inf, o), axis=0)
    base = np.asarray(baseline, dtype=float)
    out = {}
    if "percentile" in metrics:
        ranks = percentile_ranks(o) if ranks is None else ranks
        r = np.where(mask, ranks[np.where(mask, sel, 0), cols], np.nan)
        out["percentile"] = _reduce(r, mode, n_sel)
    if mode == "best":
        with np.errstate(invalid="ignore"):
            perf = np.where(n_sel > 0, np.nanmax(np.where(mask, perf, -np.inf), axis=0), np.nan)[None, :]
            n_sel = np.minimum(n_sel, 1)
    per_value = {
        "regret_score": lambda p: _regret_value(oracle, p),
        "improvement": lambda p: p - base,
        "gain": lambda p: np.where(np.isnan(p), np.nan, (p > base).astype(float)),
    }
    for name in metrics:
        if name in per_value:
            out[name] = _mean_selected(per_value[name](perf), n_sel)
    return {m: out[m] for m in metrics}


def _mean_selected(values: np.ndarray, n_sel: np.ndarray) -> np.ndarray:
    """Mean over the selected entries, summed in selection order (as a Python/NumPy mean of a list)."""
    total = np.zeros(values.shape[1])
    for row in values:
        total = total + np.where(np.isnan(row), 0.0, row)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_sel > 0, total / n_sel, np.nan)


def _reduce(values: np.ndarray, mode: str, n_sel: np.ndarray) -> np.ndarray:
    if mode == "avg":
        return _mean_selected(values, n_sel)
    with np.errstate(invalid="ignore"):
        return np.where(n_sel > 0, np.nanmax(np.where(np.isnan(values), -np.inf, values), axis=0), np.nan)


def weightedtau_score(affinity, outcomes) -> float:
    """Weighted Kendall tau (scipy defaults) between affinities and outcomes; NaN pairs dropped.

    Parameters
    ----------
    affinity, outcomes : array-like, shape (n_sources,)

    Returns
    -------
    float
        In [-1, 1]; NaN for constant input or fewer than two pairs.
    """
    x = np.asarray(affinity, dtype=float)
    y = np.asarray(outcomes, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    if keep.sum() < 2:
        return float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(_weightedtau(x[keep], y[keep]).statistic)


# --- per-target convenience functions (one target, outcomes as a Series) ----------------------------

def _single(outcomes: pd.Series, selected: Sequence[str], baseline: float, mode: str, metric: str) -> float:
    unknown = [s for s in selected if s not in outcomes.index]
    if unknown:
        raise ValueError(f"selected source(s) without an outcome: {unknown[:3]}")
    pos = {s: i for i, s in enumerate(outcomes.index)}
    sel = np.array([[pos[s]] for s in selected], dtype=int).reshape(len(selected), 1)
    o = outcomes.to_numpy(dtype=float)[:, None]
    return float(top_k_scores(o, sel, np.array([baseline]), mode, (metric,))[metric][0])


def percentile_score(outcomes: pd.Series, selected: Sequence[str], mode: str = "avg") -> float:
    """Percentile of the selected sources among all sources of ``outcomes`` (higher is better)."""
    return _single(outcomes, selected, np.nan, mode, "percentile")


def regret_score(outcomes: pd.Series, selected: Sequence[str], mode: str = "avg") -> float:
    """Regret score ``1 - (max O - p)/(1 - p)`` (higher is better; the paper's regret is 1 - score)."""
    return _single(outcomes, selected, np.nan, mode, "regret_score")


def improvement_score(outcomes: pd.Series, selected: Sequence[str], baseline: float, mode: str = "avg") -> float:
    """Outcome of the selected sources minus the single-task baseline."""
    return _single(outcomes, selected, baseline, mode, "improvement")


def gain_score(outcomes: pd.Series, selected: Sequence[str], baseline: float, mode: str = "avg") -> float:
    """Fraction of the selected sources that beat the baseline (``best``: whether the best one does)."""
    return _single(outcomes, selected, baseline, mode, "gain")
