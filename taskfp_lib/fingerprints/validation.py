"""Content checks of a fingerprint that crosses a lab boundary (load, save, cloud add/import/query).

The structural checks (shapes, finiteness, probability rows) run whenever a
:class:`~taskfp_lib.fingerprints.Fingerprint` is constructed. The checks here are about whether
the *numbers* can be those of an honest fingerprint; they stop the poisoning attacks of a
knowledge cloud (issue 11; the paper's Discussion names poisoned submissions as the open risk):

* the task name obeys :func:`taskfp_lib._safety.task_name_problem`;
* ``task_meta`` is small JSON and does not use an identity field's name;
* every mean feature is non-negative: the probe's features are post-ReLU, and the distances weight
  features by their means (P2L, bKLD source/target weighting);
* no mean feature lies further above its reference range than its histogram allows: every
  sample above the range's upper end falls into the top bin, and no sample exceeds that end by more
  than ``F`` range scales, so ``mean_j <= right_j + p_j * F * s_j`` with the range scale
  ``s_j = max(right_j - left_j, |right_j|, median_k(right_k - left_k))`` (the median floor: a feature
  that is almost always 0 on the reference tasks has a tiny range, which honest tasks that activate it
  exceed by any factor), ``[left_j, right_j]`` the histogram range of feature j (``torch.histc`` semantics), ``p_j``
  the top-bin mass (largest over the histogram sets) and ``F`` =
  :data:`~taskfp_lib.limits.MEAN_RANGE_FACTOR` = 100. Checked when the fingerprint carries its
  ranges (every fingerprint written by this version does; their sha256 must equal
  ``ranges_sha256``). A mean of 0 is honest (a feature the task never activates), so there is no
  lower bound besides non-negativity;
* the covariance is positive semi-definite: with eigenvalues ``l_1 <= ... <= l_m``,
  ``l_1 >= -PSD_RTOL * max(|l_1|, |l_m|)`` (``PSD_RTOL`` = 1e-8; an honest ``np.cov`` in float64
  has ``|l_1| < 1e-13 l_m`` when it is rank deficient).
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .._safety import task_name_problem
from ..limits import MAX_META_STRING_CHARS, MAX_TASK_META_FIELDS, MEAN_RANGE_FACTOR, PSD_RTOL
from .ranges import histc_bin_edges

#: names a ``task_meta`` field may not take: they are the fingerprint's identity and provenance
RESERVED_META_FIELDS = frozenset({"task", "n_samples", "bins", "n_features", "extractor", "weights", "ranges_sha256",
                                  "has_cov", "has_fisher", "seed", "created", "file", "kind", "format", "version",
                                  "probe", "pretrained", "ranges", "arrays", "task_meta", "library_version"})
_MAX_META_JSON_CHARS = 64 * 1024
_MAX_META_DEPTH = 4


class InvalidFingerprintError(ValueError):
    """A fingerprint's content cannot be that of an honest fingerprint (poisoned or corrupted)."""


def _json_depth(value: Any, depth: int = 0) -> int:
    if isinstance(value, dict):
        return max((_json_depth(v, depth + 1) for v in value.values()), default=depth + 1)
    if isinstance(value, list):
        return max((_json_depth(v, depth + 1) for v in value), default=depth + 1)
    return depth


def task_meta_problem(meta: Any) -> str | None:
    """Why ``meta`` is not an acceptable ``task_meta`` mapping, or None."""
    if not isinstance(meta, dict):
        return f"task_meta must be an object, got {type(meta).__name__}"
    if len(meta) > MAX_TASK_META_FIELDS:
        return f"task_meta has {len(meta)} fields (at most {MAX_TASK_META_FIELDS})"
    for key, value in meta.items():
        if not isinstance(key, str) or not key.isprintable() or not 0 < len(key) <= 64:
            return f"task_meta field name {str(key)[:40]!r} is not a short printable string"
        if key in RESERVED_META_FIELDS:
            return f"task_meta field {key!r} would override the fingerprint's identity"
        if isinstance(value, str) and len(value) > MAX_META_STRING_CHARS:
            return f"task_meta[{key!r}] is longer than {MAX_META_STRING_CHARS} characters"
        if isinstance(value, float) and not math.isfinite(value):
            return f"task_meta[{key!r}] is not finite"
    try:
        text = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as err:
        return f"task_meta is not plain JSON ({err})"
    if len(text) > _MAX_META_JSON_CHARS or _json_depth(meta) > _MAX_META_DEPTH:
        return f"task_meta is larger than {_MAX_META_JSON_CHARS} characters or nested deeper than {_MAX_META_DEPTH}"
    return None


def _mean_problem(fp) -> str | None:
    mean = fp.mean
    if (mean < 0).any():
        j = int(np.argmin(mean))
        return (f"mean feature {j} is negative ({mean[j]:.6g}); probe features are post-ReLU and the "
                "distances weight features by their means")
    if fp.ranges is None:
        return None
    if fp.ranges.sha256 != fp.ranges_sha256 or fp.ranges.n_features != fp.n_features:
        return "the reference ranges it carries do not match its ranges_sha256"
    left, right = histc_bin_edges(fp.ranges.lo, fp.ranges.hi)
    top = np.max([h[:, -1] for h in fp.histograms.values()], axis=0)    # mass at or above the range's end
    # a feature that is almost always 0 on the reference tasks has a tiny range; honest tasks that activate it
    # exceed that range by any factor, so the scale has a floor: the median range width over all features
    scale = np.maximum(np.maximum(right - left, np.abs(right)), np.median(right - left))
    high = right + top * MEAN_RANGE_FACTOR * scale
    bad = np.flatnonzero(mean > high * (1 + 1e-12))
    if bad.size:
        j = int(bad[0])
        return (f"mean feature {j} = {mean[j]:.6g} exceeds {high[j]:.6g}, the most its histogram allows (top-bin "
                f"mass {top[j]:.3g} at up to {MEAN_RANGE_FACTOR:g} range scales above the reference range; "
                f"{bad.size} features in all)")
    return None


def _cov_problem(cov: np.ndarray | None) -> str | None:
    if cov is None:
        return None
    if (np.diag(cov) < 0).any():
        return "covariance is not positive semi-definite (a negative variance on its diagonal)"
    eig = np.linalg.eigvalsh(cov)
    scale = max(abs(float(eig[0])), abs(float(eig[-1])))
    if eig[0] < -PSD_RTOL * scale:
        return (f"covariance is not positive semi-definite (smallest eigenvalue {eig[0]:.6g}, largest "
                f"{eig[-1]:.6g}, tolerance {PSD_RTOL:g} x the largest magnitude)")
    return None


def content_problem(fp) -> str | None:
    """The first reason why ``fp`` cannot be an honest fingerprint, or None (see the module text)."""
    problem = task_name_problem(fp.task)
    if problem:
        return f"task name {fp.task[:60]!r} {problem}" if isinstance(fp.task, str) else f"task name {problem}"
    return task_meta_problem(fp.task_meta) or _mean_problem(fp) or _cov_problem(fp.cov)


def check_content(fp, where: str = "") -> None:
    """Raise :class:`InvalidFingerprintError` (message starts with ``where``) if ``fp`` fails a check."""
    problem = content_problem(fp)
    if problem:
        prefix = where or f"fingerprint {fp.task!r}"
        raise InvalidFingerprintError(f"{prefix}: {problem}")
