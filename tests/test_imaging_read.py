"""Reading real DICOM, NIfTI and PNG files shipped with pydicom, nibabel and scikit-image."""
from __future__ import annotations

import os
import shutil
import struct
import warnings
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from nibabel.testing import data_path as NIB_DATA
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_color_lut

from taskfp_lib.imaging import (ImageItem, ImagingError, SliceSpec, load_image, parse_preset, read_values,
                                scan_task_folder)
from taskfp_lib.imaging.headers import file_kind

SKIMAGE_DATA = Path(__import__("skimage.data").data.__file__).parent
warnings.filterwarnings("ignore", module="pydicom")


def dicom(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} needs pydicom-data")
    return Path(path)


def test_ct_soft_tissue_window_on_real_hounsfield_units():
    path = dicom("CT_small.dcm")
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    out = load_image(path, "ct:soft-tissue")
    expected = np.rint(np.clip((hu - 39.5) / 399 + 0.5, 0, 1) * 255)
    assert out.shape == hu.shape + (3,) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], expected)
    assert (out[..., 0][hu == 40] == 128).all() and (hu == 40).sum() > 0  # the centre
    assert (out[..., 0][hu <= -160] == 0).all() and (out[..., 0][hu > 240] == 255).all()
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_rescale_slope_intercept_and_monochrome1_on_computed_radiograph():
    path = dicom("dicomdirtests/77654033/CR1/6154")  # no suffix: found by the DICM preamble
    assert file_kind(path) == "dicom"
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1" and float(ds.RescaleSlope) != 1
    values = read_values(path)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(values.values, expected)
    assert values.monochrome1
    out = load_image(path, "minmax")[..., 0]
    plain = parse_preset("minmax").apply(expected)
    np.testing.assert_array_equal(out, 255 - plain)
    assert out.flat[np.argmax(expected)] == 0 and out.flat[np.argmin(expected)] == 255


def test_rescale_slope_on_mr_from_pydicom_data():
    path = dicom("MR2_UNCR.dcm")
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(read_values(path).values, expected)


def test_enhanced_multiframe_rescale_from_functional_groups():
    path = dicom("eCT_Supplemental.dcm")  # NEMA enhanced CT: rescale only in the shared functional groups
    ds = pydicom.dcmread(path)
    assert "RescaleSlope" not in ds
    group = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    for k in (0, 1):
        expected = ds.pixel_array[k] * float(group.RescaleSlope) + float(group.RescaleIntercept)
        np.testing.assert_allclose(read_values(ImageItem(path, k, 0)).values, expected)
    assert float(group.RescaleIntercept) == -1024


def test_multiframe_frames_and_palette_colour():
    path = dicom("examples_ybr_color.dcm")
    frames = pydicom.dcmread(path).pixel_array  # converted to RGB by pydicom
    for k in (0, 17, 29):
        np.testing.assert_array_equal(load_image(ImageItem(path, k, 0)), frames[k])
    with pytest.raises(ImagingError, match="needs a frame index"):
        load_image(path)
    with pytest.raises(ImagingError, match="outside 0..29"):
        load_image(ImageItem(path, 30, 0))
    path = dicom("examples_palette.dcm")
    ds = pydicom.dcmread(path)
    lut = apply_color_lut(ds.pixel_array, ds)  # 16-bit LUT entries -> 8 bits by round(x / 257)
    assert lut.dtype == np.uint16
    np.testing.assert_array_equal(load_image(path), np.rint(lut / 257.0))


@pytest.mark.parametrize("name", ["anatomical.nii", "example4d.nii.gz"])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_nifti_slices_along_each_axis_match_nibabel(name, axis):
    path = Path(NIB_DATA) / name
    full = np.asanyarray(nib.load(path).dataobj)
    if full.ndim == 4:
        full = full[..., 0]
    for k in (0, full.shape[axis] // 2, full.shape[axis] - 1):
        got = read_values(ImageItem(path, k, 0), axis=axis).values
        np.testing.assert_array_equal(got, np.take(full, k, axis=axis))
    with pytest.raises(ImagingError, match="needs a slice index"):
        read_values(path, axis=axis)


def test_slice_spec_indices_and_round_trip():
    assert SliceSpec(which="middle").indices(24) == [12]
    assert SliceSpec(which="0.25-0.75").indices(24) == list(range(6, 18))
    assert SliceSpec(which=(0.25, 0.75), stride=4).indices(24) == [6, 10, 14]
    assert SliceSpec(which="0.9-1").indices(3) == [2]
    assert SliceSpec(stride=5).indices(12) == [0, 5, 10]
    spec = SliceSpec(axis=1, which="0.1-0.5", stride=2)
    assert SliceSpec.from_dict(spec.to_dict()) == spec and spec.id == "axis=1,which=0.1-0.5,stride=2"
    for bad in (dict(axis=3), dict(stride=0), dict(which="0.8-0.2"), dict(which="first")):
        with pytest.raises(ImagingError):
            SliceSpec(**bad)


def _png_declaring(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_pixel_limits_refuse_before_decoding_and_name_the_file(tmp_path):
    for w, h in ((100_000, 100_000), (8_000, 8_000)):  # above PIL's own bomb limit / above ours only
        bomb = _png_declaring(tmp_path / f"bomb_{w}.png", w, h)
        with pytest.raises(ImagingError) as info:
            load_image(bomb)
        assert str(info.value).startswith(f"{bomb}: ") and "limit" in str(info.value)
    camera = SKIMAGE_DATA / "camera.png"
    assert load_image(camera).shape == (512, 512, 3)
    with pytest.raises(ImagingError, match=f"^{camera}: image declares 512 x 512 pixels"):
        load_image(camera, max_pixels=1000)
    huge = tmp_path / "huge.nii"
    nib.Nifti1Image(np.zeros((1, 1, 1), np.int16), np.eye(4)).to_filename(huge)
    with open(huge, "r+b") as fh:  # the header now declares 30000 x 30000 x 3 voxels, the file holds 1
        fh.seek(40)
        fh.write(struct.pack("<8h", 3, 30_000, 30_000, 3, 1, 1, 1, 1))
    with pytest.raises(ImagingError, match=f"^{huge}: .*limit"):
        read_values(ImageItem(huge, 0, 0))


def _task(root: Path) -> Path:
    (root / "ct" / "series1").mkdir(parents=True)
    shutil.copy(dicom("CT_small.dcm"), root / "ct" / "b.dcm")
    shutil.copy(dicom("dicomdirtests/98892001/CT2N/6293"), root / "ct" / "series1" / "a")
    (root / "ct" / ".DS_Store").write_bytes(b"junk")
    (root / "mr").mkdir()
    shutil.copy(Path(NIB_DATA) / "anatomical.nii", root / "mr" / "vol.nii")
    (root / "photo").mkdir()
    shutil.copy(SKIMAGE_DATA / "camera.png", root / "photo" / "z.png")
    shutil.copy(SKIMAGE_DATA / "coffee.png", root / "photo" / "a.png")
    (root / "photo" / "notes.txt").write_text("not an image")
    (root / ".hidden_class").mkdir()
    return root


def test_scan_order_slices_and_skipped_files(tmp_path):
    root = _task(tmp_path / "task")
    scan = scan_task_folder(root, slices=SliceSpec(axis=2, which="all", stride=5))
    assert scan.classes == ("ct", "mr", "photo") and scan.num_files == 5
    names = [(it.path.relative_to(root).as_posix(), it.slice, it.label) for it in scan.items]
    assert names == ([("ct/b.dcm", None, 0), ("ct/series1/a", None, 0)]
                     + [("mr/vol.nii", k, 1) for k in (0, 5, 10, 15, 20)]
                     + [("photo/a.png", None, 2), ("photo/z.png", None, 2)])
    assert scan.class_counts() == {"ct": 2, "mr": 5, "photo": 2}
    assert [p.name for p in scan.skipped] == ["notes.txt"]
    np.testing.assert_array_equal(scan.load(3)[..., 0], parse_preset("auto").apply(
        np.asanyarray(nib.load(root / "mr" / "vol.nii").dataobj)[:, :, 5]))
    flat = scan_task_folder(root, recursive=False, slices=SliceSpec(which="middle"))
    assert [it.path.name for it in flat.items] == ["b.dcm", "vol.nii", "a.png", "z.png"]
    assert flat.items[1].slice == 12


def test_scan_errors_name_the_folder_or_file(tmp_path):
    root = _task(tmp_path / "task")
    with pytest.raises(ImagingError, match=f"^{root / 'photo' / 'notes.txt'}: not an image file"):
        scan_task_folder(root, other_files="error")
    with pytest.raises(ImagingError, match="more than 3 image files"):
        scan_task_folder(root, max_files=3)
    with pytest.raises(ImagingError, match="more than 10 items"):
        scan_task_folder(root, max_items=10)
    (root / "empty").mkdir()
    with pytest.raises(ImagingError, match=f"^{root / 'empty'}: class folder holds no image files"):
        scan_task_folder(root)
    shutil.rmtree(root / "empty")
    with pytest.raises(ImagingError, match="at least 4 class"):
        scan_task_folder(root, min_classes=4)
    with pytest.raises(ImagingError, match="does not exist"):
        scan_task_folder(root / "nope")
    if os.geteuid() != 0:  # root reads every folder
        (root / "mr").chmod(0)
        try:
            with pytest.raises(ImagingError, match=f"^{root / 'mr'}: cannot read"):
                scan_task_folder(root)
        finally:
            (root / "mr").chmod(0o755)


def test_dicom_without_pixels_is_not_an_image(tmp_path):
    root = tmp_path / "task"
    (root / "a").mkdir(parents=True)
    shutil.copy(dicom("CT_small.dcm"), root / "a" / "ct.dcm")
    shutil.copy(dicom("rtplan.dcm"), root / "a" / "plan.dcm")
    assert [p.name for p in scan_task_folder(root).skipped] == ["plan.dcm"]
    with pytest.raises(ImagingError, match="holds no image"):
        scan_task_folder(root, other_files="error")
