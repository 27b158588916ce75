"""The offline demo tasks: real bundled images written as image folders."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from taskfp_lib.fingerprints import ImageFolderTask
from taskfp_lib.fingerprints.demo import CLOUD_TASKS, QUERY_TASK, write_demo_tasks


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_tasks(tmp_path_factory.mktemp("demo"), seed=0, per_class=10)


def test_demo_tasks_are_image_folders(demo):
    assert set(demo) == set(CLOUD_TASKS) | {QUERY_TASK}
    sizes = {name: len(ImageFolderTask(path)) for name, path in demo.items()}
    assert sizes["digits_10_classes"] == 898 and sizes["photo_patches"] == 30
    assert ImageFolderTask(demo["digits_10_classes"]).num_classes == 10
    assert ImageFolderTask(demo[QUERY_TASK]).classes == ["digit_3", "digit_8"]
    mri = next((demo["mri_patches"] / "bright").glob("*.png"))
    with Image.open(mri) as im:
        assert im.mode.startswith("I")            # 16-bit greyscale, converted on reading
    img, _ = ImageFolderTask(demo["mri_patches"])[0]
    assert img.dtype == np.uint8 and img.shape == (32, 32, 3)


def test_query_task_shares_no_image_with_the_cloud(demo):
    def hashes(path):
        return {hashlib.sha256(np.asarray(Image.open(p)).tobytes()).hexdigest() for p in path.rglob("*.png")}

    cloud = hashes(demo["digits_10_classes"])
    assert not hashes(demo[QUERY_TASK]) & cloud


def test_demo_tasks_are_seeded(tmp_path):
    a = write_demo_tasks(tmp_path / "a", seed=1, per_class=5, only=["photo_patches"])
    b = write_demo_tasks(tmp_path / "b", seed=1, per_class=5, only=["photo_patches"])
    assert set(a) == {"photo_patches"}
    pa = sorted((a["photo_patches"]).rglob("*.png"))
    pb = sorted((b["photo_patches"]).rglob("*.png"))
    assert [np.asarray(Image.open(x)).tobytes() for x in pa] == [np.asarray(Image.open(x)).tobytes() for x in pb]
