"""Classification tasks as images for the probe network: task folders (through :mod:`taskfp_lib.imaging`)
and in-memory datasets.

A task folder ``root/<class>/<files>`` may hold PNG/JPEG/TIFF/... next to DICOM and NIfTI files;
volumes contribute slices chosen by a :class:`~taskfp_lib.imaging.SliceSpec`, and modality values
become 8-bit grey through an :class:`~taskfp_lib.imaging.IntensityPreset` (CT windows, MR percentile
normalisation, min-max). How a task was read (:attr:`ImageFolderTask.reading`) is recorded in its
fingerprint, and fingerprints read differently are not compared (see
:func:`taskfp_lib.fingerprints.provenance.reading_differences`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from ..imaging import DEFAULT_PRESET, ImagingError, SliceSpec, load_image, parse_preset, scan_task_folder
from ..imaging.presets import IntensityPreset

__all__ = ["ArrayTask", "ImageFolderTask", "UnreadableImageError", "as_task", "read_image", "to_rgb_uint8",
           "write_image_folder", "parse_slices"]


class UnreadableImageError(ImagingError):
    """One or more images of a task cannot be decoded (the message names every file)."""


_PIL_AS_RGB = ("P", "PA", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV")


def to_rgb_uint8(image: Any, name: str = "<image>", preset: IntensityPreset | str | None = None) -> np.ndarray:
    """Convert an in-memory image to the ``(H, W, 3)`` uint8 RGB array the probe network sees.

    PIL images of any mode and numpy arrays are accepted: greyscale (H, W) or (H, W, 1) is
    replicated to three channels, RGBA drops alpha, palette images are expanded; grey values go
    through ``preset`` (default ``auto``: 8-bit kept, anything else min-max scaled per image,
    :math:`y = \\mathrm{rint}(255 (x - \\min x) / (\\max x - \\min x))`); wider colour data is
    min-max scaled over all channels.

    Raises
    ------
    UnreadableImageError
        Unsupported shape/dtype, or an image without pixels; the message names ``name``.
    """
    if isinstance(image, Image.Image):
        image = image.convert("RGB") if image.mode in _PIL_AS_RGB else image
        image = image.convert("L") if image.mode in ("LA", "La", "1") else image
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] in (1, 4):
        arr = arr[..., 0] if arr.shape[-1] == 1 else arr[..., :3]
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] != 3:
        raise UnreadableImageError(f"{name}: channel-first arrays {arr.shape} are not supported; use (H, W, C)")
    try:
        out = parse_preset(preset).apply(arr)
    except ValueError as err:
        raise UnreadableImageError(f"{name}: {' '.join(str(err).split())}") from None
    return np.ascontiguousarray(np.repeat(out[..., None], 3, axis=2) if out.ndim == 2 else out)


def read_image(path: str | os.PathLike, preset: IntensityPreset | str | None = None) -> np.ndarray:
    """Decode one 2-D image file (PNG/JPEG/..., single-frame DICOM, 2-D NIfTI) into (H, W, 3) uint8."""
    try:
        return load_image(Path(path), preset)
    except ImagingError as err:
        raise UnreadableImageError(str(err)) from None


def parse_slices(spec: SliceSpec | str | None) -> SliceSpec:
    """A :class:`~taskfp_lib.imaging.SliceSpec` from itself, ``None`` (default) or text.

    Text form: comma-separated ``axis=<0|1|2>``, ``which=<all|middle|lo-hi>``, ``stride=<k>``
    (any subset, e.g. ``"which=middle"`` or ``"axis=2,which=0.25-0.75,stride=2"``), as printed by
    :attr:`SliceSpec.id`.
    """
    if spec is None:
        return SliceSpec()
    if isinstance(spec, SliceSpec):
        return spec
    fields: dict[str, Any] = {}
    for part in str(spec).split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in ("axis", "which", "stride"):
            raise ImagingError(f"slices {spec!r}: expected axis=..., which=..., stride=... separated by commas")
        try:
            fields[key] = value.strip() if key == "which" else int(value)
        except ValueError:
            raise ImagingError(f"slices {spec!r}: {key} must be an integer") from None
    return SliceSpec(**fields)


class ImageFolderTask:
    """A classification task stored as ``root/<class name>/<files>`` (torchvision layout, any depth).

    Indexing returns ``(rgb_uint8_array, label)``; ``classes`` are the sorted sub-folder names and
    labels their positions. Files are found and read by :mod:`taskfp_lib.imaging` (PNG/JPEG/TIFF/...,
    DICOM, NIfTI; non-image files are skipped).

    Parameters
    ----------
    root : path
    verify : bool
        Decode every item once on construction and report *all* unreadable files by name.
    preset : IntensityPreset or str, optional
        Intensity preset for single-channel data (``auto``, ``minmax``, ``ct:soft-tissue``,
        ``mr:p1-p99``, ...; default ``auto``).
    slices : SliceSpec or str, optional
        Which slices of 3-D volumes become images (default: all along axis 2).
    name : str, optional
        Task name (default: the folder name).
    """

    def __init__(self, root: str | os.PathLike, verify: bool = False, preset: IntensityPreset | str | None = None,
                 slices: SliceSpec | str | None = None, name: str | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: task folder does not exist")
        self.preset = parse_preset(preset)
        self.scan = scan_task_folder(self.root, slices=parse_slices(slices), name=name)
        self.classes = list(self.scan.classes)
        if verify:
            self.verify()

    def verify(self) -> None:
        """Decode every item; raise :class:`UnreadableImageError` listing all failures."""
        bad = []
        for i in range(len(self)):
            try:
                self.scan.load(i, self.preset)
            except ImagingError as err:
                bad.append(str(err))
        if bad:
            raise UnreadableImageError(f"{len(bad)} unreadable image(s) in {self.root}:\n  " + "\n  ".join(bad))

    @property
    def name(self) -> str:
        return self.scan.name

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def labels(self) -> np.ndarray:
        """Class index of every item, shape (N,), int64."""
        return self.scan.labels

    @property
    def has_volumes(self) -> bool:
        """Whether any item is a slice of a volume (then the slice choice matters)."""
        return any(item.slice is not None for item in self.scan.items)

    @property
    def reading(self) -> dict:
        """How the images were read, for the fingerprint: preset (dict form) and slices (None: no volumes)."""
        return {"preset": self.preset.to_dict(),
                "slices": self.scan.slices.to_dict() if self.has_volumes else None}

    def __len__(self) -> int:
        return len(self.scan)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.scan.load(index, self.preset), int(self.scan.items[index].label)

    def __repr__(self) -> str:
        return (f"ImageFolderTask({str(self.root)!r}, {len(self)} images, {self.num_classes} classes, "
                f"preset={self.preset.id!r})")


class ArrayTask:
    """Wrap any indexable dataset of ``(image, label)`` pairs (PIL or arrays) as a task.

    ``preset`` maps grey values as in :func:`to_rgb_uint8` (default ``auto``).
    """

    def __init__(self, data: Sequence, name: str = "task", num_classes: int | None = None,
                 preset: IntensityPreset | str | None = None):
        self.data = data
        self.name = name
        self._num_classes = num_classes
        self.preset = parse_preset(preset)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        item = self.data[index]
        try:
            image, label = item[0], item[1]
        except (TypeError, IndexError):
            raise ValueError(f"{self.name}[{index}]: expected an (image, label) pair") from None
        return to_rgb_uint8(image, name=f"{self.name}[{index}]", preset=self.preset), int(label)

    @property
    def num_classes(self) -> int:
        if self._num_classes is None:
            self._num_classes = len({int(self.data[i][1]) for i in range(len(self.data))})
        return self._num_classes

    @property
    def reading(self) -> dict:
        return {"preset": self.preset.to_dict(), "slices": None}

    def __repr__(self) -> str:
        return f"ArrayTask({self.name!r}, {len(self)} images, preset={self.preset.id!r})"


def as_task(data: Any, name: str | None = None, preset: IntensityPreset | str | None = None,
            slices: SliceSpec | str | None = None):
    """An :class:`ImageFolderTask` for a path, else the task itself or an :class:`ArrayTask` wrapper.

    ``preset`` and ``slices`` apply to paths and wrapped datasets; a ready task keeps its own
    (asking for another preset then is an error rather than silently ignored).
    """
    if isinstance(data, (str, os.PathLike)):
        return ImageFolderTask(Path(data), preset=preset, slices=slices, name=name)
    if isinstance(data, (ImageFolderTask, ArrayTask)):
        if preset is not None and parse_preset(preset) != data.preset:
            raise ValueError(f"task {data.name!r} is read with preset {data.preset.id!r}, "
                             f"not {parse_preset(preset).id!r}")
        return data
    if not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
        raise TypeError("a task is an image folder path or an indexable dataset of (image, label)")
    return ArrayTask(data, name=name or getattr(data, "name", "task"),
                     num_classes=getattr(data, "num_classes", None), preset=preset)


def task_reading(task: Any) -> dict:
    """The ``reading`` record of a task (the default preset, no volumes, for other datasets)."""
    return dict(getattr(task, "reading", None) or {"preset": DEFAULT_PRESET.to_dict(), "slices": None})


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
        Image.fromarray(np.asarray(img)).save(d / f"{i:05d}.{fmt}")
    return root
