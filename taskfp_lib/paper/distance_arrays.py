"""Published distance matrices as float64 arrays, parsed once and kept in the data directory.

The development comparison reads about 800 distance CSVs (150 MB of text). Each file is parsed and
validated once (published layout: the 71 source tasks as rows, the 127 target names as columns, in
registry order) and stored as ``<data dir>/derived/distance-arrays/<sha256 of the CSV>.npy``
(``numpy.save``, never pickle), keyed by the hash the data manifest records for the CSV, so a changed
file can never be served from a stale array. A cached array that cannot be read, or has the wrong
dtype or shape, is rebuilt from the CSV.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._files import atomic_path
from ..upstream.manifest import UPSTREAM_COMMIT, data_dir, data_path, load_manifest, manifest_files
from ..upstream.readers import read_distance_csv
from ..tasks import ALL_TASKS, ALL_TASKS_INCLUDING_SHRUNK

SHAPE = (len(ALL_TASKS), len(ALL_TASKS_INCLUDING_SHRUNK))


def published_distance_stems(cache: str = "cache", commit: str = UPSTREAM_COMMIT) -> list[str]:
    """Stems of every ``<cache>/distances/*.csv`` file the data manifest lists at ``commit``, sorted."""
    prefix = f"{cache}/distances/"
    return sorted(p[len(prefix):-4] for p in manifest_files(commit) if p.startswith(prefix) and p.endswith(".csv")
                  and "/" not in p[len(prefix):])


def array_cache_path(sha256: str):
    """Where the parsed array of a CSV with this sha256 is kept."""
    return data_dir() / "derived" / "distance-arrays" / f"{sha256}.npy"


def parse_distance_csv(path) -> np.ndarray:
    """Raw distances (71, 127) of a CSV in the published layout, checked name by name.

    ±inf become NaN (as for every published distance, :func:`taskfp_lib.affinity.read_distance_csv`).

    Raises
    ------
    ValueError
        One line naming the file and the first row/column label that differs from the registry.
    """
    df = read_distance_csv(path)
    for axis, got, expected in (("row", list(df.index), ALL_TASKS), ("column", list(df.columns),
                                                                      ALL_TASKS_INCLUDING_SHRUNK)):
        if got != expected:
            i = next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e), min(len(got), len(expected)))
            found = got[i] if i < len(got) else "<none>"
            wanted = expected[i] if i < len(expected) else "<none>"
            raise ValueError(f"{path}: {axis} {i} is {found!r}, expected {wanted!r} ({len(got)} {axis}s; the "
                             f"published layout has the {len(expected)} registry names in order)")
    return df.to_numpy(dtype=np.float64)


def _read_cached(path) -> np.ndarray | None:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if not isinstance(arr, np.ndarray) or arr.dtype != np.float64 or arr.shape != SHAPE:
        return None
    return arr


def distance_values(stem: str, cache: str = "cache", commit: str = UPSTREAM_COMMIT) -> np.ndarray:
    """Raw distances (71 sources x 127 targets, registry order) of the published file ``stem``.

    The first call parses and verifies the CSV (:func:`taskfp_lib.upstream.manifest.data_path` checks its
    sha256); later calls read the cached array, without touching the CSV.
    """
    rel = f"{cache}/distances/{stem}.csv"
    entry = load_manifest().get((commit, rel))
    if entry is None:
        data_path(rel, commit)  # raises the usual one-line DataError
    dest = array_cache_path(entry.sha256)
    if dest.is_file():
        arr = _read_cached(dest)
        if arr is not None:
            return arr
        dest.unlink()
    arr = parse_distance_csv(data_path(rel, commit))
    with atomic_path(dest, suffix=".npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
    return arr


def distance_frame(values: np.ndarray) -> pd.DataFrame:
    """A (71, 127) array as a DataFrame with the registry's row and column names."""
    return pd.DataFrame(values, index=list(ALL_TASKS), columns=list(ALL_TASKS_INCLUDING_SHRUNK))


def progress_bar(iterable, progress: bool, **kwargs):
    """``tqdm(iterable)`` when ``progress`` is set, else the iterable itself (tqdm is not even imported)."""
    if not progress:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


def load_distance_arrays(stems, cache: str = "cache", progress: bool = True) -> np.ndarray:
    """Stack of raw distances, shape (len(stems), 71, 127), with a progress bar."""
    stems = list(stems)
    out = np.empty((len(stems),) + SHAPE)
    for i, stem in enumerate(progress_bar(stems, progress, desc="distance files", unit="file")):
        out[i] = distance_values(stem, cache)
    return out


__all__ = ["SHAPE", "array_cache_path", "distance_frame", "distance_values", "load_distance_arrays",
           "parse_distance_csv", "progress_bar", "published_distance_stems"]
