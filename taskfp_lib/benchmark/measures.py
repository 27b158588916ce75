"""Measures to benchmark without a file: the random floor, an ensemble of published distances, and any
Python callable or registered distance on per-task representations."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..evaluation.affinity import load_affinities
from ..tasks import ALL_TASKS, ALL_TASKS_INCLUDING_SHRUNK
from .validation import DistanceValidationError, format_names

#: default ensemble of the worked example: equal weights of two published z-scored affinities
DEFAULT_ENSEMBLE = {"bKLD(small,target)": 0.5, "Manual": 0.5}


def random_distance(seed: int = 0) -> pd.DataFrame:
    """Uniform random distances in (1, 2) for all 71 x 127 pairs, 0 on the diagonal (published convention).

    A selector built on it picks 3 valid sources uniformly at random: the sanity floor whose expected
    scores are known exactly (:func:`~taskfp_lib.benchmark.chance.chance_scores`).

    Returns
    -------
    DataFrame, shape (71, 127)
    """
    rng = np.random.default_rng(seed)
    values = 1.0 + rng.random((len(ALL_TASKS), len(ALL_TASKS_INCLUDING_SHRUNK)))
    df = pd.DataFrame(values, index=list(ALL_TASKS), columns=list(ALL_TASKS_INCLUDING_SHRUNK))
    for t in ALL_TASKS:
        df.loc[t, t] = 0.0
    return df


def ensemble_distance(weights: Mapping[str, float] | None = None, zscore_axis: int | None = None,
                      files: dict | None = None) -> pd.DataFrame:
    """A new measure from published ones: ``-(sum_i w_i * affinity_i)``, shifted to stay positive.

    Each published distance is turned into its z-scored affinity
    (:func:`~taskfp_lib.evaluation.affinity.affinity_from_distance`), the affinities are summed with
    the weights, and the sum is negated into a distance (plus a constant so that no entry is 0). NaN
    where any input is NaN (the diagonal).

    Parameters
    ----------
    weights : mapping selector name -> weight
        Default :data:`DEFAULT_ENSEMBLE` (bKLD(small,target) and Manual, 0.5 each).

    Returns
    -------
    DataFrame, shape (71, 127)
    """
    weights = dict(DEFAULT_ENSEMBLE if weights is None else weights)
    if not weights:
        raise ValueError("an ensemble needs at least one selector")
    affs = load_affinities(list(weights), zscore_axis=zscore_axis, files=files)
    total = None
    for name, w in weights.items():
        a = affs[name].reindex(index=ALL_TASKS, columns=ALL_TASKS_INCLUDING_SHRUNK) * float(w)
        total = a if total is None else total + a
    finite = total.to_numpy()[np.isfinite(total.to_numpy())]
    return (finite.max() + 1.0) - total


def _callable_matrix(distance, src: dict, tgt: dict, self_zero: bool) -> pd.DataFrame:
    values = np.asarray(distance(list(src.values()), list(tgt.values())), dtype=np.float64)
    if values.shape != (len(src), len(tgt)):
        raise DistanceValidationError(f"the callable returned shape {values.shape}, expected "
                                      f"{(len(src), len(tgt))} (sources x targets)")
    df = pd.DataFrame(values, index=list(src), columns=list(tgt))
    if self_zero:
        for s in df.index:
            if s in df.columns:
                df.loc[s, s] = 0.0
    return df


def distance_from_callable(distance, representations: Mapping[str, Any], *,
                           sources: Sequence[str] = ALL_TASKS,
                           targets: Sequence[str] = ALL_TASKS_INCLUDING_SHRUNK,
                           self_zero: bool = True) -> pd.DataFrame:
    """All-pairs raw distance matrix of a Python callable or of a registered distance.

    Parameters
    ----------
    distance : callable, str or DistanceSpec
        ``distance(source_reprs: list, target_reprs: list) -> array (n_sources, n_targets)``; or a
        name / :class:`taskfp_lib.distances.DistanceSpec` of the distance registry, computed with
        :func:`taskfp_lib.distances.distance_matrix` (then the representations are Fingerprints).
    representations : mapping task name -> representation
        One entry per source and target name (shrunk variants are separate tasks with their own
        representation). The fingerprints of the paper's 71 tasks are not published, so on this
        data only a callable on other representations (or small demonstrations) can be run.

    Returns
    -------
    DataFrame, shape (len(sources), len(targets)), ready for
    :func:`~taskfp_lib.benchmark.validation.validate_distance`.
    """
    missing = [t for t in dict.fromkeys([*sources, *targets]) if t not in representations]
    if missing:
        raise DistanceValidationError(f"no representation for task(s) {format_names(missing)}")
    src = {s: representations[s] for s in sources}
    tgt = {t: representations[t] for t in targets}
    if callable(distance) and not isinstance(distance, str) and not hasattr(distance, "requires"):
        return _callable_matrix(distance, src, tgt, self_zero)
    from ..distances import distance_matrix

    return distance_matrix(distance, src, tgt, self_zero=self_zero)


__all__ = ["DEFAULT_ENSEMBLE", "distance_from_callable", "ensemble_distance", "random_distance"]
