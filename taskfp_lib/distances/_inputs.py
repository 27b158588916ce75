"""Validation and normalisation of the inputs of the distance kernels.

Fingerprints travel between labs, so a kernel treats its inputs as untrusted: every refusal is a
:class:`DistanceInputError` whose one-line message names the distance, the side (source or target)
and the offending entries (task names where the caller passed them, else row positions), so that a
knowledge cloud can report -- or set aside -- the bad entry instead of failing without a culprit.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np

#: the largest mean feature a fingerprint can hold: probe features are float32, so a mean above the
#: float32 range cannot be a mean of probe features (it is an overflow or a forged value)
FEATURE_MAX = float(np.finfo(np.float32).max)
#: stacked inputs above this many bytes are processed in blocks of tasks (see :func:`pair_blocks`)
MEMORY_BUDGET_BYTES = 1 << 30
#: temporaries of one block inside a kernel stay below this many bytes
BLOCK_BYTES = 32 << 20


class DistanceInputError(ValueError):
    """An input of a distance kernel is invalid.

    Attributes
    ----------
    distance : str
        The distance (or kernel) that refused the input.
    side : str
        ``"source"`` or ``"target"``.
    entries : tuple of str
        Task names (or ``"#<row>"`` positions, when the caller passed no names) of every offending entry.
    """

    def __init__(self, distance: str, side: str, entries: Sequence[str], problem: str, named: bool = True):
        self.distance, self.side, self.entries = distance, side, tuple(entries)
        shown = ", ".join(repr(e) if named else e for e in self.entries[:5])
        more = f" and {len(self.entries) - 5} more" if len(self.entries) > 5 else ""
        super().__init__(f"{distance}: {side} {shown}{more}: {problem}")


def entry_names(names: Sequence[str] | None, n: int) -> list[str]:
    """Task names of ``n`` stacked entries, or their positions ``#0, #1, ...`` when none are given."""
    if names is None:
        return [f"#{i}" for i in range(n)]
    names = [str(x) for x in names]
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} stacked entries")
    return names


def refuse_rows(distance: str, side: str, names: Sequence[str] | None, bad: np.ndarray, problem: str) -> None:
    """Raise :class:`DistanceInputError` naming every entry where the boolean vector ``bad`` is set."""
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        labels = entry_names(names, bad.shape[0])
        raise DistanceInputError(distance, side, [labels[i] for i in np.flatnonzero(bad)], problem,
                                 named=names is not None)


def as_stack(distance: str, side: str, x, ndim: int, names: Sequence[str] | None = None) -> np.ndarray:
    """``x`` as a C-contiguous float64 array of ``ndim`` dimensions (no copy when it already is one)."""
    a = np.ascontiguousarray(x, dtype=np.float64)
    if a.ndim != ndim:
        raise ValueError(f"{distance}: {side} input must have {ndim} dimensions (n_tasks first), got shape {a.shape}")
    if names is not None:
        entry_names(names, a.shape[0])
    return a


def check_means(distance: str, side: str, means, names: Sequence[str] | None, *, n: int | None = None,
                m: int | None = None, nonnegative: bool = True) -> np.ndarray:
    r"""Validated mean feature vectors, shape (n_tasks, n_features), float64.

    Refused, naming the entries: non-finite values; values beyond :data:`FEATURE_MAX` (a mean of
    float32 probe features cannot exceed the float32 range, so such a value is an overflow); with
    ``nonnegative``, negative values (the probe features are post-ReLU, Methods, "Task
    fingerprinting") and vectors whose sum is not positive (they cannot be L1-normalised).
    """
    a = as_stack(distance, side, means, 2, names)
    if (n is not None and a.shape[0] != n) or (m is not None and a.shape[1] != m):
        raise ValueError(f"{distance}: {side} mean features have shape {a.shape}, expected ({n}, {m})")
    refuse_rows(distance, side, names, ~np.isfinite(a).all(axis=1), "mean features are not finite")
    refuse_rows(distance, side, names, (np.abs(a) > FEATURE_MAX).any(axis=1),
                f"a mean feature exceeds the float32 range of probe features ({FEATURE_MAX:.3g}): overflow")
    if nonnegative:
        refuse_rows(distance, side, names, (a < 0).any(axis=1),
                    "mean features must be non-negative (post-ReLU probe features)")
        refuse_rows(distance, side, names, ~(a.sum(axis=1) > 0), "mean features sum to zero")
    return a


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    r"""Numerically stable :math:`\mathrm{soft}(x)_k = e^{x_k} / \sum_l e^{x_l}` along ``axis`` (float64)."""
    x = np.asarray(x, dtype=np.float64)
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def l1_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    r""":math:`x / \sum x` along ``axis`` (float64)."""
    x = np.asarray(x, dtype=np.float64)
    return x / x.sum(axis=axis, keepdims=True)


def pair_blocks(n_sources: int, n_targets: int, item_bytes: int,
                budget: int | None = None) -> Iterator[tuple[slice, slice]]:
    """Blocks (sources, targets) whose stacked inputs of ``item_bytes`` per task fit in ``budget``.

    One block when everything fits; otherwise the targets (then the sources) are split so that the
    stacked sources plus targets of one block stay within the budget (at least one task each).
    ``budget`` defaults to :data:`MEMORY_BUDGET_BYTES` (read at call time).
    """
    budget = MEMORY_BUDGET_BYTES if budget is None else budget
    per = max(1, int(budget) // max(1, int(item_bytes)))
    if n_sources + n_targets <= per:
        yield slice(0, n_sources), slice(0, n_targets)
        return
    sb = max(1, min(n_sources, per // 2))
    tb = max(1, min(n_targets, per - sb))
    for s0 in range(0, n_sources, sb):
        for t0 in range(0, n_targets, tb):
            yield slice(s0, s0 + sb), slice(t0, t0 + tb)


def blockwise(sources: Sequence[Any], targets: Sequence[Any], item_bytes: Callable[[Any], int],
              compute: Callable[[list, list], np.ndarray], budget: int | None = None) -> np.ndarray:
    """``compute(source_block, target_block)`` over :func:`pair_blocks`, assembled to (n_sources, n_targets).

    ``item_bytes(item)`` is the size of one task's stacked input (asked of the first item); an empty
    side gives an empty matrix without calling ``compute``.
    """
    sources, targets = list(sources), list(targets)
    out = np.empty((len(sources), len(targets)))
    if out.size:
        for ss, ts in pair_blocks(len(sources), len(targets), item_bytes(sources[0]), budget):
            out[ss, ts] = compute(sources[ss], targets[ts])
    return out


def require(distance: str, items: Sequence[Any], attribute: str, hint: str) -> None:
    """Refuse, naming them, fingerprints whose ``attribute`` is None (e.g. no covariance for FID)."""
    missing = [str(fp.task) for fp in items if getattr(fp, attribute) is None]
    if missing:
        raise ValueError(f"{distance} needs {hint}; fingerprints without: {missing}")


def task_names(items: Sequence[Any]) -> list[str]:
    """The ``task`` names of fingerprints."""
    return [str(fp.task) for fp in items]
