"""Chance levels: the exact expected scores of a selector that picks its sources uniformly at random.

A random top-k selection is one uniform k-subset of a target's valid sources. Its expected top-k
average is the mean over all valid sources (for every top-k meta metric, by linearity); its
expected best of k follows from the order statistics of the per-source values
(:func:`expected_best_of_k`). The benchmark report shows these as the row *random (expected)* and
uses them for the random-distance sanity floor.
"""
from __future__ import annotations

from math import comb
from typing import Sequence

import numpy as np
import pandas as pd

from ..evaluation import evaluate
from ..evaluation.affinity import affinity_from_distance
from ..evaluation.meta_metrics import top_k_scores
from ..evaluation.outcomes import Outcomes
from ..evaluation.table import valid_mask
from ..paper import recipes
from ..paper.results import write_results
from ..tasks import ALL_TASKS, VAL_TASKS
from ..vocabulary import EVALUATION_METRIC_ORDER, PAPER_SCENARIOS, TOP_META_METRICS, TRIPLED
from .measures import random_distance

#: selector label of the chance rows in the report's tables
CHANCE_LABEL = "random (expected)"


def expected_best_of_k(values, k: int = 3) -> float:
    """Exact expectation of the largest of ``k`` values drawn without replacement (uniform subsets).

    With the ``n`` values sorted ascending, the i-th (1-based) is the maximum of the subset with
    probability :math:`\\binom{i-1}{k-1} / \\binom{n}{k}`. Ties need no special care.

    Parameters
    ----------
    values : array-like, shape (n,)
    k : int
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = v.size
    if n < k:
        raise ValueError(f"need at least k={k} values, got {n}")
    weights = np.array([comb(i - 1, k - 1) for i in range(1, n + 1)], dtype=float) / comb(n, k)
    return float(weights @ v)


def _all_valid_selected(mask: np.ndarray) -> np.ndarray:
    """Selection array (max valid sources, n_targets) that selects every valid source (-1 pads)."""
    n_valid = mask.sum(axis=0)
    everyone = np.full((n_valid.max(), mask.shape[1]), -1)
    for j in range(mask.shape[1]):
        everyone[:n_valid[j], j] = np.flatnonzero(mask[:, j])
    return everyone


def _best_of_k_block(o: np.ndarray, base: np.ndarray, mask: np.ndarray, k: int, metas) -> dict:
    """Expected best of ``k`` per target: per-source values in one call (one block of columns per source)."""
    n_src, n_tgt = o.shape
    tiled = np.tile(o, (1, n_src))
    sel = np.where(mask.ravel(), np.repeat(np.arange(n_src), n_tgt), -1)[None, :]
    single = top_k_scores(tiled, sel, np.tile(base, n_src), "avg", metas)
    out = {}
    for meta in metas:
        per_source = single[meta].reshape(n_src, n_tgt)
        out[meta] = np.array([expected_best_of_k(per_source[mask[:, j], j], k) for j in range(n_tgt)])
    return out


def chance_scores(outcomes: Outcomes, *, targets: Sequence[str] = VAL_TASKS, k: int = 3, mode: str = "avg",
                  aggregates: Sequence[str] = TRIPLED, metrics: Sequence[str] = EVALUATION_METRIC_ORDER,
                  metas: Sequence[str] = TOP_META_METRICS) -> pd.DataFrame:
    """Exact expected score of a selector that picks ``k`` valid sources uniformly at random.

    ``mode="avg"``: the expectation of a mean over a uniform subset is the mean over all valid
    sources, for every top-k meta metric. ``mode="best"``: :func:`expected_best_of_k` of the
    per-source values (exact for ``percentile``, ``regret_score``, ``improvement`` and ``gain``, which
    are monotone in the outcome). Weightedtau is not included (its expectation under random
    affinities is close to, but not exactly, 0).

    Returns
    -------
    DataFrame
        scenario, metric, aggregate, target, meta_metric, score (same orientation as
        :func:`taskfp_lib.evaluation.evaluate`).
    """
    if mode not in ("avg", "best"):
        raise ValueError(f"mode must be 'avg' or 'best', got {mode!r}")
    targets = list(targets)
    mask = valid_mask(ALL_TASKS, targets)
    everyone = _all_valid_selected(mask)
    rows = []
    for agg in aggregates:
        for metric in metrics:
            for scen in PAPER_SCENARIOS:
                o = outcomes.matrix(scen, metric, agg).reindex(index=ALL_TASKS, columns=targets).to_numpy()
                o = np.where(mask, o, np.nan)
                base = outcomes.baseline(scen, metric, agg, targets).to_numpy()
                res = (top_k_scores(o, everyone, base, "avg", metas) if mode == "avg"
                       else _best_of_k_block(o, base, mask, k, metas))
                rows += [pd.DataFrame({"scenario": scen, "metric": metric, "aggregate": agg, "target": targets,
                                       "meta_metric": meta, "score": res[meta]}) for meta in metas]
    return pd.concat(rows, ignore_index=True)


def random_floor(reference: pd.DataFrame, outcomes: Outcomes, random_seed: int = 0, *, selector_set: str = "paper",
                 n_bootstrap: int = 1000, seed: int = 42) -> pd.DataFrame:
    """The sanity floor: a seeded random distance, its observed best-of-3 percentile against the exact
    expectation, and its mean bootstrap rank among the selectors of ``reference``.

    Parameters
    ----------
    reference : DataFrame
        Evaluation rows of the selector set (:func:`taskfp_lib.paper.recipes.tripled_evaluations`).
    random_seed : int
        Seed of :func:`~taskfp_lib.benchmark.measures.random_distance`.
    n_bootstrap, seed : int
        Bootstraps of the ranking (Fig. 5's recipe).

    Returns
    -------
    DataFrame
        One row per scenario and one for ``all scenarios``: measure, scenario, best_of_3_percentile,
        expected, random_mean_rank, n_selectors.
    """
    name = f"Random (seed {random_seed})"
    affinity = {name: affinity_from_distance(random_distance(random_seed))}
    best = evaluate(outcomes, affinity, mode="best", top_metrics=["percentile"], corr_metrics=[])
    expected = chance_scores(outcomes, mode="best", metas=("percentile",))
    both = pd.concat([reference, evaluate(outcomes, affinity)], ignore_index=True)
    ranks, _ = recipes.fig5_rankings(both, selector_set, n_bootstrap, seed)
    mine = ranks[ranks["selector"] == name]
    floor = pd.DataFrame({"best_of_3_percentile": best.groupby("scenario", sort=False)["score"].mean(),
                          "expected": expected.groupby("scenario", sort=False)["score"].mean(),
                          "random_mean_rank": mine.groupby("scenario", sort=False)["mean_rank"].mean()})
    floor.loc["all scenarios"] = [best["score"].mean(), expected["score"].mean(), floor["random_mean_rank"].mean()]
    floor = floor.rename_axis("scenario").reset_index()
    floor.insert(0, "measure", name)
    floor["n_selectors"] = ranks["selector"].nunique()
    return floor


def write_random_floor(floor: pd.DataFrame, directory=None):
    """Write :func:`random_floor` to ``benchmark_random_floor.csv`` (its block replaced, other seeds kept)."""
    return write_results(floor, "benchmark_random_floor", directory, replace={"measure": floor["measure"].iloc[0]})


__all__ = ["CHANCE_LABEL", "chance_scores", "expected_best_of_k", "random_floor", "write_random_floor"]
