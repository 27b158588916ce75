"""Top-k source selection: the sources a task selector suggests for a target (Methods, "Task selection")."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


class SelectionTieError(ValueError):
    """The k-th and (k+1)-th best sources have the same affinity: the selection is ambiguous."""


def top_k_indices(affinity: np.ndarray, k: int) -> np.ndarray:
    """Row indices of the ``k`` largest affinities of every column.

    NaN entries are never selected. Within the selection, the order is descending affinity, ties
    in row order (as pandas ``nlargest``). A tie at the cut-off raises, as does a column with more
    than one but fewer than ``k`` candidates; a column with a single candidate selects it and a column
    without candidates selects nothing (index -1).

    Parameters
    ----------
    affinity : ndarray, shape (n_sources, n_targets)
    k : int

    Returns
    -------
    ndarray of int, shape (k, n_targets)
        -1 where nothing is selected.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    a = np.asarray(affinity, dtype=float)
    n_src, n_tgt = a.shape
    filled = np.where(np.isnan(a), -np.inf, a)
    order = np.argsort(-filled, axis=0, kind="stable")
    n_valid = (~np.isnan(a)).sum(axis=0)
    take = min(k, n_src)
    idx = np.full((k, n_tgt), -1, dtype=int)
    idx[:take] = order[:take]
    cols = np.arange(n_tgt)
    for j in np.flatnonzero(n_valid < k):  # short columns: keep only real candidates
        idx[n_valid[j]:, j] = -1
        if n_valid[j] > 1:
            raise SelectionTieError(f"column {j}: only {n_valid[j]} candidates for a budget of {k}")
    full = n_valid > k
    if full.any():
        kth = filled[order[k - 1, full], cols[full]]
        nxt = filled[order[k, full], cols[full]]
        tied = np.flatnonzero(full)[kth == nxt]
        if tied.size:
            raise SelectionTieError(f"tie at the cut-off of the top-{k} selection in column(s) {tied.tolist()}")
    return idx


def top_k_sources(affinity: pd.Series, candidates: Sequence[str], k: int = 3) -> list[str]:
    """The ``k`` candidates with the largest affinity, best first.

    Parameters
    ----------
    affinity : Series
        Affinity of every source to one target (higher = closer), indexed by source name.
    candidates : sequence of str
        The valid sources, in registry order (ties keep this order).
    k : int
    """
    missing = [c for c in candidates if c not in affinity.index]
    if missing:
        raise ValueError(f"no affinity for the candidate source(s) {missing[:3]}")
    col = affinity.loc[list(candidates)].to_numpy(dtype=float)[:, None]
    idx = top_k_indices(col, k)[:, 0]
    return [candidates[i] for i in idx if i >= 0]
