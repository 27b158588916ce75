"""Test oracles of the task distances: textbook formulas and reference solvers, straight from the paper.

Loops and library calls that are slow but obviously right (Methods, "Task fingerprinting"); the
kernels of :mod:`taskfp_lib.distances` are tested against them.
"""
from __future__ import annotations

import numpy as np
import ot
from scipy import linalg


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
