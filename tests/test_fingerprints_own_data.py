"""The method on a lab's own data: DICOM/NIfTI folders, reading and probe records, guard rails, features once."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np
import pytest
import torch

from taskfp_lib.cloud import KnowledgeCloud, ranking_margin, self_check_from
from taskfp_lib.fingerprints import (FeatureExtractor, Fingerprint, ImageFolderTask, IncompatibleFingerprintsError,
                                     build_reference_ranges, extract_features, fingerprint_task, fingerprint_tasks,
                                     probe_status, probe_warning)
from taskfp_lib.fingerprints._io import file_sha256
from taskfp_lib.cloud.checks import EQUAL_RTOL
from taskfp_lib.imaging import build_demo_tasks, load_image

TINY = dict(model="test_resnet", pretrained=False, image_size=32, device="cpu")
N = 120


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Real DICOM (CT, MONOCHROME1 X-ray) and NIfTI (MR slabs) task folders, tiny."""
    return build_demo_tasks(tmp_path_factory.mktemp("demo"), seed=0, image_size=16, per_class=8,
                            tasks=["ct_region", "mr_brain_slab", "xray_region", "photo_texture"])


@pytest.fixture(scope="module")
def extractor():
    return FeatureExtractor(**TINY)


@pytest.fixture(scope="module")
def fitted(demo, extractor):
    tasks = {n: ImageFolderTask(demo[n]) for n in ("ct_region", "mr_brain_slab", "photo_texture")}
    ranges, fps = fingerprint_tasks(tasks, extractor, n=N, seed=0, bins=(10, 100), progress=False)
    return tasks, ranges, fps


def test_dicom_and_nifti_folders_read_through_imaging(demo):
    ct = ImageFolderTask(demo["ct_region"], preset="ct:soft-tissue")
    assert ct.classes == ["abdomen", "chest", "head"] and len(ct) == 24
    assert all(p.suffix == ".dcm" for p in (it.path for it in ct.scan.items))
    img, label = ct[0]
    np.testing.assert_array_equal(img, load_image(ct.scan.items[0], "ct:soft-tissue"))
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8 and label == 0
    assert ct.reading == {"preset": ct.preset.to_dict(), "slices": None}
    mr = ImageFolderTask(demo["mr_brain_slab"], slices="which=middle")
    assert mr.has_volumes and all(it.slice == 2 for it in mr.scan.items)   # 4-slice slabs: index 4 // 2
    assert mr.reading["slices"] == {"axis": 2, "which": "middle", "stride": 1}
    assert len(ImageFolderTask(demo["mr_brain_slab"])) == 4 * len(mr)     # all slices by default


def test_fingerprints_record_reading_and_probe(fitted, extractor, tmp_path):
    _, _, fps = fitted
    ct = fps["ct_region"]
    assert ct.reading["preset"]["id"] == "auto" and ct.reading["slices"] is None
    assert fps["mr_brain_slab"].reading["slices"] == {"axis": 2, "which": "all", "stride": 1}
    assert ct.probe["source"] == "random-init" and ct.probe["pretrained"] is False
    assert ct.probe["precision"] == "float32" and ct.probe["device"] == "cpu" and ct.probe["channels_last"] is True
    back = Fingerprint.load(ct.save(tmp_path / "ct.npz"))
    assert back.reading == ct.reading and back.probe == ct.probe and probe_status(back) == "random"
    assert len(repr(back)) < 300 and "random probe" in repr(back)


def test_features_once_equal_fingerprint_task(fitted, extractor):
    tasks, ranges, fps = fitted
    again = fingerprint_task(tasks["photo_texture"], ranges, extractor, n=N, seed=0, bins=(10, 100), progress=False)
    for b in (10, 100):
        np.testing.assert_array_equal(again.histogram(b), fps["photo_texture"].histogram(b))
    np.testing.assert_allclose(again.mean, fps["photo_texture"].mean, rtol=1e-12)
    feats = np.vstack([extract_features(t, extractor, n=N, seed=0, progress=False)[0] for t in tasks.values()])
    np.testing.assert_array_equal(ranges.lo, np.quantile(feats.astype(np.float64), 0.05, axis=0))


def test_other_preset_or_slices_are_incomparable(fitted, demo, extractor, tmp_path):
    _, ranges, fps = fitted
    windowed = fingerprint_task(demo["ct_region"], ranges, extractor, n=N, bins=(10,), preset="ct:soft-tissue",
                                name="ct_windowed", progress=False)
    assert windowed.reading["preset"]["id"] == "ct:soft-tissue"
    with pytest.raises(IncompatibleFingerprintsError, match="intensity preset: 'auto' vs 'ct:soft-tissue'"):
        fps["ct_region"].check_compatible(windowed)
    middle = fingerprint_task(demo["mr_brain_slab"], ranges, extractor, n=N, bins=(10,), slices="which=0.25-1",
                              name="mr_upper", progress=False)
    with pytest.raises(IncompatibleFingerprintsError, match="volume slices"):
        fps["mr_brain_slab"].check_compatible(middle)
    fps["photo_texture"].check_compatible(middle)      # a 2-D task has no slices to disagree about
    cloud = KnowledgeCloud.create(tmp_path / "cloud")
    cloud.add(fps["ct_region"])
    with pytest.raises(IncompatibleFingerprintsError, match="intensity preset"):
        cloud.add(windowed)


def test_channels_last_and_bfloat16(demo):
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    last, plain = FeatureExtractor(**TINY), FeatureExtractor(**TINY, channels_last=False)
    torch.testing.assert_close(last.forward(x), plain.forward(x), rtol=1e-5, atol=1e-6)
    bf = FeatureExtractor(**TINY, precision="bfloat16")
    assert bf.forward(x).dtype == torch.float32 and bf.probe["precision"] == "bfloat16"
    ranges = build_reference_ranges(np.abs(np.random.default_rng(0).normal(size=(200, bf.feature_dim))), bf.identity)
    a = fingerprint_task(demo["photo_texture"], ranges, bf, n=N, bins=(10,), progress=False)
    b = fingerprint_task(demo["photo_texture"], ranges, last, n=N, bins=(10,), progress=False)
    with pytest.raises(IncompatibleFingerprintsError, match="precision: 'bfloat16' vs 'float32'"):
        a.check_compatible(b)


def test_checkpoint_file_and_folder_are_recorded_by_hash(tmp_path):
    from safetensors.torch import save_file

    net = FeatureExtractor(**TINY, init_seed=3).net
    folder = tmp_path / "resnet.hub"
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, folder / "model.safetensors")
    ex = FeatureExtractor("test_resnet", checkpoint=folder, image_size=32, device="cpu")
    digest = file_sha256(folder / "model.safetensors")
    assert ex.identity["weights"] == f"file:sha256:{digest}"
    assert ex.probe["source"] == "file" and ex.probe["weights_sha256"] == digest and ex.probe["pretrained"] is None
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ex.forward(x), FeatureExtractor(**TINY, init_seed=3).forward(x))
    with pytest.raises(FileNotFoundError, match="no weights file"):
        FeatureExtractor("test_resnet", checkpoint=tmp_path, image_size=32)


def test_offline_error_says_how_to_work_offline(monkeypatch):
    import timm

    def fail(*args, pretrained=False, **kw):
        raise OSError("offline") if pretrained else AssertionError("unexpected")

    monkeypatch.setattr(timm, "create_model", fail)
    with pytest.raises(RuntimeError, match="To work offline") as err:
        FeatureExtractor("resnet34", pretrained=True)
    assert "timm/resnet34.a1_in1k/resolve/main/model.safetensors" in str(err.value)


def test_ranking_margin_closed_forms():
    m = ranking_margin([4.0, 1.0, 2.0], k=1)
    assert (m.margin, m.relative_margin, m.degenerate, m.n_infinite) == (1.0, 0.5, None, 0)
    assert m.spread == pytest.approx(0.75)
    m2 = ranking_margin([4.0, 1.0, 2.0], k=2)
    assert (m2.margin, m2.relative_margin) == (2.0, 0.5)
    assert ranking_margin([np.inf, 1.7976931348623157e308, 3.5e305], k=1).degenerate == "all-infinite"
    assert ranking_margin([2.0, 2.0 * (1 + EQUAL_RTOL / 2), 2.0], k=1).degenerate == "all-equal"
    assert ranking_margin([2.0, 2.0 * (1 + 10 * EQUAL_RTOL)], k=1).degenerate is None
    tail = ranking_margin([1.0, np.inf], k=1)
    assert np.isnan(tail.margin) and tail.n_infinite == 1 and "infinite" in tail.describe()
    assert "DEGENERATE" in ranking_margin([np.inf, np.inf], k=1).describe()


def test_self_check_from_recognises_a_copy(fitted, extractor):
    tasks, ranges, fps = fitted
    copy = fingerprint_task(tasks["ct_region"], ranges, extractor, n=N, seed=0, bins=(10, 100),
                            name="ct copy", progress=False)           # same seed: the same histograms
    table = self_check_from(fps["ct_region"], copy, fps, distances=["VDNA-PP:NN-100-BINS", "FID"])
    assert table["copy_nearest"].all() and (table["rank_of_original"] == 1).all()
    np.testing.assert_allclose(table["d_original"], 0.0, atol=1e-9)
    np.testing.assert_allclose(table["margin"], table["d_nearest_other"] - table["d_original"], rtol=0, atol=0)
    np.testing.assert_allclose(table["relative_margin"], 1.0, atol=1e-9)
    assert probe_warning(fps.values()).startswith("WARNING: random probe")


def test_expected_time_threads_and_device(demo, extractor, capsys, monkeypatch):
    import sys

    from taskfp_lib.fingerprints.extract import announce_expected_time, extraction_threads, torch_threads
    from taskfp_lib.fingerprints.probe import resolve_device

    assert announce_expected_time(demo["photo_texture"], extractor, 100) is None        # short runs start at once
    seconds = announce_expected_time(demo["photo_texture"], extractor, 5000, batch_size=8, stream=sys.stdout)
    line = capsys.readouterr().out
    assert seconds > 0 and line.startswith("expected time: ~") and "5,000 images" in line and "1 thread(s)" in line
    assert extraction_threads(32) == 1 and extraction_threads(224, threads=3) == 3
    monkeypatch.setenv("TASKFP_THREADS", "2")
    assert extraction_threads(224) == 2
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert extractor.probe["device"] == "cpu" and str(resolve_device("cpu")) == "cpu"


def test_reprs_are_concise(fitted, extractor, demo):
    tasks, ranges, fps = fitted
    for obj in (ranges, fps["ct_region"], extractor, tasks["ct_region"]):
        assert len(repr(obj)) < 300, type(obj).__name__
    assert repr(ranges).startswith(f"ReferenceRanges({extractor.feature_dim} features")
