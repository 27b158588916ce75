"""Readers of the published upstream files, each validating what it reads.

* distance matrices ``cache/distances/<stem>.csv`` (sources x targets, lower = closer);
* transfer outcomes ``cache/exp/load_<key>_experiment%<METRIC>[%<SHRUNK>]%<VALIDATION>.csv`` and the
  single-task baselines;
* the task metadata ``cache/task_infos.csv``;
* the MSD challenge results ``MSD_cache/msd_results.csv``;
* timm's ImageNet result tables ``data/results-imagenet-*.csv``.

Each reader takes an explicit path (any file in the published layout, e.g. a fresh experiment grid's
output) or resolves the verified published file through :mod:`taskfp_lib.upstream.manifest`.
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from ..tasks import to_old_style
from ..vocabulary import BASELINE_KEY, METRICS, SCENARIOS
from .manifest import UPSTREAM_COMMIT, data_path

# --- distance matrices -----------------------------------------------------------------------------


def read_distance_csv(path: str | Path) -> pd.DataFrame:
    """Read a distance CSV in the published layout (index column = sources, header = targets).

    ±inf become NaN and new-style shrink tags are renamed to the old style (the authors' loader,
    steps 1-2).
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


def distance_path(stem: str, cache: str = "cache", commit: str | None = None) -> Path:
    """Verified local path of a published distance file ``<cache>/distances/<stem>.csv`` at ``commit``
    (default: the repository revision)."""
    return data_path(f"{cache}/distances/{stem}.csv", commit or UPSTREAM_COMMIT)


def load_distance(stem: str, cache: str = "cache", commit: str | None = None) -> pd.DataFrame:
    """Raw published distance matrix by file stem (e.g. ``"KLD-PP:NS-1000-BINS"``) at ``commit``."""
    return read_distance_csv(distance_path(stem, cache, commit))


def sample_size_stem(stem: str, samples: int, seed: int) -> str:
    """File stem of a resampled fingerprint distance: ``<stem>-<n>-SAMPLES-<seed>-SEED``."""
    return f"{stem}-{samples}-SAMPLES-{seed}-SEED"


# --- transfer outcomes -----------------------------------------------------------------------------


def outcome_filename(key: str, metric: str, validation: bool = True, shrunk: bool = True) -> str:
    """Published file name of an outcome file (keyword fields sorted: metric < shrunk < validation).

    ``key`` is a scenario's experiment key or ``"baseline"``; scenarios without a SHRUNK field
    (:attr:`~taskfp_lib.vocabulary.Scenario.has_shrunk_field`) omit it.
    """
    fields = {s.key: s.has_shrunk_field for s in SCENARIOS.values()} | {BASELINE_KEY: True}
    if key not in fields:
        raise ValueError(f"unknown experiment {key!r}; known: {sorted(fields)}")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    if not fields[key]:
        return f"load_{key}_experiment%{metric}%{validation}.csv"
    return f"load_{key}_experiment%{metric}%{shrunk}%{validation}.csv"


def outcome_path(name: str, directory: str | Path | None = None) -> Path:
    """An outcome file in ``directory`` (any folder in the published layout) or the verified published one."""
    if directory is None:
        return data_path(f"cache/exp/{name}")
    path = Path(directory) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: outcome file not found")
    return path


def read_transfer_file(path: str | Path) -> pd.DataFrame:
    """Read a transfer-outcome file and check its columns (r, s, t, p)."""
    path = Path(path)
    df = pd.read_csv(path, index_col=0)
    missing = {"r", "s", "t", "p"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; expected r, s, t, p")
    if df["p"].isna().any():
        raise ValueError(f"{path}: {int(df['p'].isna().sum())} missing performance values")
    if df.duplicated(["r", "s", "t"]).any():
        raise ValueError(f"{path}: duplicate (r, s, t) rows")
    return df


def read_baseline_file(path: str | Path) -> pd.DataFrame:
    """Read a baseline file: one row per repetition (index 0, 1, ...), one column per target."""
    path = Path(path)
    df = pd.read_csv(path, index_col=0)
    if list(df.index) != list(range(len(df))) or len(df) == 0:
        raise ValueError(f"{path}: expected one row per repetition indexed 0, 1, ..., got {list(df.index)}")
    return df


# --- task metadata ---------------------------------------------------------------------------------


def load_task_infos(path: str | Path | None = None) -> pd.DataFrame:
    """Read ``cache/task_infos.csv`` indexed by task name, keywords parsed into lists.

    Parameters
    ----------
    path : path-like, optional
        The CSV; default: the verified copy of the published ``cache/task_infos.csv``.
    """
    path = Path(path) if path is not None else data_path("cache/task_infos.csv")
    try:
        df = pd.read_csv(path, index_col=0)
    except (OSError, pd.errors.ParserError) as err:
        raise ValueError(f"{path}: cannot read task infos ({err})") from err
    required = {"name", "num_classes", "num_samples", "keywords", "dimensions", "imbalance_ratios"}
    missing = required - set(df.columns)
    if missing:
        raise ValueError(f"{path}: task infos lack the column(s) {sorted(missing)}")
    df = df.set_index("name")
    df["keywords"] = [_parse_keywords(v, path) for v in df["keywords"]]
    return df


def _parse_keywords(value: str, path: Path) -> list[str]:
    try:
        parsed = ast.literal_eval(value)  # a literal only: nothing is executed
    except (ValueError, SyntaxError) as err:
        raise ValueError(f"{path}: keywords {value!r} are not a list literal") from err
    if not isinstance(parsed, (list, tuple)) or not all(isinstance(k, str) for k in parsed):
        raise ValueError(f"{path}: keywords {value!r} are not a list of strings")
    return list(parsed)


# --- other published tables ------------------------------------------------------------------------


def read_msd_results(path: str | Path | None = None) -> pd.DataFrame:
    """MSD challenge results: one row per team, three header rows (task, metric, region)."""
    path = Path(path) if path is not None else data_path("MSD_cache/msd_results.csv")
    df = pd.read_csv(path, header=[0, 1, 2], index_col=0)
    df.index.name = "team"
    return df


#: timm's ImageNet result tables (2020 first, 2022 as the fallback), upstream paths
IMAGENET_RESULT_FILES = ("data/results-imagenet-b496b7bde9861b8736c6ef74c735313e20058252.csv",
                         "data/results-imagenet-960f5f92e645a8d02757bf32fa680499127d2c98.csv")


def read_imagenet_results(paths=None) -> list[pd.DataFrame]:
    """timm's ImageNet result tables indexed by model (``param_count`` kept as text: "1,014.45")."""
    paths = [data_path(p) for p in IMAGENET_RESULT_FILES] if paths is None else paths
    return [pd.read_csv(p, dtype={"param_count": str}).set_index("model") for p in paths]
