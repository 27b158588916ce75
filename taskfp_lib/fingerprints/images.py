"""Classification tasks as images: folder layout, conversion to 8-bit RGB, validation."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

#: file suffixes recognised in an image folder (lower case)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".ppm", ".pgm")


class UnreadableImageError(ValueError):
    """One or more images of a task cannot be decoded."""


def to_rgb_uint8(image: Any, name: str = "<image>") -> np.ndarray:
    """Convert an image to an ``(H, W, 3)`` uint8 RGB array, as the probe network expects.

    Handles PIL images of any mode and numpy arrays: greyscale (H, W) or (H, W, 1) is
    replicated to three channels, RGBA/LA drop alpha, palette images are expanded, and 16-bit or
    floating-point intensities are min-max scaled per image into 0..255 (8-bit data is kept).

    Raises
    ------
    UnreadableImageError
        Unsupported shape/dtype, or an image without pixels; the message names ``name``.
    """
    if isinstance(image, Image.Image):
        mode = image.mode
        if mode in ("RGB",):
            arr = np.asarray(image)
        elif mode in ("L", "P", "RGBA", "LA", "CMYK", "YCbCr", "1", "PA", "La", "RGBa"):
            arr = np.asarray(image.convert("RGB"))
        else:  # I;16 variants, I, F: high bit depth
            arr = np.asarray(image)
    else:
        arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3, 4):
        raise UnreadableImageError(f"{name}: channel-first arrays {arr.shape} are not supported; use (H, W, C)")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3) or arr.size == 0:
        raise UnreadableImageError(f"{name}: cannot interpret array of shape {arr.shape} as an image")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        if arr.dtype.kind not in "iuf":
            raise UnreadableImageError(f"{name}: unsupported pixel type {arr.dtype}")
        a = arr.astype(np.float64)
        if not np.isfinite(a).all():
            raise UnreadableImageError(f"{name}: image contains NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        arr = np.round(a).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return np.ascontiguousarray(arr)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file into ``(H, W, 3)`` uint8 RGB; errors name the file."""
    try:
        with Image.open(path) as im:
            im.load()
            return to_rgb_uint8(im, name=str(path))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        if isinstance(err, UnreadableImageError):
            raise
        raise UnreadableImageError(f"{path}: cannot read image ({err})") from None


@dataclass
class ImageFolderTask:
    """A classification task stored as ``root/<class name>/<image file>`` (torchvision layout).

    Indexing returns ``(rgb_uint8_array, label)``; ``classes`` is the sorted list of sub-folder
    names and labels are their positions. Only names with :data:`IMAGE_SUFFIXES` are used.

    Parameters
    ----------
    root : path
    verify : bool
        Decode every image once on construction and report *all* unreadable files by name.
    """

    root: Path
    verify: bool = False

    def __post_init__(self):
        self.root = Path(self.root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: task folder does not exist")
        self.classes = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not self.classes:
            raise ValueError(f"{self.root}: no class sub-folders (expected root/<class>/<image>)")
        self.samples: list[tuple[Path, int]] = []
        for label, cls in enumerate(self.classes):
            files = sorted(p for p in (self.root / cls).rglob("*")
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
            self.samples.extend((p, label) for p in files)
        if not self.samples:
            raise ValueError(f"{self.root}: no image files found (suffixes {', '.join(IMAGE_SUFFIXES)})")
        if self.verify:
            bad = []
            for p, _ in self.samples:
                try:
                    read_image(p)
                except UnreadableImageError as err:
                    bad.append(str(err))
            if bad:
                raise UnreadableImageError(f"{len(bad)} unreadable image(s) in {self.root}:\n  " + "\n  ".join(bad))

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def labels(self) -> np.ndarray:
        return np.array([label for _, label in self.samples], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        path, label = self.samples[index]
        return read_image(path), label


class ArrayTask:
    """Wrap any indexable dataset of ``(image, label)`` pairs (PIL or arrays) as a task."""

    def __init__(self, data: Sequence, name: str = "task", num_classes: int | None = None):
        self.data = data
        self.name = name
        self._num_classes = num_classes

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        item = self.data[index]
        try:
            image, label = item[0], item[1]
        except (TypeError, IndexError):
            raise ValueError(f"{self.name}[{index}]: expected an (image, label) pair") from None
        return to_rgb_uint8(image, name=f"{self.name}[{index}]"), int(label)

    @property
    def num_classes(self) -> int:
        if self._num_classes is None:
            self._num_classes = len({int(self.data[i][1]) for i in range(len(self.data))})
        return self._num_classes


def as_task(data: Any, name: str | None = None):
    """Return an :class:`ImageFolderTask` for a path, else wrap an indexable dataset."""
    if isinstance(data, (str, os.PathLike)):
        return ImageFolderTask(Path(data))
    if isinstance(data, (ImageFolderTask, ArrayTask)):
        return data
    if not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
        raise TypeError("a task is an image folder path or an indexable dataset of (image, label)")
    return ArrayTask(data, name=name or getattr(data, "name", "task"),
                     num_classes=getattr(data, "num_classes", None))


def write_image_folder(root: str | os.PathLike, images: Sequence[np.ndarray], labels: Sequence[int],
                       class_names: Sequence[str] | None = None, fmt: str = "png") -> Path:
    """Write ``images`` as ``root/<class>/<index>.<fmt>`` (used for demos and tests)."""
    root = Path(root)
    labels = [int(x) for x in labels]
    names = list(class_names) if class_names is not None else [f"class_{c}" for c in sorted(set(labels))]
    lookup = {c: names[i] for i, c in enumerate(sorted(set(labels)))} if class_names is None else dict(enumerate(names))
    for i, (img, lab) in enumerate(zip(images, labels)):
        d = root / lookup[lab]
        d.mkdir(parents=True, exist_ok=True)
        arr = np.asarray(img)
        Image.fromarray(arr).save(d / f"{i:05d}.{fmt}")
    return root
