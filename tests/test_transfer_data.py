"""Image-folder tasks, the stratified split, shrunk variants and the co-training sampler."""
from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from taskfp_lib.imaging import IMAGENET_MEAN, IMAGENET_STD, ImagingError, TaskScan
from taskfp_lib.transfer.data import (CoTrainingDataModule, CoTrainingDataset, MixedTaskSampler, TaskDataModule,
                                      TaskDataset, has_shrunk_variant, read_task, shrink_indices, stratified_split)
from taskfp_lib.transfer.demo import DIGIT_TASKS, write_digit_task


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    return {name: write_digit_task(name, root, size=16, max_per_class=40) for name in
            ("digits_low_high", "digits_mod3")}


def test_demo_task_layout(digits):
    task = read_task(digits["digits_mod3"])
    assert task.name == "digits_mod3" and task.classes == ("r0", "r1", "r2")
    assert len(task) == 120 and np.bincount(task.labels).tolist() == [40, 40, 40]
    assert isinstance(task, TaskScan) and task.items[0].slice is None
    with Image.open(task.items[0].path) as img:
        assert img.mode == "L" and img.size == (16, 16)
    # the class of every written image follows the task definition
    full = write_digit_task("digits_parity", digits["digits_mod3"].parent, size=8)
    assert len(read_task(full)) == 1797
    assert set(DIGIT_TASKS) >= {"digits_low_high", "digits_parity", "digits_mod3"}


def test_greyscale_images_become_rgb_tensors(digits):
    task = read_task(digits["digits_low_high"])
    ds = TaskDataset(task, np.arange(5), image_size=24)
    x, y = ds[3]
    assert x.shape == (3, 24, 24) and x.dtype == torch.float32
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1) * 255
    pixels = x * std + mean  # undo the per-channel ImageNet normalisation: three equal grey channels
    torch.testing.assert_close(pixels[0], pixels[1], atol=1e-3, rtol=0)
    torch.testing.assert_close(pixels[0], pixels[2], atol=1e-3, rtol=0)
    assert pixels.max() > 100  # a digit stroke is bright
    raw = ds.load_image(int(ds.indices[3]))
    assert raw.shape == (24, 24, 3) and (raw[..., 0] == raw[..., 1]).all()
    assert y == int(task.labels[3])


def test_bad_task_folders_fail_clearly(tmp_path):
    with pytest.raises(ImagingError, match="nowhere: task folder does not exist"):
        read_task(tmp_path / "nowhere")
    (tmp_path / "one" / "a").mkdir(parents=True)
    Image.new("L", (4, 4)).save(tmp_path / "one" / "a" / "x.png")
    with pytest.raises(ImagingError, match="at least 2 class"):
        read_task(tmp_path / "one")
    (tmp_path / "one" / "b").mkdir()
    (tmp_path / "one" / "b" / "notes.txt").write_text("hi")
    with pytest.raises(ImagingError, match=r"one/b/notes.txt: not an image file"):
        read_task(tmp_path / "one")
    (tmp_path / "one" / "b" / "notes.txt").unlink()
    (tmp_path / "one" / "b" / "broken.png").write_bytes(b"not a png")
    task = read_task(tmp_path / "one")
    with pytest.raises(ImagingError, match="broken.png: cannot read image"):
        TaskDataset(task, [1], image_size=4)[0]


def test_one_reader_for_fingerprints_and_transfer(tmp_path):
    """PPM images (readable by the fingerprint pipeline) train as well; sizes differ -> bilinear resize."""
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / "ppm" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(tmp_path / "ppm" / cls / f"{i}.ppm")
    task = read_task(tmp_path / "ppm")
    assert task.classes == ("a", "b") and len(task) == 6
    ds = TaskDataset(task, np.arange(6), image_size=8)
    with Image.open(task.items[4].path) as img:
        expected = np.asarray(img.convert("RGB").resize((8, 8), Image.BILINEAR))
    np.testing.assert_array_equal(ds.load_image(4), expected)
    assert ds[4][1] == 1


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(2, 60), min_size=2, max_size=6), seed=st.integers(0, 10_000))
def test_split_is_stratified_disjoint_and_complete(counts, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    train, test = stratified_split(labels, 0.2, seed)
    assert len(np.intersect1d(train, test)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(labels)))
    for c, n in enumerate(counts):
        assert (labels[test] == c).sum() == max(1, round(n * 0.2))
    again = stratified_split(labels, 0.2, seed)
    np.testing.assert_array_equal(train, again[0])


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(5, 400), min_size=2, max_size=5), size=st.integers(10, 300),
       seed=st.integers(0, 100))
def test_shrink_keeps_size_and_class_proportions(counts, size, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    train, _ = stratified_split(labels, 0.2, 0)
    small = shrink_indices(train, labels, size, seed)
    assert set(small) <= set(train) and len(np.unique(small)) == len(small)
    if len(train) <= size:
        np.testing.assert_array_equal(small, train)
        return
    assert len(small) == size
    expected = np.bincount(labels[train]) * size / len(train)
    got = np.bincount(labels[small], minlength=len(counts))
    assert np.all(np.abs(got - expected) <= len(counts))  # largest remainders + at least one per class


def test_shrink_rule_of_the_paper(digits):
    task = read_task(digits["digits_mod3"])  # 120 images, 3 classes
    assert has_shrunk_variant(task, threshold=119) and not has_shrunk_variant(task, threshold=120)
    assert not has_shrunk_variant(task, threshold=10, max_classes=3)
    # the paper's task names follow the paper's list, whatever the folder holds
    renamed = TaskScan("mnist_digit_classification", task.root, task.classes, task.items, task.slices, task.num_files)
    assert has_shrunk_variant(renamed, threshold=10_000)
    listed = TaskScan("mednode_melanoma_classification", task.root, task.classes, task.items, task.slices,
                      task.num_files)
    assert not has_shrunk_variant(listed, threshold=0)  # in the paper's list of tasks without a shrunk variant


def test_datamodule_shrinks_train_only(digits):
    full = TaskDataModule(digits["digits_mod3"], image_size=16, batch_size=8, seed=0)
    small = TaskDataModule(digits["digits_mod3"], image_size=16, batch_size=8, shrink_train=30, seed=0)
    assert len(full.train_set) == 96 and len(full.test_set) == 24
    assert len(small.train_set) == 30 and np.bincount(small.train_set.labels).tolist() == [10, 10, 10]
    np.testing.assert_array_equal(full.test_indices, small.test_indices)
    x, y = next(iter(small.train_dataloader()))
    assert x.shape == (8, 3, 16, 16) and y.shape == (8,)


def test_mixed_sampler_draws_both_tasks_equally():
    sampler = MixedTaskSampler([30, 500], num_samples=20_000, seed=3)
    task, within = sampler.draw()
    share = np.mean(task == 0)
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / 20_000)  # binomial, 4 sigma
    assert within[task == 0].max() == 29 and within[task == 1].max() < 500 and within.min() == 0
    # uniform within the small task
    counts = np.bincount(within[task == 0], minlength=30)
    expected = (task == 0).sum() / 30
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    flat = list(iter(sampler))
    assert len(flat) == 20_000 and min(flat) >= 0 and max(flat) < 530
    np.testing.assert_array_equal(np.asarray(flat) < 30, task == 0)  # offsets: task 1 starts at 30
    # reproducible for a seed, different from epoch to epoch
    again = MixedTaskSampler([30, 500], num_samples=20_000, seed=3)
    assert list(iter(again)) == flat and list(iter(again)) != flat
    skewed = MixedTaskSampler([10, 10], num_samples=10_000, seed=0, probabilities=(0.8, 0.2)).draw()[0]
    assert abs(np.mean(skewed == 0) - 0.8) < 0.02


def test_cotraining_batches_carry_task_ids(digits):
    target = TaskDataModule(digits["digits_low_high"], image_size=16, batch_size=64, seed=0)
    source = TaskDataModule(digits["digits_mod3"], image_size=16, batch_size=64, seed=1)
    dm = CoTrainingDataModule(target, source, seed=0)
    assert isinstance(dm.train_set, CoTrainingDataset) and len(dm.sampler) == 2 * len(target.train_set)
    seen = []
    for x, y, task in dm.train_dataloader():
        assert x.shape[1:] == (3, 16, 16)
        assert y[task == 0].max() <= 1 and y[task == 1].max() <= 2
        seen.append(task)
    seen = torch.cat(seen)
    assert 0.3 < seen.float().mean() < 0.7 and len(seen) == 2 * 64  # drop_last: 128 of 128 draws


def test_augmentation_in_worker_processes_is_reproducible(digits):
    import albumentations as A

    def batches(aug=None):
        aug = aug if aug is not None else A.Compose([A.Affine(translate_percent=(-0.2, 0.2), p=1.0)])
        dm = TaskDataModule(digits["digits_mod3"], image_size=16, batch_size=8, train_transform=aug, seed=11,
                            num_workers=2)
        import lightning as L

        L.seed_everything(11, workers=True, verbose=False)
        return list(dm.train_dataloader())

    first, second = batches(), batches()
    assert len(first) == len(second) == 12
    for (a, ya), (b, yb) in zip(first, second):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert torch.equal(ya, yb)
    # the augmentation is active in the workers: same samples as an un-augmented loader, other pixels
    raw = batches(A.Compose([]))
    assert all(torch.equal(ya, yr) and not torch.equal(a, r) for (a, ya), (r, yr) in zip(first, raw))


def test_demo_task_folders_are_replaced_whole(tmp_path, monkeypatch):
    first = write_digit_task("digits_mod3", tmp_path, size=8, max_per_class=2)
    assert len(read_task(first)) == 6
    real_save, saved = Image.Image.save, []

    def fails_on_the_fourth(self, *args, **kwargs):
        saved.append(args[0])
        if len(saved) == 4:
            raise OSError("disk full (simulated)")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", fails_on_the_fourth)
    with pytest.raises(OSError, match="disk full"):
        write_digit_task("digits_mod3", tmp_path, size=8, max_per_class=3)
    assert len(read_task(first)) == 6 and [p.name for p in tmp_path.iterdir()] == ["digits_mod3"]
    monkeypatch.undo()
    again = write_digit_task("digits_mod3", tmp_path, size=8, max_per_class=3)
    assert again == first and len(read_task(again)) == 9 and [p.name for p in tmp_path.iterdir()] == ["digits_mod3"]
