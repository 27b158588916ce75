"""Aggregated analyses of the evaluation table: win rates, setup stability, bootstrap rankings,
rank-then-mean and the similarity of the transfer scenarios.

The paper's Fig. 5 ("aggregate then rank", challengeR-style), Supplementary Fig. 1 ("rank then
mean"), Supplementary Table 4 (win rates), the setup stability scores of its ref. [30]
(arXiv 2204.01403) and Supplementary Table 3. Every function reads the direction of a meta metric
from its record (:data:`taskfp_lib.vocabulary.META_METRICS`): a lower-is-better metric is ranked
ascending, never flipped at a call site.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..tasks import VAL_TASKS, valid_sources as paper_valid_sources
from ..vocabulary import PAPER_SCENARIOS, RANKING_META_METRICS, TRIPLED, get_meta_metric, scenario_order
from .outcomes import Outcomes
from .table import valid_mask
from .weighted_tau import weightedtau_columns

SETUP = ["scenario", "metric", "aggregate", "target", "meta_metric"]
#: components of the setup stability score, in the paper's order
STABILITY_COMPONENTS = {"meta_metric": "meta metrics", "metric": "performance metrics", "aggregate": "random seed",
                        "target": "target tasks", "scenario": "knowledge transfer scenario"}


def oriented_scores(evaluations: pd.DataFrame) -> np.ndarray:
    """The ``score`` column with every lower-is-better meta metric negated (exact), so that higher is better."""
    sign = evaluations["meta_metric"].map(lambda m: 1.0 if get_meta_metric(m).higher_is_better else -1.0)
    return evaluations["score"].to_numpy(dtype=float) * sign.to_numpy(dtype=float)


def _require(df: pd.DataFrame) -> None:
    if df["score"].isna().any():
        bad = df[df["score"].isna()].iloc[0]
        raise ValueError(f"NaN score in the evaluation table (first: {dict(bad)})")


def win_rates(evaluations: pd.DataFrame) -> pd.DataFrame:
    """Fraction of setups in which each selector is best (ties: every tied selector wins), per scenario.

    A setup is one (scenario, metric, aggregate, target, meta metric) group. Returns a DataFrame
    indexed by selector with one column per scenario (in [0, 1]) and ``mean`` (mean of the scenarios).
    """
    oriented = evaluations.assign(score=oriented_scores(evaluations))
    best = oriented.groupby(SETUP, sort=False)["score"].transform("max")
    wins = evaluations.assign(win=(oriented["score"] == best).astype(float))
    n_setups = wins.groupby("scenario", sort=False)[SETUP].apply(lambda g: len(g.drop_duplicates()))
    rates = wins.groupby(["selector", "scenario"], sort=False)["win"].sum().unstack("scenario")
    rates = rates.div(n_setups, axis=1)
    rates = rates[scenario_order(evaluations["scenario"])]
    rates["mean"] = rates.mean(axis=1)
    rates.columns.name = None
    return rates


def _kendall_tau_b_pairs(vectors: np.ndarray) -> np.ndarray:
    """Kendall tau-b of every pair (i < j, lexicographic) of the rows of ``vectors``.

    Computed from exact integer pair counts with scipy's final formula
    ``(con - dis) / sqrt(tot - xtie) / sqrt(tot - ytie)``, so the values equal
    ``scipy.stats.kendalltau`` bit for bit; NaN where a row is constant.
    """
    n_vec, n = vectors.shape
    iu, ju = np.triu_indices(n, k=1)
    signs = np.sign(vectors[:, iu] - vectors[:, ju]).astype(np.int64)  # (n_vec, n_pairs)
    con_minus_dis = signs @ signs.T
    ties = (signs == 0).sum(axis=1)
    tot = n * (n - 1) // 2
    a, b = np.triu_indices(n_vec, k=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = con_minus_dis[a, b] / np.sqrt(tot - ties[a]) / np.sqrt(tot - ties[b])
    tau = np.where((ties[a] == tot) | (ties[b] == tot), np.nan, np.clip(tau, -1.0, 1.0))
    return tau


def setup_stability_score(evaluations: pd.DataFrame, varying: str) -> float:
    """Setup stability score of ref. [30] for one varied setup component.

    Rows are grouped by the other setup components; within a group each value of ``varying`` gives
    a score vector over the selectors (alphabetical order); the mean Kendall tau-b over all pairs of
    these vectors is averaged over the groups (NaN-ignoring means).

    Returns
    -------
    float
        In [-1, 1]; 1 = the ranking of the selectors never changes when ``varying`` changes.
    """
    if varying not in SETUP:
        raise ValueError(f"varying must be one of {SETUP}, got {varying!r}")
    _require(evaluations)
    fixing = [c for c in SETUP if c != varying]
    oriented = evaluations.assign(score=oriented_scores(evaluations))
    wide = oriented.pivot_table(index=fixing + [varying], columns="selector", values="score", aggfunc="first",
                                sort=True)
    wide = wide[sorted(wide.columns)]
    codes = wide.index.droplevel(varying).factorize()[0]
    values = wide.to_numpy()
    group_taus = []
    for g in range(codes.max() + 1):
        taus = _kendall_tau_b_pairs(values[codes == g])
        group_taus.append(np.nanmean(taus) if taus.size and not np.isnan(taus).all() else np.nan)
    group_taus = np.asarray(group_taus, dtype=float)
    if np.isnan(group_taus).all():
        return float("nan")
    return float(np.nanmean(group_taus))


def stability_scores(evaluations: pd.DataFrame, components: Sequence[str] = tuple(STABILITY_COMPONENTS)) -> pd.Series:
    """:func:`setup_stability_score` for each component (index: component name)."""
    return pd.Series({c: setup_stability_score(evaluations, c) for c in components}, name="score")


def _bootstrap_stats(ranks: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    rows = []
    for i, name in enumerate(names):
        r = ranks[i]
        values, counts = np.unique(r, return_counts=True)
        rows.append({"selector": name, "mean_rank": r.mean(), "std_rank": r.std(ddof=0), "median_rank": np.median(r),
                     "ci_low": np.quantile(r, 0.025, method="nearest"),
                     "ci_high": np.quantile(r, 0.975, method="nearest"),
                     "rank_counts": dict(zip(values.tolist(), counts.tolist()))})
    return pd.DataFrame(rows)


def bootstrap_ranking(evaluations: pd.DataFrame, n_bootstrap: int = 1000,
                      random_state: np.random.Generator | int | None = 42, use_median: bool = False) -> pd.DataFrame:
    """challengeR-style "aggregate then rank" bootstrap ranking (Fig. 5).

    ``evaluations`` holds the rows of ONE scenario and ONE meta metric; the cases (setups) are the
    (aggregate, metric, target) combinations in row order, identical for every selector. One index
    matrix of shape (n_cases, n_bootstrap) is drawn and shared by all selectors; per bootstrap the
    selectors' mean (or median) scores are ranked (1 = best, ties averaged).

    Returns
    -------
    DataFrame
        One row per selector (order of first appearance): mean_rank, std_rank (ddof 0), median_rank,
        ci_low/ci_high (2.5 %/97.5 % quantiles, closest observation) and rank_counts (rank -> count).
    """
    _require(evaluations)
    rng = np.random.default_rng(random_state) if not isinstance(random_state, np.random.Generator) else random_state
    names = list(dict.fromkeys(evaluations["selector"]))
    oriented = oriented_scores(evaluations)
    per_selector = [oriented[(evaluations["selector"] == n).to_numpy()] for n in names]
    if len({v.shape for v in per_selector}) != 1:
        raise ValueError("selectors have different numbers of cases")
    values = np.stack(per_selector)
    transformed = values.max() - values  # smaller is better
    n_cases = values.shape[1]
    idx = rng.integers(0, n_cases, size=(n_cases, n_bootstrap))
    sampled = transformed[:, idx]  # (n_selectors, n_cases, n_bootstrap)
    agg = np.median(sampled, axis=1) if use_median else sampled.mean(axis=1)
    ranks = stats.rankdata(agg, method="average", axis=0)
    return _bootstrap_stats(ranks, names)


def bootstrap_rankings(evaluations: pd.DataFrame, metas: Sequence[str] = RANKING_META_METRICS, n_bootstrap: int = 1000,
                       seed: int | np.random.Generator = 42) -> pd.DataFrame:
    """:func:`bootstrap_ranking` for every scenario x meta metric, one generator seeded once.

    Loop order: scenario (outer, paper order), meta metric (inner). ``seed`` may be a Generator
    shared with further rankings.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    frames = []
    scenarios = scenario_order(evaluations["scenario"])
    for scen in scenarios:
        for meta in metas:
            sub = evaluations[(evaluations["scenario"] == scen) & (evaluations["meta_metric"] == meta)]
            res = bootstrap_ranking(sub, n_bootstrap, rng)
            res.insert(0, "meta_metric", meta)
            res.insert(0, "scenario", scen)
            frames.append(res)
    return pd.concat(frames, ignore_index=True)


def ranking_summary(rankings: pd.DataFrame) -> pd.DataFrame:
    """Mean and pandas std (ddof 1) of each selector's mean ranks over all panels, sorted by mean."""
    g = rankings.groupby("selector")["mean_rank"]
    return pd.DataFrame({"mean_rank": g.mean(), "std": g.std(ddof=1)}).sort_values("mean_rank")


def rank_then_mean(evaluations: pd.DataFrame, metas: Sequence[str] = RANKING_META_METRICS, n_bootstrap: int = 1000,
                   seed: int = 42) -> pd.DataFrame:
    """"Rank then mean" bootstrap of Supplementary Fig. 1, deterministic given the seed.

    One ``numpy.random.default_rng(seed)``; loop meta metric (outer) x scenario (inner). Per setup
    (sorted group keys) the selectors are ranked (1 = best, ties averaged); a (n_setups, n_bootstrap)
    index matrix resamples the setups and each selector's ranks are averaged per bootstrap.

    Returns
    -------
    DataFrame
        meta_metric, scenario, selector, mean_rank (mean of the bootstrap means), std (ddof 0).
    """
    _require(evaluations)
    rng = np.random.default_rng(seed)
    rows = []
    scenarios = scenario_order(evaluations["scenario"])
    keys = ["metric", "aggregate", "target"]
    for meta in metas:
        for scen in scenarios:
            sub = evaluations[(evaluations["scenario"] == scen) & (evaluations["meta_metric"] == meta)]
            sub = sub.assign(score=oriented_scores(sub))
            names = list(dict.fromkeys(sub["selector"]))
            wide = sub.pivot_table(index=keys, columns="selector", values="score", aggfunc="first", sort=True)
            ranks = wide.rank(axis=1, method="average", ascending=False)[names].to_numpy()  # (n_setups, n_sel)
            n_setups = ranks.shape[0]
            idx = rng.integers(0, n_setups, size=(n_setups, n_bootstrap))
            means = ranks[idx].mean(axis=0)  # (n_bootstrap, n_sel)
            for i, name in enumerate(names):
                rows.append({"meta_metric": meta, "scenario": scen, "selector": name,
                             "mean_rank": means[:, i].mean(), "std": means[:, i].std(ddof=0)})
    return pd.DataFrame(rows)


def scenario_similarity(outcomes: Outcomes, scenarios: Sequence[str] = PAPER_SCENARIOS,
                        metrics: Sequence[str] = ("BA", "AUROC"), aggregates: Sequence[str] = TRIPLED,
                        targets: Sequence[str] = VAL_TASKS, valid_sources=paper_valid_sources) -> pd.DataFrame:
    """Weighted tau between the outcomes of two scenarios over the valid sources (Supp. Table 3).

    Returns one row per ordered scenario pair with ``mean`` and ``std`` (ddof 0) over the
    metric x aggregate x target values (in that loop order).
    """
    sources = list(dict.fromkeys(s for t in targets for s in valid_sources(t)))
    mask = valid_mask(sources, targets, valid_sources)
    mats = {(s, m, a): np.where(mask, outcomes.matrix(s, m, a).reindex(index=sources, columns=targets).to_numpy(),
                                np.nan)
            for s in scenarios for m in metrics for a in aggregates}
    pairs = [(sa, sb) for sa in scenarios for sb in scenarios]
    xs = [mats[(sa, m, a)] for sa, sb in pairs for m in metrics for a in aggregates]
    ys = [mats[(sb, m, a)] for sa, sb in pairs for m in metrics for a in aggregates]
    tau = weightedtau_columns(np.concatenate(xs, axis=1), np.concatenate(ys, axis=1)).reshape(len(pairs), -1)
    return pd.DataFrame([{"scenario_a": sa, "scenario_b": sb, "mean": vals.mean(), "std": vals.std(ddof=0),
                          "n": vals.size} for (sa, sb), vals in zip(pairs, tau)])
