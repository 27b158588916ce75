"""Scanning a task folder ``<task>/<class>/<files>`` into items ``(path, slice, label)``.

One reader for every consumer (fingerprints, transfer, the federated chapter). A file is

* a 2-D image decoded by PIL (:data:`~taskfp_lib.imaging.constants.PIL_SUFFIXES`): one item, slice ``None``;
* a DICOM file (``.dcm``/``.dicom``, or any other name whose bytes 128-131 read ``DICM``): one
  item when single-frame, else one item per selected frame (multi-frame DICOM is a volume whose
  slicing axis is always the frame axis);
* a NIfTI file (``.nii``, ``.nii.gz``): 2-D data gives one item; 3-D data (and the first volume of
  4-D or higher data) gives one item per selected slice along :attr:`SliceSpec.axis` of the voxel
  array.

Order is deterministic: classes are the sorted sub-folder names (label = position), files are
sorted by their relative path (as a tuple of names), slices ascend. Names starting with ``.`` are
ignored at every level; symbolic links to directories are followed only for class folders.
Only headers are read while scanning (DICOM up to the pixel data, NIfTI's header), and declared
image and volume sizes are checked against the limits in :mod:`taskfp_lib.imaging.constants`.
"""
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .constants import MAX_FILES_PER_TASK, MAX_ITEMS_PER_TASK, MAX_SLICES_PER_VOLUME
from .headers import ImageItem, ImagingError, NotAnImageError, file_kind, one_line, volume_depth
from .readers import load_image

__all__ = ["SliceSpec", "TaskScan", "scan_task_folder"]


_WHICH_NAMED = ("all", "middle")


@dataclass(frozen=True)
class SliceSpec:
    """Which slices of 3-D volumes (and frames of multi-frame DICOM) become images.

    Parameters
    ----------
    axis : {0, 1, 2}
        Voxel axis of NIfTI volumes to slice along (2 is axial for the usual RAS/LAS storage).
        Multi-frame DICOM is always sliced along its frame axis.
    which : str
        ``'all'``; ``'middle'`` (index :math:`\\lfloor n/2 \\rfloor` only); or a fraction range
        ``'<lo>-<hi>'`` with :math:`0 \\le lo < hi \\le 1` selecting indices
        :math:`\\lfloor lo\\,n \\rfloor \\le k < \\max(\\lceil hi\\,n \\rceil, \\lfloor lo\\,n \\rfloor + 1)`.
    stride : int
        Keep every ``stride``-th selected index (starting with the first), ``stride >= 1``.
    """

    axis: int = 2
    which: str = "all"
    stride: int = 1

    def __post_init__(self):
        if isinstance(self.axis, bool) or self.axis not in (0, 1, 2):
            raise ImagingError(f"slices: axis must be 0, 1 or 2, got {self.axis!r}")
        if isinstance(self.stride, bool) or not isinstance(self.stride, int) or self.stride < 1:
            raise ImagingError(f"slices: stride must be an integer >= 1, got {self.stride!r}")
        which = self.which
        if isinstance(which, (tuple, list)) and len(which) == 2:
            which = f"{format(float(which[0]), 'g')}-{format(float(which[1]), 'g')}"
        if not isinstance(which, str):
            raise ImagingError(f"slices: which must be 'all', 'middle' or '<lo>-<hi>', got {which!r}")
        which = which.strip().lower()
        if which not in _WHICH_NAMED:
            lo, hi = self._fractions(which)
            which = f"{format(lo, 'g')}-{format(hi, 'g')}"
        object.__setattr__(self, "which", which)

    @staticmethod
    def _fractions(which: str) -> tuple[float, float]:
        try:
            lo_text, hi_text = which.split("-")
            lo, hi = float(lo_text), float(hi_text)
        except ValueError:
            raise ImagingError(f"slices: which must be 'all', 'middle' or '<lo>-<hi>' "
                               f"(fractions, e.g. 0.25-0.75), got {which!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi <= 1):
            raise ImagingError(f"slices: need 0 <= lo < hi <= 1, got {which!r}")
        return lo, hi

    def indices(self, n: int) -> list[int]:
        """Selected slice indices of a volume with ``n >= 1`` slices (ascending)."""
        if n < 1:
            return []
        if self.which == "middle":
            return [n // 2]
        if self.which == "all":
            start, stop = 0, n
        else:
            lo, hi = self._fractions(self.which)
            start = min(int(math.floor(lo * n)), n - 1)
            stop = min(max(int(math.ceil(hi * n)), start + 1), n)
        return list(range(start, stop, self.stride))

    @property
    def id(self) -> str:
        """Stable text form, e.g. ``axis=2,which=all,stride=1``."""
        return f"axis={self.axis},which={self.which},stride={self.stride}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for metadata; :meth:`from_dict` inverts it."""
        return {"axis": self.axis, "which": self.which, "stride": self.stride}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SliceSpec":
        """Rebuild from :meth:`to_dict` output (exactly the keys ``axis``, ``which``, ``stride``)."""
        if not isinstance(data, Mapping) or set(data) != {"axis", "which", "stride"}:
            raise ImagingError(f"slices: expected a mapping with keys axis, which, stride, got {data!r}")
        return cls(data["axis"], data["which"], data["stride"])


def _listdir(folder: Path, what: str) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as err:
        raise ImagingError(f"{folder}: cannot read {what} ({one_line(err.strerror or err)})") from None


def _walk_files(folder: Path, recursive: bool) -> Iterator[Path]:
    """Non-hidden files below ``folder`` sorted by relative path; no symlinked sub-directories."""
    for entry in _listdir(folder, "class folder" if not recursive else "folder"):
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            is_file = entry.is_file()
        except OSError as err:
            raise ImagingError(f"{path}: cannot stat ({one_line(err.strerror or err)})") from None
        if is_dir:
            if recursive:
                yield from _walk_files(path, recursive)
        elif is_file:
            yield path


@dataclass(frozen=True)
class TaskScan:
    """The items of one image-folder task.

    Attributes
    ----------
    name : str
        Task name (the folder name unless given).
    root : Path
    classes : tuple of str, length C
        Sorted class folder names; ``label`` of an item indexes this tuple.
    items : tuple of ImageItem, length N
    slices : SliceSpec
        How volumes were sliced (record it next to results made from this scan).
    num_files : int
        Image files used (a volume counts once).
    skipped : tuple of Path
        Non-image files that were skipped (``other_files='skip'``).
    """

    name: str
    root: Path
    classes: tuple[str, ...]
    items: tuple[ImageItem, ...]
    slices: SliceSpec
    num_files: int
    skipped: tuple[Path, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> ImageItem:
        return self.items[index]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def labels(self) -> np.ndarray:
        """Class index of every item, shape (N,), int64."""
        return np.fromiter((it.label for it in self.items), dtype=np.int64, count=len(self.items))

    def class_counts(self) -> dict[str, int]:
        """Items per class name."""
        counts = np.bincount(self.labels, minlength=self.num_classes)
        return {c: int(n) for c, n in zip(self.classes, counts)}

    def to_dict(self) -> dict[str, Any]:
        """Metadata describing how the folder was read (slices, counts), JSON-ready."""
        return {"slices": self.slices.to_dict(), "classes": list(self.classes),
                "num_files": self.num_files, "num_items": len(self.items)}

    def load(self, index: int, preset: Any = None) -> np.ndarray:
        """Decoded RGB image of item ``index``, shape (H, W, 3), uint8 (see :func:`readers.load_image`)."""
        return load_image(self.items[index], preset, axis=self.slices.axis)


@dataclass
class _Budget:
    """Files and items a scan may still add (the caps of :func:`scan_task_folder`)."""

    root: Path
    max_files: int
    max_items: int
    files: int = 0
    items: int = 0

    def add(self, path: Path, n_items: int) -> None:
        self.files += 1
        self.items += n_items
        if self.files > self.max_files:
            raise ImagingError(f"{self.root}: more than {self.max_files} image files; split the task "
                               "or raise max_files")
        if self.items > self.max_items:
            raise ImagingError(f"{self.root}: more than {self.max_items} items (images and slices) at "
                               f"{path.name}; use a stride, a slice range or raise max_items")


def _class_items(folder: Path, label: int, *, slices: SliceSpec, recursive: bool,
                 other_files: str, budget: _Budget, skipped: list[Path]) -> tuple[list[ImageItem], int]:
    """Items of one class folder and the number of image files used."""
    items: list[ImageItem] = []
    files = sorted(_walk_files(folder, recursive), key=lambda p: p.relative_to(folder).parts)
    used = 0
    for path in files:
        kind = file_kind(path)
        try:
            if kind is None:
                raise NotAnImageError(f"{path}: not an image file (PNG/JPEG/TIFF/BMP/PPM/GIF/WebP, DICOM or NIfTI)")
            depth = volume_depth(path, kind, slices.axis)
        except NotAnImageError:
            if other_files == "error":
                raise
            skipped.append(path)
            continue
        chosen = [None] if depth is None else slices.indices(depth)
        if len(chosen) > MAX_SLICES_PER_VOLUME:
            raise ImagingError(f"{path}: {len(chosen)} slices selected, more than the limit of "
                               f"{MAX_SLICES_PER_VOLUME}; use a stride or a slice range")
        budget.add(path, len(chosen))
        items.extend(ImageItem(path, k, label) for k in chosen)
        used += 1
    if not items:
        extra = f" ({len(files)} other file(s) skipped)" if files else ""
        raise ImagingError(f"{folder}: class folder holds no image files{extra}")
    return items, used


def _class_names(root: Path, min_classes: int) -> list[str]:
    """Sorted non-hidden sub-folder names of ``root`` (at least ``min_classes`` of them)."""
    classes = []
    for entry in _listdir(root, "task folder"):
        try:
            if entry.is_dir():
                classes.append(entry.name)
        except OSError as err:
            raise ImagingError(f"{entry.path}: cannot stat ({one_line(err.strerror or err)})") from None
    if len(classes) < max(1, min_classes):
        raise ImagingError(f"{root}: a task needs at least {max(1, min_classes)} class sub-folder(s) "
                           f"(<task>/<class>/<image>), found {len(classes)}")
    return classes


def scan_task_folder(root: str | os.PathLike, *, slices: SliceSpec | None = None, recursive: bool = True,
                     other_files: str = "skip", min_classes: int = 1, max_files: int = MAX_FILES_PER_TASK,
                     max_items: int = MAX_ITEMS_PER_TASK, name: str | None = None) -> TaskScan:
    """Scan ``root/<class>/<files>`` into a :class:`TaskScan` (headers only; nothing is decoded).

    Parameters
    ----------
    root : path
        The task folder; every non-hidden sub-folder is a class (sorted names -> labels 0..C-1).
    slices : SliceSpec, optional
        Which slices of volumes become items (default: all slices along axis 2).
    recursive : bool
        Also collect files in sub-folders of a class folder (e.g. one folder per patient/series).
    other_files : {'skip', 'error'}
        What to do with files that are not images, including DICOM files without pixel data such
        as a DICOMDIR (skipped files are listed in ``skipped``).
        Files directly in ``root`` (outside class folders) are never used.
    min_classes : int
        Refuse tasks with fewer class folders (the transfer experiments need 2).
    max_files, max_items : int
        Refuse tasks with more image files / items (slices count one each).
    name : str, optional
        Task name, default ``root``'s folder name.

    Returns
    -------
    TaskScan

    Raises
    ------
    ImagingError (a ValueError)
        One line ``<path>: <what>``: a missing or unreadable task or class folder, too few classes,
        a class folder without image files, a non-image file with ``other_files='error'``, an
        unreadable header, a declared size above the limits, or more files/items than allowed.
    """
    root = Path(root)
    slices = SliceSpec() if slices is None else slices
    if other_files not in ("skip", "error"):
        raise ImagingError(f"{root}: other_files must be 'skip' or 'error', got {other_files!r}")
    if not root.is_dir():
        raise ImagingError(f"{root}: task folder does not exist or is not a folder")
    classes = _class_names(root, min_classes)
    budget = _Budget(root, max_files, max_items)
    items: list[ImageItem] = []
    skipped: list[Path] = []
    num_files = 0
    for label, cls in enumerate(classes):
        found, used = _class_items(root / cls, label, slices=slices, recursive=recursive,
                                   other_files=other_files, budget=budget, skipped=skipped)
        items.extend(found)
        num_files += used
    return TaskScan(name or root.name, root, tuple(classes), tuple(items), slices, num_files, tuple(skipped))
