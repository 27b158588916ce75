"""Test oracles: textbook formulas, reference solvers and slow loops, straight from the paper.

Loops and library calls that are slow but obviously right (Methods, "Task fingerprinting" and
"Validation metrics"); the kernels of :mod:`taskfp_lib.distances` and the vectorised evaluation of
:mod:`taskfp_lib.evaluation` are tested against them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import ot
import pandas as pd
from scipy import linalg, stats


def bkld_naive(target_hist: np.ndarray, source_hist: np.ndarray, weights: np.ndarray | None = None) -> float:
    r"""bKLD of one pair by the loop :math:`\sum_j w_j \sum_k p_{jk} \log(p_{jk} / \mathrm{soft}(q_j)_k) / \sum_j w_j`.

    ``target_hist``/``source_hist`` of shape (n_features, bins); the target rows are L1-normalised,
    ``0 log 0 = 0``; ``weights`` default to 1 (the mean over features).
    """
    P = np.asarray(target_hist, dtype=np.float64)
    q = np.asarray(source_hist, dtype=np.float64)
    m = P.shape[0]
    w = np.ones(m) if weights is None else np.asarray(weights, dtype=np.float64)
    total = 0.0
    for j in range(m):
        p = P[j] / P[j].sum()
        Q = np.exp(q[j]) / np.exp(q[j]).sum()
        kld = 0.0
        for pb, qb in zip(p, Q):
            if pb > 0:
                kld += pb * np.log(pb / qb)
        total += w[j] * kld
    return total / w.sum()


def frechet_distance_naive(mu1, sigma1, mu2, sigma2) -> float:
    r"""FID by the textbook formula with ``scipy.linalg.sqrtm``.

    .. math:: \|\mu_1 - \mu_2\|^2 + \mathrm{tr}\,\Sigma_1 + \mathrm{tr}\,\Sigma_2
              - 2\,\mathrm{tr}\,\sqrt{\Sigma_1 \Sigma_2}

    Real part of ``sqrtm``; if it is not finite, ``1e-6 I`` is added to both covariances.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        eps = 1e-6 * np.eye(s1.shape[0])
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def entropic_ot_pot(x: np.ndarray, y: np.ndarray, blur: float) -> float:
    r"""Entropic OT value with POT: :math:`\langle \pi, C \rangle + \varepsilon\,\mathrm{KL}(\pi \| a \otimes b)`.

    Uniform weights, cost :math:`\|x - y\|^2 / 2`, :math:`\varepsilon = \mathrm{blur}^2`.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    a = np.full(len(x), 1.0 / len(x))
    b = np.full(len(y), 1.0 / len(y))
    C = ot.dist(x, y, metric="sqeuclidean") / 2.0
    eps = blur ** 2
    pi = ot.sinkhorn(a, b, C, eps, method="sinkhorn_log", numItermax=100_000, stopThr=1e-13)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.nansum(pi * np.log(pi / np.outer(a, b))) - pi.sum() + 1.0
    return float((pi * C).sum() + eps * kl)


def sinkhorn_divergence_pot(x: np.ndarray, y: np.ndarray, blur: float) -> float:
    """Debiased Sinkhorn divergence from :func:`entropic_ot_pot`."""
    return entropic_ot_pot(x, y, blur) - 0.5 * entropic_ot_pot(x, x, blur) - 0.5 * entropic_ot_pot(y, y, blur)


# --- the evaluation, one target at a time (spec 2.5, 4.1, 4.3, 5) --------------------------------------

EXPERIMENT_FILES = {"Model Architecture": "load_arch_experiment%{m}%True%True.csv",
                    "Pretraining Data": "load_pretrain_experiment%{m}%True.csv",
                    "Augmentation Policy": "load_augmentation_experiment%{m}%True.csv",
                    "Co-Training Data": "load_multi_task_experiment%{m}%True%True.csv"}
REPETITION = {"first": 0, "second": 1, "third": 2}


def affinity_naive(csv_path) -> pd.DataFrame:
    """The authors' loader of a cached distance matrix, step by step: read, inf -> NaN, 0 -> NaN,
    one z-score over the whole matrix (population std, NaN omitted), times -1."""
    d = pd.read_csv(csv_path, index_col=0, header=0).replace([np.inf, -np.inf], np.nan).astype(float)
    d = d.mask(d == 0)
    values = d.to_numpy()
    return -(d - np.nanmean(values)) / np.nanstd(values)


def target_scores_naive(O: pd.Series, a: pd.Series, baseline: float, k: int = 3, mode: str = "avg") -> dict:
    """The five meta metrics of one (selector, target) as the paper's procedure reads, with pandas.

    ``O``: the outcomes of the target's valid sources; ``a``: the selector's affinities of the same
    sources (its (shrunk) target column). The ``k`` largest affinities (``nlargest(keep="all")``, best
    first) are the suggestions; then weightedtau (scipy, defaults), the stored regret score (0 when
    oracle = p = 1), the percentile (average ranks / |O|), the improvement and the gain, each the mean
    over the suggestions in selection order (``mode="avg"``) or taken at the best of them (``"best"``).
    """
    top = list(a.nlargest(k, keep="all").index)
    assert len(top) == k, "a tie at the cut-off"
    oracle, ranks = O.max(), O.rank(pct=True)
    perf = [O[s] for s in top] if mode == "avg" else [max(O[s] for s in top)]
    regret = [0.0 if (oracle - p == 0 and 1 - min(oracle, p) == 0) else 1 - abs(oracle - p) / (1 - min(oracle, p))
              for p in perf]
    pct = [ranks[s] for s in top]
    return {"weightedtau": stats.weightedtau(a.to_numpy(), O.to_numpy()).statistic,
            "regret_score": np.mean(regret),
            "percentile": np.mean(pct) if mode == "avg" else max(pct),
            "improvement": np.mean([p - baseline for p in perf]),
            "gain": np.mean([1.0 if p > baseline else 0.0 for p in perf])}


def evaluation_loop_naive(exp_dir, distance_paths: dict, aggregate: str, targets, valid_sources, shrunk_name,
                          mode: str = "avg", k: int = 3, metrics=("AUROC", "BA")) -> pd.DataFrame:
    """The evaluation table as the paper's procedure reads, one target at a time with pandas.

    Per (metric, scenario, selector, target): the outcomes of the valid sources (one repetition, or the
    group-by mean of the three) and the affinities of the target's (shrunk) column, scored by
    :func:`target_scores_naive`. Reads the published files itself, independent of
    :mod:`taskfp_lib.evaluation`; columns as :func:`taskfp_lib.evaluation.evaluate`.
    """
    exp_dir = Path(exp_dir)
    affinities = {name: affinity_naive(path) for name, path in distance_paths.items()}
    rows = []
    for metric in metrics:
        base_shrunk = pd.read_csv(exp_dir / f"load_baseline_experiment%{metric}%True%True.csv", index_col=0)
        base_full = pd.read_csv(exp_dir / f"load_baseline_experiment%{metric}%False%True.csv", index_col=0)
        if aggregate == "mean":
            base_shrunk, base_full = base_shrunk.mean(axis=0), base_full.mean(axis=0)
        else:
            base_shrunk, base_full = base_shrunk.loc[REPETITION[aggregate]], base_full.loc[REPETITION[aggregate]]
        for scenario, pattern in EXPERIMENT_FILES.items():
            long = pd.read_csv(exp_dir / pattern.format(m=metric), index_col=0)
            if aggregate == "mean":
                exp = long.groupby(["s", "t"])["p"].mean().unstack("t")
            else:
                exp = long[long["r"] == REPETITION[aggregate]].set_index(["s", "t"])["p"].unstack("t")
            for name, aff in affinities.items():
                for t in targets:
                    valid = valid_sources(t)
                    b = base_shrunk[t] if t in base_shrunk.index else base_full[t]
                    scores = target_scores_naive(exp.loc[valid, t], aff.loc[valid, shrunk_name(t)], b, k, mode)
                    rows += [(scenario, name, metric, aggregate, t, meta, float(v)) for meta, v in scores.items()]
    return pd.DataFrame(rows, columns=["scenario", "selector", "metric", "aggregate", "target", "meta_metric",
                                       "score"])
