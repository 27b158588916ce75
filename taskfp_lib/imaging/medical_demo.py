"""Small, seeded demo classification tasks in several imaging domains, written as task folders.

:func:`build_demo_tasks` crops real images that ship inside installed packages (see
:mod:`taskfp_lib.imaging.demo_sources` for every source, its provenance and licence) into
``image_size`` x ``image_size`` samples: a square crop of a random side (a class-specific
fraction of the source region's short side) at a random position, a horizontal flip with
probability 1/2, and an intensity jitter :math:`x' = \\bar x + g\\,(x - \\bar x) + o\\,s_x` with
gain :math:`g \\sim U(0.95, 1.05)`, offset :math:`o \\sim U(-0.03, 0.03)` and :math:`\\bar x, s_x` the
patch mean and standard deviation. Each (task, class) draws from its own
``numpy.random.default_rng([seed, crc32(task), crc32(class), stream])``, so a task's files do not
depend on which other tasks are built, and the same seed gives byte-identical files.

CT, MR (2-D) and X-ray tasks are written as DICOM (modality values stored through Rescale
Slope/Intercept, X-ray as MONOCHROME1; the ``mr_region`` files carry no suffix, as many scanners
export them), the MR slab task as gzipped NIfTI sub-volumes of 4 slices, everything else as PNG.
The classes are honest but the tasks are tiny: most classes come from one to four source images,
so a classifier separates them easily; they exercise the readers and the method's mechanics, they
are no benchmark.

Pool split: ``pool_fraction > 0`` reserves source units (frames, slices blocks, faces) of every
class for ``<out>/pool/<task>/<class>/`` (e.g. self-supervised pretraining) and draws the task's
samples from the other units only. A class with a single source image is split into two disjoint
halves of its region instead (recorded as ``"disjoint": "half"`` in the manifest), so no pool
sample shares a source pixel with a task sample.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
import math
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from .._files import atomic_write_text
from .demo_sources import (DEMO_TASKS, LICENCES, ClassSpec, TaskSpec, Unit, load_unit, source_origin,
                           source_path)
from .headers import ImagingError

__all__ = ["build_demo_tasks", "DEMO_TASKS", "MANIFEST_NAME", "MARKER_NAME"]

#: manifest written (atomically) into the output folder
MANIFEST_NAME = "demo_manifest.json"
#: hidden marker file in every task folder the builder wrote (only such folders are ever replaced)
MARKER_NAME = ".taskfp-demo"
_CT_INTERCEPT = -1024.0
_SOP_CLASS = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4",
              "X-ray": "1.2.840.10008.5.1.4.1.1.1"}  # CT, MR, Computed Radiography Image Storage


def _rng(seed: int, *keys: str | int) -> np.random.Generator:
    words = [int(seed)] + [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    return np.random.default_rng(words)


def _resize(patch: np.ndarray, size: int) -> np.ndarray:
    """Bilinear (antialiased) resize of every channel of ``patch`` (h, w[, c]) to (size, size[, c])."""
    chans = patch[:, :, None] if patch.ndim == 2 else patch
    out = [np.asarray(Image.fromarray(np.ascontiguousarray(chans[:, :, c], dtype=np.float32), mode="F")
                      .resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64)
           for c in range(chans.shape[2])]
    stacked = np.stack(out, axis=2)
    return stacked[:, :, 0] if patch.ndim == 2 else stacked


def draw_sample(values: np.ndarray, box: tuple[float, float, float, float], crop: tuple[float, float],
                size: int, rng: np.random.Generator) -> np.ndarray:
    """One augmented sample of ``values`` (module docstring): crop in ``box``, resize, flip, jitter.

    Parameters
    ----------
    values : ndarray, shape (H, W) or (H, W, C)
    box : (top, left, bottom, right) fractions
    crop : (low, high) fractions of the region's short side
    size : int
    rng : numpy Generator (exactly five draws per call)

    Returns
    -------
    ndarray of float64, shape (size, size) or (size, size, C)
    """
    height, width = values.shape[:2]
    y0, y1 = int(round(box[0] * height)), int(round(box[2] * height))
    x0, x1 = int(round(box[1] * width)), int(round(box[3] * width))
    side = max(2, int(round(rng.uniform(*crop) * min(y1 - y0, x1 - x0))))
    top = y0 + int(rng.integers(0, y1 - y0 - side + 1))
    left = x0 + int(rng.integers(0, x1 - x0 - side + 1))
    flip, gain, offset = rng.random() < 0.5, rng.uniform(0.95, 1.05), rng.uniform(-0.03, 0.03)
    out = _resize(np.asarray(values[top:top + side, left:left + side], dtype=np.float64), size)
    if flip:
        out = out[:, ::-1]
    mean, spread = float(out.mean()), float(out.std())
    return mean + gain * (out - mean) + offset * spread


@functools.lru_cache(maxsize=None)
def _dicom_header(unit: Unit) -> tuple[str, float, float]:
    """Photometric Interpretation, Rescale Slope and Intercept of a DICOM source (top level)."""
    import pydicom

    ds = pydicom.dcmread(source_path(unit.source), stop_before_pixels=True)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    return photometric, float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)


def _write_dicom(path: Path, values: np.ndarray, task: TaskSpec, cls: ClassSpec, unit: Unit,
                 uids: tuple[str, str, str], number: int) -> None:
    """Write modality ``values`` (H, W) as a single-frame, uncompressed little-endian DICOM file."""
    from pydicom import dcmwrite
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    photometric, slope, intercept = _dicom_header(unit)
    signed = task.domain == "CT"
    if signed:
        slope, intercept = 1.0, _CT_INTERCEPT
    lo, hi = (-32768, 32767) if signed else (0, 65535)
    stored = np.clip(np.rint((values - intercept) / slope), lo, hi).astype("<i2" if signed else "<u2")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = _SOP_CLASS[task.domain]
    meta.MediaStorageSOPInstanceUID = uids[2]
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _uid("taskfp demo tasks")
    meta.ImplementationVersionName = "TASKFP_DEMO_1"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = _SOP_CLASS[task.domain], uids[2]
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uids[0], uids[1]
    ds.Modality = {"CT": "CT", "MR": "MR", "X-ray": "CR"}[task.domain]
    ds.PatientName, ds.PatientID = "Demo^Taskfp", "TASKFP-DEMO"
    ds.BodyPartExamined = cls.name.upper().replace("_", " ")[:16]
    ds.SeriesDescription = f"{task.name}/{cls.name}"[:64]
    ds.ImageComments = f"taskfp demo sample derived from {unit.id}"[:10240]
    ds.InstanceNumber = number
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, int(signed)
    if signed or (slope, intercept) != (1.0, 0.0):
        ds.RescaleSlope, ds.RescaleIntercept = format(slope, "g"), format(intercept, "g")
        ds.RescaleType = "HU" if signed else "US"
    ds.PixelData = stored.tobytes()
    ds["PixelData"].VR = "OW"
    dcmwrite(path, ds, enforce_file_format=True)


def _write_nifti(path: Path, values: np.ndarray, unit: Unit, scale: float) -> None:
    """Write a (H, W, D) block as gzipped NIfTI-1 int16 with a fixed gzip header (mtime 0)."""
    import nibabel as nib

    zooms = nib.load(source_path(unit.source), mmap=True).header.get_zooms()[:3]
    affine = np.diag([float(zooms[0]) * scale, float(zooms[1]) * scale, float(zooms[2]), 1.0])
    data = np.clip(np.rint(values), -32768, 32767).astype(np.int16)
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    path.write_bytes(gzip.compress(img.to_bytes(), compresslevel=6, mtime=0))


def _write_png(path: Path, values: np.ndarray) -> None:
    Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8)).save(path, format="PNG")


@dataclass
class _ClassPlan:
    """Units of a class for the task and for the pool, and how disjoint they are."""

    spec: ClassSpec
    task_units: tuple[Unit, ...]
    pool_units: tuple[Unit, ...]
    disjoint: str | None


def _plan(cls: ClassSpec, pool_fraction: float, rng: np.random.Generator) -> _ClassPlan:
    units = cls.units
    if pool_fraction <= 0:
        return _ClassPlan(cls, units, (), None)
    if len(units) == 1:
        first, second = units[0].halves()
        pair = (first, second) if rng.random() < 0.5 else (second, first)
        return _ClassPlan(cls, (pair[0],), (pair[1],), "half")
    k = min(max(int(round(pool_fraction * len(units))), 1), len(units) - 1)
    pool = set(rng.permutation(len(units))[:k].tolist())
    return _ClassPlan(cls, tuple(u for i, u in enumerate(units) if i not in pool),
                      tuple(u for i, u in enumerate(units) if i in pool), "unit")


def _write_class(folder: Path, task: TaskSpec, plan: _ClassPlan, units: tuple[Unit, ...], n_items: int,
                 image_size: int, rng: np.random.Generator, tag: str) -> dict:
    """Write ``n_items`` images (slices count one each) of one class; return its manifest entry."""
    folder.mkdir(parents=True)
    cache: dict[tuple[Unit, int], np.ndarray] = {}
    depth = units[0].depth
    n_files = math.ceil(n_items / depth)
    order = rng.permutation(len(units))
    uid = lambda *k: _uid(tag, task.name, plan.spec.name, *k)  # noqa: E731
    for i in range(n_files):
        unit = units[order[i % len(units)]]
        time = int(unit.times[int(rng.integers(len(unit.times)))])
        if (unit, time) not in cache:
            cache[(unit, time)] = load_unit(unit, time)
        values = cache[(unit, time)]
        sample = draw_sample(values, unit.box, plan.spec.crop, image_size, rng)
        stem = f"{plan.spec.name}_{i:04d}"
        if task.fmt == "dicom":
            name = stem if task.name == "mr_region" else f"{stem}.dcm"
            _write_dicom(folder / name, sample, task, plan.spec, unit, (uid(), uid("series"), uid(i)), i + 1)
        elif task.fmt == "nifti":
            region = min(values.shape[0] * (unit.box[2] - unit.box[0]), values.shape[1] * (unit.box[3] - unit.box[1]))
            _write_nifti(folder / f"{stem}.nii.gz", sample, unit, region / image_size)
        else:
            _write_png(folder / f"{stem}.png", sample)
    files = sorted(folder.iterdir())
    return {"name": plan.spec.name, "description": plan.spec.description, "items": n_files * depth,
            "files": len(files), "bytes": sum(p.stat().st_size for p in files),
            "units": [u.id for u in units], "origins": sorted({source_origin(u.source) for u in units})}


def _uid(*keys: str | int) -> str:
    """A deterministic DICOM UID ``2.25.<128-bit integer>`` from the SHA-256 of ``keys`` (PS3.5 B.2)."""
    digest = hashlib.sha256("\x1f".join(str(k) for k in keys).encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def _build_task(out_dir: Path, target: Path, task: TaskSpec, *, seed: int, image_size: int,
                per_class: int, pool_fraction: float, pool_per_class: int, overwrite: bool) -> dict:
    """Write one task (and its pool part) into staging folders, then move them into place."""
    plans = [_plan(cls, pool_fraction, _rng(seed, task.name, cls.name, 2)) for cls in task.classes]
    parts = [("task", target, per_class, [p.task_units for p in plans])]
    if pool_fraction > 0:
        parts.append(("pool", out_dir / "pool" / task.name, pool_per_class, [p.pool_units for p in plans]))
    entry: dict = {"domain": task.domain, "format": task.fmt, "preset": task.preset,
                   "description": task.description, "slices": {"axis": 2, "which": "all", "stride": 1}}
    for tag, final, n_items, units in parts:
        _check_target(final, overwrite)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        try:
            classes = [_write_class(staging / plan.spec.name, task, plan, cls_units, n_items, image_size,
                                    _rng(seed, task.name, plan.spec.name, int(tag == "pool")), tag)
                       for plan, cls_units in zip(plans, units)]
            (staging / MARKER_NAME).write_text(f"taskfp demo task {task.name} ({tag}), seed {seed}\n")
            if final.exists():
                shutil.rmtree(final)
            staging.replace(final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        for cls_entry, plan in zip(classes, plans):
            cls_entry["disjoint"] = plan.disjoint
        entry[tag] = {"path": final.relative_to(out_dir).as_posix(), "classes": classes,
                      "bytes": sum(c["bytes"] for c in classes)}
    return entry


def _check_target(final: Path, overwrite: bool) -> None:
    if not final.exists():
        return
    if not overwrite:
        raise ImagingError(f"{final}: already exists; pass overwrite=True to replace a demo task")
    if not (final / MARKER_NAME).is_file():
        raise ImagingError(f"{final}: exists and was not written by the demo builder; refusing to replace it")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("pydicom", "pydicom-data", "nibabel", "scikit-image", "numpy", "pillow"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _check_args(seed: int, image_size: int, per_class: int, pool_fraction: float,
                pool_per_class: int, tasks: Iterable[str] | None) -> list[str]:
    for name, value, lo, hi in (("image_size", image_size, 16, 512), ("per_class", per_class, 1, 5000),
                                ("pool_per_class", pool_per_class, 1, 5000), ("seed", seed, 0, 2**63 - 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
            raise ImagingError(f"build_demo_tasks: {name} must be an integer in [{lo}, {hi}], got {value!r}")
    if not 0 <= pool_fraction < 1:
        raise ImagingError(f"build_demo_tasks: pool_fraction must be in [0, 1), got {pool_fraction!r}")
    names = list(DEMO_TASKS) if tasks is None else list(tasks)
    unknown = [n for n in names if n not in DEMO_TASKS]
    if unknown or not names:
        raise ImagingError(f"build_demo_tasks: unknown or no tasks {unknown}; known: {', '.join(DEMO_TASKS)}")
    return list(dict.fromkeys(names))


def build_demo_tasks(out_dir: str | Path, *, seed: int = 0, image_size: int = 64, per_class: int = 60,
                     tasks: Iterable[str] | None = None, pool_fraction: float = 0.0,
                     pool_per_class: int | None = None, overwrite: bool = False) -> dict[str, Path]:
    """Write small demo classification tasks (module docstring) and ``demo_manifest.json``.

    Parameters
    ----------
    out_dir : path
        Output folder; task ``t`` goes to ``out_dir/t/<class>/<files>``, its pool part (if any)
        to ``out_dir/pool/t/<class>/<files>``.
    seed : int
        Seed of every random draw (same seed, same package versions -> byte-identical files).
        Another seed gives a fresh draw, e.g. a re-sampled copy of a task.
    image_size : int
        Side of the square samples in pixels (16..512).
    per_class : int
        Items per class (slices count one each; NIfTI files hold 4 slices).
    tasks : iterable of str, optional
        Names from :data:`DEMO_TASKS` (default: all).
    pool_fraction : float
        Share of each class's source units reserved for the pool (0: no pool).
    pool_per_class : int, optional
        Pool items per class (default ``per_class``).
    overwrite : bool
        Replace task folders this builder wrote before (never any other folder).

    Returns
    -------
    dict of str -> Path
        Task name -> task folder, plus ``'pool/<task>'`` -> pool folder.

    Raises
    ------
    ImagingError
        Bad arguments, a missing source package (e.g. ``pydicom-data``), or an existing folder
        that may not be replaced.
    """
    pool_per_class = per_class if pool_per_class is None else pool_per_class
    names = _check_args(seed, image_size, per_class, pool_fraction, pool_per_class, tasks)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"format": "taskfp-demo-tasks", "version": 1, "seed": int(seed), "image_size": int(image_size),
                "per_class": int(per_class), "pool_fraction": float(pool_fraction),
                "pool_per_class": int(pool_per_class), "packages": _versions(), "licences": LICENCES,
                "tasks": {}}
    paths: dict[str, Path] = {}
    for name in names:
        entry = _build_task(out_dir, out_dir / name, DEMO_TASKS[name], seed=int(seed), image_size=int(image_size),
                            per_class=int(per_class), pool_fraction=float(pool_fraction),
                            pool_per_class=int(pool_per_class), overwrite=overwrite)
        manifest["tasks"][name] = entry
        paths[name] = out_dir / name
        if "pool" in entry:
            paths[f"pool/{name}"] = out_dir / entry["pool"]["path"]
    atomic_write_text(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return paths
