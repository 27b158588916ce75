"""Is a matrix a distance (lower = closer) or a similarity given as one?

A similarity benchmarked as a distance ranks every source backwards. Three kinds of evidence, from
strongest to weakest:

1. **Self entries** -- a task against itself (the diagonal) or against its own shrunk variant. A
   distance has them at the column minima, a similarity at the maxima. When most defined self
   entries are column maxima, :func:`~taskfp_lib.benchmark.validation.validate_distance` refuses
   the matrix and names ``--similarity``.
2. **Image-sharing siblings** (:data:`taskfp_lib.tasks.TASK_GROUPS`) -- tasks cut from the same
   images are close under any sensible distance: their mean percentile within each other's columns
   is near 0 for the paper's distances (0.07-0.25) and near 1 for their inverses. Used when the
   self entries are undefined (e.g. ``1/FID``, whose diagonal is infinite).
3. **Scores below chance** -- after the evaluation, a measure whose mean percentile lies below the
   exact random expectation in every scenario (:func:`below_chance_note`).

(2) and (3) are indirect, so they produce notes that the report shows next to the verdict, never a
refusal.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ..tasks import TASK_GROUPS, base_name, task_group

SIMILARITY_FLAG = "--similarity"
#: fewest defined self entries for the self-entry evidence to decide
MIN_SELF_ENTRIES = 5
#: sibling percentile above which an undefined-diagonal matrix is called "like a similarity"
SIBLING_SIMILARITY_PERCENTILE = 0.75


@dataclass(frozen=True)
class DirectionEvidence:
    """Where the self entries and the image-sharing siblings sit within their columns.

    Attributes
    ----------
    n : int
        Columns with a finite self entry and at least two other finite entries.
    at_min, at_max : int
        How many of them hold the self entry strictly at the column minimum / maximum.
    n_siblings : int
        Finite (sibling source, column) entries.
    sibling_percentile : float
        Their mean percentile rank within the column's finite entries (self entry excluded):
        ``(rank - 1/2) / n``, near 0 for a distance, near 1 for a similarity; NaN without siblings.
    """

    n: int
    at_min: int
    at_max: int
    n_siblings: int
    sibling_percentile: float

    @property
    def refuse(self) -> bool:
        """The self entries say "similarity": mostly column maxima, more often than minima."""
        return self.n >= MIN_SELF_ENTRIES and self.at_max > self.n / 2 and self.at_max > self.at_min

    @property
    def note(self) -> str | None:
        """The advisory note when the self entries are too few to decide (else None)."""
        if self.n >= MIN_SELF_ENTRIES:
            return None
        defined = "No column has" if self.n == 0 else f"Only {self.n} columns have"
        text = (f"{defined} a defined self entry (a task against itself or its shrunk variant; NaN, infinite or "
                f"missing elsewhere), so the direction of the matrix could not be checked.")
        if self.n_siblings and self.sibling_percentile > SIBLING_SIMILARITY_PERCENTILE:
            text += (f" Tasks cut from the same images sit at the far end of each other's columns (mean percentile "
                     f"{self.sibling_percentile:.2f}; a distance puts them near 0): this looks like a similarity.")
        return text + (f" If higher means closer, rerun with {SIMILARITY_FLAG} (similarity=True); if lower means "
                       f"closer, pass --distance (similarity=False) to skip this check.")


def _self_entries(values: np.ndarray, rows: dict, columns) -> tuple[int, int, int]:
    n = at_min = at_max = 0
    for j, col in enumerate(columns):
        i = rows.get(base_name(col))
        if i is None:
            continue
        others = np.delete(values[:, j], i)
        others = others[np.isfinite(others)]
        if not np.isfinite(values[i, j]) or others.size < 2:
            continue
        n += 1
        at_min += bool(values[i, j] < others.min())
        at_max += bool(values[i, j] > others.max())
    return n, at_min, at_max


def _sibling_percentiles(values: np.ndarray, rows: dict, columns) -> list[float]:
    out = []
    for j, col in enumerate(columns):
        group = task_group(col)
        if group is None:
            continue
        ok = np.isfinite(values[:, j])
        if base_name(col) in rows:
            ok[rows[base_name(col)]] = False
        siblings = [rows[t] for t in TASK_GROUPS[group] if t in rows and t != base_name(col) and ok[rows[t]]]
        if not siblings or ok.sum() < 5:
            continue
        pct = np.full(values.shape[0], np.nan)
        pct[ok] = (rankdata(values[ok, j]) - 0.5) / ok.sum()
        out.extend(pct[siblings])
    return out


def similarity_evidence(dist: pd.DataFrame) -> DirectionEvidence:
    """The self-entry and sibling evidence of a matrix (rows = sources, columns = targets).

    Returns
    -------
    DirectionEvidence
    """
    values = dist.to_numpy(dtype=float)
    rows = {r: i for i, r in enumerate(dist.index)}
    n, at_min, at_max = _self_entries(values, rows, dist.columns)
    siblings = _sibling_percentiles(values, rows, dist.columns)
    return DirectionEvidence(n, at_min, at_max, len(siblings), float(np.mean(siblings)) if siblings else np.nan)


def similarity_message(evidence: DirectionEvidence, distance_flag: str) -> str:
    """The refusal message for self entries at the column maxima."""
    return (f"this looks like a similarity, not a distance: the self entries (task vs itself or its shrunk variant) "
            f"are the column maxima in {evidence.at_max} of {evidence.n} columns (minima in {evidence.at_min}). If "
            f"higher means closer, pass {SIMILARITY_FLAG} (similarity=True) to convert it; if it really is a distance, "
            f"pass {distance_flag} (similarity=False) to skip this check.")


def below_chance_note(meta_table: pd.DataFrame, name: str, chance_label: str) -> str | None:
    """A note when the measure's mean percentile is below the random expectation in every scenario.

    Parameters
    ----------
    meta_table : DataFrame
        :func:`~taskfp_lib.benchmark.report.meta_metric_table` with the chance rows.
    name : str
        The measure.
    chance_label : str
        Selector label of the chance rows.
    """
    pct = meta_table[meta_table["meta_metric"] == "percentile"]
    mine = pct[pct["selector"] == name].set_index("scenario")["mean"]
    chance = pct[pct["selector"] == chance_label].set_index("scenario")["mean"]
    common = mine.index.intersection(chance.index)
    if not len(common) or not (mine[common] < chance[common]).all():
        return None
    gap = float((chance[common] - mine[common]).mean())
    return (f"{name} scores below a random choice of sources in all {len(common)} scenarios (mean percentile "
            f"{gap:.3f} below the exact random expectation). A similarity given as a distance ranks every source "
            f"backwards: if higher means closer, rerun with {SIMILARITY_FLAG}.")


__all__ = ["DirectionEvidence", "SIMILARITY_FLAG", "below_chance_note", "similarity_evidence", "similarity_message"]
