"""Client tasks on disk -> in-memory arrays, the per-site split, and the server's MIM pool.

A task is a folder ``<task>/<class>/<files>`` read through :mod:`taskfp_lib.imaging` (PNG/JPEG,
DICOM, NIfTI slices; default intensity preset), every item resized bilinearly to
``image_size``. Every task is split once, class-stratified and seeded, into disjoint parts:

* ``test``: the client's held-out evaluation split (``test_fraction``);
* ``pool``: items given to the server's *unlabelled* MIM pool (``pool_fraction``; 0 when the
  server has its own pool, e.g. the demo tasks' source-disjoint ``pool/`` folders, which
  :func:`load_unlabelled` reads);
* ``train``: the rest, the client's private fine-tuning data.

So the MIM pool never contains an image of any client's evaluation split (tested).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .config import FedConfig

__all__ = ["ClientData", "site_split", "load_task_images", "load_client", "load_pool", "load_unlabelled",
           "to_tensor"]

_MEAN = np.asarray((0.485, 0.456, 0.406), dtype=np.float32)
_STD = np.asarray((0.229, 0.224, 0.225), dtype=np.float32)


@dataclass(frozen=True)
class ClientData:
    """One client's private task in memory.

    Attributes
    ----------
    name : str
        Task name (folder name); identifies the client across engines.
    classes : tuple of str
    x_train, x_test : ndarray of shape (n, S, S, 3), uint8
    y_train, y_test : ndarray of shape (n,), int64
    """

    name: str
    classes: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def site_split(labels: np.ndarray, test_fraction: float, pool_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Disjoint class-stratified ``train`` / ``test`` / ``pool`` index arrays (sorted) of one task.

    Per class with ``n_c`` images (in a seeded random order): the first
    ``max(1, round(n_c * test_fraction))`` go to ``test`` (none if ``n_c == 1``), the next
    ``round(n_c * pool_fraction)`` to ``pool`` (at most ``n_c - n_test - 1``, so every class keeps
    a training image), the rest to ``train``.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "test": [], "pool": []}
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        n_test = max(1, int(round(len(idx) * test_fraction))) if len(idx) > 1 else 0
        n_pool = max(0, min(int(round(len(idx) * pool_fraction)), len(idx) - n_test - 1))
        parts["test"].append(idx[:n_test])
        parts["pool"].append(idx[n_test:n_test + n_pool])
        parts["train"].append(idx[n_test + n_pool:])
    return {k: np.sort(np.concatenate(v)).astype(np.int64) for k, v in parts.items()}


def _resized_rgb(image: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if image.shape[:2] != (size, size):
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR), dtype=np.uint8)
    return image


def load_task_images(root: str | os.PathLike, image_size: int,
                     min_classes: int = 2) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Read a whole task: classes, images (n, S, S, 3) uint8 resized bilinearly, labels (n,).

    Raises
    ------
    taskfp_lib.imaging.ImagingError
        One line naming the folder or file (missing, unreadable, too few classes, over the limits).
    """
    from ..imaging import scan_task_folder

    scan = scan_task_folder(root, min_classes=min_classes)
    images = np.stack([_resized_rgb(scan.load(i), int(image_size)) for i in range(len(scan))])
    return tuple(scan.classes), images, scan.labels


@functools.lru_cache(maxsize=64)
def _load_split(root: str, image_size: int, test_fraction: float, pool_fraction: float, seed: int):
    classes, images, labels = load_task_images(root, image_size)
    parts = site_split(labels, test_fraction, pool_fraction, seed)
    return classes, images, labels, parts


def load_client(root: str | os.PathLike, cfg: FedConfig) -> ClientData:
    """The client's train and test splits of the task at ``root`` (cached per process)."""
    root = Path(root).resolve()
    classes, images, labels, parts = _load_split(str(root), cfg.image_size, cfg.test_fraction, cfg.pool_fraction,
                                                 cfg.split_seed)
    tr, te = parts["train"], parts["test"]
    return ClientData(root.name, classes, images[tr], labels[tr], images[te], labels[te])


def load_pool(roots: Sequence[str | os.PathLike], cfg: FedConfig) -> np.ndarray:
    """The server's unlabelled MIM pool: the ``pool`` split of every task, stacked (n, S, S, 3) uint8."""
    chunks = []
    for root in roots:
        _, images, _, parts = _load_split(str(Path(root).resolve()), cfg.image_size, cfg.test_fraction,
                                          cfg.pool_fraction, cfg.split_seed)
        chunks.append(images[parts["pool"]])
    return _stacked(chunks, cfg.image_size, "the MIM pool is empty (pool_fraction = 0 or no tasks)")


def load_unlabelled(roots: Sequence[str | os.PathLike], image_size: int) -> np.ndarray:
    """All images of the given folders (``<folder>/<class>/<files>``, labels ignored), stacked."""
    chunks = [load_task_images(root, image_size, min_classes=1)[1] for root in roots]
    return _stacked(chunks, image_size, "the unlabelled pool is empty (no folders)")


def _stacked(chunks: list[np.ndarray], image_size: int, empty: str) -> np.ndarray:
    pool = np.concatenate(chunks) if chunks else np.empty((0, image_size, image_size, 3), np.uint8)
    if len(pool) == 0:
        raise ValueError(empty)
    return pool


def to_tensor(images: np.ndarray):
    """uint8 images (n, S, S, 3) -> float32 tensor (n, 3, S, S), ImageNet-normalised."""
    import torch

    x = (np.asarray(images, dtype=np.float32) / 255.0 - _MEAN) / _STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
