"""The source images of the medical demo tasks: real images shipped inside installed Python packages.

Nothing is downloaded. Sources are located with ``pydicom.data.get_testdata_file(name,
download=False)`` (pydicom's own test files and the ``pydicom-data`` package), nibabel's
``nibabel.testing.data_path`` and scikit-image's bundled ``skimage/data`` folder.

Provenance and licences (as stated by the packages):

* pydicom test files (pydicom, MIT licence; its ``test_files/README.txt``: "I believe there is no
  restriction on using any of these files"): ``CT_small.dcm`` (thorax CT downsized from NEMA WG04
  ``CT1_UNC``), ``J2K_pixelrep_mismatch.dcm`` (head CT, pydicom issue 1149),
  ``examples_ybr_color.dcm`` (echocardiography cine, reduced from ``color3d_jpeg_baseline.dcm``),
  ``examples_rgb_color.dcm`` (lymph-node ultrasound, cropped NEMA WG04 ``US1_UNCR``),
  ``color-pl.dcm`` (pelvic ultrasound).
* ``pydicom-data`` 1.0.0 (MIT licence; files from the NEMA WG04 compression test set, GDCM's test
  data under GDCM's BSD licence, and The Cancer Imaging Archive): ``693_UNCR.dcm`` (head CT),
  ``explicit_VR-UN.dcm`` (abdominal
  CT, TCIA), ``emri_small.dcm`` (10-frame head MR), ``MR2_UNCR.dcm`` (shoulder MR, NEMA WG04),
  ``MR-SIEMENS-DICOM-WithOverlays.dcm`` (abdominal MR, GDCM), ``RG1_UNCR.dcm`` (chest radiograph,
  NEMA WG04), ``RG3_UNCR.dcm`` (forearm radiograph, NEMA WG04), ``gdcm-US-ALOKA-16.dcm`` (pelvic
  ultrasound, GDCM).
* nibabel test data (nibabel, MIT licence): ``example4d.nii.gz`` (2 volumes of a 2 mm brain EPI
  series) and ``anatomical.nii`` (2 mm anatomical brain volume).
* scikit-image bundled data (scikit-image, BSD-3; per image as in ``skimage.data``): ``grass.png``,
  ``gravel.png`` and ``brick.png`` (CC0 textures), ``lfw_subset.npy`` (100 faces and 100
  non-faces at 25 x 25 px from Labeled Faces in the Wild, Huang et al.), ``ihc.png``
  (immunohistochemistry; "no known copyright restrictions"), ``cell.png`` (quantitative phase
  image of a cell, CC0; Mueller et al., Opt. Express 26:10729, 2018).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .readers import read_pil, read_values
from .headers import ImageItem, ImagingError

__all__ = ["Unit", "ClassSpec", "TaskSpec", "DEMO_TASKS", "LICENCES", "source_path", "source_origin",
           "load_unit"]

#: licence of the files each origin package ships (as the packages state it; module docstring)
LICENCES: dict[str, str] = {
    "pydicom": "pydicom test files, MIT licence; test_files/README.txt: no restriction on their use",
    "pydicom-data": "pydicom-data 1.0.0, MIT licence; NEMA WG04 samples, GDCM test data (BSD), TCIA",
    "nibabel": "nibabel test data, MIT licence (nibabel COPYING)",
    "scikit-image": "scikit-image bundled data, BSD-3; grass/gravel/brick/cell CC0, ihc no known "
                    "copyright restrictions, lfw_subset from Labeled Faces in the Wild",
}


@dataclass(frozen=True)
class Unit:
    """One 2-D source image (or a block of volume slices) that demo samples are cropped from.

    Parameters
    ----------
    source : str
        ``'<package>:<file name>'`` with package ``pydicom``, ``nibabel`` or ``skimage``.
    index : int, optional
        Frame of a multi-frame DICOM, first slice of a NIfTI block, or row of ``lfw_subset.npy``.
    box : (top, left, bottom, right)
        Region (fractions of the image) that crops are drawn from (excludes burnt-in text, air).
    split : {'cols', 'rows'}
        How a class's only unit is halved when a disjoint pool is requested.
    depth : int
        Slices per sample for NIfTI blocks (1 for 2-D sources).
    times : tuple of int
        Volumes (4th axis) of a NIfTI series a block may be taken from.
    """

    source: str
    index: int | None = None
    box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    split: str = "cols"
    depth: int = 1
    times: tuple[int, ...] = (0,)

    @property
    def id(self) -> str:
        """Stable text naming the unit (recorded in the manifest)."""
        parts = [self.source] + ([f"#{self.index}"] if self.index is not None else [])
        if self.box != (0.0, 0.0, 1.0, 1.0):
            parts.append("[" + ",".join(format(b, "g") for b in self.box) + "]")
        return "".join(parts)

    def halves(self) -> tuple["Unit", "Unit"]:
        """Two units over disjoint halves of :attr:`box` (split along :attr:`split`)."""
        top, left, bottom, right = self.box
        if self.split == "rows":
            mid = (top + bottom) / 2
            a, b = (top, left, mid, right), (mid, left, bottom, right)
        else:
            mid = (left + right) / 2
            a, b = (top, left, bottom, mid), (top, mid, bottom, right)
        return (Unit(self.source, self.index, a, self.split, self.depth, self.times),
                Unit(self.source, self.index, b, self.split, self.depth, self.times))


@dataclass(frozen=True)
class ClassSpec:
    """A class of a demo task: its folder name, what it shows, and its source units."""

    name: str
    description: str
    units: tuple[Unit, ...]
    crop: tuple[float, float] = (0.55, 0.95)  # crop side as a fraction of the region's short side


@dataclass(frozen=True)
class TaskSpec:
    """A demo task: domain, file format written, the preset to read it with, and its classes."""

    name: str
    domain: str
    fmt: str  # 'dicom', 'nifti' or 'png'
    preset: str
    description: str
    classes: tuple[ClassSpec, ...]


def _frames(name: str, frames: range, box=(0.0, 0.0, 1.0, 1.0)) -> tuple[Unit, ...]:
    return tuple(Unit(f"pydicom:{name}", k, box) for k in frames)


def _blocks(name: str, starts: tuple[int, ...], times: tuple[int, ...]) -> tuple[Unit, ...]:
    return tuple(Unit(f"nibabel:{name}", k, depth=4, times=times) for k in starts)


_HEAD_BOX = (0.1, 0.1, 0.9, 0.9)
DEMO_TASKS: dict[str, TaskSpec] = {t.name: t for t in (
    TaskSpec("ct_region", "CT", "dicom", "ct:soft-tissue",
             "Axial CT slices by body region (DICOM, Hounsfield units via Rescale Intercept)", (
                 ClassSpec("head", "axial head CT (slices of two scans)",
                           (Unit("pydicom:693_UNCR.dcm", None, _HEAD_BOX),
                            Unit("pydicom:J2K_pixelrep_mismatch.dcm", None, _HEAD_BOX))),
                 ClassSpec("chest", "axial thorax CT at a thoracic vertebra",
                           (Unit("pydicom:CT_small.dcm"),)),
                 ClassSpec("abdomen", "axial abdominal CT (pancreas level)",
                           (Unit("pydicom:explicit_VR-UN.dcm", None, (0.3, 0.15, 0.9, 0.85)),)))),
    TaskSpec("mr_brain_slab", "MR", "nifti", "mr:p1-p99",
             "Axial brain MR slabs (NIfTI sub-volumes of 4 slices, read along axis 2)", (
                 ClassSpec("inferior", "slices 0-7 of an EPI series and an anatomical volume",
                           _blocks("example4d.nii.gz", (0, 4), (0, 1)) + _blocks("anatomical.nii", (0, 4), (0,)),
                           (0.7, 0.95)),
                 ClassSpec("middle", "slices 8-15 of the same volumes",
                           _blocks("example4d.nii.gz", (8, 12), (0, 1)) + _blocks("anatomical.nii", (8, 12), (0,)),
                           (0.7, 0.95)),
                 ClassSpec("superior", "slices 16-23 of the same volumes",
                           _blocks("example4d.nii.gz", (16, 20), (0, 1)) + _blocks("anatomical.nii", (16, 20), (0,)),
                           (0.7, 0.95)))),
    TaskSpec("mr_region", "MR", "dicom", "mr:p1-p99", "MR images by body region (DICOM, Rescale Slope kept)", (
        ClassSpec("head", "frames of a 10-frame head MR", _frames("emri_small.dcm", range(10)), (0.6, 0.95)),
        ClassSpec("shoulder", "coronal shoulder MR", (Unit("pydicom:MR2_UNCR.dcm"),)),
        ClassSpec("abdomen", "axial abdominal MR", (Unit("pydicom:MR-SIEMENS-DICOM-WithOverlays.dcm",
                                                         None, (0.1, 0.05, 0.9, 0.95)),)))),
    TaskSpec("xray_region", "X-ray", "dicom", "minmax",
             "Computed radiographs by body region (DICOM MONOCHROME1, inverted on reading)", (
                 ClassSpec("chest", "PA chest radiograph", (Unit("pydicom:RG1_UNCR.dcm"),)),
                 ClassSpec("extremity", "forearm radiograph",
                           (Unit("pydicom:RG3_UNCR.dcm", None, (0.0, 0.25, 1.0, 0.95), "rows"),)))),
    TaskSpec("us_exam", "ultrasound", "png", "auto", "Ultrasound frames by examination (PNG, RGB)", (
        ClassSpec("cardiac", "frames of an echocardiography cine loop",
                  _frames("examples_ybr_color.dcm", range(30), (0.05, 0.15, 0.85, 0.85))),
        ClassSpec("lymph_node", "small-parts lymph node scan",
                  (Unit("pydicom:examples_rgb_color.dcm", None, (0.27, 0.22, 0.68, 0.94)),), (0.6, 0.95)),
        ClassSpec("pelvic", "pelvic scans from two machines",
                  (Unit("pydicom:gdcm-US-ALOKA-16.dcm", None, (0.1, 0.05, 0.95, 0.95)),
                   Unit("pydicom:color-pl.dcm", None, (0.1, 0.02, 0.9, 0.98)))))),
    TaskSpec("photo_texture", "photo", "png", "auto", "Natural textures (PNG, grey)", (
        ClassSpec("grass", "grass texture", (Unit("skimage:grass.png"),), (0.3, 0.6)),
        ClassSpec("gravel", "gravel texture", (Unit("skimage:gravel.png"),), (0.3, 0.6)),
        ClassSpec("brick", "brick wall texture", (Unit("skimage:brick.png"),), (0.3, 0.6)))),
    TaskSpec("photo_faces", "photo", "png", "auto", "Faces vs. background patches (LFW subset, PNG, grey)", (
        ClassSpec("face", "face crops", tuple(Unit("skimage:lfw_subset.npy", k) for k in range(100)), (0.8, 1.0)),
        ClassSpec("background", "non-face crops from the same photos",
                  tuple(Unit("skimage:lfw_subset.npy", k) for k in range(100, 200)), (0.8, 1.0)))),
    TaskSpec("microscopy", "microscopy", "png", "auto", "Microscopy by technique (PNG)", (
        ClassSpec("ihc", "immunohistochemistry, bright field (RGB)", (Unit("skimage:ihc.png"),), (0.3, 0.6)),
        ClassSpec("phase", "quantitative phase image of a cell (grey)", (Unit("skimage:cell.png"),), (0.4, 0.8)))),
)}


@functools.lru_cache(maxsize=None)
def source_path(source: str) -> Path:
    """Installed file of ``'<package>:<name>'``; a one-line error says which package is missing."""
    package, _, name = source.partition(":")
    if package == "pydicom":
        from pydicom.data import get_testdata_file

        found = get_testdata_file(name, download=False)
        if found is None:
            raise ImagingError(f"{name}: pydicom test file not installed (pip install pydicom-data==1.0.0)")
        return Path(found)
    if package == "nibabel":
        from nibabel.testing import data_path

        path = Path(data_path) / name
    elif package == "skimage":
        import skimage.data

        path = Path(skimage.data.__file__).parent / name
    else:
        raise ImagingError(f"{source}: unknown source package {package!r}")
    if not path.is_file():
        raise ImagingError(f"{path}: bundled test image missing from the installed {package}")
    return path


def source_origin(source: str) -> str:
    """The distribution a source file comes from (a key of :data:`LICENCES`)."""
    package = source.partition(":")[0]
    if package == "pydicom":
        import pydicom

        inside_pydicom = Path(pydicom.__file__).parent in source_path(source).parents
        return "pydicom" if inside_pydicom else "pydicom-data"
    return {"nibabel": "nibabel", "skimage": "scikit-image"}[package]


def load_unit(unit: Unit, time: int = 0) -> np.ndarray:
    """Modality values of a unit's whole image, before its box is applied.

    Returns
    -------
    ndarray
        (H, W) float64 grey values, (H, W, 3) uint8 colour, or (H, W, depth) float64 for NIfTI
        blocks (volume ``time``). ``lfw_subset.npy`` faces are scaled from [0, 1] to 0..255.
    """
    path = source_path(unit.source)
    if unit.source.startswith("nibabel:"):
        import nibabel as nib

        img = nib.load(path, mmap=True)
        block = slice(unit.index, unit.index + unit.depth)
        slicer = (slice(None), slice(None), block) + ((time,) if len(img.shape) == 4 else ())
        return np.asarray(img.dataobj[slicer], dtype=np.float64)
    if path.suffix == ".npy":
        faces = np.load(path, mmap_mode="r", allow_pickle=False)
        return np.rint(np.asarray(faces[unit.index], dtype=np.float64) * 255.0)
    if unit.source.startswith("skimage:"):
        values = read_pil(path)
    else:
        values = read_values(ImageItem(path, unit.index, 0)).values
    return values if values.ndim == 3 else np.asarray(values, dtype=np.float64)
