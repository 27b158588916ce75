"""The affinity transform: from a raw distance matrix to the scores the selection ranks.

A distance matrix has the source tasks as rows and the target tasks (incl. shrunk variants) as
columns, lower = closer. The evaluation works on *affinities*: z-scored, negated distances
(higher = closer), exactly as the authors' loader of cached distances does.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..upstream.readers import load_distance
from ..vocabulary import get_selector


def affinity_from_distance(dist: pd.DataFrame, zscore_axis: int | None = None) -> pd.DataFrame:
    """Affinity matrix of a raw distance matrix.

    Entries exactly equal to 0 (self-distances) become NaN, the rest is z-scored omitting NaN with
    the population std, either over the whole matrix (``zscore_axis=None``) or per target column
    (``zscore_axis=0``), and negated:

    .. math:: a(s, t) = -\\frac{d(s, t) - \\mu}{\\sigma}

    Within one target column both z-scorings are positive affine maps, so selections, percentiles
    and weighted tau are the same; they differ only when affinities are combined.

    Parameters
    ----------
    dist : DataFrame, shape (n_sources, n_targets)
    zscore_axis : {None, 0}

    Returns
    -------
    DataFrame, shape (n_sources, n_targets)
        Higher is closer.
    """
    values = dist.to_numpy(dtype=float, copy=True)
    values[values == 0] = np.nan
    if zscore_axis is None:
        mu, sd = np.nanmean(values), np.nanstd(values)
    elif zscore_axis == 0:
        mu, sd = np.nanmean(values, axis=0, keepdims=True), np.nanstd(values, axis=0, keepdims=True)
    else:
        raise ValueError(f"zscore_axis must be None or 0, got {zscore_axis!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (values - mu) / sd
    return pd.DataFrame(-z, index=dist.index, columns=dist.columns)


def load_affinities(selectors: Sequence[str], zscore_axis: int | None = None,
                    files: Mapping[str, str | pd.DataFrame] | None = None) -> dict[str, pd.DataFrame]:
    """Affinity matrices of several selectors: ``name -> DataFrame``.

    ``files`` maps a selector name to a published file stem or to a DataFrame of raw distances;
    names it does not cover are the paper's selectors (their published files).
    """
    files = dict(files or {})
    out = {}
    for name in selectors:
        src = files.get(name)
        if src is None:
            try:
                src = get_selector(name).stem
            except KeyError:
                raise ValueError(f"unknown selector {name!r}; give its distance file in `files`") from None
        dist = src if isinstance(src, pd.DataFrame) else load_distance(src)
        out[name] = affinity_from_distance(dist, zscore_axis)
    return out
