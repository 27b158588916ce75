"""Vigna's weighted Kendall tau for many columns at once, bit-identical to ``scipy.stats.weightedtau``.

The paper's correlation meta metric is scipy's ``weightedtau`` with its defaults (``rank=True``:
the mean of the two weighted taus ranked lexicographically by (x, y) and by (y, x); hyperbolic
weigher :math:`w(r) = 1/(r + 1)`; additive weights). scipy evaluates one pair of vectors per call,
calling a Python weigher :math:`O(n \\log n)` times. This module runs the *same* algorithm
(Vigna, "A weighted correlation index for rankings with ties", WWW 2015) on a batch of columns,
performing the same floating-point operations in the same order for every column, so the results
are equal bit for bit:

* the weights of tied groups are summed sequentially in the sorted order (joint ties :math:`t`,
  ties in x :math:`u`, ties in y :math:`v`);
* the weight of discordant pairs is accumulated by the merge sort on y of the (x, y)-sorted
  sequence: at every merge, each element taken from the right half adds
  :math:`w_k (n_0 - j) + R_j`, where :math:`R_j` is the left half's weight minus the weights of the
  :math:`j` left elements already taken (subtracted one by one), in post-order of the recursion;
* :math:`\\tau = \\frac{(T - (v + u - t)) - 2 D}{\\sqrt{T - u}\\,\\sqrt{T - v}}`, clipped to [-1, 1],
  with :math:`T = (n - 1)\\sum_i w_i`.

Exactness is tested against scipy on random data with ties and on every column of the paper's
evaluation.
"""
from __future__ import annotations

import functools

import numpy as np


def _group_weight(keys: list[np.ndarray], w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:math:`\\sum_g s_g (|g| - 1)` over runs of equal ``keys`` along axis 0, summed in order.

    ``keys`` and ``w`` are already in the scan order, shape (n, B); ``s_g`` is the sequential sum of
    the group's weights. Also returns the start of the last group (0 = one group: a constant key).
    """
    n, b = w.shape
    total = np.zeros(b)
    s = w[0].copy()
    first = np.zeros(b, dtype=np.int64)
    for i in range(1, n):
        new = keys[0][i] != keys[0][i - 1]
        for k in keys[1:]:
            new |= k[i] != k[i - 1]
        if new.any():
            total = np.where(new, total + s * (i - first - 1), total)
            first = np.where(new, i, first)
            s = np.where(new, 0.0, s)
        s = s + w[i]
    return total + s * (n - first - 1), first


@functools.lru_cache(maxsize=64)
def _merge_nodes(n: int) -> tuple[tuple[int, int, int], ...]:
    """The merge steps of scipy's recursive merge sort of ``n`` elements, in the order they run (post-order):
    ``(offset, left length, length)`` of every block of two or more elements."""
    nodes: list[tuple[int, int, int]] = []
    stack = [(0, n, False)]
    while stack:
        offset, length, children_done = stack.pop()
        if length < 2:
            continue
        half = length // 2
        if children_done:
            nodes.append((offset, half, length))
        else:  # visit left, then right, then the block itself
            stack += [(offset, length, True), (offset + half, length - half, False), (offset, half, False)]
    return tuple(nodes)


def _merge_weight(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exchange weight of the merge sort of ``y`` (shape (n, B), already in (x, y) order).

    Returns the discordance weights (B,) and ``y`` and ``w`` sorted by ``y`` (stable), shape (n, B).
    """
    n, b = y.shape
    y, w = y.copy(), w.copy()
    block_weight = {(p, 1): w[p].copy() for p in range(n)}  # weigh(offset, 1) = the leaf's weight
    exchanges = np.zeros(b)
    for offset, length0, length in _merge_nodes(n):
        middle = offset + length0
        left_weight = block_weight.pop((offset, length0))
        block_weight[(offset, length)] = block_weight.pop((middle, length - length0)) + left_weight
        block = slice(offset, offset + length)
        merged = np.argsort(y[block], axis=0, kind="stable")  # left before right on ties: a stable merge
        where = np.empty_like(merged)
        np.put_along_axis(where, merged, np.arange(length)[:, None], axis=0)
        j = where[length0:] - np.arange(length - length0)[:, None]  # left elements taken before each right one
        residual = np.subtract.accumulate(np.concatenate([left_weight[None, :], w[offset:middle]]), axis=0)
        term = w[middle:offset + length] * (length0 - j) + np.take_along_axis(residual, j, axis=0)
        term = np.where(j < length0, term, 0.0)  # right elements after the last left one are never merged
        exchanges = np.add.accumulate(np.concatenate([exchanges[None, :], term]), axis=0)[-1]
        y[block] = np.take_along_axis(y[block], merged, axis=0)
        w[block] = np.take_along_axis(w[block], merged, axis=0)
    return exchanges, y, w


def _ranked_tau(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """scipy's ``_weightedrankedtau(x, y, rank=None, weigher=None, additive=True)`` for columns of (n, B)."""
    n, b = x.shape
    perm = np.lexsort((y, x), axis=0)
    rank = np.empty_like(perm)
    np.put_along_axis(rank, perm[::-1], np.arange(n)[:, None], axis=0)
    weights = 1.0 / (1 + rank)  # the hyperbolic weigher of each element
    xs, ys, ws = (np.take_along_axis(a, perm, axis=0) for a in (x, y, weights))
    t, _ = _group_weight([xs, ys], ws)
    u, first_x = _group_weight([xs], ws)
    exchanges, y_sorted, w_sorted = _merge_weight(ys, ws)
    v, first_y = _group_weight([y_sorted], w_sorted)
    s = np.add.accumulate(w_sorted, axis=0)[-1]
    tot = s * (n - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = ((tot - (v + u - t)) - 2.0 * exchanges) / np.sqrt(tot - u) / np.sqrt(tot - v)
    tau = np.where(tau > -1.0, tau, -1.0)  # Python's max(-1., tau) and min(1., .), NaN included
    tau = np.where(tau < 1.0, tau, 1.0)
    return np.where((first_x == 0) | (first_y == 0), np.nan, tau)  # a constant vector


#: columns per batch are chosen so that one batch's (n, columns) arrays hold about this many values
BATCH_VALUES = 1 << 21


def weightedtau_columns(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weighted tau (scipy defaults) of every column pair ``x[:, c]``, ``y[:, c]``, NaN pairs dropped.

    Parameters
    ----------
    x, y : ndarray, shape (n, n_columns)

    Returns
    -------
    ndarray, shape (n_columns,)
        Equal bit for bit to ``scipy.stats.weightedtau(x[keep, c], y[keep, c]).statistic`` with
        ``keep`` the rows where both are finite; NaN for fewer than two pairs or a constant input.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"x and y must be 2-D arrays of the same shape, got {x.shape} and {y.shape}")
    cols = np.arange(x.shape[1])
    return weightedtau_pairs(x, y, cols, cols)


def weightedtau_pairs(x_pool: np.ndarray, y_pool: np.ndarray, x_index, y_index) -> np.ndarray:
    """Weighted tau of the column pairs ``(x_pool[:, x_index[c]], y_pool[:, y_index[c]])``.

    The same as :func:`weightedtau_columns` on the gathered columns, without materialising them: the
    evaluation pairs every affinity column with many outcome columns, and memory stays bounded by one
    batch of :data:`BATCH_VALUES` values.

    Parameters
    ----------
    x_pool, y_pool : ndarray, shape (n, n_x) and (n, n_y)
    x_index, y_index : array of int, shape (n_pairs,)

    Returns
    -------
    ndarray, shape (n_pairs,)
    """
    x_pool, y_pool = np.asarray(x_pool, dtype=float), np.asarray(y_pool, dtype=float)
    x_index, y_index = np.asarray(x_index), np.asarray(y_index)
    valid_x, valid_y = (~np.isnan(x_pool)).astype(np.float32), (~np.isnan(y_pool)).astype(np.float32)
    counts = np.rint(valid_x.T @ valid_y).astype(np.int64)[x_index, y_index]  # exact below 2**24 rows
    out = np.full(x_index.size, np.nan)
    for n in np.unique(counts):
        if n < 2:
            continue
        same_n = np.flatnonzero(counts == n)
        step = max(1, BATCH_VALUES // int(n))  # bounded memory for large task pools
        for start in range(0, same_n.size, step):
            cols = same_n[start:start + step]
            x, y = x_pool[:, x_index[cols]], y_pool[:, y_index[cols]]
            keep = ~(np.isnan(x) | np.isnan(y))
            idx = np.argsort(~keep, axis=0, kind="stable")[:n]  # kept rows, original order
            xs, ys = np.take_along_axis(x, idx, axis=0), np.take_along_axis(y, idx, axis=0)
            out[cols] = (_ranked_tau(xs, ys) + _ranked_tau(ys, xs)) / 2
    return out
