"""Validation of a raw distance matrix before it is benchmarked: a list of small named checks.

A distance matrix comes from another lab (a CSV file or a DataFrame) and is hostile input: every
check below either passes, normalises the matrix, or raises :class:`DistanceValidationError` with a
one-line message that names the file, the offending rows/columns and the flag or fix. The checks run
in the order of :data:`CHECKS`; :func:`validate_distance` runs them all.

The published layout (paper, Methods "Validation of knowledge transfer quality"): rows = the 71
source tasks, columns = the 127 target names (the 71 tasks and the 56 ``<task> --shrink_train 800``
variants), lower = closer. Every scenario is evaluated on the shrunk targets, so a validation
target ``t`` reads the column ``shrunk_name(t)`` at the valid sources of ``t``
(:func:`evaluated_pairs`).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..evaluation.selection import SelectionTieError, top_k_indices
from ..tasks import (ALL_TASKS, ALL_TASKS_INCLUDING_SHRUNK, SHRINK_SUFFIX, VAL_TASKS, shrunk_name, to_old_style,
                     valid_sources)
from ..upstream.readers import read_distance_csv
from .direction import SIMILARITY_FLAG, similarity_evidence, similarity_message

DISTANCE_FLAG = "--distance"
TRANSPOSE_FLAG = "--transpose"
PARTIAL_FLAG = "--allow-partial"
#: largest distance CSV read (bytes); a 71 x 127 matrix at full float precision is about 200 kB
MAX_CSV_BYTES = 16 << 20


class DistanceValidationError(ValueError):
    """A distance matrix that cannot be benchmarked as given; the message says what to change."""


def evaluated_pairs(targets: Sequence[str] = VAL_TASKS, target_ref: Callable[[str], str] = shrunk_name,
                    sources: Sequence[str] = ALL_TASKS,
                    columns: Sequence[str] = ALL_TASKS_INCLUDING_SHRUNK) -> pd.DataFrame:
    """Boolean matrix (sources x columns): is the pair read by the benchmark.

    A target ``t`` reads the column ``target_ref(t)`` (default: its shrunk variant, as the paper
    evaluates every scenario on shrunk targets) at its valid sources. Other pairs (the diagonal,
    unread targets, full-size columns of shrinkable targets) may be NaN.

    Returns
    -------
    DataFrame of bool, shape (len(sources), len(columns))
    """
    mask = pd.DataFrame(False, index=list(sources), columns=list(columns))
    for t in targets:
        col = target_ref(t)
        if col in mask.columns:
            mask.loc[[s for s in valid_sources(t) if s in mask.index], col] = True
    return mask


def format_names(names, limit: int = 6) -> str:
    """``'a', 'b', ... (12 in all)``: the first ``limit`` names of a list, quoted."""
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _with_suggestions(names: Sequence[str], pool: Sequence[str], limit: int = 6) -> str:
    """Names with a ``(did you mean ...?)`` for each close match in ``pool``."""
    parts = []
    for name in names[:limit]:
        close = difflib.get_close_matches(name, pool, n=1, cutoff=0.75)
        parts.append(repr(name) + (f" (did you mean {close[0]!r}?)" if close else ""))
    return ", ".join(parts) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


@dataclass
class DistanceInput:
    """A matrix on its way through the checks.

    Attributes
    ----------
    frame : DataFrame
        The matrix; after :func:`check_numeric`, float64 in the published order (71 x 127).
    source : str
        Name in the messages (the file path).
    targets : list of str
        Targets whose pairs are evaluated (default: the 43 validation targets).
    similarity, allow_partial, k
        The options of :func:`validate_distance`.
    notes : list of str
        Advisory findings that do not stop the benchmark (e.g. an undefined diagonal).
    """

    frame: pd.DataFrame
    source: str
    targets: list[str]
    similarity: bool | None = None
    allow_partial: bool = False
    k: int = 3
    notes: list[str] = field(default_factory=list)

    def fail(self, message: str) -> DistanceValidationError:
        """The error to raise, prefixed with the source."""
        return DistanceValidationError(f"{self.source}: {message}")

    @property
    def mask(self) -> pd.DataFrame:
        """:func:`evaluated_pairs` of the targets (computed once)."""
        if "_mask" not in self.__dict__:
            self.__dict__["_mask"] = evaluated_pairs(self.targets)
        return self.__dict__["_mask"]


# --- the checks, in order --------------------------------------------------------------------------------

def check_orientation(m: DistanceInput) -> None:
    """Targets as rows (shrunk names among the rows, only source tasks as columns): name ``--transpose``."""
    rows, cols = list(m.frame.index), list(m.frame.columns)
    shrunk_rows = [r for r in rows if r.endswith(SHRINK_SUFFIX)]
    if shrunk_rows and set(cols) <= set(ALL_TASKS):
        raise m.fail(f"wrong orientation: the matrix has {len(rows)} rows including shrunk target names "
                     f"(e.g. {shrunk_rows[0]!r}) and {len(cols)} columns that are all source tasks; the published "
                     f"layout is rows = 71 source tasks, columns = 127 targets. Transpose it (pandas: df.T) or "
                     f"pass {TRANSPOSE_FLAG} (transpose=True).")


def check_unique_names(m: DistanceInput) -> None:
    """No row or column name twice."""
    for axis, names in (("row", m.frame.index), ("column", m.frame.columns)):
        dup = pd.Index(names)[pd.Index(names).duplicated()].unique().tolist()
        if dup:
            raise m.fail(f"duplicate {axis} name(s) {format_names(dup)}")


def check_source_rows(m: DistanceInput) -> None:
    """The rows are exactly the 71 source tasks (typos get a suggestion)."""
    rows = list(m.frame.index)
    missing = [t for t in ALL_TASKS if t not in set(rows)]
    extra = [r for r in rows if r not in set(ALL_TASKS)]
    if not (missing or extra):
        return
    parts = [f"missing source row(s) {format_names(missing)}"] if missing else []
    if extra:
        hint = ("; shrunk names are targets (columns), never sources (rows)"
                if any(r.endswith(SHRINK_SUFFIX) for r in extra) else "")
        parts.append(f"unknown row name(s) {_with_suggestions(extra, ALL_TASKS)}{hint}")
    raise m.fail("the rows must be the 71 source tasks of the paper: " + "; ".join(parts))


def check_target_columns(m: DistanceInput) -> None:
    """Every column is one of the 127 target names."""
    extra = [c for c in m.frame.columns if c not in set(ALL_TASKS_INCLUDING_SHRUNK)]
    if extra:
        raise m.fail(f"unknown target column name(s) {_with_suggestions(extra, ALL_TASKS_INCLUDING_SHRUNK)}; "
                     f"columns must be the 71 tasks and their '<task>{SHRINK_SUFFIX}' variants")


def check_required_columns(m: DistanceInput) -> None:
    """Every evaluated column is there; other missing columns only with ``allow_partial``."""
    needed = {c for c in ALL_TASKS_INCLUDING_SHRUNK if m.mask[c].any()}
    missing = [c for c in ALL_TASKS_INCLUDING_SHRUNK if c not in set(m.frame.columns)]
    missing_needed = [c for c in missing if c in needed]
    if missing_needed or (missing and not m.allow_partial):
        extra = "" if missing_needed else f" (none of them is evaluated: pass {PARTIAL_FLAG} / allow_partial=True)"
        which = "43 validation targets" if list(m.targets) == list(VAL_TASKS) else f"{len(m.targets)} evaluated targets"
        raise m.fail(f"missing target column(s) {format_names(missing)}{extra}; the benchmark reads {len(needed)} "
                     f"columns (the shrunk variant of each of the {which} where one exists)")


def check_numeric(m: DistanceInput) -> None:
    """Numbers only; the matrix is put into the published order (absent columns NaN)."""
    try:
        frame = m.frame.astype(np.float64)
    except (ValueError, TypeError) as err:
        raise m.fail(f"non-numeric values ({err})") from None
    m.frame = frame.reindex(index=ALL_TASKS, columns=ALL_TASKS_INCLUDING_SHRUNK)


def _pairs(m: DistanceInput, where: np.ndarray, limit: int) -> tuple[int, str]:
    pairs = [(m.frame.index[i], m.frame.columns[j]) for i, j in zip(*np.nonzero(where))]
    return len(pairs), format_names(pairs, limit)


def check_finite_evaluated(m: DistanceInput) -> None:
    """Every evaluated pair is finite; an infinite value elsewhere (an undefined diagonal) becomes NaN.

    Unevaluated entries only enter the affinity's global z-score, where an infinity would make every
    affinity undefined; as NaN they are left out (the selections do not depend on them).
    """
    values = m.frame.to_numpy()
    bad = m.mask.to_numpy() & ~np.isfinite(values)
    if bad.any():
        n, shown = _pairs(m, bad, 4)
        raise m.fail(f"{n} evaluated (source, target) pair(s) are NaN or infinite, e.g. {shown}; every valid source "
                     f"of every evaluated target column needs a finite value (the diagonal and never-evaluated "
                     f"pairs may be NaN)")
    if np.isinf(values).any():
        m.frame = m.frame.mask(np.isinf(values))


def check_not_constant(m: DistanceInput) -> None:
    """No evaluated column is constant over its valid sources (it could not rank them)."""
    values, mask = m.frame.to_numpy(), m.mask.to_numpy()
    for j in np.flatnonzero(mask.any(axis=0)):
        col = values[mask[:, j], j]
        if np.all(col == col[0]):
            raise m.fail(f"column {m.frame.columns[j]!r} is constant ({col[0]!r}) over its {col.size} valid "
                         f"sources: it cannot rank them")


def check_direction(m: DistanceInput) -> None:
    """Lower = closer: a similarity is refused (or converted with ``similarity=True``).

    ``similarity=None``: when the self entries (a task against itself or its shrunk variant) are
    mostly column maxima, raise naming ``--similarity``; when too few self entries are defined to
    tell, a note for the report says so. ``True``: convert ``S`` to ``max(S) + 1 - S``.
    """
    if m.similarity:
        finite = m.frame.to_numpy()[np.isfinite(m.frame.to_numpy())]
        m.frame = (finite.max() + 1.0) - m.frame  # rank-preserving negation, strictly positive
        return
    if m.similarity is False:
        return
    evidence = similarity_evidence(m.frame)
    if evidence.refuse:
        raise m.fail(similarity_message(evidence, DISTANCE_FLAG))
    if evidence.note:
        m.notes.append(evidence.note)


def check_nonzero_evaluated(m: DistanceInput) -> None:
    """No evaluated pair is exactly 0 (the affinity transform drops 0 as a self-distance)."""
    zeros = m.mask.to_numpy() & (m.frame.to_numpy() == 0)
    if zeros.any():
        n, shown = _pairs(m, zeros, 3)
        raise m.fail(f"{n} evaluated pair(s) are exactly 0, e.g. {shown}; the affinity transform treats 0 as a "
                     f"self-distance and drops it. Add a positive constant to the whole matrix (the global z-score "
                     f"makes this harmless).")


def check_no_top_k_tie(m: DistanceInput) -> None:
    """No tie at the top-k cut-off of an evaluated column (the selection would be ambiguous).

    Uses the selection of the evaluation (:func:`taskfp_lib.evaluation.selection.top_k_indices`).
    """
    mask = m.mask.to_numpy()
    affinity = np.where(mask, -m.frame.to_numpy(), np.nan)
    columns = np.flatnonzero(mask.sum(axis=0) > m.k)
    try:
        top_k_indices(affinity[:, columns], m.k)
        return
    except SelectionTieError:
        pass
    tied = []
    for j in columns:
        try:
            top_k_indices(affinity[:, [j]], m.k)
        except SelectionTieError:
            tied.append(j)
    j = tied[0]
    kth = np.sort(affinity[mask[:, j], j])[::-1][m.k - 1]
    names = [m.frame.index[i] for i in np.flatnonzero(affinity[:, j] == kth)]
    raise m.fail(f"tie at the top-{m.k} cut-off in {len(tied)} column(s), e.g. {m.frame.columns[j]!r}: sources "
                 f"{format_names(names, 4)} share the distance {-kth!r}; the selection would be ambiguous. Break the "
                 f"ties (e.g. add a tiny task-specific offset).")


#: the checks of :func:`validate_distance`, in the order they run
CHECKS: tuple[Callable[[DistanceInput], None], ...] = (
    check_orientation, check_unique_names, check_source_rows, check_target_columns, check_required_columns,
    check_numeric, check_finite_evaluated, check_not_constant, check_direction, check_nonzero_evaluated,
    check_no_top_k_tie,
)


def normalised_input(dist, *, transpose: bool = False, source: str = "distance matrix",
                     targets: Sequence[str] = VAL_TASKS, **options) -> DistanceInput:
    """A :class:`DistanceInput` with stripped, old-style task names (transposed first if asked)."""
    if not isinstance(dist, pd.DataFrame):
        raise DistanceValidationError(f"{source}: expected a pandas DataFrame, got {type(dist).__name__}")
    frame = (dist.T if transpose else dist).copy()
    frame.index = [to_old_style(str(i).strip()) for i in frame.index]
    frame.columns = [to_old_style(str(c).strip()) for c in frame.columns]
    return DistanceInput(frame, source, list(targets), **options)


def validate_distance(dist: pd.DataFrame, *, similarity: bool | None = None, transpose: bool = False,
                      allow_partial: bool = False, k: int = 3, source: str = "distance matrix",
                      targets: Sequence[str] = VAL_TASKS, notes: list | None = None) -> pd.DataFrame:
    """Check a raw distance matrix for the benchmark and return it in the published layout.

    Parameters
    ----------
    dist : DataFrame
        Rows = the 71 source tasks, columns = the 127 target names (new-style ``+shrink_train?800``
        tags are accepted). Lower = closer. Any row/column order.
    similarity : bool or None
        ``None`` (default): a distance; a matrix whose self entries sit at the column maxima is
        refused naming ``--similarity``. ``True``: a similarity (higher = closer), converted to the
        distance ``max(S) + 1 - S`` (the affinities are those of ``-S``). ``False``: a distance,
        without the direction check.
    transpose : bool
        The matrix is given as targets x sources.
    allow_partial : bool
        Accept missing target columns that are not evaluated.
    k : int
        Budget of the evaluation (ties at the top-k cut-off are refused).
    source : str
        Name used in the messages (e.g. the file path).
    targets : sequence of str
        Targets whose pairs are checked (default: the 43 validation targets; the development
        comparison adds the development targets).
    notes : list, optional
        Receives the advisory notes (e.g. "the diagonal is undefined, the direction could not be
        checked") that the report shows.

    Returns
    -------
    DataFrame, shape (71, 127)
        float64 raw distances in the published order (absent columns, and infinities outside the
        evaluated pairs, NaN).

    Raises
    ------
    DistanceValidationError
        From the first failing check of :data:`CHECKS`.
    """
    m = normalised_input(dist, transpose=transpose, source=source, targets=targets, similarity=similarity,
                         allow_partial=allow_partial, k=k)
    for check in CHECKS:
        check(m)
    if notes is not None:
        notes.extend(m.notes)
    return m.frame


def read_distance(path, **kwargs) -> pd.DataFrame:
    """Read a distance CSV (published layout; a regular file of at most :data:`MAX_CSV_BYTES`) and
    :func:`validate_distance` it."""
    path = Path(path)
    if not path.is_file():
        raise DistanceValidationError(f"{path}: no such file (or not a regular file)")
    if path.stat().st_size > MAX_CSV_BYTES:
        raise DistanceValidationError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_CSV_BYTES} bytes a "
                                      f"distance CSV may have (the published 71 x 127 matrices have about 200 kB)")
    try:
        df = read_distance_csv(path)
    except ValueError as err:
        raise DistanceValidationError(str(err)) from None
    return validate_distance(df, source=str(path), **kwargs)


__all__ = ["CHECKS", "DISTANCE_FLAG", "DistanceInput", "DistanceValidationError", "SIMILARITY_FLAG",
           "TRANSPOSE_FLAG", "evaluated_pairs", "read_distance", "validate_distance"]
