r"""Sinkhorn divergence between feature clouds (file ``MMD-geo-sinkhorn-<blur>``).

The repository revision's Sinkhorn selector (Methods, "Task fingerprinting"; ``MMD-geo-sinkhorn-0.01``):
the debiased entropic optimal-transport divergence between the probe features of two tasks,

.. math:: S_\varepsilon(\alpha, \beta) = \mathrm{OT}_\varepsilon(\alpha, \beta)
          - \tfrac12 \mathrm{OT}_\varepsilon(\alpha, \alpha) - \tfrac12 \mathrm{OT}_\varepsilon(\beta, \beta),

with uniform weights, cost :math:`\|x - y\|^2 / 2` and :math:`\varepsilon = \mathrm{blur}^2`. It needs
the per-image features of both tasks, which a shareable fingerprint never holds: use it inside one
lab (e.g. :mod:`taskfp_lib.robustness`) or as a baseline.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import torch
from geomloss import SamplesLoss

from .registry import DistanceSpec, paper_label, register_family


def sinkhorn_divergence(x: np.ndarray, y: np.ndarray, blur: float = 0.01, scaling: float = 0.1,
                        backend: str = "tensorized") -> float:
    r"""Debiased Sinkhorn divergence :math:`S_\varepsilon` of two feature clouds with geomloss, in float64.

    ``SamplesLoss("sinkhorn", p=2, blur, scaling, debias=True)``.

    Parameters
    ----------
    x : ndarray of shape (n, n_features)
    y : ndarray of shape (k, n_features)
    blur, scaling : float
        :math:`\varepsilon = \mathrm{blur}^2`; ``scaling`` is geomloss's annealing factor.
    """
    loss = SamplesLoss("sinkhorn", p=2, blur=blur, scaling=scaling, debias=True, backend=backend)
    tx = torch.as_tensor(np.asarray(x, dtype=np.float64))
    ty = torch.as_tensor(np.asarray(y, dtype=np.float64))
    if tx.ndim != 2 or ty.ndim != 2 or tx.shape[1] != ty.shape[1]:
        raise ValueError(f"feature clouds must be (n, m) with equal m, got {tuple(tx.shape)} and {tuple(ty.shape)}")
    return float(loss(tx, ty))


def sinkhorn_distance_matrix(source_features: Sequence[np.ndarray], target_features: Sequence[np.ndarray],
                             blur: float = 0.01, scaling: float = 0.1) -> np.ndarray:
    """Sinkhorn divergence of every (source, target) pair.

    Parameters
    ----------
    source_features : sequence of ndarray (n_i, n_features), length n_sources
    target_features : sequence of ndarray (k_j, n_features), length n_targets

    Returns
    -------
    ndarray of shape (n_sources, n_targets)
    """
    out = np.empty((len(source_features), len(target_features)))
    for s, xs in enumerate(source_features):
        for t, xt in enumerate(target_features):
            out[s, t] = sinkhorn_divergence(xs, xt, blur=blur, scaling=scaling)
    return out


def _build(match: re.Match) -> DistanceSpec:
    blur, name = float(match.group(1)), match.group(0)

    def compute(sources, targets):
        return sinkhorn_distance_matrix(list(sources), list(targets), blur=blur)

    return DistanceSpec(name, paper_label(name, f"Sinkhorn({blur:g})"), symmetric=True, nonnegative=True,
                        zero_self=True, requires=("features",), compute=compute,
                        description=f"debiased Sinkhorn divergence (geomloss), blur {blur}, scaling 0.1")


register_family(r"MMD-geo-sinkhorn-(\d+(?:\.\d+)?)", _build, "MMD-geo-sinkhorn-<blur>")
