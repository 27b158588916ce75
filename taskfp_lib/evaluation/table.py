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
from .meta_metrics import percentile_ranks, top_k_scores
from .outcomes import Outcomes
from .selection import SelectionTieError, top_k_indices
from .weighted_tau import weightedtau_pairs

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
        From :func:`taskfp_lib.evaluation.load_outcomes` (published or freshly generated files).
    affinities : dict
        Selector name -> affinity DataFrame (sources x targets incl. shrunk names, higher = closer).
    aggregates, metrics : sequence of str
        Repetition aggregates ("first", "second", "third", "mean") and base metrics ("BA", "AUROC").
    k, mode : int, {"avg", "best"}
        Budget (number of suggested sources) and how the k suggestions are scored.
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
    if any(m != "weightedtau" for m in corr_metrics):
        raise ValueError(f"unknown correlation meta metric in {list(corr_metrics)!r}")
    if targets is None:
        targets = VAL_TASKS if outcomes.validation else development_targets(load_task_infos())
    targets, sources = list(targets), list(ALL_TASKS if sources is None else sources)
    mask = valid_mask(sources, targets, valid_sources)
    blocks = [(agg, metric, scen) for agg in aggregates for metric in metrics for scen in scenarios]
    if not blocks or not affinities:
        return pd.DataFrame(columns=COLUMNS)
    refs = {scen: _reference_columns(outcomes, scen, targets, target_ref) for scen in scenarios}
    aff = {(name, tuple(cols)): _affinity_array(name, a, sources, cols, mask)
           for name, a in affinities.items() for cols in set(map(tuple, refs.values()))}
    out = {b: outcome_block(outcomes, *b[::-1], sources, targets, mask) for b in blocks}  # (scen, metric, agg)
    metas = list(corr_metrics) + list(top_metrics)
    scores = np.empty((len(blocks), len(affinities), len(targets), len(metas)))
    if corr_metrics:
        scores[..., 0] = _weightedtau_blocks(blocks, affinities, aff, out, refs)
    if top_metrics:
        chosen = {key: _top_k(a, k, key[0]) for key, a in aff.items()}
        for i, (agg, metric, scen) in enumerate(blocks):
            o, base, ranks = out[(agg, metric, scen)]
            for j, name in enumerate(affinities):
                top = top_k_scores(o, chosen[(name, tuple(refs[scen]))], base, mode, top_metrics, ranks)
                scores[i, j, :, len(corr_metrics):] = np.column_stack([top[m] for m in top_metrics])
    return _long_table(blocks, list(affinities), targets, metas, scores)


def _reference_columns(outcomes: Outcomes, scenario: str, targets, target_ref) -> list[str]:
    """The affinity column of each target: the shrunk variant for a shrunk scenario (unless ``target_ref``)."""
    ref = target_ref or (shrunk_name if outcomes.shrunk[scenario] else (lambda t: t))
    return [ref(t) for t in targets]


def _affinity_array(name: str, aff: pd.DataFrame, sources, cols, mask: np.ndarray) -> np.ndarray:
    missing = [c for c in cols if c not in aff.columns]
    if missing:
        raise ValueError(f"selector {name!r}: no affinity column for target(s) {missing[:3]}")
    return np.where(mask, aff.reindex(index=sources)[list(cols)].to_numpy(dtype=float), np.nan)


def outcome_block(outcomes, scenario: str, metric: str, aggregate: str, sources, targets,
                  mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arrays of one evaluation block: outcomes, baselines and percentile ranks.

    Computed once per (block, sources, targets, mask) for an :class:`Outcomes` (cached with its
    aggregated matrices, so repeated evaluations reuse them); any other outcome provider with
    ``matrix`` and ``baseline`` is read every time.

    Returns
    -------
    outcomes : ndarray, shape (n_sources, n_targets)
        NaN where ``mask`` (valid source of the target) is False; read-only.
    baseline : ndarray, shape (n_targets,)
    ranks : ndarray, shape (n_sources, n_targets)
        :func:`~.meta_metrics.percentile_ranks` of the outcomes.

    Raises
    ------
    ValueError
        When a valid (source, target) pair has no outcome.
    """
    mask = np.asarray(mask, dtype=bool)
    cache = outcomes._cache if isinstance(outcomes, Outcomes) else {}
    key = ("block", scenario, metric, aggregate, tuple(sources), tuple(targets), mask.shape, mask.tobytes())
    if key not in cache:
        o = outcomes.matrix(scenario, metric, aggregate).reindex(index=list(sources), columns=list(targets)).to_numpy()
        o = np.where(mask, o, np.nan)
        missing = int(np.isnan(o[mask]).sum())
        if missing:
            raise ValueError(f"{scenario}, {metric}, {aggregate}: {missing} valid (source, target) pairs lack "
                             "an outcome")
        base = outcomes.baseline(scenario, metric, aggregate, targets).to_numpy(dtype=float)
        arrays = (o, base, percentile_ranks(o))
        for a in arrays:
            a.flags.writeable = False
        cache[key] = arrays
    return cache[key]


def _top_k(a: np.ndarray, k: int, name: str) -> np.ndarray:
    try:
        return top_k_indices(a, k)
    except SelectionTieError as err:
        raise SelectionTieError(f"selector {name!r}: {err}") from None


def _weightedtau_blocks(blocks, affinities, aff, out, refs) -> np.ndarray:
    """Weighted tau of every (block, selector, target) column at once, shape (n_blocks, n_selectors, n_targets).

    The affinity and outcome columns are pooled once; the pairs index into the pools.
    """
    keys = list(aff)
    x_pool = np.concatenate([aff[k] for k in keys], axis=1)
    y_pool = np.concatenate([out[b][0] for b in blocks], axis=1)
    n_t = y_pool.shape[1] // len(blocks)
    t = np.arange(n_t)
    x_index, y_index = [], []
    for i, (agg, metric, scen) in enumerate(blocks):
        for name in affinities:
            x_index.append(keys.index((name, tuple(refs[scen]))) * n_t + t)
            y_index.append(i * n_t + t)
    tau = weightedtau_pairs(x_pool, y_pool, np.concatenate(x_index), np.concatenate(y_index))
    return tau.reshape(len(blocks), len(affinities), n_t)


def _long_table(blocks, selectors, targets, metas, scores: np.ndarray) -> pd.DataFrame:
    """The long evaluation table of a (blocks, selectors, targets, metas) score array, loop order kept."""
    n_b, n_s, n_t, n_m = scores.shape
    per_block = n_s * n_t * n_m
    agg, metric, scen = (np.repeat([b[i] for b in blocks], per_block) for i in range(3))
    return pd.DataFrame({
        "scenario": scen, "selector": np.tile(np.repeat(selectors, n_t * n_m), n_b), "metric": metric,
        "aggregate": agg, "target": np.tile(np.repeat(targets, n_m), n_b * n_s),
        "meta_metric": np.tile(metas, n_b * n_s * n_t), "score": scores.ravel(),
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
