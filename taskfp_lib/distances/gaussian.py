r"""FID: the Fréchet distance between Gaussian summaries of the probe features (file ``FID``).

The paper's FID selector (Methods, "Task fingerprinting"): with the mean feature vectors
:math:`\mu` and the unbiased covariances :math:`\Sigma` of the source and target tasks,

.. math:: d(S, T) = \|\mu_S - \mu_T\|^2 + \mathrm{tr}\,\Sigma_S + \mathrm{tr}\,\Sigma_T
          - 2\,\mathrm{tr}\big(\Sigma_S^{1/2} \Sigma_T \Sigma_S^{1/2}\big)^{1/2} \;\ge 0 .

Symmetric. A covariance must be positive semi-definite: eigenvalues down to
:math:`-\mathrm{PSD\_RTOL} \cdot \max_i |\lambda_i|` are round-off and count as 0, anything more
negative is refused (a negative-definite covariance would otherwise give a negative distance and
rank first in every query).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._inputs import as_stack, blockwise, check_means, refuse_rows, require, task_names
from .registry import DistanceSpec, paper_label, register_distance

NAME = "FID"
#: relative tolerance of the PSD check: eigenvalues >= -PSD_RTOL * max |eigenvalue| are accepted (and clipped to 0)
PSD_RTOL = 1e-8
#: relative tolerance of the symmetry check of a covariance
SYMMETRY_RTOL = 1e-8


def not_psd(eigenvalues: np.ndarray) -> bool:
    """Whether eigenvalues (of one covariance) are clearly negative, beyond round-off."""
    scale = float(np.abs(eigenvalues).max()) if eigenvalues.size else 0.0
    return bool(eigenvalues.size and eigenvalues.min() < -PSD_RTOL * scale)


def check_covariances(distance: str, side: str, covs, names: Sequence[str] | None, m: int,
                      eigenvalues: bool = True) -> np.ndarray:
    """Validated covariances (n, m, m): finite, symmetric and (with ``eigenvalues``) PSD within tolerance."""
    c = as_stack(distance, side, covs, 3, names)
    if c.shape[1:] != (m, m):
        raise ValueError(f"{distance}: {side} covariances have shape {c.shape[1:]}, expected ({m}, {m})")
    refuse_rows(distance, side, names, ~np.isfinite(c).reshape(len(c), -1).all(1), "covariance is not finite")
    scale = np.abs(c).reshape(len(c), -1).max(1, initial=0.0)
    asym = np.abs(c - c.transpose(0, 2, 1)).reshape(len(c), -1).max(1, initial=0.0) > SYMMETRY_RTOL * scale
    refuse_rows(distance, side, names, asym, "covariance is not symmetric")
    if eigenvalues:
        refuse_rows(distance, side, names, np.array([not_psd(np.linalg.eigvalsh(x)) for x in c], dtype=bool),
                    f"covariance is not positive semi-definite (eigenvalue below -{PSD_RTOL:g} x the largest)")
    return c


def _psd_sqrt(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Square root of a symmetric matrix with clipped eigenvalues, and its eigenvalues."""
    vals, vecs = np.linalg.eigh(sigma)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T, vals


def fid_distance_matrix(source_means: np.ndarray, source_covs: np.ndarray, target_means: np.ndarray,
                        target_covs: np.ndarray, *, source_names: Sequence[str] | None = None,
                        target_names: Sequence[str] | None = None) -> np.ndarray:
    r"""FID of every (source, target) pair.

    Uses :math:`\mathrm{tr}\sqrt{\Sigma_S\Sigma_T} = \sum_i \sqrt{\lambda_i(\Sigma_S^{1/2}\Sigma_T\Sigma_S^{1/2})}`
    (symmetric eigenproblem, one square root per source), which equals the ``sqrtm`` formula for
    PSD covariances and is much faster; negative round-off eigenvalues count as 0 and the distance
    is clipped at 0 (it is :math:`\ge 0` for PSD inputs).

    Parameters
    ----------
    source_means : ndarray of shape (n_sources, n_features)
    source_covs : ndarray of shape (n_sources, n_features, n_features)
    target_means : ndarray of shape (n_targets, n_features)
    target_covs : ndarray of shape (n_targets, n_features, n_features)
    source_names, target_names : sequence of str, optional
        Task names, used to name an offending entry in errors.

    Returns
    -------
    ndarray of shape (n_sources, n_targets), symmetric in its arguments

    Raises
    ------
    DistanceInputError
        A covariance that is not finite, not symmetric or not PSD (beyond :data:`PSD_RTOL`), or
        mean features that are not finite or beyond the float32 range, naming the task.
    """
    ms = check_means(NAME, "source", source_means, source_names, nonnegative=False)
    mt = check_means(NAME, "target", target_means, target_names, nonnegative=False)
    m = ms.shape[1]
    if mt.shape[1] != m:
        raise ValueError(f"{NAME}: source and target mean features differ in length ({m} vs {mt.shape[1]})")
    cs = check_covariances(NAME, "source", source_covs, source_names, m, eigenvalues=False)
    ct = check_covariances(NAME, "target", target_covs, target_names, m)
    if len(cs) != len(ms) or len(ct) != len(mt):
        raise ValueError(f"{NAME}: {len(ms)}/{len(mt)} means but {len(cs)}/{len(ct)} covariances")
    out = np.empty((ms.shape[0], mt.shape[0]))
    tr_t = np.trace(ct, axis1=1, axis2=2)
    for s in range(ms.shape[0]):
        root, vals = _psd_sqrt(cs[s])
        if not_psd(vals):       # the eigenvalues come with the square root; the first failure names them all
            check_covariances(NAME, "source", cs, source_names, m)
        tr_s = np.trace(cs[s])
        for t in range(mt.shape[0]):
            ev = np.linalg.eigvalsh(root @ ct[t] @ root)
            tr_cross = np.sqrt(np.clip(ev, 0.0, None)).sum()
            diff = ms[s] - mt[t]
            out[s, t] = diff @ diff + tr_s + tr_t[t] - 2.0 * tr_cross
    return np.maximum(out, 0.0)


def _fid(sources, targets) -> np.ndarray:
    """Registry adapter: fingerprints -> :func:`fid_distance_matrix`, in blocks within the memory budget."""
    require(NAME, list(sources) + list(targets), "cov", "covariances")

    def block(src, tgt):
        return fid_distance_matrix(np.stack([fp.mean for fp in src]), np.stack([fp.cov for fp in src]),
                                   np.stack([fp.mean for fp in tgt]), np.stack([fp.cov for fp in tgt]),
                                   source_names=task_names(src), target_names=task_names(tgt))

    return blockwise(sources, targets, lambda fp: 8 * fp.n_features ** 2, block)


register_distance(DistanceSpec(
    "FID", paper_label("FID", "FID"), symmetric=True, nonnegative=True, zero_self=True, requires=("mean", "cov"),
    compute=_fid, description="Fréchet distance of Gaussian feature summaries"))
