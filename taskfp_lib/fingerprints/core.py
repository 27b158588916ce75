"""The :class:`Fingerprint` of a task and its file format."""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ._io import FileFormatError, read_npz_with_metadata, write_npz_with_metadata
from .ranges import ReferenceRanges

FINGERPRINT_FORMAT = "taskfp-fingerprint"
FINGERPRINT_VERSION = 1
#: privacy floor: a shareable fingerprint summarises at least this many draws ...
MIN_SAMPLES = 100
#: ... of at least this many distinct images
MIN_IMAGES = 10
#: bin counts of the paper's recommended selectors: bKLD(small, target) and bKLD(large, ...)
DEFAULT_BINS = (100, 1000)
_PROB_ATOL = 1e-9


class IncompatibleFingerprintsError(ValueError):
    """Two fingerprints (or a fingerprint and a cloud) cannot be compared."""


@dataclass
class Fingerprint:
    """Privacy-preserving summary of a classification task (no per-image feature is kept).

    Attributes
    ----------
    task : str
        Task name (used as row/column label in distance matrices).
    histograms : dict of int -> ndarray of shape (n_features, bins)
        Per-feature probability histograms over the reference ranges (rows sum to 1).
    mean : ndarray of shape (n_features,)
        Mean feature vector (P2L, bKLD feature weights).
    cov : ndarray of shape (n_features, n_features) or None
        Unbiased feature covariance (FID).
    fisher : ndarray of shape (n_params,) or None
        Diagonal Fisher embedding of the probe network (FED).
    n_samples : int
        Number of draws the statistics summarise.
    seed : int or None
    extractor : dict
        Extractor identity (``FeatureExtractor.identity``).
    ranges_sha256 : str
        sha256 of the reference-range file the histograms were binned with.
    task_meta : dict
        ``num_classes``, ``num_images`` and any user-supplied metadata.
    fisher_meta : dict or None
    probe : dict
        Provenance of the probe (``source``, ``pretrained``, ``weights_sha256``, ``precision``, device,
        ...; :meth:`FeatureExtractor.probe_record`); empty for files written before it was recorded.
    reading : dict
        How the images were read: ``preset`` (dict form of the intensity preset) and ``slices``
        (``None`` when the task holds no volumes). See :mod:`taskfp_lib.fingerprints.provenance`.
    """

    task: str
    histograms: dict[int, np.ndarray]
    mean: np.ndarray
    cov: np.ndarray | None
    n_samples: int
    extractor: dict
    ranges_sha256: str
    seed: int | None = None
    fisher: np.ndarray | None = None
    task_meta: dict = field(default_factory=dict)
    fisher_meta: dict | None = None
    created: str = ""
    probe: dict = field(default_factory=dict)
    reading: dict = field(default_factory=dict)

    def __post_init__(self):
        self.histograms = {int(b): np.asarray(h, dtype=np.float64) for b, h in self.histograms.items()}
        self.mean = np.asarray(self.mean, dtype=np.float64)
        if self.cov is not None:
            self.cov = np.asarray(self.cov, dtype=np.float64)
        if self.fisher is not None:
            self.fisher = np.asarray(self.fisher, dtype=np.float32)
        self.validate()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_features(cls, features: np.ndarray, ranges: ReferenceRanges, task: str,
                      bins: Sequence[int] = DEFAULT_BINS, seed: int | None = None,
                      task_meta: Mapping[str, Any] | None = None, with_cov: bool = True,
                      fisher: np.ndarray | None = None, fisher_meta: dict | None = None,
                      min_samples: int = MIN_SAMPLES, probe: Mapping[str, Any] | None = None,
                      reading: Mapping[str, Any] | None = None) -> "Fingerprint":
        """Summarise a feature matrix (n_samples, n_features): histograms, mean, covariance.

        The feature matrix itself is not kept. ``min_samples`` is the privacy floor (set it lower
        only for in-memory analyses such as :mod:`taskfp_lib.robustness`).
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != ranges.n_features:
            raise ValueError(f"features of shape {x.shape} do not match the {ranges.n_features} reference ranges")
        if x.shape[0] < min_samples:
            raise ValueError(f"{task}: {x.shape[0]} samples is below the minimum of {min_samples} "
                             "(privacy: a fingerprint must not describe individual images)")
        hists = {int(b): ranges.bin(x, int(b)) for b in sorted(set(int(b) for b in bins))}
        cov = np.cov(x, rowvar=False, ddof=1) if with_cov and x.shape[0] > 1 else None
        return cls(task=task, histograms=hists, mean=x.mean(axis=0), cov=cov, n_samples=int(x.shape[0]),
                   extractor=dict(ranges.extractor), ranges_sha256=ranges.sha256, seed=seed,
                   fisher=fisher, task_meta=dict(task_meta or {}), fisher_meta=fisher_meta,
                   created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                   probe=dict(probe or {}), reading=dict(reading or {}))

    # ------------------------------------------------------------------ checks
    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    @property
    def bins(self) -> tuple[int, ...]:
        return tuple(sorted(self.histograms))

    def histogram(self, bins: int) -> np.ndarray:
        """Histograms with ``bins`` bins, shape (n_features, bins)."""
        if bins not in self.histograms:
            raise IncompatibleFingerprintsError(
                f"fingerprint {self.task!r} has no {bins}-bin histograms (available: {list(self.bins)}); "
                f"re-create it with bins including {bins}")
        return self.histograms[bins]

    def histogram_stats(self, bins: int) -> tuple[np.ndarray, np.ndarray]:
        """Cached per-feature bKLD statistics of the ``bins``-bin histograms: (sum P log P, logsumexp)."""
        cache = self.__dict__.setdefault("_stats_cache", {})
        if bins not in cache:
            from ..distances.binned import histogram_stats

            plogp, lse = histogram_stats(self.histogram(bins)[None])
            cache[bins] = (plogp[0], lse[0])
        return cache[bins]

    def validate(self) -> None:
        """Check shapes, finiteness and that histograms are probability vectors."""
        m = self.mean.shape[0] if self.mean.ndim == 1 else -1
        if m < 1:
            raise ValueError(f"{self.task}: mean must be a non-empty 1-D vector, got shape {self.mean.shape}")
        if not np.isfinite(self.mean).all():
            raise ValueError(f"{self.task}: mean contains NaN/inf")
        if not self.histograms:
            raise ValueError(f"{self.task}: a fingerprint needs at least one histogram set")
        for b, h in self.histograms.items():
            if h.shape != (m, b):
                raise ValueError(f"{self.task}: {b}-bin histograms have shape {h.shape}, expected {(m, b)}")
            if not np.isfinite(h).all() or (h < 0).any() or (h > 1 + _PROB_ATOL).any():
                raise ValueError(f"{self.task}: {b}-bin histograms are not probabilities")
            if not np.allclose(h.sum(axis=1), 1.0, atol=1e-6):
                raise ValueError(f"{self.task}: {b}-bin histogram rows do not sum to 1")
        if self.cov is not None:
            if self.cov.shape != (m, m) or not np.isfinite(self.cov).all():
                raise ValueError(f"{self.task}: covariance must be a finite ({m}, {m}) matrix")
            if not np.allclose(self.cov, self.cov.T, rtol=1e-8, atol=1e-10):
                raise ValueError(f"{self.task}: covariance is not symmetric")
        if self.fisher is not None and (self.fisher.ndim != 1 or not np.isfinite(self.fisher).all()
                                        or (self.fisher < 0).any()):
            raise ValueError(f"{self.task}: Fisher embedding must be a finite non-negative vector")
        if int(self.n_samples) < 1:
            raise ValueError(f"{self.task}: n_samples must be positive")
        for key in ("name", "weights"):
            if key not in self.extractor:
                raise ValueError(f"{self.task}: extractor identity lacks {key!r}")

    @property
    def identity(self) -> tuple[str, str, str, int]:
        """What two comparable fingerprints must share: extractor, weights, range hash, feature count."""
        return (str(self.extractor["name"]), str(self.extractor["weights"]), self.ranges_sha256, self.n_features)

    def check_compatible(self, other: "Fingerprint") -> None:
        """Raise :class:`IncompatibleFingerprintsError` unless ``other`` is comparable."""
        from .provenance import reading_differences

        a, b = self.identity, other.identity
        what = ["extractor", "weights", "reference ranges (sha256)", "feature count"]
        diffs = [f"{w}: {x!r} vs {y!r}" for w, x, y in zip(what, a, b) if x != y] + reading_differences(self, other)
        if not diffs:
            return
        raise IncompatibleFingerprintsError(
            f"fingerprints {self.task!r} and {other.task!r} cannot be compared: " + "; ".join(diffs)
            + ". Fingerprints are comparable only when made with the same extractor weights and the same "
              "reference-range file, and read with the same intensity preset and slices.")

    # ------------------------------------------------------------------ file format
    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically as NPZ arrays + ``metadata.json`` (no pickle)."""
        if self.n_samples < MIN_SAMPLES:
            raise ValueError(f"{self.task}: refusing to save a fingerprint of {self.n_samples} samples "
                             f"(minimum {MIN_SAMPLES}, privacy floor)")
        arrays: dict[str, np.ndarray] = {f"hist_{b}": h for b, h in self.histograms.items()}
        arrays["mean"] = self.mean
        if self.cov is not None:
            arrays["cov"] = self.cov
        if self.fisher is not None:
            arrays["fisher"] = self.fisher
        from .. import __version__

        meta = {"format": FINGERPRINT_FORMAT, "version": FINGERPRINT_VERSION, "task": self.task,
                "n_samples": int(self.n_samples), "seed": self.seed, "bins": list(self.bins),
                "n_features": self.n_features, "extractor": self.extractor,
                "ranges_sha256": self.ranges_sha256, "task_meta": self.task_meta,
                "fisher_meta": self.fisher_meta, "created": self.created, "library_version": __version__,
                "probe": self.probe, "reading": self.reading}
        path = Path(path)
        write_npz_with_metadata(path, arrays, meta)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Fingerprint":
        """Load and validate (format, version, checksums, shapes, probabilities, privacy floor)."""
        meta, arrays = read_npz_with_metadata(path, FINGERPRINT_FORMAT, (FINGERPRINT_VERSION,))
        try:
            bins = [int(b) for b in meta["bins"]]
            expected = {f"hist_{b}" for b in bins} | {"mean"}
            allowed = expected | {"cov", "fisher"}
            if not expected <= set(arrays) <= allowed:
                raise FileFormatError(f"{path}: arrays {sorted(arrays)} do not match bins {bins}")
            n = int(meta["n_samples"])
            if n < MIN_SAMPLES:
                raise FileFormatError(f"{path}: fingerprint of {n} samples is below the minimum {MIN_SAMPLES}")
            fp = cls(task=str(meta["task"]), histograms={b: arrays[f"hist_{b}"] for b in bins},
                     mean=arrays["mean"], cov=arrays.get("cov"), fisher=arrays.get("fisher"), n_samples=n,
                     extractor=dict(meta["extractor"]), ranges_sha256=str(meta["ranges_sha256"]),
                     seed=meta.get("seed"), task_meta=dict(meta.get("task_meta") or {}),
                     fisher_meta=meta.get("fisher_meta"), created=str(meta.get("created", "")),
                     probe=dict(meta.get("probe") or {}), reading=dict(meta.get("reading") or {}))
        except FileFormatError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise FileFormatError(f"{path}: invalid fingerprint ({type(err).__name__}: {err})") from None
        if fp.n_features != int(meta.get("n_features", -1)):
            raise FileFormatError(f"{path}: n_features in metadata does not match the arrays")
        return fp

    def summary(self) -> dict:
        """Short description for listings."""
        from .provenance import _preset_id, probe_status

        return {"task": self.task, "n_samples": self.n_samples, "bins": list(self.bins),
                "n_features": self.n_features, "extractor": self.extractor.get("name"),
                "weights": self.extractor.get("weights"), "ranges_sha256": self.ranges_sha256[:12],
                "has_cov": self.cov is not None, "has_fisher": self.fisher is not None, **self.task_meta,
                "probe": probe_status(self), "preset": _preset_id(self.reading)}

    def __repr__(self) -> str:
        from .provenance import _preset_id, probe_status

        return (f"Fingerprint(task={self.task!r}, n_samples={self.n_samples}, bins={self.bins}, "
                f"features={self.n_features}, weights={self.extractor.get('weights')!r} ({probe_status(self)} probe), "
                f"preset={_preset_id(self.reading)!r}, ranges={self.ranges_sha256[:12]}...)")


def check_all_compatible(fingerprints: Sequence[Fingerprint]) -> None:
    """Raise :class:`IncompatibleFingerprintsError` unless all fingerprints share one identity."""
    if not fingerprints:
        return
    first = fingerprints[0]
    for fp in fingerprints[1:]:
        first.check_compatible(fp)

