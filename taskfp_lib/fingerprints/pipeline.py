"""From tasks to fingerprints: one task against given ranges, or several tasks with features extracted once.

The paper's reference ranges are the 5 %/95 % quantiles of the development tasks' features, and those
tasks are fingerprinted too. :func:`fingerprint_tasks` extracts each task's features once and uses
them for both; fingerprinting the tasks again after building the ranges (same seed, same draws)
would repeat exactly the same forward passes.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .core import DEFAULT_BINS, MIN_IMAGES, Fingerprint, IncompatibleFingerprintsError
from .extract import extract_features
from .fisher import fisher_embedding
from .images import as_task, task_reading
from .probe import FeatureExtractor
from .ranges import DEFAULT_QUANTILES, ReferenceRanges, build_reference_ranges

__all__ = ["fingerprint_task", "fingerprint_tasks", "fingerprint_from_features"]


def _check_ranges(ranges: ReferenceRanges, extractor: FeatureExtractor) -> None:
    if dict(ranges.extractor) != dict(extractor.identity):
        raise IncompatibleFingerprintsError(
            f"the reference ranges belong to extractor {ranges.extractor}, not to {extractor.identity}; "
            "build ranges for this extractor (taskfp fingerprint ranges) or use its range file")


def _check_size(task, name: str | None) -> None:
    if len(task) < MIN_IMAGES:
        raise ValueError(f"{getattr(task, 'name', name)}: {len(task)} images is below the minimum of {MIN_IMAGES} "
                         "distinct images (privacy floor)")


def fingerprint_from_features(task, features: np.ndarray, ranges: ReferenceRanges, extractor: FeatureExtractor, *,
                              name: str | None = None, seed: int | None = None, bins: Sequence[int] = DEFAULT_BINS,
                              task_meta: Mapping[str, Any] | None = None, fisher: np.ndarray | None = None,
                              fisher_meta: dict | None = None) -> Fingerprint:
    """The fingerprint of ``task`` from its extracted ``features`` (n, m), with the task's and probe's records.

    ``task_meta`` starts from ``num_classes`` and ``num_images`` of the task; the probe record
    (:attr:`FeatureExtractor.probe`) and the reading record (preset, slices) are attached.
    """
    meta = {"num_classes": int(task.num_classes), "num_images": int(len(task))}
    meta.update(task_meta or {})
    return Fingerprint.from_features(features, ranges, task=name or getattr(task, "name", "task"), bins=bins,
                                     seed=seed, task_meta=meta, fisher=fisher, fisher_meta=fisher_meta,
                                     probe=extractor.probe, reading=task_reading(task))


def fingerprint_task(task, ranges: ReferenceRanges, extractor: FeatureExtractor | None = None, n: int = 10_000,
                     seed: int = 0, bins: Sequence[int] = DEFAULT_BINS, batch_size: int = 64, num_workers: int = 0,
                     with_fisher: bool = False, n_fisher: int = 100, name: str | None = None,
                     task_meta: Mapping[str, Any] | None = None, progress: bool = True, preset=None, slices=None,
                     threads: int | None = None) -> Fingerprint:
    """Fingerprint a classification task (image folder or indexable dataset of (image, label)).

    Draws ``n`` images with replacement (seeded), extracts probe features, bins them over
    ``ranges`` and keeps only summary statistics.

    Parameters
    ----------
    task : path or dataset
        A task folder (PNG/JPEG/..., DICOM, NIfTI; see :class:`ImageFolderTask`) or a dataset.
    ranges : ReferenceRanges
        Must belong to ``extractor`` (same identity); otherwise an error is raised.
    extractor : FeatureExtractor, optional
        Default: ``FeatureExtractor("resnet34")`` with ImageNet weights.
    preset, slices : optional
        Intensity preset and slice selection for task folders (recorded in the fingerprint).
    threads : int, optional
        Torch threads (default: 1 for crops <= 64 px, else all cores).
    """
    extractor = extractor or FeatureExtractor("resnet34")
    _check_ranges(ranges, extractor)
    task = as_task(task, name=name, preset=preset, slices=slices)
    _check_size(task, name)
    feats, labels, plan = extract_features(task, extractor, n=n, seed=seed, batch_size=batch_size,
                                           num_workers=num_workers, progress=progress, return_plan=True,
                                           threads=threads)
    fisher = fmeta = None
    if with_fisher:
        fisher, fmeta = fisher_embedding(task, extractor, feats, labels, plan, task.num_classes,
                                         n_fisher=n_fisher, seed=seed, progress=progress)
    return fingerprint_from_features(task, feats, ranges, extractor, name=name, seed=seed, bins=bins,
                                     task_meta=task_meta, fisher=fisher, fisher_meta=fmeta)


def fingerprint_tasks(tasks: Mapping[str, Any] | Sequence[Any], extractor: FeatureExtractor,
                      ranges: ReferenceRanges | None = None, *, reference: Sequence[str] | None = None,
                      n: int = 10_000, seed: int = 0, bins: Sequence[int] = DEFAULT_BINS,
                      quantiles: tuple[float, float] = DEFAULT_QUANTILES, batch_size: int = 64,
                      num_workers: int = 0, progress: bool = True, preset=None, slices=None,
                      threads: int | None = None,
                      on_task: Callable[[str, int, int], None] | None = None
                      ) -> tuple[ReferenceRanges, dict[str, Fingerprint]]:
    """Reference ranges and fingerprints of several tasks, each task's features extracted once.

    Parameters
    ----------
    tasks : mapping of name -> task, or sequence of tasks (folders: named after the folder)
    extractor : FeatureExtractor
    ranges : ReferenceRanges, optional
        Use these ranges; default: build them (``quantiles`` of the stacked features) from the
        ``reference`` tasks (default: all tasks), as the paper does with its development tasks.
    n, seed, bins :
        Draws per task, the seed of draws and augmentations (the same for every task, as
        ``fingerprint_task`` with the same seed), histogram bin counts.
    on_task : callable(name, index, total), optional
        Called before each task's extraction (progress reporting).

    Returns
    -------
    ranges : ReferenceRanges
    fingerprints : dict of name -> Fingerprint, in input order
    """
    items = tasks.items() if isinstance(tasks, Mapping) else ((None, t) for t in tasks)
    loaded = {}
    for key, t in items:
        task = as_task(t, name=key, preset=preset, slices=slices)
        name = key or task.name
        if name in loaded:
            raise ValueError(f"two tasks are named {name!r}; give them distinct names")
        _check_size(task, name)
        loaded[name] = task
    features = {}
    for i, (name, task) in enumerate(loaded.items()):
        if on_task is not None:
            on_task(name, i, len(loaded))
        features[name] = extract_features(task, extractor, n=n, seed=seed, batch_size=batch_size,
                                          num_workers=num_workers, progress=progress, threads=threads)[0]
    if ranges is None:
        ref = list(loaded) if reference is None else list(reference)
        unknown = [r for r in ref if r not in features]
        if unknown or not ref:
            raise ValueError(f"reference tasks {unknown or ref} are not among the tasks {list(features)}")
        ranges = build_reference_ranges({r: features[r] for r in ref}, extractor.identity, quantiles=tuple(quantiles),
                                        reference={"seed": int(seed)})
    _check_ranges(ranges, extractor)
    fps = {name: fingerprint_from_features(loaded[name], features[name], ranges, extractor, name=name, seed=seed,
                                           bins=bins) for name in loaded}
    return ranges, fps
