"""The "Manual" task selector: keyword similarity with deterministic tie-breakers (file ``SEMANTIC``).

The paper's Manual baseline selector (Methods; the published ``SEMANTIC.csv``): tasks are
described by keyword sets (domain, modality, anatomy, ...), compared by their Jaccard distance, and
ties are broken in favour of larger, then higher-dimensional, then later-listed source tasks.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..tasks import base_name, transformed_task_infos
from ..upstream.readers import load_task_infos
from ..vocabulary import SELECTORS
from .registry import DistanceSpec, register_distance

#: weights of the tie-breakers: larger, then higher-dimensional, then later-listed sources win ties
SIZE_WEIGHT, DIM_WEIGHT, POSITION_WEIGHT = 1e-3, 1e-5, 1e-7


def keyword_distance(a, b) -> float:
    """Jaccard distance :math:`1 - |A \\cap B| / |A \\cup B|` of two keyword sets."""
    a, b = set(a), set(b)
    union = a | b
    if not union:
        raise ValueError("both keyword sets are empty")
    return 1.0 - len(a & b) / len(union)


def semantic_distance_matrix(task_infos: pd.DataFrame, sources: Sequence[str],
                             targets: Sequence[str]) -> pd.DataFrame:
    """Manual (semantic) task distance, the cached ``SEMANTIC.csv``.

    .. math:: d(s, t) = 1 - \\frac{|K_s \\cap K_t|}{|K_s \\cup K_t|}
              - 10^{-3}\\,\\mathrm{rank}(n_s) - 10^{-5}\\,\\mathrm{rank}(\\mathrm{dim}_s) - 10^{-7}\\,i_s

    with the keyword sets :math:`K`, the average ranks (ascending, over all tasks of ``task_infos``) of
    the Box-Cox/z-scored sample counts :math:`n` and of the intrinsic dimensions, and the position
    :math:`i_s` of the source in ``sources``. Shrunk targets use their base task's keywords.

    Parameters
    ----------
    task_infos : DataFrame
        Indexed by task name with ``keywords`` (lists), ``num_samples``, ``dimensions``.
    sources : sequence of str, length n_sources
    targets : sequence of str, length n_targets

    Returns
    -------
    DataFrame, shape (n_sources, n_targets)
    """
    missing = [t for t in list(sources) + [base_name(t) for t in targets] if t not in task_infos.index]
    if missing:
        raise ValueError(f"no task infos for {sorted(set(missing))[:3]}")
    kw = {t: frozenset(task_infos.loc[t, "keywords"]) for t in task_infos.index}
    values = np.empty((len(sources), len(targets)))
    for i, s in enumerate(sources):
        for j, t in enumerate(targets):
            values[i, j] = 0.0 if s == t else keyword_distance(kw[s], kw[base_name(t)])
    size_rank = transformed_task_infos(task_infos, ["num_samples"])["num_samples"].rank(method="average")
    dim_rank = task_infos["dimensions"].rank(method="average")
    size_term = SIZE_WEIGHT * size_rank.loc[list(sources)].to_numpy()
    dim_term = DIM_WEIGHT * dim_rank.loc[list(sources)].to_numpy()
    pos_term = POSITION_WEIGHT * np.arange(len(sources), dtype=float)
    # subtracted one after the other: bit-identical to the published SEMANTIC.csv
    values = values - size_term[:, None] - dim_term[:, None] - pos_term[:, None]
    return pd.DataFrame(values, index=list(sources), columns=list(targets))


def _semantic(sources, targets, *, task_infos: pd.DataFrame | None = None) -> np.ndarray:
    """Registry adapter: task names -> :func:`semantic_distance_matrix` (task infos default to the published ones)."""
    sources, targets = [str(s) for s in sources], [str(t) for t in targets]
    df = semantic_distance_matrix(load_task_infos() if task_infos is None else task_infos, sources, targets)
    return df.to_numpy(dtype=np.float64)


register_distance(DistanceSpec(
    SELECTORS["Manual"].stem, "Manual", symmetric=False, nonnegative=False, zero_self=False,
    requires=("task_infos",), compute=_semantic,
    description="1 - keyword IoU, minus size/dimension/position tie-breakers per source row"))
