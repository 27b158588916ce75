"""Per-feature reference ranges and histogram binning (spec 3.4, "Binned fingerprint").

A binned fingerprint is only comparable with another one if both were binned over the *same*
per-feature ranges ``[lo_j, hi_j]``. In the paper these are the 5 % / 95 % linear quantiles of
each of the 512 ResNet34 features over the stacked features of the 28 development tasks. The
ranges therefore belong to one extractor (architecture + weights): a reference-range file records
that identity, is versioned, and is identified by a sha256 that every fingerprint carries.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ._io import FileFormatError, canonical_json, read_npz_with_metadata, write_npz_with_metadata

RANGES_FORMAT = "taskfp-reference-ranges"
RANGES_VERSION = 1
#: the paper's quantiles for every bin count except 5 (spec 3.4)
DEFAULT_QUANTILES = (0.05, 0.95)


def histc_bin_edges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Effective histogram range per feature with ``torch.histc`` semantics.

    Where ``lo == hi`` (e.g. a feature that is constant on the reference set) ``torch.histc``
    widens the range to ``[lo - 1, hi + 1]``; this function does the same.
    """
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    degenerate = hi <= lo
    return np.where(degenerate, lo - 1.0, lo), np.where(degenerate, lo + 1.0, hi)


def bin_features(features: np.ndarray, lo: np.ndarray, hi: np.ndarray, bins: int) -> np.ndarray:
    """Per-feature normalised histograms of ``features`` over fixed ranges.

    For every feature j the values are clipped into ``[lo_j, hi_j]`` and counted in ``bins``
    equal-width bins over that interval, with the semantics of ``torch.histc`` (bin index
    ``floor((x - lo) * bins / (hi - lo))``; the upper edge ``hi`` falls into the last bin;
    a degenerate range ``lo == hi`` is widened to ``[lo - 1, lo + 1]``). The counts are divided
    by their total, so every row is a probability vector.

    Parameters
    ----------
    features : ndarray of shape (n_samples, n_features)
    lo, hi : ndarray of shape (n_features,)
    bins : int

    Returns
    -------
    hist : ndarray of shape (n_features, bins), float64, rows sum to 1
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D (n_samples, n_features), got shape {x.shape}")
    n, m = x.shape
    if n == 0:
        raise ValueError("cannot bin an empty feature set")
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    if lo.shape != (m,) or hi.shape != (m,):
        raise ValueError(f"ranges have shape {lo.shape}/{hi.shape}, features have {m} columns")
    if bins < 1:
        raise ValueError("bins must be >= 1")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    x = np.clip(x, lo, hi)
    left, right = histc_bin_edges(lo, hi)
    idx = np.floor((x - left) * bins / (right - left)).astype(np.int64)
    np.clip(idx, 0, bins - 1, out=idx)
    flat = idx + (np.arange(m, dtype=np.int64) * bins)[None, :]
    counts = np.bincount(flat.ravel(), minlength=m * bins).reshape(m, bins)
    return counts / float(n)


@dataclass(frozen=True)
class ReferenceRanges:
    """Fixed per-feature histogram ranges of one feature extractor.

    Attributes
    ----------
    lo, hi : ndarray of shape (n_features,)
        Lower/upper range per feature (the ``quantiles`` of the reference features).
    extractor : dict
        Identity of the extractor the ranges belong to: at least ``name`` (timm architecture)
        and ``weights`` (e.g. ``"timm:timm/resnet34.a1_in1k"``, ``"file:sha256:<hex>"``).
    quantiles : tuple of float
        Quantiles used (the paper: 5 % and 95 %, numpy linear interpolation).
    reference : dict
        Free-form provenance of the reference feature set (task names, samples per task, seed).
    """

    lo: np.ndarray
    hi: np.ndarray
    extractor: Mapping[str, Any]
    quantiles: tuple[float, float] = DEFAULT_QUANTILES
    reference: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        lo = np.asarray(self.lo, dtype=np.float64)
        hi = np.asarray(self.hi, dtype=np.float64)
        if lo.ndim != 1 or lo.shape != hi.shape:
            raise ValueError(f"lo/hi must be 1-D of equal length, got {lo.shape} and {hi.shape}")
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            raise ValueError("reference ranges contain NaN or infinite values")
        if (hi < lo).any():
            raise ValueError(f"reference ranges have hi < lo for {int((hi < lo).sum())} features")
        if "name" not in self.extractor or "weights" not in self.extractor:
            raise ValueError("extractor identity needs 'name' and 'weights'")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)
        object.__setattr__(self, "quantiles", tuple(float(q) for q in self.quantiles))
        object.__setattr__(self, "extractor", dict(self.extractor))
        object.__setattr__(self, "reference", dict(self.reference))

    @property
    def n_features(self) -> int:
        return int(self.lo.shape[0])

    def __repr__(self) -> str:
        return (f"ReferenceRanges({self.n_features} features, quantiles={self.quantiles}, "
                f"weights={self.extractor.get('weights')!r}, sha256={self.sha256[:12]}...)")

    @property
    def sha256(self) -> str:
        """Identity of the ranges: sha256 over format version, extractor, quantiles and lo/hi."""
        h = hashlib.sha256()
        h.update(canonical_json({"format": RANGES_FORMAT, "version": RANGES_VERSION,
                                 "extractor": self.extractor, "quantiles": list(self.quantiles)}).encode())
        h.update(self.lo.astype("<f8").tobytes())
        h.update(self.hi.astype("<f8").tobytes())
        return h.hexdigest()

    def bin(self, features: np.ndarray, bins: int) -> np.ndarray:
        """Histograms of ``features`` (n_samples, n_features) -> (n_features, bins)."""
        return bin_features(features, self.lo, self.hi, bins)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the range file atomically (NPZ + JSON metadata, no pickle)."""
        path = Path(path)
        meta = {"format": RANGES_FORMAT, "version": RANGES_VERSION, "extractor": self.extractor,
                "quantiles": list(self.quantiles), "reference": self.reference,
                "n_features": self.n_features, "sha256": self.sha256}
        write_npz_with_metadata(path, {"lo": self.lo.astype("<f8"), "hi": self.hi.astype("<f8")}, meta)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ReferenceRanges":
        """Load and validate a range file (format, version, shapes, checksums, sha256)."""
        meta, arrays = read_npz_with_metadata(path, RANGES_FORMAT, (RANGES_VERSION,))
        if set(arrays) != {"lo", "hi"}:
            raise FileFormatError(f"{path}: a range file holds exactly 'lo' and 'hi'")
        try:
            obj = cls(lo=arrays["lo"], hi=arrays["hi"], extractor=meta["extractor"],
                      quantiles=tuple(meta["quantiles"]), reference=meta.get("reference", {}))
        except (KeyError, TypeError, ValueError) as err:
            raise FileFormatError(f"{path}: invalid reference ranges ({err})") from None
        if meta.get("sha256") != obj.sha256:
            raise FileFormatError(f"{path}: recorded sha256 does not match the content")
        return obj


def build_reference_ranges(features: np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray],
                           extractor: Mapping[str, Any],
                           quantiles: tuple[float, float] = DEFAULT_QUANTILES,
                           reference: Mapping[str, Any] | None = None) -> ReferenceRanges:
    """Build reference ranges from a reference feature set.

    ``lo_j, hi_j = np.quantile(F[:, j], quantiles, method="linear")`` where ``F`` stacks the
    features of all reference tasks (the paper: 10,000 features of each of the 28 development
    tasks, ImageNet ResNet34, quantiles 5 %/95 %).

    Parameters
    ----------
    features : ndarray of shape (n_samples, n_features), or a sequence / mapping of such arrays
        Stacked along the sample axis. With a mapping, its keys are recorded as the reference
        task names.
    extractor : dict
        Extractor identity (``FeatureExtractor.identity``), at least ``name`` and ``weights``.
    quantiles : (float, float)
    reference : dict, optional
        Extra provenance stored in the file.
    """
    ref = dict(reference or {})
    if isinstance(features, Mapping):
        ref.setdefault("tasks", list(features))
        ref.setdefault("samples_per_task", [int(np.asarray(v).shape[0]) for v in features.values()])
        arrays = [np.asarray(v, dtype=np.float64) for v in features.values()]
    elif isinstance(features, np.ndarray):
        arrays = [np.asarray(features, dtype=np.float64)]
    else:
        arrays = [np.asarray(v, dtype=np.float64) for v in features]
    if not arrays or any(a.ndim != 2 for a in arrays) or len({a.shape[1] for a in arrays}) != 1:
        raise ValueError("reference features must be 2-D arrays with the same number of columns")
    stacked = np.concatenate(arrays, axis=0)
    q = np.quantile(stacked, list(quantiles), axis=0, method="linear")
    ref.setdefault("n_samples", int(stacked.shape[0]))
    return ReferenceRanges(lo=q[0], hi=q[1], extractor=extractor, quantiles=tuple(quantiles), reference=ref)
