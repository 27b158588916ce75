"""The evaluation table: every (selector, scenario, metric, repetition, target, meta metric) score.

This long table (spec 5.1) is the hinge of the compendium: every figure and table of the paper is a
group-by on it, and a new task distance is a new set of rows.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .metrics import CORR_METRICS, TOP_METRICS, percentile_ranks, top_k_scores, weightedtau_score
from .outcomes import SCENARIOS, TRIPLED, Outcomes
from .selection import SelectionTieError, top_k_indices
from .tasks import ALL_TASKS, VAL_TASKS, shrunk_name, target_tasks, valid_sources as paper_valid_sources

COLUMNS = ["scenario", "selector", "metric", "aggregate", "target", "meta_metric", "score"]


def valid_mask(sources: Sequence[str], targets: Sequence[str],
               valid_sources: Callable[[str], Sequence[str]] = paper_valid_sources) -> np.ndarray:
    """Boolean matrix (n_sources, n_targets): is source ``s`` a valid source of target ``t``."""
    pos = {s: i for i, s in enumerate(sources)}
    mask = np.zeros((len(sources), len(targets)), dtype=bool)
    for j, t in enumerate(targets):
        for s in valid_sources(t):
            if s in pos:
                mask[pos[s], j] = True
    return mask


def evaluate(outcomes: Outcomes, affinities: dict[str, pd.DataFrame], *, aggregates: Sequence[str] = TRIPLED,
             metrics: Sequence[str] = ("AUROC", "BA"), scenarios: Sequence[str] = tuple(SCENARIOS),
             top_metrics: Sequence[str] = TOP_METRICS, corr_metrics: Sequence[str] = CORR_METRICS,
             k: int = 3, mode: str = "avg", targets: Sequence[str] | None = None,
             sources: Sequence[str] | None = None,
             valid_sources: Callable[[str], Sequence[str]] = paper_valid_sources,
             target_ref: Callable[[str], str] | None = None) -> pd.DataFrame:
    """Score task selectors on measured transfer outcomes.

    Parameters
    ----------
    outcomes : Outcomes
        From :func:`taskfp_lib.outcomes.load_outcomes` (published or freshly generated files).
    affinities : dict
        Selector name -> affinity DataFrame (sources x targets incl. shrunk names, higher = closer).
    aggregates : sequence of {"first", "second", "third", "mean"}
    metrics : sequence of {"BA", "AUROC"}
    k : int
        Budget (number of suggested sources).
    mode : {"avg", "best"}
    targets, sources : sequence of str, optional
        Default: the validation (or development) targets and the 71 tasks in registry order.
    valid_sources : callable
        Target -> its valid sources (default: the paper's rule, spec 1.4).
    target_ref : callable, optional
        Target -> its affinity column; default: the shrunk variant for shrunk scenarios (spec 4.3),
        else the target itself.

    Returns
    -------
    DataFrame
        Columns ``scenario, selector, metric, aggregate, target, meta_metric, score`` in the loop order
        aggregate > metric > scenario > selector > target > meta metric (correlations first); scores are
        higher-is-better (``regret`` holds ``1 - paper regret``). A selector's rows do not depend on
        the other selectors (what does not depend on the selector is computed once per setting).
    """
    targets = list((VAL_TASKS if outcomes.validation else target_tasks(False)) if targets is None else targets)
    sources = list(ALL_TASKS if sources is None else sources)
    unknown = [m for m in corr_metrics if m != "weightedtau"]
    if unknown and affinities:
        raise ValueError(f"unknown correlation meta metric {unknown[0]!r}")
    mask = valid_mask(sources, targets, valid_sources)
    aligned = _AlignedAffinities(affinities, sources)
    parts = []
    for agg in aggregates:
        for metric in metrics:
            for scen in scenarios:
                o, base, ranks = _outcome_block(outcomes, scen, metric, agg, sources, targets, mask)
                ref = target_ref or (shrunk_name if outcomes.shrunk[scen] else (lambda t: t))
                cols = [ref(t) for t in targets]
                for name in affinities:
                    a = np.where(mask, aligned.columns(name, cols), np.nan)
                    try:
                        scores = _selector_scores(a, o, base, ranks, corr_metrics, top_metrics, k, mode)
                    except SelectionTieError as err:
                        raise SelectionTieError(f"selector {name!r}, {scen}: {err}") from None
                    parts.append((scen, name, metric, agg, scores))
    return _table(parts, targets, list(corr_metrics) + list(top_metrics))


class _AlignedAffinities:
    """Each affinity matrix as a float array in source order, built once, with its column positions."""

    def __init__(self, affinities: dict[str, pd.DataFrame], sources: list[str]):
        self.affinities, self.sources, self.cache = affinities, sources, {}

    def columns(self, name: str, cols: list[str]) -> np.ndarray:
        """Array (n_sources, len(cols)) of the affinity columns ``cols`` of selector ``name``."""
        if name not in self.cache:
            aff = self.affinities[name]
            self.cache[name] = ({c: j for j, c in enumerate(aff.columns)}, None)
        pos, values = self.cache[name]
        missing = [c for c in cols if c not in pos]
        if missing:
            raise ValueError(f"selector {name!r}: no affinity column for target(s) {missing[:3]}")
        if values is None:
            values = self.affinities[name].reindex(index=self.sources).to_numpy(dtype=float)
            self.cache[name] = (pos, values)
        return values[:, [pos[c] for c in cols]]


def _outcome_block(outcomes: Outcomes, scen: str, metric: str, agg: str, sources: list[str],
                   targets: list[str], mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcomes at the valid pairs (NaN elsewhere), baselines and percentile ranks of one setting."""
    o = outcomes.matrix(scen, metric, agg).reindex(index=sources, columns=targets).to_numpy()
    o = np.where(mask, o, np.nan)
    if np.isnan(o[mask]).any():
        missing = int(np.isnan(o[mask]).sum())
        raise ValueError(f"{scen}, {metric}, {agg}: {missing} valid (source, target) pairs lack an outcome")
    base = outcomes.baseline(scen, metric, agg, targets).to_numpy()
    return o, base, percentile_ranks(o)


def _selector_scores(a: np.ndarray, o: np.ndarray, base: np.ndarray, ranks: np.ndarray,
                     corr_metrics: Sequence[str], top_metrics: Sequence[str], k: int, mode: str) -> np.ndarray:
    """Scores (n_targets, n_meta) of one selector: correlations first, then the top-k meta metrics."""
    n_t = a.shape[1]
    scores = np.empty((n_t, len(corr_metrics) + len(top_metrics)))
    if corr_metrics:
        a_t, o_t = a.T.copy(), o.T.copy()  # contiguous columns; the values are unchanged
        tau = [weightedtau_score(a_t[j], o_t[j]) for j in range(n_t)]
        for m in range(len(corr_metrics)):
            scores[:, m] = tau
    if top_metrics:
        top = top_k_scores(o, top_k_indices(a, k), base, mode, top_metrics, ranks=ranks)
        for m, meta in enumerate(top_metrics, start=len(corr_metrics)):
            scores[:, m] = top[meta]
    return scores


def _table(parts: list, targets: list[str], metas: list[str]) -> pd.DataFrame:
    """The long table of :func:`evaluate` from its (scenario, selector, metric, aggregate, scores) blocks."""
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    n_rows = len(targets) * len(metas)
    labels = {col: np.repeat(np.array([p[i] for p in parts], dtype=object), n_rows)
              for i, col in enumerate(["scenario", "selector", "metric", "aggregate"])}
    return pd.DataFrame({
        **labels,
        "target": np.tile(np.repeat(np.array(targets, dtype=object), len(metas)), len(parts)),
        "meta_metric": np.tile(np.array(metas, dtype=object), len(targets) * len(parts)),
        "score": np.concatenate([p[4].ravel() for p in parts]),
    })[COLUMNS]


def evaluate_budgets(outcomes: Outcomes, affinities: dict[str, pd.DataFrame], budgets=range(1, 6),
                     **kwargs) -> pd.DataFrame:
    """:func:`evaluate` for several budgets; adds a ``shots`` column."""
    frames = []
    for k in budgets:
        df = evaluate(outcomes, affinities, k=k, **kwargs)
        df.insert(0, "shots", int(k))
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
