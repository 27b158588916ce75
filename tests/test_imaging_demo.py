"""The seeded medical demo tasks: determinism, disjoint pool, and round trips through the readers."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from taskfp_lib.imaging import ImagingError, load_image, read_values, scan_task_folder
from taskfp_lib.imaging.demo_sources import DEMO_TASKS, Unit
from taskfp_lib.imaging.medical_demo import MANIFEST_NAME, MARKER_NAME, build_demo_tasks, draw_sample

pytest.importorskip("data_store", reason="the X-ray and MR demo sources ship in pydicom-data")
TASKS = ["ct_region", "mr_brain_slab", "mr_region", "xray_region", "photo_faces"]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    paths = build_demo_tasks(out / "a", seed=3, image_size=32, per_class=6, tasks=TASKS, pool_fraction=0.4)
    return out, paths


def test_same_seed_gives_byte_identical_files(built, tmp_path):
    out, _ = built
    again = build_demo_tasks(tmp_path / "b", seed=3, image_size=32, per_class=6, tasks=TASKS, pool_fraction=0.4)
    first, second = _tree(out / "a"), _tree(tmp_path / "b")
    assert first.keys() == second.keys() and len(first) > 100
    assert all(first[k] == second[k] for k in first)
    assert set(again) == set(TASKS) | {f"pool/{t}" for t in TASKS}
    other = build_demo_tasks(tmp_path / "c", seed=4, image_size=32, per_class=6, tasks=["photo_faces"])
    assert _tree(other["photo_faces"]) != {k.split("/", 1)[1]: v for k, v in first.items()
                                           if k.startswith("photo_faces/")}


def test_a_task_does_not_depend_on_the_other_tasks_built(built, tmp_path):
    out, _ = built
    alone = build_demo_tasks(tmp_path, seed=3, image_size=32, per_class=6, tasks=["xray_region"], pool_fraction=0.4)
    assert _tree(alone["xray_region"]) == _tree(out / "a" / "xray_region")


def _boxes_disjoint(a: str, b: str) -> bool:
    box = lambda s: [float(x) for x in s[s.index("[") + 1:-1].split(",")]  # noqa: E731
    (t1, l1, b1, r1), (t2, l2, b2, r2) = box(a), box(b)
    return b1 <= t2 or b2 <= t1 or r1 <= l2 or r2 <= l1


def test_pool_is_disjoint_from_the_tasks(built):
    out, _ = built
    manifest = json.loads((out / "a" / MANIFEST_NAME).read_text())
    for name in TASKS:
        entry = manifest["tasks"][name]
        for cls, pool_cls in zip(entry["task"]["classes"], entry["pool"]["classes"]):
            task_units, pool_units = set(cls["units"]), set(pool_cls["units"])
            assert task_units and pool_units and not task_units & pool_units
            if cls["disjoint"] == "half":
                assert all(_boxes_disjoint(a, b) for a in task_units for b in pool_units)
            else:
                assert cls["disjoint"] == "unit"
        # the DICOM files themselves say which unit they were cut from
        if entry["format"] == "dicom":
            for part in ("task", "pool"):
                allowed = {u for c in entry[part]["classes"] for u in c["units"]}
                for path in (out / "a" / entry[part]["path"]).rglob("*"):
                    if path.is_file() and path.name != MARKER_NAME:
                        comment = str(pydicom.dcmread(path, stop_before_pixels=True).ImageComments)
                        assert comment.rsplit(" ", 1)[1] in allowed


def test_built_tasks_read_back_with_their_presets(built):
    out, paths = built
    manifest = json.loads((out / "a" / MANIFEST_NAME).read_text())
    for name in TASKS:
        scan = scan_task_folder(paths[name])
        entry = manifest["tasks"][name]
        assert list(scan.classes) == sorted(c.name for c in DEMO_TASKS[name].classes)
        assert scan.class_counts() == {c["name"]: c["items"] for c in entry["task"]["classes"]}
        assert min(scan.class_counts().values()) >= 6 and not scan.skipped
        assert entry["task"]["bytes"] == sum(p.stat().st_size for p in paths[name].rglob("*") if p.is_file()
                                             and p.name != MARKER_NAME)
        image = scan.load(0, entry["preset"])
        assert image.shape == (32, 32, 3) and image.dtype == np.uint8 and image.std() > 0
    mr = scan_task_folder(paths["mr_region"])
    assert all(it.path.suffix == "" for it in mr.items)  # found by the DICM preamble
    xray = scan_task_folder(paths["xray_region"])
    assert read_values(xray.items[0]).monochrome1


def test_dicom_writer_round_trips_hounsfield_units(tmp_path):
    from taskfp_lib.imaging.medical_demo import _write_dicom

    unit = Unit("pydicom:CT_small.dcm")
    ct = read_values(Path(pydicom.data.get_testdata_file("CT_small.dcm"))).values
    sample = draw_sample(ct, unit.box, (0.5, 0.9), 32, np.random.default_rng(0))
    task, cls = DEMO_TASKS["ct_region"], DEMO_TASKS["ct_region"].classes[1]
    _write_dicom(tmp_path / "x.dcm", sample, task, cls, unit, ("1.2.3", "1.2.4", "1.2.5"), 1)
    np.testing.assert_array_equal(read_values(tmp_path / "x.dcm").values, np.rint(sample))
    windowed = load_image(tmp_path / "x.dcm", "ct:lung")[..., 0]
    np.testing.assert_array_equal(windowed, np.rint(np.clip((np.rint(sample) + 600.5) / 1499 + 0.5, 0, 1) * 255))


def test_existing_folders_are_replaced_only_when_ours(built, tmp_path):
    (tmp_path / "photo_faces").mkdir()
    with pytest.raises(ImagingError, match="already exists"):
        build_demo_tasks(tmp_path, per_class=2, tasks=["photo_faces"])
    with pytest.raises(ImagingError, match="not written by the demo builder"):
        build_demo_tasks(tmp_path, per_class=2, tasks=["photo_faces"], overwrite=True)
    (tmp_path / "photo_faces").rmdir()
    build_demo_tasks(tmp_path, per_class=2, tasks=["photo_faces"])
    build_demo_tasks(tmp_path, per_class=3, tasks=["photo_faces"], overwrite=True)
    assert scan_task_folder(tmp_path / "photo_faces").class_counts() == {"background": 3, "face": 3}
    for bad in (dict(tasks=["nope"]), dict(image_size=8), dict(pool_fraction=1.0), dict(per_class=0)):
        with pytest.raises(ImagingError, match="build_demo_tasks"):
            build_demo_tasks(tmp_path, **bad)
