"""Sinkhorn divergence between feature clouds (``MMD-geo-sinkhorn-<blur>``, spec 3.4).

Needs the per-image features of both tasks, which a shareable :class:`Fingerprint` never holds;
use it inside one lab (e.g. :mod:`taskfp_lib.robustness`) or as a baseline.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def sinkhorn_divergence(x: np.ndarray, y: np.ndarray, blur: float = 0.01, scaling: float = 0.1,
                        backend: str = "tensorized") -> float:
    r"""Debiased Sinkhorn divergence with geomloss (``SamplesLoss("sinkhorn", p=2, blur, scaling)``).

    .. math:: S_\varepsilon(\alpha, \beta) = \mathrm{OT}_\varepsilon(\alpha, \beta)
              - \tfrac12 \mathrm{OT}_\varepsilon(\alpha, \alpha) - \tfrac12 \mathrm{OT}_\varepsilon(\beta, \beta)

    with uniform weights on the samples, cost :math:`\|x - y\|^2 / 2` and
    :math:`\varepsilon = \mathrm{blur}^2`. Computed in float64.

    Parameters
    ----------
    x : ndarray of shape (n, n_features)
    y : ndarray of shape (k, n_features)
    """
    from geomloss import SamplesLoss

    loss = SamplesLoss("sinkhorn", p=2, blur=blur, scaling=scaling, debias=True, backend=backend)
    tx = torch.as_tensor(np.asarray(x, dtype=np.float64))
    ty = torch.as_tensor(np.asarray(y, dtype=np.float64))
    if tx.ndim != 2 or ty.ndim != 2 or tx.shape[1] != ty.shape[1]:
        raise ValueError(f"feature clouds must be (n, m) with equal m, got {tuple(tx.shape)} and {tuple(ty.shape)}")
    return float(loss(tx, ty))


def sinkhorn_distance_matrix(target_features: Sequence[np.ndarray], source_features: Sequence[np.ndarray],
                             blur: float = 0.01, scaling: float = 0.1) -> np.ndarray:
    """Sinkhorn divergence of every (source, target) pair -> (n_sources, n_targets)."""
    out = np.empty((len(source_features), len(target_features)))
    for s, xs in enumerate(source_features):
        for t, xt in enumerate(target_features):
            out[s, t] = sinkhorn_divergence(xs, xt, blur=blur, scaling=scaling)
    return out


def entropic_ot_pot(x: np.ndarray, y: np.ndarray, blur: float) -> float:
    """Entropic OT value with POT (reference for tests): ``<pi, C> + eps * KL(pi | a x b)``."""
    import ot

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
    """Debiased Sinkhorn divergence from :func:`entropic_ot_pot` (reference for tests)."""
    return entropic_ot_pot(x, y, blur) - 0.5 * entropic_ot_pot(x, x, blur) - 0.5 * entropic_ot_pot(y, y, blur)
