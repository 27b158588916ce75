"""The evaluation table: every (selector, scenario, metric, repetition, target, meta metric) score.

This long table is the hinge of the compendium: every figure and table of the paper is a group-by
on it, and a new task distance is a new set of rows. Row order follows the authors' evaluation
loops (aggregate > metric > scenario > selector > target > meta metric), which defines the case
alignment of the bootstrap rankings.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..tasks import ALL_TASKS, VAL_TASKS, development_targets, shrunk_name, valid_sources as paper_valid_sources
from ..upstream.readers import load_task_infos
from ..vocabulary import CORR_META_METRICS, EVALUATION_METRIC_ORDER, PAPER_SCENARIOS, TOP_META_METRICS, TRIPLED
from .meta_metrics import top_k_scores, weightedtau_score
from .outcomes import Outcomes
from .selection import SelectionTieError, top_k_indices

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
             metrics: Sequence[str] = EVALUATION_METRIC_ORDER, scenarios: Sequence[str] = PAPER_SCENARIOS,
             top_metrics: Sequence[str] = TOP_META_METRICS, corr_metrics: Sequence[str] = CORR_META_METRICS,
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
        Target -> its valid sources (default: the paper's rule, :func:`taskfp_lib.tasks.valid_sources`).
    target_ref : callable, optional
        Target -> its affinity column; default: the shrunk variant for shrunk scenarios, else the
        target itself.

    Returns
    -------
    DataFrame
        Columns ``scenario, selector, metric, aggregate, target, meta_metric, score`` in the loop order
        aggregate > metric > scenario > selector > target > meta metric (correlations first); scores are
        higher-is-better (``regret_score`` = 1 - the paper's regret).
    """
    if targets is None:
        targets = VAL_TASKS if outcomes.validation else development_targets(load_task_infos())
    targets = list(targets)
    sources = list(ALL_TASKS if sources is None else sources)
    mask = valid_mask(sources, targets, valid_sources)
    metas = list(corr_metrics) + list(top_metrics)
    n_t, n_m = len(targets), len(metas)
    blocks = []
    for agg in aggregates:
        for metric in metrics:
            for scen in scenarios:
                o = outcomes.matrix(scen, metric, agg).reindex(index=sources, columns=targets).to_numpy()
                o = np.where(mask, o, np.nan)
                if np.isnan(o[mask]).any():
                    missing = int(np.isnan(o[mask]).sum())
                    raise ValueError(f"{scen}, {metric}, {agg}: {missing} valid (source, target) pairs lack an outcome")
                base = outcomes.baseline(scen, metric, agg, targets).to_numpy()
                ref = target_ref or (shrunk_name if outcomes.shrunk[scen] else (lambda t: t))
                cols = [ref(t) for t in targets]
                for name, aff in affinities.items():
                    missing = [c for c in cols if c not in aff.columns]
                    if missing:
                        raise ValueError(f"selector {name!r}: no affinity column for target(s) {missing[:3]}")
                    a = aff.reindex(index=sources)[cols].to_numpy(dtype=float)
                    a = np.where(mask, a, np.nan)
                    scores = np.empty((n_t, n_m))
                    for m, meta in enumerate(corr_metrics):
                        if meta != "weightedtau":
                            raise ValueError(f"unknown correlation meta metric {meta!r}")
                        scores[:, m] = [weightedtau_score(a[:, j], o[:, j]) for j in range(n_t)]
                    if top_metrics:
                        try:
                            idx = top_k_indices(a, k)
                        except SelectionTieError as err:
                            raise SelectionTieError(f"selector {name!r}, {scen}: {err}") from None
                        top = top_k_scores(o, idx, base, mode, top_metrics)
                        for m, meta in enumerate(top_metrics, start=len(corr_metrics)):
                            scores[:, m] = top[meta]
                    blocks.append(pd.DataFrame({
                        "scenario": scen, "selector": name, "metric": metric, "aggregate": agg,
                        "target": np.repeat(targets, n_m), "meta_metric": np.tile(metas, n_t),
                        "score": scores.ravel(),
                    }))
    if not blocks:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(blocks, ignore_index=True)[COLUMNS]


def evaluate_budgets(outcomes: Outcomes, affinities: dict[str, pd.DataFrame], budgets=range(1, 6),
                     **kwargs) -> pd.DataFrame:
    """:func:`evaluate` for several budgets; adds a ``shots`` column."""
    frames = []
    for k in budgets:
        df = evaluate(outcomes, affinities, k=k, **kwargs)
        df.insert(0, "shots", int(k))
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
