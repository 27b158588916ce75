r"""P2L: the KL divergence of L1-normalised mean features (file ``KLD-PP:NN``).

The paper's P2L selector (Methods, "Task fingerprinting"; the seed paper's "P2L" is the variant
without the size term). With :math:`p = \bar v^T / \sum_i \bar v^T_i` and
:math:`q = \bar v^S / \sum_i \bar v^S_i`,

.. math:: d(S, T) = \frac{1}{m} \sum_{i=1}^{m} p_i \log \frac{p_i}{q_i}
          = \frac{1}{m} \Big( \sum_i p_i \log p_i - \sum_i p_i \log q_i \Big),

so all pairs cost one (n_sources x m) by (m x n_targets) matrix product.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.special import xlogy

from ..vocabulary import SELECTORS
from ._inputs import blockwise, check_means, l1_normalize, task_names
from .registry import DistanceSpec, register_distance

#: the selector label (the file stem comes from the vocabulary)
NAME = "P2L"
_HUGE = np.finfo(np.float64).max


def kld_averaged_distance_matrix(source_means: np.ndarray, target_means: np.ndarray, *,
                                 source_names: Sequence[str] | None = None,
                                 target_names: Sequence[str] | None = None) -> np.ndarray:
    r"""P2L (``KLD-PP:NN``) of every (source, target) pair, as one matrix product.

    :math:`d(S, T) = \frac1m \big(\sum_i p_i \log p_i - \sum_i p_i \log q_i\big)` with
    :math:`0 \log 0 = 0`. A feature with :math:`q_i = 0 < p_i` makes the term infinite; as in the
    original (``np.nan_to_num`` of the terms, then their sum) such a pair gets the largest float
    divided by m, and a pair with two or more such features :math:`+\infty`. Round-off below 0
    (identical inputs) is clipped to 0.

    Parameters
    ----------
    source_means : ndarray of shape (n_sources, n_features), non-negative
    target_means : ndarray of shape (n_targets, n_features), non-negative
    source_names, target_names : sequence of str, optional
        Task names, used to name an offending entry in errors.

    Returns
    -------
    ndarray of shape (n_sources, n_targets)

    Raises
    ------
    DistanceInputError
        Mean features that are negative (the probe features are post-ReLU), non-finite, beyond the
        float32 range or all zero, naming the task.
    """
    a_s = check_means(NAME, "source", source_means, source_names)
    a_t = check_means(NAME, "target", target_means, target_names)
    if a_t.shape[1] != a_s.shape[1]:
        raise ValueError(f"mean features must be (n_tasks, n_features); got {a_s.shape} and {a_t.shape}")
    p, q = l1_normalize(a_t), l1_normalize(a_s)
    m = p.shape[1]
    zero_q = q == 0
    log_q = np.log(np.where(zero_q, 1.0, q))                          # (S, m); 0 where q = 0
    out = (xlogy(p, p).sum(axis=1)[None, :] - log_q @ p.T) / m        # (S, T)
    np.maximum(out, 0.0, out=out)                                     # a KL divergence is >= 0 (round-off only)
    infinite_terms = zero_q.astype(np.float64) @ (p > 0).astype(np.float64).T
    if infinite_terms.any():
        out = np.where(infinite_terms == 0, out, np.where(infinite_terms == 1, _HUGE / m, np.inf))
    return out


def _p2l(sources, targets) -> np.ndarray:
    """Registry adapter: fingerprints -> :func:`kld_averaged_distance_matrix`."""
    def block(src, tgt):
        return kld_averaged_distance_matrix(np.stack([fp.mean for fp in src]), np.stack([fp.mean for fp in tgt]),
                                            source_names=task_names(src), target_names=task_names(tgt))

    return blockwise(sources, targets, lambda fp: 8 * fp.n_features, block)


register_distance(DistanceSpec(
    SELECTORS[NAME].stem, NAME, symmetric=False, nonnegative=True, zero_self=True, requires=("mean",), compute=_p2l,
    description="KL divergence of L1-normalised mean features (/ n_features)"))
