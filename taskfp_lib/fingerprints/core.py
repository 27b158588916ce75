"""The :class:`Fingerprint` of a task and its file format."""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..limits import MAX_BINS
from ._io import FileFormatError, read_npz_with_metadata, write_npz_with_metadata
from .ranges import ReferenceRanges
from .provenance import _preset_id, checked_record, probe_status
from .validation import check_content

FINGERPRINT_FORMAT = "taskfp-fingerprint"
#: version 2 carries the reference ranges it was binned with (``ranges_lo``, ``ranges_hi``)
FINGERPRINT_VERSION = 2
READABLE_VERSIONS = (1, 2)
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
    ranges : ReferenceRanges or None
        The reference ranges the histograms were binned over (their sha256 is ``ranges_sha256``);
        kept so that a reader can check the means against them. None for version-1 files.
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
    ranges: ReferenceRanges | None = field(default=None, repr=False, compare=False)

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
                   created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), ranges=ranges,
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
            if not 1 <= b <= MAX_BINS:
                raise ValueError(f"{self.task}: bin count {b} is outside 1..{MAX_BINS}")
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
    def check_content(self, where: str = "") -> None:
        """Raise ``InvalidFingerprintError`` unless the numbers can be an honest fingerprint's.

        Task name, ``task_meta``, non-negative means inside the reference ranges (widened by
        ``MEAN_RANGE_FACTOR`` widths), positive semi-definite covariance; see
        :mod:`taskfp_lib.fingerprints.validation`.
        """
        check_content(self, where)

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically as NPZ arrays + ``metadata.json`` (no pickle), after :meth:`check_content`."""
        if self.n_samples < MIN_SAMPLES:
            raise ValueError(f"{self.task}: refusing to save a fingerprint of {self.n_samples} samples "
                             f"(minimum {MIN_SAMPLES}, privacy floor)")
        self.check_content()
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
        if self.ranges is not None:
            arrays["ranges_lo"], arrays["ranges_hi"] = self.ranges.lo, self.ranges.hi
            meta["ranges"] = {"extractor": dict(self.ranges.extractor), "quantiles": list(self.ranges.quantiles)}
        path = Path(path)
        write_npz_with_metadata(path, arrays, meta)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Fingerprint":
        """Load and validate: bounded read, format, version, checksums, shapes, probabilities,
        privacy floor, the metadata's types, and the content checks of :meth:`check_content`."""
        meta, arrays = read_npz_with_metadata(path, FINGERPRINT_FORMAT, READABLE_VERSIONS)
        try:
            fields = _metadata_fields(meta, path)
            bins = fields.pop("bins")
            expected = {f"hist_{b}" for b in bins} | {"mean"}
            carried = {"ranges_lo", "ranges_hi"} if "ranges" in meta else set()
            allowed = expected | carried | {"cov", "fisher"}
            if not expected | carried <= set(arrays) <= allowed:
                raise FileFormatError(f"{path}: arrays {sorted(arrays)} do not match bins {bins}")
            ranges = _carried_ranges(meta, arrays, path) if carried else None
            fp = cls(histograms={b: arrays[f"hist_{b}"] for b in bins}, mean=arrays["mean"],
                     cov=arrays.get("cov"), fisher=arrays.get("fisher"), ranges=ranges, **fields)
        except FileFormatError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise FileFormatError(f"{path}: invalid fingerprint ({type(err).__name__}: {err})") from None
        if fp.n_features != meta.get("n_features"):
            raise FileFormatError(f"{path}: n_features in metadata does not match the arrays")
        try:
            fp.check_content(where=str(path))
        except ValueError as err:
            raise FileFormatError(str(err)) from None
        return fp

    def summary(self) -> dict:
        """Short description for listings: the validated identity, then ``task_meta`` as one field."""
        return {"task": self.task, "n_samples": self.n_samples, "bins": list(self.bins),
                "n_features": self.n_features, "extractor": self.extractor.get("name"),
                "weights": self.extractor.get("weights"), "ranges_sha256": self.ranges_sha256[:12],
                "has_cov": self.cov is not None, "has_fisher": self.fisher is not None,
                "task_meta": dict(self.task_meta), "probe": probe_status(self), "preset": _preset_id(self.reading)}

    def __repr__(self) -> str:
        return (f"Fingerprint(task={self.task!r}, n_samples={self.n_samples}, bins={self.bins}, "
                f"features={self.n_features}, weights={self.extractor.get('weights')!r} ({probe_status(self)} probe), "
                f"preset={_preset_id(self.reading)!r}, ranges={self.ranges_sha256[:12]}...)")


def _field(meta: dict, key: str, types: tuple, path) -> Any:
    value = meta.get(key)
    if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
        raise FileFormatError(f"{path}: metadata field {key!r} must be {' or '.join(t.__name__ for t in types)}")
    return value


def _metadata_fields(meta: dict, path) -> dict:
    """The fingerprint's metadata fields, each checked for type and range (one error naming the field)."""
    bins = _field(meta, "bins", (list,), path)
    if not bins or len(bins) > 8 or any(type(b) is not int or not 1 <= b <= MAX_BINS for b in bins) \
            or len(set(bins)) != len(bins):
        raise FileFormatError(f"{path}: metadata field 'bins' must list distinct bin counts in 1..{MAX_BINS}")
    n = _field(meta, "n_samples", (int,), path)
    if n < MIN_SAMPLES:
        raise FileFormatError(f"{path}: fingerprint of {n} samples is below the minimum {MIN_SAMPLES}")
    extractor = _field(meta, "extractor", (dict,), path)
    if not all(isinstance(extractor.get(k), str) for k in ("name", "weights")) or len(extractor) > 32:
        raise FileFormatError(f"{path}: metadata field 'extractor' needs string 'name' and 'weights'")
    sha = _field(meta, "ranges_sha256", (str,), path)
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise FileFormatError(f"{path}: metadata field 'ranges_sha256' is not a sha256")
    seed = meta.get("seed")
    if seed is not None and type(seed) is not int:
        raise FileFormatError(f"{path}: metadata field 'seed' must be an integer or null")
    fisher_meta = meta.get("fisher_meta")
    if fisher_meta is not None and not isinstance(fisher_meta, dict):
        raise FileFormatError(f"{path}: metadata field 'fisher_meta' must be an object or null")
    return {"task": _field(meta, "task", (str,), path), "bins": bins, "n_samples": n, "extractor": dict(extractor),
            "ranges_sha256": sha, "seed": seed, "task_meta": _field({"task_meta": meta.get("task_meta") or {}},
                                                                     "task_meta", (dict,), path),
            "fisher_meta": fisher_meta, "created": _field({"created": meta.get("created", "")}, "created", (str,),
                                                          path)[:64],
            "probe": checked_record(meta.get("probe"), "probe", path),
            "reading": checked_record(meta.get("reading"), "reading", path)}


def _carried_ranges(meta: dict, arrays: dict, path) -> ReferenceRanges:
    """The reference ranges a version-2 fingerprint carries, verified against its ``ranges_sha256``."""
    info = _field(meta, "ranges", (dict,), path)
    try:
        ranges = ReferenceRanges(lo=arrays["ranges_lo"], hi=arrays["ranges_hi"], extractor=info["extractor"],
                                 quantiles=tuple(info["quantiles"]))
    except (KeyError, TypeError, ValueError) as err:
        raise FileFormatError(f"{path}: metadata field 'ranges' is invalid ({err})") from None
    if ranges.sha256 != meta.get("ranges_sha256"):
        raise FileFormatError(f"{path}: the reference ranges it carries do not hash to its ranges_sha256")
    return ranges


def check_all_compatible(fingerprints: Sequence[Fingerprint]) -> None:
    """Raise :class:`IncompatibleFingerprintsError` unless all fingerprints share one identity."""
    if not fingerprints:
        return
    first = fingerprints[0]
    for fp in fingerprints[1:]:
        first.check_compatible(fp)


def fingerprint_task(task, ranges: ReferenceRanges, extractor=None, n: int = 10_000, seed: int = 0,
                     bins: Sequence[int] = DEFAULT_BINS, batch_size: int = 64, num_workers: int = 0,
                     with_fisher: bool = False, n_fisher: int = 100, name: str | None = None,
                     task_meta: Mapping[str, Any] | None = None, progress: bool = True) -> Fingerprint:
    """Fingerprint a classification task (image folder or indexable dataset of (image, label)).

    Draws ``n`` images with replacement (seeded), extracts probe features, bins them over
    ``ranges`` and keeps only summary statistics.

    Parameters
    ----------
    task : path or dataset
    ranges : ReferenceRanges
        Must belong to ``extractor`` (same identity); otherwise an error is raised.
    extractor : FeatureExtractor, optional
        Default: ``FeatureExtractor("resnet34")`` with ImageNet weights.
    """
    from .extract import FeatureExtractor, extract_features, fisher_embedding
    from .images import as_task

    extractor = extractor or FeatureExtractor("resnet34")
    if dict(ranges.extractor) != dict(extractor.identity):
        raise IncompatibleFingerprintsError(
            f"the reference ranges belong to extractor {ranges.extractor}, not to {extractor.identity}; "
            "build ranges for this extractor (taskfp fingerprint ranges) or use its range file")
    task = as_task(task, name=name)
    if len(task) < MIN_IMAGES:
        raise ValueError(f"{getattr(task, 'name', name)}: {len(task)} images is below the minimum of {MIN_IMAGES} "
                         "distinct images (privacy floor)")
    feats, labels, plan = extract_features(task, extractor, n=n, seed=seed, batch_size=batch_size,
                                           num_workers=num_workers, progress=progress, return_plan=True)
    meta = {"num_classes": int(task.num_classes), "num_images": int(len(task))}
    meta.update(task_meta or {})
    fisher = fmeta = None
    if with_fisher:
        fisher, fmeta = fisher_embedding(task, extractor, feats, labels, plan, task.num_classes,
                                         n_fisher=n_fisher, seed=seed, progress=progress)
    return Fingerprint.from_features(feats, ranges, task=name or getattr(task, "name", "task"), bins=bins,
                                     seed=seed, task_meta=meta, fisher=fisher, fisher_meta=fmeta)
