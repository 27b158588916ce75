"""Paired statistics: does one measure beat another over the same setups, and where does each selector place.

The paper compares selectors by bootstrap rankings (Fig. 5). Two measures evaluated on the same
setups (scenario x metric x repetition x target) can also be compared *pairwise*: the 258 setups of
each (scenario, meta metric) panel are paired, so a bootstrap interval of the mean difference and a
Wilcoxon signed-rank test say whether one is better beyond the noise of the setups.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..evaluation import evaluate
from ..evaluation.affinity import affinity_from_distance
from ..evaluation.outcomes import Outcomes, load_outcomes
from ..vocabulary import PAPER_SCENARIOS, RANKING_META_METRICS
from .validation import validate_distance

SETUP_KEYS = ["scenario", "meta_metric", "metric", "aggregate", "target"]
NO_DIFFERENCE = "no difference"


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values: :math:`\\tilde p_{(i)} = \\max_{j \\le i} \\min(1, (m - j + 1) p_{(j)})`."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def _paired_wide(evaluations: pd.DataFrame, a: str, b: str, metas: Sequence[str]) -> pd.DataFrame:
    """Scores of ``a`` and ``b`` side by side (columns ``__a``, ``__b``), one row per setup."""
    known = set(evaluations["selector"].unique())
    for name in (a, b):
        if name not in known:
            raise ValueError(f"selector {name!r} not in the evaluations")
    sub = evaluations[evaluations["selector"].isin([a, b]) & evaluations["meta_metric"].isin(metas)]
    wide = sub.pivot_table(index=SETUP_KEYS, columns="selector", values="score", aggfunc="first", sort=True)
    if a == b:
        wide = wide[[a]].rename(columns={a: "__a"}).assign(__b=lambda d: d["__a"])
    else:
        wide = wide[[a, b]].set_axis(["__a", "__b"], axis=1)
    if wide.isna().any().any():
        raise ValueError("the two selectors do not share all setups (NaN scores)")
    return wide


def _bootstrap_means(panel: pd.DataFrame, d: np.ndarray, resample: str, n_bootstrap: int, rng) -> np.ndarray:
    """Bootstrap distribution of the mean difference: resampling setups, or targets with all their setups."""
    if resample == "target":
        d = pd.Series(d, index=panel.index.get_level_values("target")).groupby(level=0).mean().to_numpy()
    idx = rng.integers(0, d.size, size=(d.size, n_bootstrap))
    return d[idx].mean(axis=0)


def _panel_row(panel: pd.DataFrame, boots: np.ndarray, alpha: float) -> dict:
    d = (panel["__a"] - panel["__b"]).to_numpy()
    n = d.size
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    wins, ties, losses = int((d > 0).sum()), int((d == 0).sum()), int((d < 0).sum())
    p = 1.0 if wins + losses == 0 else float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
    sd = d.std(ddof=1) if n > 1 else np.nan
    return {"n_setups": n, "mean_a": panel["__a"].mean(), "mean_b": panel["__b"].mean(), "mean_diff": d.mean(),
            "ci_low": lo, "ci_high": hi,
            "effect_size_dz": d.mean() / sd if sd and np.isfinite(sd) and sd > 0 else 0.0,
            "prob_superiority": (wins + 0.5 * ties) / n, "wins": wins, "ties": ties, "losses": losses,
            "p_wilcoxon": p}


def paired_comparison(evaluations: pd.DataFrame, a: str, b: str, *, metas: Sequence[str] = RANKING_META_METRICS,
                      n_bootstrap: int = 10000, seed: int = 42, resample: str = "setup",
                      alpha: float = 0.05) -> pd.DataFrame:
    """Does selector ``a`` beat selector ``b``? One row per (scenario, meta metric) panel.

    The setups (metric x repetition x target: 258 per panel) are paired. Reported: the mean
    difference ``a - b`` (scores higher-is-better, so > 0 favours ``a``) with a percentile bootstrap
    interval (``resample="setup"``: the setups, as the paper's bootstrap; ``"target"``: the 43
    targets with all their setups, which respects that a target's six setups share one selection),
    the probability of superiority P(a > b) + P(tie)/2, the counts of wins/ties/losses, Cohen's
    :math:`d_z` = mean/std of the differences, the two-sided Wilcoxon signed-rank p-value (zero
    differences dropped; 1.0 when all are zero) and its Holm adjustment over the panels.
    ``verdict`` is ``a``, ``b`` or ``"no difference"`` at ``alpha`` (Holm-adjusted p and an
    interval excluding 0).

    Returns
    -------
    DataFrame
        One row per panel: scenario, meta_metric, a, b, n_setups, mean_a, mean_b, mean_diff, ci_low,
        ci_high, effect_size_dz, prob_superiority, wins, ties, losses, p_wilcoxon, p_holm, verdict.
    """
    if resample not in ("setup", "target"):
        raise ValueError(f"resample must be 'setup' or 'target', got {resample!r}")
    wide = _paired_wide(evaluations, a, b, metas)
    rng = np.random.default_rng(seed)
    present = set(wide.index.get_level_values("scenario"))
    rows = []
    for scen in [s for s in PAPER_SCENARIOS if s in present]:
        for meta in metas:
            panel = wide.loc[(scen, meta)]
            boots = _bootstrap_means(panel, (panel["__a"] - panel["__b"]).to_numpy(), resample, n_bootstrap, rng)
            rows.append({"scenario": scen, "meta_metric": meta, "a": a, "b": b, **_panel_row(panel, boots, alpha)})
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p_wilcoxon"].to_numpy())
    sig = (out["p_holm"] < alpha) & ((out["ci_low"] > 0) | (out["ci_high"] < 0))
    out["verdict"] = np.where(sig & (out["mean_diff"] > 0), a,
                              np.where(sig & (out["mean_diff"] < 0), b, NO_DIFFERENCE))
    return out


def compare_distances(a: pd.DataFrame, b: pd.DataFrame, name_a: str = "A", name_b: str = "B", *,
                      outcomes: Outcomes | None = None, validate: bool = True, **kwargs) -> pd.DataFrame:
    """:func:`paired_comparison` of two raw distance matrices (each evaluated as the paper's selectors).

    ``kwargs`` go to :func:`paired_comparison` (``n_bootstrap``, ``seed``, ``resample``, ``alpha``).
    """
    if name_a == name_b:
        raise ValueError("the two measures need different names")
    outcomes = load_outcomes() if outcomes is None else outcomes
    if validate:
        a, b = validate_distance(a, source=name_a), validate_distance(b, source=name_b)
    ev = evaluate(outcomes, {name_a: affinity_from_distance(a), name_b: affinity_from_distance(b)},
                  corr_metrics=("weightedtau",))
    return paired_comparison(ev, name_a, name_b, **kwargs)


def scenario_positions(evaluations: pd.DataFrame, *, metas: Sequence[str] = RANKING_META_METRICS,
                       n_bootstrap: int = 1000, seed: int = 42) -> pd.DataFrame:
    """Bootstrap of each selector's overall position per scenario (1 = best).

    Per scenario, ONE (n_setups, n_bootstrap) index matrix resamples the setups (metric x repetition
    x target, shared by the meta metrics); per bootstrap and meta metric the selectors' mean scores are
    ranked (average ties), the ranks are averaged over the meta metrics, and the selectors are
    placed by that average (position 1 = best, ties averaged).

    Returns
    -------
    DataFrame
        scenario, selector, mean_rank (mean over bootstraps of the meta-averaged rank), position
        (place by mean_rank), position_low/position_high (2.5 %/97.5 % quantiles of the bootstrap
        positions, closest observation).
    """
    rng = np.random.default_rng(seed)
    sub = evaluations[evaluations["meta_metric"].isin(metas)]
    rows = []
    for scen in [s for s in PAPER_SCENARIOS if s in set(sub["scenario"].unique())]:
        part = sub[sub["scenario"] == scen]
        names = list(dict.fromkeys(part["selector"]))
        wide = part.pivot_table(index=["meta_metric", "metric", "aggregate", "target"], columns="selector",
                                values="score", aggfunc="first", sort=True)[names]
        if wide.isna().any().any():
            raise ValueError(f"{scen}: NaN scores or unaligned setups")
        values = np.stack([wide.loc[m].to_numpy().T for m in metas], axis=1)  # (n_sel, n_meta, n_setups)
        idx = rng.integers(0, values.shape[2], size=(values.shape[2], n_bootstrap))
        ranks = stats.rankdata(-values[:, :, idx].mean(axis=2), method="average", axis=0).mean(axis=1)
        positions = stats.rankdata(ranks, method="average", axis=0)  # (n_sel, n_bootstrap)
        mean_rank = ranks.mean(axis=1)
        place = stats.rankdata(mean_rank, method="min")
        rows += [{"scenario": scen, "selector": name, "mean_rank": mean_rank[i], "position": int(place[i]),
                  "position_low": float(np.quantile(positions[i], 0.025, method="nearest")),
                  "position_high": float(np.quantile(positions[i], 0.975, method="nearest"))}
                 for i, name in enumerate(names)]
    return pd.DataFrame(rows)


__all__ = ["NO_DIFFERENCE", "compare_distances", "holm", "paired_comparison", "scenario_positions"]
