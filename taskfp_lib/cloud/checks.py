"""How much a ranking of source tasks says: query margins, degenerate results, and the self-check.

* :func:`ranking_margin` — for one target, the gap between the k-th and the (k+1)-th closest source
  (how firmly the top-k selection is made) and a flag for degenerate distance columns.
* :func:`self_check` — re-fingerprint a task with another seed and ask whether the copy's nearest
  source is the original task and by what margin: a probe that cannot recognise a re-sampled copy
  of a task cannot be trusted to rank other tasks.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..vocabulary import DEFAULT_DISTANCE
from ..fingerprints.provenance import probe_warning

#: distances at or above this count as infinite (P2L stores an infinite term as the largest float)
OVERFLOW = 1e300
#: finite distances of one target that differ by at most this relative amount count as all equal
EQUAL_RTOL = 1e-6


@dataclass(frozen=True)
class RankingMargin:
    """The firmness of a top-k selection from one column of distances (lower = closer).

    Attributes
    ----------
    k : int
        Selection size (clipped to the number of sources).
    margin : float
        :math:`d_{(k+1)} - d_{(k)}` of the sorted distances (NaN when there is no (k+1)-th source
        or either is infinite); 0 means the k-th place is a tie.
    relative_margin : float
        ``margin`` divided by :math:`|d_{(k+1)}|` (NaN when undefined).
    spread : float
        :math:`(\\max - \\min) / |\\max|` over the finite distances: how much the sources differ at all.
    n_infinite : int
        Distances that are infinite or >= :data:`OVERFLOW`.
    degenerate : str or None
        ``"all-infinite"``, ``"all-equal"`` (finite distances equal within :data:`EQUAL_RTOL`,
        relative to the largest) or None.
    """

    k: int
    margin: float
    relative_margin: float
    spread: float
    n_infinite: int
    degenerate: str | None

    def describe(self) -> str:
        """One line for a terminal or notebook."""
        if self.degenerate == "all-infinite":
            return "DEGENERATE: every distance is infinite; this ranking is arbitrary (choose another distance)."
        if self.degenerate == "all-equal":
            return (f"DEGENERATE: all finite distances are equal within {EQUAL_RTOL:g} (relative); this ranking "
                    "is arbitrary.")
        text = (f"margin between rank {self.k} and rank {self.k + 1}: {self.margin:.4g} "
                f"({100 * self.relative_margin:.2f} % of rank {self.k + 1}'s distance); sources differ by "
                f"{100 * self.spread:.2f} % overall")
        if self.n_infinite:
            text += f"; {self.n_infinite} infinite distance(s)"
        return text if np.isfinite(self.margin) else (
            f"no margin beyond rank {self.k} (fewer sources or infinite distances)"
            + (f"; {self.n_infinite} infinite distance(s)" if self.n_infinite else ""))


def ranking_margin(distances: Sequence[float], k: int) -> RankingMargin:
    """:class:`RankingMargin` of a column of distances from every source to one target."""
    d = np.sort(np.asarray(distances, dtype=np.float64))
    infinite = ~np.isfinite(d) | (d >= OVERFLOW)
    finite = d[~infinite]
    k = max(1, min(int(k), len(d))) if len(d) else 0
    degenerate = None
    if len(d) and not len(finite):
        degenerate = "all-infinite"
    elif len(finite) > 1 and np.ptp(finite) <= EQUAL_RTOL * max(abs(finite).max(), np.finfo(float).tiny):
        degenerate = "all-equal"
    margin = rel = np.nan
    if 0 < k < len(d) and not infinite[k] and not infinite[k - 1]:
        margin = d[k] - d[k - 1]
        rel = margin / abs(d[k]) if d[k] != 0 else np.nan
    spread = float(np.ptp(finite) / abs(finite).max()) if len(finite) > 1 and abs(finite).max() > 0 else 0.0
    return RankingMargin(k, float(margin), float(rel), spread, int(infinite.sum()), degenerate)


def query_cloud(cloud, fp, distance: str | None = None, k: int = 3,
                exclude: Sequence[str] = ()) -> tuple[pd.DataFrame, RankingMargin, str | None]:
    """Query a knowledge cloud and say how far to trust the answer.

    Returns
    -------
    ranking : DataFrame
        The top ``k`` sources (all if ``k <= 0``) as :meth:`KnowledgeCloud.query` returns them.
    margin : RankingMargin
        Over all candidate sources (for ``k <= 0``: the margin after rank 1).
    warning : str or None
        :func:`~taskfp_lib.fingerprints.provenance.probe_warning` of the query and the sources.
    """
    kwargs = {} if distance is None else {"distance": distance}
    full = cloud.query(fp, k=0, exclude=list(exclude), **kwargs)
    margin = ranking_margin(full["distance"].to_numpy(), k if k and k > 0 else 1)
    warning = probe_warning([fp, *(cloud.get(s) for s in full["source"])])
    top = full.head(k) if k and k > 0 else full
    top.attrs = dict(full.attrs)                     # e.g. the cloud's quarantined entries
    return top, margin, warning


def _copy_outcome(column: pd.Series, original: str) -> dict[str, Any]:
    """Whether ``original`` is the nearest source in ``column`` and by what margin."""
    order = column.sort_values(kind="stable")
    nearest = str(order.index[0])
    d_orig = float(column[original])
    others = column.drop(original)
    runner = str(others.idxmin()) if len(others) else None
    d_runner = float(others.min()) if len(others) else np.nan
    margin = d_runner - d_orig
    return {"copy_nearest": nearest == original and bool(margin > 0),
            "rank_of_original": int(list(order.index).index(original)) + 1,
            "d_original": d_orig, "nearest_other": runner, "d_nearest_other": d_runner, "margin": margin,
            "relative_margin": margin / abs(d_runner) if np.isfinite(d_runner) and d_runner != 0 else np.nan}


def self_check_from(original, copy, others: Mapping[str, Any],
                    distances: Sequence[str] = (DEFAULT_DISTANCE,)) -> pd.DataFrame:
    """Self-check table from ready fingerprints: ``copy`` is the target, ``original`` and ``others`` the sources.

    Returns
    -------
    DataFrame, one row per distance: task, distance (paper label), copy_nearest (the original is the
    nearest source, strictly), rank_of_original, d_original, nearest_other, d_nearest_other, margin
    (:math:`d_{\\mathrm{other}} - d_{\\mathrm{original}}`, > 0 when the copy is recognised),
    relative_margin (margin / :math:`|d_{\\mathrm{other}}|`).
    """
    from ..distances import distance_matrix, get_distance

    sources = {n: f for n, f in others.items() if n != original.task}
    sources[original.task] = original
    rows = []
    for name in distances:
        spec = get_distance(name)
        column = distance_matrix(spec, sources, {copy.task: copy}, self_zero=False)[copy.task]
        rows.append({"task": original.task, "distance": spec.label, **_copy_outcome(column, original.task)})
    return pd.DataFrame(rows)


def self_check(task, ranges, extractor, others: Mapping[str, Any], original=None, *, seed: int = 0,
               copy_seed: int | None = None, n: int = 10_000, bins: Sequence[int] = (100, 1000),
               distances: Sequence[str] = (DEFAULT_DISTANCE,), **kwargs) -> pd.DataFrame:
    """Re-fingerprint ``task`` with another seed; is the copy nearest to the original among ``others``?

    Parameters
    ----------
    task : path or dataset
    ranges, extractor :
        As for :func:`~taskfp_lib.fingerprints.fingerprint_task`.
    others : mapping of name -> Fingerprint
        Competing source tasks (e.g. a knowledge cloud's fingerprints); an entry with the task's
        own name is replaced by ``original``.
    original : Fingerprint, optional
        The task's fingerprint (default: computed here with ``seed``).
    copy_seed : int, optional
        Seed of the copy (default ``seed + 1``): other draws and augmentations of the same images.
    distances : sequence of str
        Distances to check (default the paper's bKLD(small,target)).

    Returns
    -------
    DataFrame
        :func:`self_check_from`'s table; ``df.attrs["warning"]`` holds the probe warning (or None).
    """
    from ..fingerprints.pipeline import fingerprint_task

    if original is None:
        original = fingerprint_task(task, ranges, extractor, n=n, seed=seed, bins=bins, **kwargs)
    copy_seed = seed + 1 if copy_seed is None else int(copy_seed)
    copy = fingerprint_task(task, ranges, extractor, n=n, seed=copy_seed, bins=bins,
                            name=f"{original.task} (copy, seed {copy_seed})", **kwargs)
    table = self_check_from(original, copy, others, distances)
    table.attrs["warning"] = probe_warning([original, copy, *others.values()])
    return table


def margin_record(margin: RankingMargin) -> dict[str, Any]:
    """A :class:`RankingMargin` as a flat dict (for CSV files)."""
    return asdict(margin)
