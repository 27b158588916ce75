"""Published distance matrices, task-selector registry and the affinity transform (spec 3, 4.1).

A distance file is a raw distance matrix (lower = closer) with the source tasks as rows and the
target tasks (incl. shrunk variants) as columns. The evaluation works on *affinities*: the
z-scored, negated distances (higher = closer).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .tasks import to_old_style

#: canonical selector name -> published distance file stem (spec 3.3)
SELECTOR_FILES: dict[str, str] = {
    "Manual": "SEMANTIC",
    "VDNA": "VDNA-PP:NN-1000-BINS",
    "FED": "FED",
    "FID": "FID",
    "P2L": "KLD-PP:NN",
    "Sinkhorn": "MMD-geo-sinkhorn-0.01",
    "bKLD(small,target)": "KLD-PP:NS-W:TS-100-BINS",
    "bKLD(large,unweighted)": "KLD-PP:NS-1000-BINS",
    "bKLD(large,source)": "KLD-PP:NS-W:SN-1000-BINS",
}

#: selector sets: the seed paper's eight (``paper``) and the repository revision's (``revision``)
SELECTOR_SETS: dict[str, list[str]] = {
    "paper": ["Manual", "VDNA", "FED", "FID", "P2L", "bKLD(small,target)", "bKLD(large,source)",
              "bKLD(large,unweighted)"],
    "revision": ["Manual", "VDNA", "FED", "FID", "P2L", "Sinkhorn", "bKLD(small,target)",
                 "bKLD(large,unweighted)"],
}
BKLD_VARIANTS = ["bKLD(small,target)", "bKLD(large,unweighted)", "bKLD(large,source)"]


def read_distance_csv(path: str | Path) -> pd.DataFrame:
    """Read a distance CSV in the published layout (index column = sources, header = targets).

    ±inf become NaN and new-style shrink tags are renamed to the old style (spec 4.1 steps 1-2).
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, index_col=0, header=0)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot read a distance matrix ({err})") from err
    if df.shape[1] == 0:
        raise ValueError(f"{path}: no target columns")
    try:
        df = df.astype(float)
    except ValueError as err:
        raise ValueError(f"{path}: non-numeric distance values ({err})") from err
    df = df.replace([np.inf, -np.inf], np.nan)
    df.index = [to_old_style(str(i)) for i in df.index]
    df.columns = [to_old_style(str(c)) for c in df.columns]
    return df


def affinity_from_distance(dist: pd.DataFrame, zscore_axis: int | None = None) -> pd.DataFrame:
    """Affinity matrix of a raw distance matrix (spec 4.1 steps 3-5).

    Entries exactly equal to 0 (self-distances) become NaN, the rest is z-scored omitting NaN with
    the population std, either over the whole matrix (``zscore_axis=None``) or per target column
    (``zscore_axis=0``), and negated:

    .. math:: a(s, t) = -\\frac{d(s, t) - \\mu}{\\sigma}

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


def distance_path(stem: str, cache: str = "cache", commit: str | None = None) -> Path:
    """Verified local path of a published distance file ``<cache>/distances/<stem>.csv``.

    ``commit``: the upstream commit the file comes from (default: the repository revision).
    """
    from .data import UPSTREAM_COMMIT, data_path

    return data_path(f"{cache}/distances/{stem}.csv", commit or UPSTREAM_COMMIT)


def load_distance(stem: str, cache: str = "cache", commit: str | None = None) -> pd.DataFrame:
    """Raw published distance matrix by file stem (e.g. ``"KLD-PP:NS-1000-BINS"``) at ``commit``."""
    return read_distance_csv(distance_path(stem, cache, commit))


def load_affinities(selectors, zscore_axis: int | None = None, files: dict | None = None) -> dict:
    """Affinity matrices of several selectors: ``name -> DataFrame``.

    ``files`` maps a selector name to a stem or to a DataFrame of raw distances (default
    :data:`SELECTOR_FILES`).
    """
    files = SELECTOR_FILES | dict(files or {})
    out = {}
    for name in selectors:
        src = files.get(name)
        if src is None:
            raise ValueError(f"unknown selector {name!r}; known: {sorted(files)}")
        dist = src if isinstance(src, pd.DataFrame) else load_distance(src)
        out[name] = affinity_from_distance(dist, zscore_axis)
    return out


def sample_size_stem(stem: str, samples: int, seed: int) -> str:
    """File stem of a resampled fingerprint distance (spec 3.2): ``<stem>-<n>-SAMPLES-<seed>-SEED``."""
    return f"{stem}-{samples}-SAMPLES-{seed}-SEED"
