"""Decoding one task item into modality values and into the RGB uint8 image a probe network sees.

:func:`read_values` returns the *modality values* of an item: PIL images as decoded; DICOM pixel
data after the Modality LUT or Rescale Slope/Intercept (Hounsfield units for CT); NIfTI voxels
after ``scl_slope``/``scl_inter``. :func:`load_image` then applies an intensity preset
(:mod:`taskfp_lib.imaging.presets`) and replicates grey to three channels.

Bounded work: sizes are checked from headers before pixels are decoded (PIL's size, DICOM
Rows/Columns/NumberOfFrames, NIfTI's declared shape) against
:data:`~taskfp_lib.imaging.constants.MAX_IMAGE_PIXELS` and
:data:`~taskfp_lib.imaging.constants.MAX_VOLUME_VOXELS`; a multi-frame DICOM decodes one frame and a
NIfTI volume is memory-mapped (``.nii``) and sliced, never loaded whole. Every failure is an
:class:`~taskfp_lib.imaging.headers.ImagingError` (a ``ValueError``) with one line ``<path>: <what>``.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from .constants import MAX_IMAGE_PIXELS
from .presets import IntensityPreset, parse_preset
from .headers import ImageItem, ImagingError, check_pixels, dicom_header, file_kind, nifti_shape, one_line

__all__ = ["ModalityValues", "read_values", "load_image", "read_pil", "read_dicom", "read_nifti"]


@dataclass(frozen=True)
class ModalityValues:
    """Pixel values of one item before any intensity preset.

    Attributes
    ----------
    values : ndarray, shape (H, W) or (H, W, 3)
        Single-channel modality values (any real dtype) or colour data (uint8 or wider).
    monochrome1 : bool
        DICOM Photometric Interpretation ``MONOCHROME1`` (low values are shown white).
    kind : str
        ``'pil'``, ``'dicom'`` or ``'nifti'``.
    """

    values: np.ndarray
    monochrome1: bool
    kind: str


def _as_item(item: ImageItem | str | os.PathLike) -> ImageItem:
    if isinstance(item, ImageItem):
        return item
    if isinstance(item, (str, os.PathLike)):
        return ImageItem(Path(item), None, -1)
    if isinstance(item, tuple) and len(item) == 3:
        return ImageItem(Path(item[0]), item[1], item[2])
    raise ImagingError(f"{item!r}: expected an ImageItem (path, slice, label) or a path")


_PIL_AS_RGB = ("P", "PA", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV")
_PIL_AS_GREY = ("LA", "La", "1")


def read_pil(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode a PNG/JPEG/TIFF/BMP/PPM/GIF/WebP file (first frame) after checking its declared size.

    Returns
    -------
    ndarray, shape (H, W) grey (uint8, or uint16/int32/float32 for 16-bit, 32-bit and float
    modes) or (H, W, 3) uint8 RGB (palette, alpha and CMYK/YCbCr modes are converted to RGB).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                check_pixels(path, height, width, max_pixels=max_pixels)
                im.load()
                if im.mode in _PIL_AS_RGB:
                    im = im.convert("RGB")
                elif im.mode in _PIL_AS_GREY:
                    im = im.convert("L")
                arr = np.array(im)
    except ImagingError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImagingError(f"{path}: image exceeds the pixel limit ({one_line(err)})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImagingError(f"{path}: cannot read image ({one_line(err)})") from None
    if arr.ndim == 3 and arr.shape[2] != 3:
        raise ImagingError(f"{path}: unsupported image layout {arr.shape} (mode {im.mode})")
    return arr


def _frame_rescale(ds: Any, index: int | None) -> Any:
    """The dataset holding Rescale Slope/Intercept for ``index``: top level, else the enhanced
    multi-frame functional groups (per-frame first, then shared); ``ds`` if there are none."""
    if "RescaleSlope" in ds or "ModalityLUTSequence" in ds:
        return ds
    groups = []
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    if index is not None and index < len(per_frame):
        groups.append(per_frame[index])
    if "SharedFunctionalGroupsSequence" in ds and len(ds.SharedFunctionalGroupsSequence):
        groups.append(ds.SharedFunctionalGroupsSequence[0])
    for group in groups:
        seq = group.get("PixelValueTransformationSequence")
        if seq and "RescaleSlope" in seq[0]:
            return seq[0]
    return ds


def _dicom_header(path: Path, index: int | None, max_pixels: int) -> tuple[Any, int | None]:
    """Header of a DICOM image (no pixel data) and the frame to decode, after the size checks."""
    ds, frames = dicom_header(path, max_pixels)
    if frames == 1:
        if index not in (None, 0):
            raise ImagingError(f"{path}: frame {index} requested from a single-frame DICOM")
        return ds, None
    if index is None:
        raise ImagingError(f"{path}: multi-frame DICOM ({frames} frames) needs a frame index "
                           "(scan the folder to get one item per frame)")
    if not 0 <= index < frames:
        raise ImagingError(f"{path}: frame {index} outside 0..{frames - 1}")
    return ds, index


def read_dicom(path: Path, index: int | None = None, max_pixels: int = MAX_IMAGE_PIXELS) -> ModalityValues:
    """Modality values of one DICOM image or frame (pydicom).

    Single-channel data goes through the Modality LUT (or Rescale Slope/Intercept, also from the
    enhanced multi-frame functional groups): :math:`v = \\mathrm{slope}\\cdot s + \\mathrm{intercept}`
    for stored values :math:`s`. ``PALETTE COLOR`` is expanded through its LUT to RGB (16-bit
    LUT entries scaled to 8 bits by :math:`\\mathrm{round}(x / 257)`); YBR colour is converted to RGB.

    Parameters
    ----------
    path : Path
    index : int, optional
        Frame of a multi-frame file (required there; ``None`` or 0 for single-frame files).
    max_pixels : int
        Refuse larger declared frames.

    Returns
    -------
    ModalityValues
        ``values`` of shape (H, W) (float64 when rescaled) or (H, W, 3).
    """
    from pydicom.pixels import apply_color_lut, apply_modality_lut, pixel_array

    ds, frame = _dicom_header(path, index, max_pixels)
    try:
        arr = pixel_array(path, index=frame)
        photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
        if photometric == "PALETTE COLOR":
            arr = apply_color_lut(arr, ds)
            if arr.dtype != np.uint8:
                arr = np.rint(arr / 257.0).astype(np.uint8)
        elif arr.ndim == 2:
            arr = apply_modality_lut(arr, _frame_rescale(ds, frame))
    except ImagingError:
        raise
    except Exception as err:  # decoders raise RuntimeError, ValueError, NotImplementedError, ...
        raise ImagingError(f"{path}: cannot decode DICOM pixel data ({one_line(err)})") from None
    if arr.ndim == 3 and arr.shape[0] == 1 and frame is None:
        arr = arr[0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ImagingError(f"{path}: unsupported DICOM pixel layout {arr.shape}")
    return ModalityValues(arr, photometric == "MONOCHROME1", "dicom")


def read_nifti(path: Path, index: int | None = None, axis: int = 2,
               max_pixels: int = MAX_IMAGE_PIXELS) -> ModalityValues:
    """Modality values of one slice of a NIfTI image (nibabel, memory-mapped, header checked first).

    The slice keeps voxel order: for ``axis=2`` row ``i`` / column ``j`` of the result is voxel
    ``(i, j, index)``, i.e. ``result == img.dataobj[:, :, index]`` (scaled by ``scl_slope`` and
    ``scl_inter``); data of 4 or more dimensions is sliced in its first volume. 2-D data (or a
    volume with a single slice along ``axis``) needs ``index`` ``None`` or 0.

    Returns
    -------
    ModalityValues
        ``values`` of shape (H, W).
    """
    import nibabel as nib

    shape = nifti_shape(path, axis)
    if len(shape) == 2 or shape[axis] == 1:
        index = 0 if index is None else index
        if index != 0:
            raise ImagingError(f"{path}: slice {index} requested from a single-slice image")
    elif index is None:
        raise ImagingError(f"{path}: a volume of shape {shape} needs a slice index "
                           "(scan the folder to get one item per slice)")
    if len(shape) > 2 and not 0 <= index < shape[axis]:
        raise ImagingError(f"{path}: slice {index} outside 0..{shape[axis] - 1} along axis {axis}")
    if len(shape) == 2:
        slicer: tuple = (slice(None), slice(None))
    else:
        slicer = tuple(index if a == axis else slice(None) for a in range(3)) + (0,) * (len(shape) - 3)
    try:
        img = nib.load(path, mmap=True)
        arr = np.asarray(img.dataobj[slicer])
    except Exception as err:  # truncated data, bad gzip stream, ...
        raise ImagingError(f"{path}: cannot read NIfTI data ({one_line(err)})") from None
    if arr.ndim != 2:
        raise ImagingError(f"{path}: NIfTI slice has shape {arr.shape}, expected 2-D")
    return ModalityValues(arr, False, "nifti")


def read_values(item: ImageItem | str | os.PathLike, *, axis: int = 2,
                max_pixels: int = MAX_IMAGE_PIXELS) -> ModalityValues:
    """Modality values of an item (a path counts as a 2-D image or single-frame file).

    Parameters
    ----------
    item : ImageItem or path
    axis : int
        Slicing axis of NIfTI volumes (the scan's :attr:`SliceSpec.axis`).
    max_pixels : int
        Largest accepted image or slice (rows x columns).
    """
    item = _as_item(item)
    path = item.path
    kind = file_kind(path)
    if kind == "pil":
        if item.slice not in (None, 0):
            raise ImagingError(f"{path}: slice {item.slice} requested from a 2-D image")
        return ModalityValues(read_pil(path, max_pixels), False, "pil")
    if kind == "dicom":
        return read_dicom(path, item.slice, max_pixels)
    if kind == "nifti":
        return read_nifti(path, item.slice, axis, max_pixels)
    raise ImagingError(f"{path}: not an image file (PNG/JPEG/TIFF/BMP/PPM/GIF/WebP, DICOM or NIfTI)")


def load_image(item: ImageItem | str | os.PathLike, preset: IntensityPreset | str | None = None, *,
               axis: int = 2, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an item into the RGB image a probe network sees.

    Parameters
    ----------
    item : ImageItem or path
        From :func:`~taskfp_lib.imaging.scan.scan_task_folder` (or a path of a 2-D image).
    preset : IntensityPreset or str, optional
        Intensity preset or its id (default ``auto``); see :mod:`taskfp_lib.imaging.presets`.
    axis : int
        Slicing axis of NIfTI volumes (use the scan's ``slices.axis``; :meth:`TaskScan.load` does).
    max_pixels : int
        Largest accepted image or slice.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)
        Grey images are replicated to three channels; MONOCHROME1 is inverted.

    Raises
    ------
    ImagingError
        One line naming the file: unreadable, not an image, above the pixel limit, bad slice.
    """
    preset = parse_preset(preset)
    data = read_values(item, axis=axis, max_pixels=max_pixels)
    try:
        out = preset.apply(data.values, monochrome1=data.monochrome1)
    except ValueError as err:
        raise ImagingError(f"{_as_item(item).path}: {one_line(err)}") from None
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    return np.ascontiguousarray(out)
