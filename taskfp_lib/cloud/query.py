"""Ranking a knowledge cloud's entries as transfer sources: no bad entry is ever ranked.

An entry whose file fails its checks, or whose distance to the query is NaN, is left out of the
ranking and reported in ``ranking.attrs["quarantined"]`` (entry name -> reason), so one poisoned
or damaged contribution can neither take a top rank nor make every query of the cloud fail. An
error of the distance computation names the entry that causes it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .manifest import DEFAULT_DISTANCE, CloudError

_COMPUTE_ERRORS = (ValueError, ArithmeticError, TypeError, np.linalg.LinAlgError)


def resolve_distance(distance: str):
    """The registered distance ``distance``, checked to be computable from fingerprints."""
    from ..distances import get_distance

    try:
        spec = get_distance(distance)
    except KeyError as err:
        raise CloudError(str(err.args[0]) if err.args else f"unknown distance {distance!r}") from None
    if not spec.shareable:
        raise CloudError(f"{spec.name} needs per-image features, which fingerprints never contain; "
                         "choose a fingerprint distance, e.g. " + DEFAULT_DISTANCE)
    if "task_infos" in spec.requires:
        raise CloudError(f"{spec.name} uses the task registry's keywords, not fingerprints")
    return spec


def _column(spec, sources: dict, fp) -> np.ndarray:
    """Distances of every source to ``fp``; an error names the source (or the query) that causes it."""
    from ..distances import distance_matrix

    try:
        return distance_matrix(spec, sources, [fp])[fp.task].to_numpy(dtype=np.float64)
    except _COMPUTE_ERRORS as err:
        reason = err
    for name, src in sources.items():
        try:
            distance_matrix(spec, {name: src}, [fp])
        except _COMPUTE_ERRORS as err:
            raise CloudError(f"cloud entry {name!r}: {spec.name} cannot be computed ({err})") from None
    raise CloudError(f"query fingerprint {fp.task!r}: {spec.name} cannot be computed ({reason})") from None


def rank_sources(fp, sources: dict, metas: dict, distance: str, k: int, quarantined: dict) -> pd.DataFrame:
    """The ranking of :meth:`KnowledgeCloud.query` from loaded, validated ``sources``."""
    spec = resolve_distance(distance)
    quarantined = dict(quarantined)
    if not sources:
        extra = f" ({len(quarantined)} entries failed validation: {sorted(quarantined)[:5]})" if quarantined else ""
        raise CloudError("the cloud has no candidate source tasks for this query" + extra)
    names = list(sources)
    col = _column(spec, sources, fp)
    for i in np.flatnonzero(np.isnan(col)):
        quarantined[names[i]] = f"{spec.name} distance is NaN"
    keep = [i for i in range(len(names)) if not np.isnan(col[i])]
    order = sorted(keep, key=lambda i: (col[i], i))
    if k and k > 0:
        order = order[:k]
    rows = [{"rank": r, "source": names[i], "distance": float(col[i]), "distance_name": spec.name,
             **metas[names[i]]} for r, i in enumerate(order, start=1)]
    ranking = pd.DataFrame(rows)
    ranking.attrs["quarantined"] = quarantined
    return ranking
