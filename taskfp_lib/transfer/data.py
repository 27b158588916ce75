"""Image-folder tasks, the 80:20 split, shrunk variants and the Lightning data modules.

A *task* is a folder with one sub-folder per class holding that class's images
(``<task>/<class>/<image>``; classes are the sorted sub-folder names). Folders are read by the one
reader of task images, :func:`taskfp_lib.imaging.scan_task_folder` (PNG/JPEG/TIFF/BMP/PPM/GIF/WebP,
DICOM, NIfTI; sizes checked from headers), and items are decoded by
:func:`taskfp_lib.imaging.load_image` into RGB, then resized to ``image_size x image_size``
(256 in the paper) and normalised with the ImageNet mean and standard deviation.
"""
from __future__ import annotations

import os
from typing import Iterator, Sequence

import albumentations as A
import lightning as L
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from .. import tasks as paper_tasks
from ..imaging import IMAGENET_MEAN, IMAGENET_STD, TaskScan, load_image, scan_task_folder

__all__ = [
    "read_task",
    "stratified_split",
    "shrink_indices",
    "has_shrunk_variant",
    "TaskDataset",
    "MixedTaskSampler",
    "CoTrainingDataset",
    "TaskDataModule",
    "CoTrainingDataModule",
    "default_train_transform",
]


def read_task(root: str | os.PathLike | TaskScan, name: str | None = None) -> TaskScan:
    """Scan a task folder for training: at least two classes, every file an image.

    Parameters
    ----------
    root : path or TaskScan
        The task folder ``<root>/<class>/<image>`` (a ready scan is returned unchanged).
    name : str, optional
        Task name (default: the folder name).

    Raises
    ------
    taskfp_lib.imaging.ImagingError
        One line naming the folder or file: missing folder, fewer than two classes, an empty class,
        a file that is not an image, a declared image size above the limits.
    """
    if isinstance(root, TaskScan):
        return root
    return scan_task_folder(root, recursive=False, other_files="error", min_classes=2, name=name)


def has_shrunk_variant(task: TaskScan, threshold: int = 1000, max_classes: int = 40) -> bool:
    """Whether a task gets a shrunk variant (800 training images in the paper).

    The one rule of the transfer pipelines: a task named like one of the paper's 71 tasks follows
    the paper's list (:func:`taskfp_lib.tasks.is_shrinkable`); any other task has a shrunk variant
    when it holds more than ``threshold`` samples and fewer than ``max_classes`` classes (the
    paper's rule behind that list: more than 1,000 samples, fewer than 40 classes).
    """
    if task.name in paper_tasks.ALL_TASKS:
        return paper_tasks.is_shrinkable(task.name)
    return len(task) > threshold and task.num_classes < max_classes


def stratified_split(labels: np.ndarray, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class-stratified train/test split (80:20 in the paper) of sample indices.

    Every class with at least two samples contributes ``max(1, round(n_c * test_fraction))``
    samples to the test split. Both index arrays are sorted.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        n_test = max(1, int(round(len(idx) * test_fraction))) if len(idx) > 1 else 0
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def shrink_indices(indices: np.ndarray, labels: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """Class-stratified subsample of ``size`` training indices (the shrunk target variant).

    Each class keeps a share proportional to its frequency (largest remainders), at least one
    sample. Returns the sorted subset; ``indices`` unchanged if it has at most ``size`` entries.
    """
    indices = np.asarray(indices)
    if len(indices) <= size:
        return np.sort(indices)
    rng = np.random.default_rng(seed)
    sub_labels = labels[indices]
    classes, counts = np.unique(sub_labels, return_counts=True)
    quota = counts * size / counts.sum()
    take = np.maximum(1, np.floor(quota).astype(int))
    for i in np.argsort(-(quota - np.floor(quota)), kind="stable"):
        if take.sum() >= size:
            break
        take[i] += 1
    while take.sum() > size:  # the minimum of one per class overshot
        take[np.argmax(take)] -= 1
    chosen = []
    for cls, k in zip(classes, take):
        idx = indices[sub_labels == cls]
        chosen.append(idx[rng.permutation(len(idx))[:k]])
    return np.sort(np.concatenate(chosen))


def default_train_transform() -> A.BasicTransform:
    """Light default training augmentation (used when no learned policy is given)."""
    return A.Compose([
        A.Affine(scale=(0.9, 1.1), translate_percent=(-0.0625, 0.0625), rotate=(-10, 10), p=0.5),
        A.HorizontalFlip(p=0.5),
    ])


class TaskDataset(Dataset):
    """A torch dataset over a subset of a task's images.

    Parameters
    ----------
    task : TaskScan
        From :func:`read_task`.
    indices : array of int
        The samples of ``task`` in this dataset.
    image_size : int
        Images are resized to ``image_size x image_size`` (RGB; PIL bilinear when the size differs).
    transform : albumentations transform, optional
        Applied to the uint8 HWC image (training augmentation or a learned policy).
    seed : int
        Seed of the augmentation's random state; DataLoader workers reseed it from torch's
        per-worker seed (see :func:`seed_augmentation_worker`), so runs are reproducible.
    cache : bool
        Keep decoded, resized images in memory (small tasks, tests).
    """

    def __init__(self, task: TaskScan, indices: Sequence[int], image_size: int = 256,
                 transform: A.BasicTransform | None = None, seed: int = 0, cache: bool = False):
        self.task = task
        self.indices = np.asarray(indices, dtype=np.int64)
        self.image_size = int(image_size)
        self.transform = transform
        if transform is not None:
            transform.set_random_seed(seed)
        self._all_labels = task.labels
        self._cache: dict[int, np.ndarray] | None = {} if cache else None
        self._mean = np.asarray(IMAGENET_MEAN, dtype=np.float32) * 255.0
        self._std = np.asarray(IMAGENET_STD, dtype=np.float32) * 255.0

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> np.ndarray:
        return self._all_labels[self.indices]

    def load_image(self, i: int) -> np.ndarray:
        """The resized RGB uint8 image of sample ``i`` of the task, shape (image_size, image_size, 3)."""
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        arr = load_image(self.task.items[i], axis=self.task.slices.axis)
        if arr.shape[:2] != (self.image_size, self.image_size):
            resized = Image.fromarray(arr).resize((self.image_size, self.image_size), Image.BILINEAR)
            arr = np.asarray(resized, dtype=np.uint8)
        if self._cache is not None:
            self._cache[i] = arr
        return arr

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int]:
        i = int(self.indices[item])
        image = self.load_image(i)
        if self.transform is not None:
            image = self.transform(image=image)["image"]
        x = (image.astype(np.float32) - self._mean) / self._std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), int(self._all_labels[i])

    def reseed(self, seed: int) -> None:
        if self.transform is not None:
            self.transform.set_random_seed(seed)


def seed_augmentation_worker(worker_id: int) -> None:
    """``worker_init_fn``: give each DataLoader worker its own augmentation random state.

    torch derives a distinct, reproducible seed per worker and epoch from the loader's
    generator (which ``lightning.seed_everything`` seeds).
    """
    info = get_worker_info()
    if info is None:  # pragma: no cover - called in workers only
        return
    seed = info.seed % (2**32)
    dataset = info.dataset
    for part in getattr(dataset, "parts", (dataset,)):
        if hasattr(part, "reseed"):
            part.reseed(seed)


class MixedTaskSampler(Sampler):
    """Co-training sampler: each draw picks task 0 or 1 with equal probability (by default),
    then a sample of that task uniformly at random (with replacement).

    Yields flat indices into a :class:`CoTrainingDataset` (``offset[task] + index``).

    Parameters
    ----------
    sizes : (int, int)
        Number of samples of both tasks.
    num_samples : int
        Draws per epoch.
    seed : int
        Base seed; epoch ``e`` uses ``seed + e`` (call :meth:`set_epoch`, done automatically
        by iterating repeatedly).
    probabilities : (float, float)
        Task probabilities (0.5, 0.5 in the paper).
    """

    def __init__(self, sizes: Sequence[int], num_samples: int, seed: int = 0,
                 probabilities: Sequence[float] = (0.5, 0.5)):
        if len(sizes) != len(probabilities) or min(sizes) < 1:
            raise ValueError(f"need one probability per non-empty task, got sizes={sizes}, p={probabilities}")
        self.sizes = [int(s) for s in sizes]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.p = np.asarray(probabilities, dtype=float) / np.sum(probabilities)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        """The task and the within-task index of every draw of the current epoch."""
        rng = np.random.default_rng([self.seed, self.epoch])
        task = rng.choice(len(self.sizes), size=self.num_samples, p=self.p)
        within = np.floor(rng.random(self.num_samples) * np.asarray(self.sizes)[task]).astype(np.int64)
        return task, within

    def __iter__(self) -> Iterator[int]:
        task, within = self.draw()
        self.epoch += 1
        return iter((self.offsets[task] + within).tolist())


class CoTrainingDataset(Dataset):
    """Concatenation of two task datasets; items are ``(image, label, task_id)``."""

    def __init__(self, parts: Sequence[TaskDataset]):
        self.parts = list(parts)
        self.offsets = np.concatenate([[0], np.cumsum([len(p) for p in self.parts])])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int, int]:
        task = int(np.searchsorted(self.offsets, item, side="right") - 1)
        x, y = self.parts[task][item - int(self.offsets[task])]
        return x, y, task


def _loader(dataset, batch_size, shuffle, num_workers, seed, sampler=None, drop_last=False):
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle if sampler is None else False,
                      sampler=sampler, num_workers=num_workers, generator=generator,
                      worker_init_fn=seed_augmentation_worker if num_workers else None,
                      persistent_workers=False, drop_last=drop_last)


class TaskDataModule(L.LightningDataModule):
    """Train/test data of one task: the 80:20 class-stratified split, optionally shrunk.

    Parameters
    ----------
    task : TaskScan or path
        A scan from :func:`read_task` or a task folder.
    image_size : int
    batch_size : int
    shrink_train : int, optional
        Keep only this many (class-stratified) training images (800 in the paper). The test
        split is the same as for the full task.
    train_transform : albumentations transform, optional
        Training augmentation (default :func:`default_train_transform`); pass a learned policy
        for the augmentation scenario.
    seed : int
        Seed of the training order and the augmentation.
    split_seed : int
        Seed of the split and of the shrinking (fixed across repetitions).
    """

    def __init__(self, task: TaskScan | str | os.PathLike, image_size: int = 256, batch_size: int = 32,
                 shrink_train: int | None = None, train_transform: A.BasicTransform | None = None,
                 seed: int = 0, split_seed: int = 0, test_fraction: float = 0.2, num_workers: int = 0,
                 cache_images: bool = False):
        super().__init__()
        self.task = read_task(task)
        self.image_size = image_size
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers
        train, self.test_indices = stratified_split(self.task.labels, test_fraction, split_seed)
        if shrink_train is not None:
            train = shrink_indices(train, self.task.labels, shrink_train, split_seed)
        self.train_indices = train
        transform = default_train_transform() if train_transform is None else train_transform
        self.train_set = TaskDataset(self.task, train, image_size, transform, seed, cache_images)
        self.test_set = TaskDataset(self.task, self.test_indices, image_size, None, seed, cache_images)

    @property
    def num_classes(self) -> int:
        return self.task.num_classes

    def train_dataloader(self) -> DataLoader:
        return _loader(self.train_set, self.batch_size, True, self.num_workers, self.seed,
                       drop_last=len(self.train_set) > self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return _loader(self.test_set, self.batch_size, False, self.num_workers, self.seed)

    def val_dataloader(self) -> DataLoader:
        return self.test_dataloader()


class CoTrainingDataModule(L.LightningDataModule):
    """Target and source training data mixed 1:1 by :class:`MixedTaskSampler`.

    Task id 0 is the target, 1 the source. An epoch has ``2 * len(target train split)`` draws.
    Testing uses the target's test split only.
    """

    def __init__(self, target: TaskDataModule, source: TaskDataModule, seed: int = 0,
                 probabilities: Sequence[float] = (0.5, 0.5)):
        super().__init__()
        self.target = target
        self.source = source
        self.seed = seed
        self.batch_size = target.batch_size
        self.num_workers = target.num_workers
        self.train_set = CoTrainingDataset([target.train_set, source.train_set])
        self.sampler = MixedTaskSampler([len(target.train_set), len(source.train_set)],
                                        num_samples=2 * len(target.train_set), seed=seed,
                                        probabilities=probabilities)

    def train_dataloader(self) -> DataLoader:
        return _loader(self.train_set, self.batch_size, False, self.num_workers, self.seed,
                       sampler=self.sampler, drop_last=len(self.sampler) > self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return self.target.test_dataloader()

    def val_dataloader(self) -> DataLoader:
        return self.target.test_dataloader()
