"""Distances between binned fingerprints: bKLD (with its weightings) and VDNA (spec 3.4).

All functions take stacked histograms

* ``target_hists`` of shape (n_targets, n_features, bins) and
* ``source_hists`` of shape (n_sources, n_features, bins),

and return a raw distance matrix of shape (n_sources, n_targets) -- rows are sources, columns are
targets, the orientation of the published distance files. Lower means closer.
"""
from __future__ import annotations

import numpy as np
import torch

#: bKLD feature weightings: name -> (whose mean features, preprocessing)
WEIGHTINGS = {
    "uniform": (None, None),
    "target_softmax": ("target", "softmax"),      # -W:TS
    "source_normalized": ("source", "l1"),        # -W:SN
    "target_normalized": ("target", "l1"),        # -W:TN
    "source_softmax": ("source", "softmax"),      # -W:SS
}


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax ``exp(x) / sum(exp(x))`` along ``axis`` (float64)."""
    x = np.asarray(x, dtype=np.float64)
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def l1_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``x / sum(x)`` along ``axis`` (float64)."""
    x = np.asarray(x, dtype=np.float64)
    return x / x.sum(axis=axis, keepdims=True)


def feature_weights(mean_features: np.ndarray, preprocessing: str) -> np.ndarray:
    """Feature weights from mean feature vectors (n_tasks, n_features): ``softmax`` or ``l1``."""
    if preprocessing == "softmax":
        return softmax(mean_features, axis=-1)
    if preprocessing == "l1":
        return l1_normalize(mean_features, axis=-1)
    raise ValueError(f"unknown weight preprocessing {preprocessing!r} (use 'softmax' or 'l1')")


def _check_stack(name: str, h: np.ndarray) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 3:
        raise ValueError(f"{name} must have shape (n_tasks, n_features, bins), got {h.shape}")
    return h


def bkld_distance_matrix(target_hists: np.ndarray, source_hists: np.ndarray, weighting: str = "uniform",
                         target_means: np.ndarray | None = None, source_means: np.ndarray | None = None,
                         target_plogp: np.ndarray | None = None, source_lse: np.ndarray | None = None) -> np.ndarray:
    r"""Binned KL divergence of every (source, target) pair, vectorised.

    For feature :math:`j` let :math:`P_j` be the (L1-normalised) target histogram and
    :math:`Q_j = \mathrm{softmax}(q_j)` the softmax over the bins of the source histogram
    :math:`q_j`. Then

    .. math::

        \mathrm{KLD}_j = \sum_{\text{bins}} P_j \log(P_j / Q_j), \quad 0 \log 0 := 0, \qquad
        d(s, t) = \frac{\sum_j w_j \, \mathrm{KLD}_j}{\sum_j w_j}.

    Weightings ``w``: ``"uniform"`` (w = 1, the mean over features; file ``KLD-PP:NS-<b>-BINS``),
    ``"target_softmax"`` (softmax of the target's mean features, ``-W:TS``), ``"source_normalized"``
    (source mean features divided by their sum, ``-W:SN``); also ``target_normalized``,
    ``source_softmax``. Computed in float64 as
    :math:`\sum P\log P - \sum_b P q + \mathrm{logsumexp}(q)` (because
    :math:`\log\mathrm{softmax}(q) = q - \mathrm{logsumexp}(q)` and :math:`\sum_b P = 1`),
    i.e. with one matrix product over the flattened (feature, bin) axis.

    Parameters
    ----------
    target_hists : ndarray of shape (n_targets, n_features, bins)
    source_hists : ndarray of shape (n_sources, n_features, bins)
    weighting : str
    target_means : ndarray of shape (n_targets, n_features), required for target weightings
    source_means : ndarray of shape (n_sources, n_features), required for source weightings
    target_plogp, source_lse : ndarray of shape (n_targets, n_features) / (n_sources, n_features), optional
        Precomputed per-task statistics (:func:`histogram_stats`): :math:`\sum_b P \log P` of the
        normalised target histograms and :math:`\mathrm{logsumexp}_b(q)` of the source histograms.
        They depend on one task only, so a knowledge cloud can keep them.

    Returns
    -------
    ndarray of shape (n_sources, n_targets), float64
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; choose from {sorted(WEIGHTINGS)}")
    P_np = _check_stack("target_hists", target_hists)
    q_np = _check_stack("source_hists", source_hists)
    if P_np.shape[1:] != q_np.shape[1:]:
        raise ValueError(f"target histograms {P_np.shape[1:]} and source histograms {q_np.shape[1:]} differ")
    T, m, b = P_np.shape
    S = q_np.shape[0]
    P = _normalized(torch.from_numpy(np.ascontiguousarray(P_np)))
    q = torch.from_numpy(np.ascontiguousarray(q_np))
    # log softmax(q) = q - logsumexp(q), and sum_b P = 1, hence
    # sum_b P log Q = sum_b P q - logsumexp(q)       (no (S, m, b) log-probabilities materialised)
    lse = _lse(q) if source_lse is None else torch.from_numpy(np.asarray(source_lse, np.float64).reshape(S, m))
    plogp = (-torch.special.entr(P).sum(-1) if target_plogp is None        # (T, m), 0 log 0 = 0
             else torch.from_numpy(np.asarray(target_plogp, np.float64).reshape(T, m)))
    by, pre = WEIGHTINGS[weighting]
    with torch.no_grad():
        if by is None:
            cross = q.reshape(S, m * b) @ P.reshape(T, m * b).T - lse.sum(1)[:, None]
            out = (plogp.sum(1)[None, :] - cross) / m
        elif by == "target":
            if target_means is None:
                raise ValueError(f"weighting {weighting!r} needs target_means")
            w = feature_weights(np.asarray(target_means).reshape(T, m), pre)
            w = torch.from_numpy(w / w.sum(axis=1, keepdims=True))                  # (T, m)
            cross = q.reshape(S, m * b) @ (w[:, :, None] * P).reshape(T, m * b).T - lse @ w.T
            out = (w * plogp).sum(1)[None, :] - cross
        else:
            if source_means is None:
                raise ValueError(f"weighting {weighting!r} needs source_means")
            w = feature_weights(np.asarray(source_means).reshape(S, m), pre)
            w = torch.from_numpy(w / w.sum(axis=1, keepdims=True))                  # (S, m)
            cross = (w[:, :, None] * q).reshape(S, m * b) @ P.reshape(T, m * b).T - (w * lse).sum(1)[:, None]
            out = w @ plogp.T - cross
    return out.numpy()


def _normalized(P: torch.Tensor) -> torch.Tensor:
    """L1-normalise the last axis; skipped (exactly) where rows already sum to 1 within 1e-12."""
    sums = P.sum(dim=-1, keepdim=True)
    if bool(((sums - 1.0).abs() <= 1e-12).all()):
        return P
    return P / sums


def _lse(q: torch.Tensor) -> torch.Tensor:
    """logsumexp over the last axis; without the max shift when exp cannot overflow (histograms)."""
    if q.numel() and float(q.abs().max()) <= 50.0:
        return q.exp().sum(-1).log()
    return torch.logsumexp(q, dim=-1)


def histogram_stats(hists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-task statistics of stacked histograms (n_tasks, n_features, bins) used by bKLD.

    Returns
    -------
    plogp : ndarray (n_tasks, n_features)
        :math:`\sum_b P \log P` of the L1-normalised histograms (0 log 0 = 0), the target term.
    lse : ndarray (n_tasks, n_features)
        :math:`\log \sum_b e^{q_b}`, the source term.
    """
    h = torch.from_numpy(np.ascontiguousarray(_check_stack("hists", hists)))
    return (-torch.special.entr(_normalized(h)).sum(-1)).numpy(), _lse(h).numpy()


def bkld_naive(target_hist: np.ndarray, source_hist: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Reference (loop) bKLD of one pair; ``target_hist``/``source_hist`` of shape (n_features, bins).

    Straight from the formula, for tests: per feature ``sum(P * log(P / softmax(q)))`` with
    ``0 log 0 = 0``, then a weighted mean over features.
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


def vdna_distance_matrix(target_hists: np.ndarray, source_hists: np.ndarray) -> np.ndarray:
    r"""VDNA: mean over features of the 1-D earth mover's distance between histograms.

    .. math:: d(s, t) = \frac{1}{m} \sum_j \sum_{\text{bins}} \left| \mathrm{cumsum}(Q_j - P_j) \right|

    with :math:`P, Q` the L1-normalised target/source histograms (unit bin spacing). Symmetric.

    Returns
    -------
    ndarray of shape (n_sources, n_targets)
    """
    P = torch.from_numpy(np.ascontiguousarray(_check_stack("target_hists", target_hists)))
    Q = torch.from_numpy(np.ascontiguousarray(_check_stack("source_hists", source_hists)))
    if P.shape[1:] != Q.shape[1:]:
        raise ValueError(f"target histograms {tuple(P.shape[1:])} and source histograms {tuple(Q.shape[1:])} differ")
    m = P.shape[1]
    cP = torch.cumsum(P / P.sum(-1, keepdim=True), dim=-1).reshape(P.shape[0], -1)
    cQ = torch.cumsum(Q / Q.sum(-1, keepdim=True), dim=-1).reshape(Q.shape[0], -1)
    return (torch.cdist(cQ, cP, p=1.0) / m).numpy()


def kld_averaged_distance_matrix(target_means: np.ndarray, source_means: np.ndarray) -> np.ndarray:
    r"""P2L / ``KLD-PP:NN``: KL divergence of L1-normalised mean feature vectors.

    .. math:: p = a_t / \sum a_t,\; q = a_s / \sum a_s,\;
              d(s, t) = \frac{1}{m} \sum_i p_i \log(p_i / q_i)

    with ``0 log 0 = 0`` (NaN -> 0) and an infinite term (q_i = 0 < p_i) replaced by the largest
    float, as in the original (``np.nan_to_num``).

    Parameters
    ----------
    target_means : ndarray of shape (n_targets, n_features), non-negative
    source_means : ndarray of shape (n_sources, n_features), non-negative

    Returns
    -------
    ndarray of shape (n_sources, n_targets)
    """
    a_t = np.asarray(target_means, dtype=np.float64)
    a_s = np.asarray(source_means, dtype=np.float64)
    if a_t.ndim != 2 or a_s.ndim != 2 or a_t.shape[1] != a_s.shape[1]:
        raise ValueError(f"mean features must be (n_tasks, n_features); got {a_t.shape} and {a_s.shape}")
    if (a_t < 0).any() or (a_s < 0).any():
        raise ValueError("P2L needs non-negative mean features (post-ReLU probe features)")
    p = l1_normalize(a_t)[None, :, :]      # (1, T, m)
    q = l1_normalize(a_s)[:, None, :]      # (S, 1, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = p * np.log(p / q)
    terms = np.nan_to_num(terms, nan=0.0, posinf=np.finfo(np.float64).max)
    with np.errstate(over="ignore"):
        return terms.sum(axis=-1) / p.shape[-1]
