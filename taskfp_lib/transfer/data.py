"""Image-folder tasks, the 80:20 split, shrunk variants and the Lightning data modules.

A *task* is a folder with one sub-folder per class holding that class's images
(``<task>/<class>/<image>``; classes are the sorted sub-folder names). Images are read with
PIL, converted to RGB (greyscale -> RGB) and resized to ``image_size x image_size``
(256 in the paper).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import albumentations as A
import lightning as L
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

__all__ = [
    "IMAGE_SUFFIXES",
    "TaskData",
    "scan_task",
    "stratified_split",
    "shrink_indices",
    "is_shrinkable",
    "TaskDataset",
    "MixedTaskSampler",
    "CoTrainingDataset",
    "TaskDataModule",
    "CoTrainingDataModule",
    "default_train_transform",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class TaskData:
    """The images of one task: ``paths[i]`` has label ``labels[i]`` (index into ``classes``)."""

    name: str
    root: Path
    classes: tuple[str, ...]
    paths: tuple[Path, ...]
    labels: np.ndarray

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.paths)


def scan_task(root: str | os.PathLike, name: str | None = None) -> TaskData:
    """Read an image-folder task (one sub-folder per class, sorted by name).

    Raises
    ------
    FileNotFoundError
        If ``root`` is not a folder.
    ValueError
        If there are fewer than two classes, an empty class, or files that are not images.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: task folder not found")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise ValueError(f"{root}: a task needs at least two class sub-folders, found {classes}")
    paths: list[Path] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        files = sorted(p for p in (root / cls).iterdir() if p.is_file() and not p.name.startswith("."))
        bad = [p.name for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
        if bad:
            raise ValueError(f"{root / cls}: not image files: {bad[:5]}")
        if not files:
            raise ValueError(f"{root / cls}: class folder is empty")
        paths.extend(files)
        labels.extend([label] * len(files))
    return TaskData(name or root.name, root, tuple(classes), tuple(paths), np.asarray(labels, dtype=np.int64))


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


def is_shrinkable(num_samples: int, num_classes: int, threshold: int = 1000, max_classes: int = 40) -> bool:
    """The paper's rule: tasks with more than 1,000 samples and fewer than 40 classes get a shrunk variant."""
    return num_samples > threshold and num_classes < max_classes


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
    task : TaskData
    indices : array of int
        The samples of ``task`` in this dataset.
    image_size : int
        Images are resized to ``image_size x image_size`` (RGB).
    transform : albumentations transform, optional
        Applied to the uint8 HWC image (training augmentation or a learned policy).
    seed : int
        Seed of the augmentation's random state; DataLoader workers reseed it from torch's
        per-worker seed (see :func:`seed_augmentation_worker`), so runs are reproducible.
    cache : bool
        Keep decoded, resized images in memory (small tasks, tests).
    """

    def __init__(self, task: TaskData, indices: Sequence[int], image_size: int = 256,
                 transform: A.BasicTransform | None = None, seed: int = 0, cache: bool = False):
        self.task = task
        self.indices = np.asarray(indices, dtype=np.int64)
        self.image_size = int(image_size)
        self.transform = transform
        if transform is not None:
            transform.set_random_seed(seed)
        self._cache: dict[int, np.ndarray] | None = {} if cache else None
        self._mean = np.asarray(IMAGENET_MEAN, dtype=np.float32) * 255.0
        self._std = np.asarray(IMAGENET_STD, dtype=np.float32) * 255.0

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> np.ndarray:
        return self.task.labels[self.indices]

    def load_image(self, i: int) -> np.ndarray:
        """The resized RGB uint8 image of sample ``i`` of the task (HWC)."""
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        path = self.task.paths[i]
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                if img.size != (self.image_size, self.image_size):
                    img = img.resize((self.image_size, self.image_size), Image.BILINEAR)
                arr = np.asarray(img, dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"{path}: cannot read image ({err})") from err
        if self._cache is not None:
            self._cache[i] = arr
        return arr

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int]:
        i = int(self.indices[item])
        image = self.load_image(i)
        if self.transform is not None:
            image = self.transform(image=image)["image"]
        x = (image.astype(np.float32) - self._mean) / self._std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), int(self.task.labels[i])

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
    task : TaskData or path
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

    def __init__(self, task: TaskData | str | os.PathLike, image_size: int = 256, batch_size: int = 32,
                 shrink_train: int | None = None, train_transform: A.BasicTransform | None = None,
                 seed: int = 0, split_seed: int = 0, test_fraction: float = 0.2, num_workers: int = 0,
                 cache_images: bool = False):
        super().__init__()
        self.task = task if isinstance(task, TaskData) else scan_task(task)
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
