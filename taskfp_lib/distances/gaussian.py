"""Fréchet distance between Gaussian feature summaries (FID, spec 3.4)."""
from __future__ import annotations

import numpy as np
from scipy import linalg


def frechet_distance_naive(mu1, sigma1, mu2, sigma2) -> float:
    r"""FID by the textbook formula, with ``scipy.linalg.sqrtm`` (reference implementation).

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


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(sigma)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def fid_distance_matrix(target_means: np.ndarray, target_covs: np.ndarray, source_means: np.ndarray,
                        source_covs: np.ndarray) -> np.ndarray:
    r"""FID of every (source, target) pair.

    Uses :math:`\mathrm{tr}\sqrt{\Sigma_s\Sigma_t} = \sum_i \sqrt{\lambda_i(\Sigma_s^{1/2}\Sigma_t\Sigma_s^{1/2})}`
    (symmetric eigenproblem, one square root per source), which equals the ``sqrtm`` formula for
    positive semi-definite covariances and is much faster. Symmetric.

    Parameters
    ----------
    target_means : (n_targets, n_features); target_covs : (n_targets, n_features, n_features)
    source_means : (n_sources, n_features); source_covs : (n_sources, n_features, n_features)

    Returns
    -------
    ndarray of shape (n_sources, n_targets)
    """
    mt, ct = np.asarray(target_means, np.float64), np.asarray(target_covs, np.float64)
    ms, cs = np.asarray(source_means, np.float64), np.asarray(source_covs, np.float64)
    if ct.ndim != 3 or cs.ndim != 3 or ct.shape[1:] != cs.shape[1:] or mt.shape[1] != ct.shape[1]:
        raise ValueError("FID needs means (n, m) and covariances (n, m, m) of matching sizes")
    out = np.empty((ms.shape[0], mt.shape[0]))
    tr_t = np.trace(ct, axis1=1, axis2=2)
    for s in range(ms.shape[0]):
        root = _psd_sqrt(cs[s])
        tr_s = np.trace(cs[s])
        for t in range(mt.shape[0]):
            ev = np.linalg.eigvalsh(root @ ct[t] @ root)
            tr_cross = np.sqrt(np.clip(ev, 0.0, None)).sum()
            diff = ms[s] - mt[t]
            out[s, t] = diff @ diff + tr_s + tr_t[t] - 2.0 * tr_cross
    return out
