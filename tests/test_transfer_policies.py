"""The albumentations 1.3 -> 2.x compatibility layer for the authors' learned policies."""
from __future__ import annotations

import json
import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A
import numpy as np
import pytest

from taskfp_lib.transfer.policies import (PolicyError, convert_policy, count_leaves, load_policy, policy_file,
                                          policy_relpath, shipped_policy_relpaths)

EXPECTED_CLASS = {"ShiftScaleRotate": A.Affine, "RGBShift": A.RGBShift, "Solarize": A.Solarize,
                  "RandomBrightnessContrast": A.RandomBrightnessContrast, "CoarseDropout": A.CoarseDropout,
                  "HorizontalFlip": A.HorizontalFlip, "VerticalFlip": A.VerticalFlip, "NoOp": A.NoOp,
                  "Compose": A.Compose, "OneOf": A.OneOf, "Sequential": A.Sequential}


def _policy(*leaves, version="1.3.0"):
    return {"__version__": version, "transform": {
        "__class_fullname__": "Compose", "p": 1.0, "bbox_params": None, "keypoint_params": None,
        "additional_targets": {}, "transforms": list(leaves)}}


def _leaf(name, p=1.0, **args):
    return {"__class_fullname__": name, "always_apply": False, "p": p, **args}


def _shipped():
    try:
        from taskfp_lib.upstream.manifest import DataError, data_path
    except ImportError:  # pragma: no cover
        pytest.skip("taskfp_lib.upstream not available")
    rels = shipped_policy_relpaths()
    if not rels:
        pytest.skip("the authors' policies are neither in the data manifest nor in a mirror (TASKFP_MIRROR)")
    try:
        return [(rel, data_path(rel)) for rel in rels]
    except DataError as err:
        pytest.skip(f"policy files not available: {err}")


def _check_tree(node: dict, transform, where: str) -> int:
    name = node["__class_fullname__"]
    assert isinstance(transform, EXPECTED_CLASS[name]), f"{where}: {name} became {type(transform).__name__}"
    assert transform.p == pytest.approx(float(node["p"]), rel=0, abs=0), where
    if "transforms" in node:
        assert len(transform.transforms) == len(node["transforms"]), where
        return sum(_check_tree(c, t, f"{where}/{i}") for i, (c, t) in
                   enumerate(zip(node["transforms"], transform.transforms)))
    return 1


def test_every_shipped_policy_loads_and_applies():
    files = _shipped()
    assert len(files) == 213  # 71 tasks x 3 repetitions
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for rel, path in files:
        policy = json.loads(path.read_text())
        compose = load_policy(path, seed=1, image_size=32)
        assert isinstance(compose, A.Compose)
        n = _check_tree(policy["transform"], compose, rel)
        assert n == len(count_leaves(policy)) > 0
        out = compose(image=image)["image"]
        assert out.shape == image.shape and out.dtype == np.uint8, rel


def test_every_task_and_repetition_has_a_policy():
    _shipped()
    from taskfp_lib.tasks import ALL_TASKS

    rels = {policy_relpath(task, r) for task in ALL_TASKS for r in range(3)}
    assert len(rels) == 213
    assert policy_relpath("breast_cancer_classification_v2", 1).endswith(
        "pami2_t_aa_search_01_1/AA/DSET_breast_ultrasound%TASK_breast_cancer_classification/policy_0001.json")
    assert policy_file("mnist_digit_classification", 2).is_file()
    with pytest.raises(KeyError, match="no learned augmentation policy"):
        policy_relpath("not_a_task", 0)


def test_rgb_shift_keeps_pixel_units():
    # albumentations 2 would read a limit of 1 as a fraction of 255; 1.3 meant one grey level
    compose = convert_policy(_policy(_leaf("RGBShift", r_shift_limit=[1, 1], g_shift_limit=[-10, -10],
                                           b_shift_limit=[-0.0, 0.0])), seed=0)
    image = np.full((4, 4, 3), 100, np.uint8)
    np.testing.assert_array_equal(compose(image=image)["image"][0, 0], [101, 90, 100])


@pytest.mark.parametrize("threshold", [0, 1, 37, 100, 128, 254, 255])
def test_solarize_inverts_pixels_at_or_above_the_threshold(threshold):
    compose = convert_policy(_policy(_leaf("Solarize", threshold=[threshold, threshold])), seed=0)
    values = np.arange(256, dtype=np.uint8)
    image = np.repeat(values.reshape(16, 16, 1), 3, axis=2)
    out = compose(image=image)["image"][..., 0].ravel()
    expected = np.where(values >= threshold, 255 - values, values)
    np.testing.assert_array_equal(out, expected)


def test_shift_scale_rotate_becomes_affine_with_the_same_meaning():
    node = _leaf("ShiftScaleRotate", p=0.25, shift_limit_x=[0.1, 0.1], shift_limit_y=[-0.05, -0.05],
                 scale_limit=[0.2, 0.2], rotate_limit=[-3.0, -3.0], interpolation=1, border_mode=4, value=None,
                 mask_value=None, rotate_method="largest_box")
    affine = convert_policy(_policy(node)).transforms[0]
    assert isinstance(affine, A.Affine) and affine.p == 0.25
    assert affine.scale == {"x": (1.2, 1.2), "y": (1.2, 1.2)}
    assert affine.translate_percent == {"x": (0.1, 0.1), "y": (-0.05, -0.05)}
    assert affine.rotate == (-3.0, -3.0)
    assert affine.border_mode == 4 and affine.fill == 0
    # a pure shift by 25 % of the width moves the content by 8 pixels on a 32-pixel image
    shift = convert_policy(_policy(_leaf("ShiftScaleRotate", shift_limit_x=[0.25, 0.25], shift_limit_y=[0, 0],
                                         scale_limit=[0, 0], rotate_limit=[0, 0], interpolation=1,
                                         border_mode=0, value=None, mask_value=None)), seed=0)
    image = np.zeros((32, 32, 3), np.uint8)
    image[10:12, 4:6] = 255
    out = shift(image=image)["image"]
    assert out[10:12, 12:14].min() == 255 and out[10:12, 4:6].max() == 0


def test_coarse_dropout_arguments_and_rescaling():
    node = _leaf("CoarseDropout", max_holes=3, max_height=64, max_width=32, min_holes=2, min_height=32,
                 min_width=16, fill_value=0, mask_fill_value=None)
    at_reference = convert_policy(_policy(node)).transforms[0]
    assert at_reference.num_holes_range == (2, 3)
    assert at_reference.hole_height_range == (32, 64) and at_reference.hole_width_range == (16, 32)
    half = convert_policy(_policy(node), image_size=128).transforms[0]
    assert half.hole_height_range == (16, 32) and half.hole_width_range == (8, 16)
    image = np.full((128, 128, 3), 200, np.uint8)
    out = convert_policy(_policy(node), image_size=128, seed=3)(image=image)["image"]
    dropped = (out == 0).all(axis=2).mean()
    assert 0 < dropped <= 3 * 32 * 16 / 128**2


def test_always_apply_means_probability_one():
    leaf = _leaf("HorizontalFlip", p=0.0)
    leaf["always_apply"] = True
    flip = convert_policy(_policy(leaf), seed=0)
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    np.testing.assert_array_equal(flip(image=image)["image"], image[:, ::-1])


def test_same_seed_same_augmentation():
    _, path = _shipped()[0]
    image = np.random.default_rng(5).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    first = [load_policy(path, seed=7, image_size=64)(image=image)["image"] for _ in range(2)]
    np.testing.assert_array_equal(first[0], first[1])
    runs = [load_policy(path, seed=s, image_size=64) for s in (7, 7)]
    for _ in range(20):
        np.testing.assert_array_equal(runs[0](image=image)["image"], runs[1](image=image)["image"])


def test_unknown_transform_fails_clearly(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(_policy(_leaf("GridDistortion", num_steps=5))))
    with pytest.raises(PolicyError, match=r"policy\.json.*unknown transform 'GridDistortion'"):
        load_policy(path)


def test_unknown_argument_fails_clearly(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(_policy(_leaf("Solarize", threshold=[10, 10], colour="red"))))
    with pytest.raises(PolicyError, match=r"policy\.json.*Solarize.*\['colour'\]"):
        load_policy(path)


def test_bad_files_fail_clearly(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(PolicyError, match="broken.json: not valid JSON"):
        load_policy(path)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_policy(tmp_path / "missing.json")
    with pytest.raises(PolicyError, match="unsupported albumentations serialisation version"):
        convert_policy(_policy(_leaf("NoOp"), version="9.9"))


def test_albumentations_2_policies_pass_through():
    native = A.to_dict(A.Compose([A.HorizontalFlip(p=1.0)]))
    compose = convert_policy(native, seed=0)
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    np.testing.assert_array_equal(compose(image=image)["image"], image[:, ::-1])
