"""File kinds and headers: what a file is and how big it says it is, read before any pixel.

:func:`file_kind` tells PIL images, DICOM (by suffix or the ``DICM`` preamble) and NIfTI apart;
:func:`dicom_header` and :func:`nifti_shape` read headers only and check the declared sizes
against :data:`~taskfp_lib.imaging.constants.MAX_IMAGE_PIXELS` and
:data:`~taskfp_lib.imaging.constants.MAX_VOLUME_VOXELS`. Every failure is an
:class:`ImagingError`, a ``ValueError`` whose message is one line ``<path>: <what>``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from .constants import (DICOM_DEFER_BYTES, DICOM_SNIFF_BYTES, DICOM_SUFFIXES, MAX_IMAGE_PIXELS,
                        MAX_VOLUME_VOXELS, NIFTI_SUFFIXES, PIL_SUFFIXES)

__all__ = ["ImagingError", "NotAnImageError", "ImageItem", "one_line", "file_kind", "dicom_header",
           "check_pixels", "nifti_shape", "volume_depth"]


class ImagingError(ValueError):
    """A task folder or image file cannot be used; the message is one line ``<path>: <what>``."""


def one_line(err: BaseException | str) -> str:
    """The text of ``err`` on one line (library messages can hold newlines)."""
    return " ".join(str(err).split())


class NotAnImageError(ImagingError):
    """A file of an image format that holds no image (e.g. a DICOMDIR or a structured report)."""


class ImageItem(NamedTuple):
    """One image of a task: a file, the slice (frame) of a volume or ``None``, and the class index."""

    path: Path
    slice: int | None
    label: int


def file_kind(path: Path) -> str | None:
    """``'pil'``, ``'dicom'``, ``'nifti'`` or ``None`` (not an image) from the name, else the DICM preamble.

    Files whose suffix is not an image suffix (no suffix, or UID-style names such as ``1.2.840.5``)
    are read for :data:`~taskfp_lib.imaging.constants.DICOM_SNIFF_BYTES` bytes.
    """
    name = path.name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    suffix = path.suffix.lower()
    if suffix in PIL_SUFFIXES:
        return "pil"
    if suffix in DICOM_SUFFIXES:
        return "dicom"
    try:
        with open(path, "rb") as fh:
            head = fh.read(DICOM_SNIFF_BYTES)
    except OSError as err:
        raise ImagingError(f"{path}: cannot read file ({one_line(err.strerror or err)})") from None
    return "dicom" if len(head) == DICOM_SNIFF_BYTES and head[128:132] == b"DICM" else None


def _checked_int(path: Path, field_name: str, value: Any, minimum: int = 1) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ImagingError(f"{path}: field {field_name} is not an integer ({value!r})") from None
    if number < minimum:
        raise ImagingError(f"{path}: field {field_name} must be >= {minimum}, got {number}")
    return number


def dicom_header(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[Any, int]:
    """Header of a DICOM image (read up to the pixel data) and its number of frames, size-checked.

    Raises
    ------
    NotAnImageError
        The file holds no image (no Rows/Columns, e.g. a DICOMDIR or an RT plan).
    ImagingError
        Unreadable header, non-integer or non-positive sizes, sizes above the limits.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, defer_size=DICOM_DEFER_BYTES)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError) as err:
        raise ImagingError(f"{path}: cannot read DICOM header ({one_line(err)})") from None
    if "Rows" not in ds or "Columns" not in ds:
        raise NotAnImageError(f"{path}: DICOM file holds no image (no Rows/Columns)")
    rows = _checked_int(path, "Rows", ds.Rows)
    cols = _checked_int(path, "Columns", ds.Columns)
    frames = _checked_int(path, "NumberOfFrames", ds.get("NumberOfFrames", 1) or 1)
    check_pixels(path, rows, cols, frames, max_pixels=max_pixels)
    return ds, frames


def check_pixels(path: Path, rows: int, cols: int, depth: int = 1,
                 max_pixels: int = MAX_IMAGE_PIXELS, max_voxels: int = MAX_VOLUME_VOXELS) -> None:
    """Refuse declared sizes above the limits, naming the file (before anything is decoded)."""
    if rows * cols > max_pixels:
        raise ImagingError(f"{path}: image declares {cols} x {rows} pixels, more than the limit "
                           f"of {max_pixels} pixels")
    if rows * cols * depth > max_voxels:
        raise ImagingError(f"{path}: volume declares {rows * cols * depth} voxels, more than the "
                           f"limit of {max_voxels}")


def nifti_shape(path: Path, axis: int = 2) -> tuple[int, ...]:
    """Declared data shape of a NIfTI file (header only), checked against the limits.

    The 2-D slice across ``axis`` (the whole image for 2-D data) must stay within
    :data:`~taskfp_lib.imaging.constants.MAX_IMAGE_PIXELS` and the first 3-D volume within
    :data:`~taskfp_lib.imaging.constants.MAX_VOLUME_VOXELS`.
    """
    import nibabel as nib

    try:
        img = nib.load(path, mmap=True)
        shape = tuple(int(s) for s in img.header.get_data_shape())
        dtype = img.get_data_dtype()
    except Exception as err:  # nibabel raises many types for broken headers
        raise ImagingError(f"{path}: cannot read NIfTI header ({one_line(err)})") from None
    if len(shape) < 2 or min(shape) < 1:
        raise ImagingError(f"{path}: NIfTI data shape {shape} is not an image or volume")
    if dtype.kind not in "iufb":
        raise ImagingError(f"{path}: NIfTI data type {dtype} is not supported (real numbers only)")
    if len(shape) == 2:
        check_pixels(path, shape[0], shape[1])
    else:
        rows, cols = (shape[a] for a in range(3) if a != axis)
        check_pixels(path, rows, cols, shape[axis])
    return shape


def volume_depth(path: Path, kind: str, axis: int = 2) -> int | None:
    """Number of slices of a file along ``axis`` (frames for DICOM), ``None`` for 2-D images.

    Reads headers only. A NIfTI volume of 4 or more dimensions is sliced in its first volume.
    """
    if kind == "pil":
        return None
    if kind == "dicom":
        frames = dicom_header(path)[1]
        return frames if frames > 1 else None
    shape = nifti_shape(path, axis)
    return None if len(shape) == 2 else shape[axis]
