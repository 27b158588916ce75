"""Vigna's weighted Kendall tau for many columns at once, bit-identical to ``scipy.stats.weightedtau``.

The paper's correlation meta metric is scipy's ``weightedtau`` with its defaults (``rank=True``:
the mean of the two weighted taus ranked lexicographically by (x, y) and by (y, x); hyperbolic
weigher :math:`w(r) = 1/(r + 1)`; additive weights). scipy evaluates one pair of vectors per call
and calls a Python weigher :math:`O(n \\log n)` times. This module runs the *same* algorithm
(Vigna, "A weighted correlation index for rankings with ties", WWW 2015) as one compiled loop over
all column pairs (numba), performing the same floating-point operations in the same order as
scipy's implementation, so the results are equal bit for bit:

* the elements are sorted by (x, y), ties by position (``np.lexsort``; the stable order of every
  column is computed once and runs of equal x are then ordered by y); element ``perm[n-1-i]`` has
  rank ``i`` and weight :math:`w_i = 1/(1 + i)`;
* the weights of tied groups are summed sequentially in the sorted order (joint ties :math:`t`,
  ties in x :math:`u`, ties in y :math:`v`, each :math:`\\sum_g s_g (|g| - 1)`);
* the weight of discordant pairs :math:`D` is accumulated by the recursive merge sort on y of the
  (x, y)-sorted sequence: at every merge, each element taken from the right half adds
  :math:`w_k (n_0 - j) + R_j`, where :math:`R_j` is the left half's weight minus the weights of the
  :math:`j` left elements already taken;
* :math:`\\tau = \\frac{(T - (v + u - t)) - 2 D}{\\sqrt{T - u}\\,\\sqrt{T - v}}`, clipped to [-1, 1]
  as Python's ``min(1, max(-1, tau))``, with :math:`T = (n - 1)\\sum_i w_i`; NaN for a constant x
  or y.

Exactness is tested against scipy on random data with ties and NaN, on long columns, and on the
paper's evaluation columns (first repetition, all selectors, scenarios and metrics). The kernel is
compiled on first use (about 4 s) and cached next to this module (numba ``cache=True``), so later
processes load it in about 0.3 s.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _merge(perm, yv, wv, temp, ty, tw, offset, length0, length, residual, exchanges):  # pragma: no cover
    """One merge of scipy's ``weigh``: the sorted halves of ``perm[offset:offset+length]`` merged on y (stable).

    ``yv`` and ``wv`` carry each position's y value and weight along with ``perm`` (one load less
    per step); ``temp``, ``ty``, ``tw`` are their work copies. Returns the running exchange weight
    ``exchanges`` with this merge's terms added one by one, in scipy's order (a separate subtotal
    would round differently); adding or subtracting 0.0 leaves a sum unchanged, so the steps are
    branch-free."""
    middle = offset + length0
    length1 = length - length0
    i = j = k = 0
    while j < length0 and k < length1:
        yl, yr = yv[offset + j], yv[middle + k]
        take_left = yl <= yr
        src = offset + j if take_left else middle + k
        w = wv[src]
        temp[i], ty[i], tw[i] = perm[src], yv[src], w
        exchanges += 0.0 if take_left else w * (length0 - j) + residual
        residual -= w if take_left else 0.0
        j += take_left
        k += 1 - take_left
        i += 1
    rest = length0 - j  # the left elements not yet taken go after the merged ones
    for q in range(rest - 1, -1, -1):
        perm[offset + i + q] = perm[offset + j + q]
        yv[offset + i + q] = yv[offset + j + q]
        wv[offset + i + q] = wv[offset + j + q]
    for q in range(i):
        perm[offset + q], yv[offset + q], wv[offset + q] = temp[q], ty[q], tw[q]
    return exchanges


@njit(cache=True)
def _merge_sort_weight(perm, y, weight, temp):  # pragma: no cover - compiled
    """scipy's recursive ``weigh(0, n)``, run with an explicit stack (numba cannot cache recursion).

    Merge-sorts ``perm`` on y (stable) and returns the exchange (discordance) weight. Every block
    first weighs its left half, then its right half; its weight is ``right + left``; unless the two
    halves are already in order, the merge adds ``w_k (n_0 - j) + R`` for each element taken from
    the right half, with ``R`` the left half's weight minus the weights of the left elements taken.
    """
    n = perm.shape[0]
    yv, wv = np.empty(n), np.empty(n)
    ty, tw = np.empty(n), np.empty(n)
    for i in range(n):
        yv[i], wv[i] = y[perm[i]], weight[perm[i]]
    exchanges = 0.0
    depth = 2 * (64 + 1)  # the frames and the weights waiting on the stacks: each at most log2(n) + 2
    f_offset = np.empty(depth, dtype=np.intp)
    f_length = np.empty(depth, dtype=np.intp)
    f_state = np.empty(depth, dtype=np.intp)
    weights = np.empty(depth)
    top, n_weights = 0, 0
    f_offset[0], f_length[0], f_state[0] = 0, n, 0
    while top >= 0:
        offset, length = f_offset[top], f_length[top]
        length0 = length // 2
        if length == 1:
            weights[n_weights] = wv[offset]
            n_weights += 1
            top -= 1
        elif f_state[top] == 0:  # weigh the left half
            f_state[top] = 1
            top += 1
            f_offset[top], f_length[top], f_state[top] = offset, length0, 0
        elif f_state[top] == 1:  # then the right half
            f_state[top] = 2
            top += 1
            f_offset[top], f_length[top], f_state[top] = offset + length0, length - length0, 0
        else:  # both halves weighed: merge
            top -= 1
            right = weights[n_weights - 1]
            residual = weights[n_weights - 2]
            n_weights -= 2
            weights[n_weights] = right + residual
            n_weights += 1
            middle = offset + length0
            if not yv[middle - 1] < yv[middle]:  # unless the halves are already in order
                exchanges = _merge(perm, yv, wv, temp, ty, tw, offset, length0, length, residual, exchanges)
    return exchanges


@njit(cache=True)
def _tie_weight(key_a, key_b, joint, perm, weight):  # pragma: no cover - compiled
    """:math:`\\sum_g s_g (|g| - 1)` over runs of equal keys in ``perm`` order; NaN when there is one run only
    (``joint``: runs of equal (a, b); else runs of equal a)."""
    n = perm.shape[0]
    first = 0
    total = 0.0
    s = weight[perm[0]]
    for i in range(1, n):
        if key_a[perm[first]] != key_a[perm[i]] or (joint and key_b[perm[first]] != key_b[perm[i]]):
            total += s * (i - first - 1)
            first = i
            s = 0.0
        s += weight[perm[i]]
    total += s * (n - first - 1)
    if first == 0 and not joint:
        return np.nan
    return total


@njit(cache=True)
def _lexsort(order, compact, x, y, perm):  # pragma: no cover - compiled
    """``perm[:] = np.lexsort((y, x))`` of the kept pairs: by x, ties by y, then by position.

    ``order`` is the stable argsort of x's full column (computed once per column), ``compact`` maps a
    row to its position among the kept pairs (-1 = dropped); filtering a stable order keeps it
    stable, and runs of equal x are then insertion-sorted by y (stable)."""
    m = 0
    for r in order:
        if compact[r] >= 0:
            perm[m] = compact[r]
            m += 1
    start = 0
    for i in range(1, m + 1):
        if i < m and x[perm[i]] == x[perm[start]]:
            continue
        for j in range(start + 1, i):  # the run perm[start:i] has equal x
            p = perm[j]
            k = j - 1
            while k >= start and y[perm[k]] > y[p]:
                perm[k + 1] = perm[k]
                k -= 1
            perm[k + 1] = p
        start = i


@njit(cache=True)
def _ranked_tau(x, y, perm, weight, temp):  # pragma: no cover - compiled
    """scipy's ``_weightedrankedtau(x, y, rank=None, weigher=None, additive=True)`` of two 1-D arrays.

    ``perm`` holds ``np.lexsort((y, x))`` on entry; it, ``weight`` and ``temp`` are work arrays of
    the same length (overwritten)."""
    n = x.shape[0]
    for i in range(n):  # the hyperbolic weigher of each element's rank: perm[n-1-i] has rank i
        weight[perm[n - 1 - i]] = 1.0 / (1 + i)
    t = _tie_weight(x, y, True, perm, weight)
    u = _tie_weight(x, y, False, perm, weight)
    if np.isnan(u):
        return np.nan
    exchanges = _merge_sort_weight(perm, y, weight, temp)  # perm is now sorted by y
    v = _tie_weight(y, y, False, perm, weight)
    if np.isnan(v):
        return np.nan
    s = 0.0
    for i in range(n):
        s += weight[perm[i]]
    tot = s * (n - 1)
    tau = ((tot - (v + u - t)) - 2. * exchanges) / np.sqrt(tot - u) / np.sqrt(tot - v)
    if not tau > -1.0:  # Python's max(-1., tau): NaN becomes -1
        tau = -1.0
    if not tau < 1.0:
        tau = 1.0
    return tau


@njit(cache=True)
def _pairs_kernel(x_pool, y_pool, x_order, y_order, x_index, y_index, out):  # pragma: no cover - compiled
    n = x_pool.shape[0]
    xs, ys = np.empty(n), np.empty(n)
    compact = np.empty(n, dtype=np.intp)
    perm, temp = np.empty(n, dtype=np.intp), np.empty(n, dtype=np.intp)
    weight = np.empty(n)
    for c in range(x_index.shape[0]):
        a, b = x_index[c], y_index[c]
        m = 0
        for r in range(n):  # the pairs where both are non-NaN, in row order
            xv, yv = x_pool[r, a], y_pool[r, b]
            if np.isnan(xv) or np.isnan(yv):
                compact[r] = -1
            else:
                compact[r] = m
                xs[m] = xv
                ys[m] = yv
                m += 1
        if m < 2:
            out[c] = np.nan
            continue
        x, y, p, w, tmp = xs[:m], ys[:m], perm[:m], weight[:m], temp[:m]
        _lexsort(x_order[:, a], compact, x, y, p)
        tau_xy = _ranked_tau(x, y, p, w, tmp)
        _lexsort(y_order[:, b], compact, y, x, p)
        out[c] = (tau_xy + _ranked_tau(y, x, p, w, tmp)) / 2


def weightedtau_columns(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weighted tau (scipy defaults) of every column pair ``x[:, c]``, ``y[:, c]``, NaN pairs dropped.

    Parameters
    ----------
    x, y : ndarray, shape (n, n_columns)

    Returns
    -------
    ndarray, shape (n_columns,)
        Equal bit for bit to ``scipy.stats.weightedtau(x[keep, c], y[keep, c]).statistic`` with
        ``keep`` the rows where both are non-NaN; NaN for fewer than two pairs or a constant input.
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
    evaluation pairs every affinity column with many outcome columns.

    Parameters
    ----------
    x_pool, y_pool : ndarray, shape (n, n_x) and (n, n_y)
    x_index, y_index : array of int, shape (n_pairs,)

    Returns
    -------
    ndarray, shape (n_pairs,)
    """
    x_pool = np.ascontiguousarray(x_pool, dtype=float)
    y_pool = np.ascontiguousarray(y_pool, dtype=float)
    if x_pool.ndim != 2 or y_pool.ndim != 2 or x_pool.shape[0] != y_pool.shape[0]:
        raise ValueError(f"x_pool and y_pool must be 2-D with the same rows, got {x_pool.shape} and {y_pool.shape}")
    x_index = np.asarray(x_index, dtype=np.int64).ravel()
    y_index = np.asarray(y_index, dtype=np.int64).ravel()
    if x_index.shape != y_index.shape:
        raise ValueError(f"x_index and y_index differ in length: {x_index.size} and {y_index.size}")
    for name, index, pool in (("x_index", x_index, x_pool), ("y_index", y_index, y_pool)):
        if index.size and (index.min() < 0 or index.max() >= pool.shape[1]):
            raise IndexError(f"{name} out of range for {pool.shape[1]} columns")
    # the stable order of every column, once: a pair's (x, y) order starts from its column's
    x_order = np.asfortranarray(np.argsort(x_pool, axis=0, kind="stable"))
    y_order = np.asfortranarray(np.argsort(y_pool, axis=0, kind="stable"))
    out = np.empty(x_index.size)
    _pairs_kernel(x_pool, y_pool, x_order, y_order, x_index, y_index, out)
    return out
