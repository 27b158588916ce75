"""Fingerprints: binning oracle (torch.histc), reference ranges, image conversion, extraction, file format."""
from __future__ import annotations

import json
import os
import zipfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from taskfp_lib.fingerprints import (ArrayTask, FeatureExtractor, FileFormatError, Fingerprint, ImageFolderTask,
                                     IncompatibleFingerprintsError, ReferenceRanges, UnreadableImageError,
                                     bin_features, build_reference_ranges, extract_features, fingerprint_task,
                                     read_image, to_rgb_uint8)

TINY = dict(model="test_resnet", pretrained=False, image_size=32)


@pytest.fixture(scope="module")
def extractor():
    return FeatureExtractor(**TINY)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """12 images per class in mixed modes and sizes: RGB, greyscale, RGBA, 16-bit, palette."""
    root = tmp_path_factory.mktemp("task") / "mixed_task"
    rng = np.random.default_rng(0)
    for c, cls in enumerate(["a", "b"]):
        d = root / cls
        d.mkdir(parents=True)
        for i in range(12):
            h, w = 20 + 3 * i, 17 + 5 * c + i
            base = (rng.random((h, w)) * 120 + 100 * c).astype(np.uint8)
            kind = i % 5
            if kind == 0:
                im = Image.fromarray(np.stack([base] * 3, -1))
            elif kind == 1:
                im = Image.fromarray(base, mode="L")
            elif kind == 2:
                im = Image.fromarray(np.dstack([base, base, base, np.full_like(base, 128)]), mode="RGBA")
            elif kind == 3:
                im = Image.fromarray(base.astype(np.uint16) * 257)  # 16-bit greyscale (I;16)
            else:
                im = Image.fromarray(np.stack([base] * 3, -1)).convert("P")
            im.save(d / f"{i:02d}.png")
    return root


def _ranges_for(extractor, feats):
    return build_reference_ranges({"ref": feats}, extractor.identity)


# ------------------------------------------------------------------------------------------ binning
def test_bin_features_matches_torch_histc_exactly():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 6)) * [1, 2, 0.1, 5, 1, 1] + [0, 1, 2, 3, 0, 0]
    x[:, 4] = 0.7                            # constant feature -> degenerate range
    x[:100, 5] = np.quantile(x[:, 5], 0.95)  # values exactly at the upper edge
    lo, hi = np.quantile(x, [0.05, 0.95], axis=0)
    for bins in (1, 5, 10, 100, 1000):
        hist = bin_features(x, lo, hi, bins)
        for j in range(x.shape[1]):
            xc = torch.from_numpy(np.clip(x[:, j], lo[j], hi[j]))
            ref = torch.histc(xc, bins=bins, min=float(lo[j]), max=float(hi[j])).numpy()
            np.testing.assert_array_equal(np.rint(hist[j] * len(x)), ref)
        np.testing.assert_allclose(hist.sum(axis=1), 1.0)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 50), st.integers(1, 4), st.integers(1, 40), st.integers(0, 2**31 - 1))
def test_bin_features_rows_are_probabilities(n, m, bins, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, m))
    lo, hi = np.sort(rng.normal(size=(2, m)), axis=0)
    h = bin_features(x, lo, hi, bins)
    assert h.shape == (m, bins)
    assert (h >= 0).all()
    np.testing.assert_allclose(h.sum(axis=1), 1.0)
    # values below lo go to the first bin, above hi to the last
    h_low = bin_features(np.tile(lo - 1.0, (n, 1)), lo, hi, bins)
    assert (h_low[:, 0] == 1).all()


def test_bin_features_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        bin_features(np.zeros(5), np.zeros(1), np.ones(1), 3)
    with pytest.raises(ValueError, match="NaN"):
        bin_features(np.array([[np.nan]]), np.zeros(1), np.ones(1), 3)


# ------------------------------------------------------------------------------------------ ranges
def test_reference_ranges_are_linear_quantiles_and_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(100, 4)), rng.normal(size=(50, 4)) + 1
    ident = {"name": "resnet34", "weights": "timm:timm/resnet34.a1_in1k"}
    r = build_reference_ranges({"t1": a, "t2": b}, ident)
    q = np.quantile(np.vstack([a, b]), [0.05, 0.95], axis=0, method="linear")
    np.testing.assert_array_equal(r.lo, q[0])
    np.testing.assert_array_equal(r.hi, q[1])
    assert r.reference["tasks"] == ["t1", "t2"] and r.reference["samples_per_task"] == [100, 50]
    path = r.save(tmp_path / "ranges.npz")
    r2 = ReferenceRanges.load(path)
    np.testing.assert_array_equal(r2.lo, r.lo)
    assert r2.sha256 == r.sha256 and r2.extractor == ident
    # the hash identifies extractor and content
    other = build_reference_ranges({"t1": a, "t2": b}, {**ident, "weights": "file:sha256:00"})
    assert other.sha256 != r.sha256
    assert build_reference_ranges({"t1": a}, ident).sha256 != r.sha256


def test_range_file_corruption_is_detected(tmp_path):
    r = build_reference_ranges(np.arange(40.0).reshape(10, 4), {"name": "x", "weights": "w"})
    path = r.save(tmp_path / "r.npz")
    # rewrite the archive with a modified 'hi' array but the old metadata
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, r.hi + 1.0)
    members["hi.npy"] = buf.getvalue()
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(bad, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    with pytest.raises(FileFormatError, match="bad.npz.*sha256"):
        ReferenceRanges.load(bad)
    # an unknown version is refused
    meta = json.loads(members["metadata.json"])
    meta["version"] = 99
    members["metadata.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(bad, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    with pytest.raises(FileFormatError, match="version 99"):
        ReferenceRanges.load(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(FileFormatError, match="junk.npz"):
        ReferenceRanges.load(tmp_path / "junk.npz")


# ------------------------------------------------------------------------------------------ images
def test_image_conversion_modes():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = to_rgb_uint8(grey)
    assert out.shape == (3, 4, 3) and (out[..., 0] == grey).all() and (out[..., 2] == grey).all()
    rgba = np.dstack([grey, grey + 1, grey + 2, np.zeros_like(grey)])
    np.testing.assert_array_equal(to_rgb_uint8(Image.fromarray(rgba, "RGBA")), rgba[..., :3])
    sixteen = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)
    out16 = to_rgb_uint8(Image.fromarray(sixteen))
    np.testing.assert_array_equal(out16[..., 0], np.round(sixteen / 4000 * 255).astype(np.uint8))
    flt = to_rgb_uint8(np.array([[0.0, 0.5], [0.25, 1.0]], dtype=np.float32))
    np.testing.assert_array_equal(flt[..., 1], [[0, 128], [64, 255]])
    with pytest.raises(UnreadableImageError, match="bad-image"):
        to_rgb_uint8(np.zeros((2, 2, 5)), name="bad-image")


def test_unreadable_files_are_reported_by_name(tmp_path):
    d = tmp_path / "t" / "cls"
    d.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(d / "ok.png")
    (d / "broken.png").write_bytes(b"\x89PNG garbage")
    (d / "also_broken.jpg").write_bytes(b"")
    with pytest.raises(UnreadableImageError) as err:
        ImageFolderTask(tmp_path / "t", verify=True)
    assert "broken.png" in str(err.value) and "also_broken.jpg" in str(err.value)
    with pytest.raises(UnreadableImageError, match="broken.png"):
        read_image(d / "broken.png")
    with pytest.raises(FileNotFoundError):
        ImageFolderTask(tmp_path / "missing")


def test_image_folder_layout(image_folder):
    task = ImageFolderTask(image_folder, verify=True)
    assert task.classes == ["a", "b"] and len(task) == 24 and task.num_classes == 2
    img, label = task[13]
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and label == 1


# ------------------------------------------------------------------------------------------ extraction
def test_extraction_is_seeded_and_batch_independent(image_folder, extractor):
    f1, l1 = extract_features(image_folder, extractor, n=40, seed=3, batch_size=16, progress=False)
    f2, l2 = extract_features(image_folder, extractor, n=40, seed=3, batch_size=7, progress=False)
    f3, _ = extract_features(image_folder, extractor, n=40, seed=4, batch_size=16, progress=False)
    f4, l4 = extract_features(image_folder, extractor, n=40, seed=3, batch_size=16, num_workers=2, progress=False)
    np.testing.assert_allclose(f4, f1, rtol=1e-5, atol=1e-6)   # worker processes draw the same images
    np.testing.assert_array_equal(l4, l1)
    assert f1.shape == (40, extractor.feature_dim) and f1.dtype == np.float32
    np.testing.assert_allclose(f1, f2, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(l1, l2)
    assert not np.allclose(f1, f3)
    # the labels are those of the drawn images
    task = ImageFolderTask(image_folder)
    _, _, (idx, _) = extract_features(task, extractor, n=40, seed=3, progress=False, return_plan=True)
    np.testing.assert_array_equal(l1, task.labels[idx])


def test_random_init_is_reproducible_and_checkpoint_loads(tmp_path):
    a = FeatureExtractor(**TINY, init_seed=5)
    b = FeatureExtractor(**TINY, init_seed=5)
    c = FeatureExtractor(**TINY, init_seed=6)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a.forward(x), b.forward(x))
    assert not torch.allclose(a.forward(x), c.forward(x))
    assert a.identity == b.identity != c.identity
    ckpt = tmp_path / "weights.pt"
    torch.save(c.net.state_dict(), ckpt)
    d = FeatureExtractor(model="test_resnet", checkpoint=ckpt, image_size=32)
    torch.testing.assert_close(d.forward(x), c.forward(x))
    assert d.identity["weights"].startswith("file:sha256:")
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        FeatureExtractor(model="test_resnet", checkpoint=tmp_path / "nope.pt")


def test_offline_pretrained_gives_actionable_error(monkeypatch):
    import timm

    def fail(*args, pretrained=False, **kw):
        if pretrained:
            raise OSError("offline")
        raise AssertionError("unexpected")

    monkeypatch.setattr(timm, "create_model", fail)
    with pytest.raises(RuntimeError, match="checkpoint"):
        FeatureExtractor("resnet34", pretrained=True)


# ------------------------------------------------------------------------------------------ fingerprint
@pytest.fixture(scope="module")
def fingerprint_and_ranges(image_folder, extractor):
    feats, _ = extract_features(image_folder, extractor, n=150, seed=0, progress=False)
    ranges = _ranges_for(extractor, feats)
    fp = fingerprint_task(image_folder, ranges, extractor, n=150, seed=0, bins=(10, 50), progress=False)
    return fp, ranges, feats


def test_fingerprint_statistics_equal_formulas(fingerprint_and_ranges):
    fp, ranges, feats = fingerprint_and_ranges
    x = feats.astype(np.float64)
    np.testing.assert_allclose(fp.mean, x.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fp.cov, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(fp.histogram(50), bin_features(x, ranges.lo, ranges.hi, 50))
    assert fp.task == "mixed_task" and fp.n_samples == 150 and fp.seed == 0
    assert fp.task_meta == {"num_classes": 2, "num_images": 24}
    assert fp.ranges_sha256 == ranges.sha256 and fp.extractor == ranges.extractor
    with pytest.raises(IncompatibleFingerprintsError, match="100-bin"):
        fp.histogram(100)


def test_fingerprint_file_round_trip(tmp_path, fingerprint_and_ranges):
    fp, _, _ = fingerprint_and_ranges
    path = fp.save(tmp_path / "fp.npz")
    fp2 = Fingerprint.load(path)
    for b in fp.bins:
        np.testing.assert_array_equal(fp2.histogram(b), fp.histogram(b))
    np.testing.assert_array_equal(fp2.mean, fp.mean)
    np.testing.assert_array_equal(fp2.cov, fp.cov)
    assert (fp2.task, fp2.n_samples, fp2.seed, fp2.extractor, fp2.ranges_sha256, fp2.task_meta) == \
        (fp.task, fp.n_samples, fp.seed, fp.extractor, fp.ranges_sha256, fp.task_meta)
    # human-readable metadata and no pickles in the archive
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("metadata.json"))
        assert meta["format"] == "taskfp-fingerprint" and meta["bins"] == [10, 50]
        for name in zf.namelist():
            if name.endswith(".npy"):
                header = zf.read(name)[:128]
                assert b"'O'" not in header and b"|O" not in header


def _rewrite(path, out, mutate_meta=None, arrays=None):
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members["metadata.json"])
    if arrays:
        import io

        from taskfp_lib.fingerprints._io import array_sha256

        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=True)
            members[f"{name}.npy"] = buf.getvalue()
            if arr.dtype != object:
                meta["arrays"][name] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": array_sha256(arr)}
    if mutate_meta:
        mutate_meta(meta)
    members["metadata.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return out


def test_fingerprint_load_validates(tmp_path, fingerprint_and_ranges):
    fp, _, _ = fingerprint_and_ranges
    path = fp.save(tmp_path / "fp.npz")
    # histograms that are not probabilities (checksums consistent, content wrong)
    bad = fp.histogram(10) * 2
    with pytest.raises(FileFormatError, match="not probabilities|sum to 1"):
        Fingerprint.load(_rewrite(path, tmp_path / "b1.npz", arrays={"hist_10": bad}))
    # wrong shape
    with pytest.raises(FileFormatError, match="shape"):
        Fingerprint.load(_rewrite(path, tmp_path / "b2.npz", arrays={"mean": fp.mean[:-1]}))
    # a pickled object array is never loaded
    obj = np.empty(2, dtype=object)
    obj[:] = [1, 2]
    with pytest.raises(FileFormatError):
        Fingerprint.load(_rewrite(path, tmp_path / "b3.npz", arrays={"mean": obj}))
    # privacy floor on load
    with pytest.raises(FileFormatError, match="minimum"):
        Fingerprint.load(_rewrite(path, tmp_path / "b4.npz", mutate_meta=lambda m: m.update(n_samples=5)))
    with pytest.raises(FileFormatError, match="expected format"):
        Fingerprint.load(_rewrite(path, tmp_path / "b5.npz", mutate_meta=lambda m: m.update(format="other")))


def test_privacy_floor_and_incompatible_ranges(image_folder, extractor, fingerprint_and_ranges, tmp_path):
    fp, ranges, feats = fingerprint_and_ranges
    with pytest.raises(ValueError, match="minimum"):
        Fingerprint.from_features(feats[:20], ranges, task="tiny")
    small = Fingerprint.from_features(feats[:20], ranges, task="tiny", min_samples=1)
    with pytest.raises(ValueError, match="refusing"):
        small.save(tmp_path / "tiny.npz")
    with pytest.raises(ValueError, match="distinct images"):
        fingerprint_task(ArrayTask([(np.zeros((8, 8), np.uint8), 0)] * 3, name="few"), ranges, extractor,
                         n=150, progress=False)
    other_ranges = build_reference_ranges(feats * 2, extractor.identity)
    other = Fingerprint.from_features(feats, other_ranges, task="other", bins=(10,))
    with pytest.raises(IncompatibleFingerprintsError, match="reference ranges"):
        fp.check_compatible(other)
    foreign = build_reference_ranges(feats, {**extractor.identity, "weights": "file:sha256:ab"})
    with pytest.raises(IncompatibleFingerprintsError, match="belong to extractor"):
        fingerprint_task(image_folder, foreign, extractor, n=150, progress=False)


def test_fisher_embedding_in_fingerprint(image_folder, extractor, fingerprint_and_ranges):
    _, ranges, _ = fingerprint_and_ranges
    fp = fingerprint_task(image_folder, ranges, extractor, n=120, seed=1, bins=(10,), with_fisher=True,
                          n_fisher=4, progress=False)
    fp_again = fingerprint_task(image_folder, ranges, extractor, n=120, seed=1, bins=(10,), with_fisher=True,
                                n_fisher=4, progress=False)
    params = list(extractor.net.named_parameters())
    chosen = params[int(0.4 * len(params)):]
    assert fp.fisher.shape == (sum(p.numel() for _, p in chosen),)
    assert fp.fisher_meta["layers"] == [n for n, _ in chosen]
    assert (fp.fisher >= 0).all() and fp.fisher.sum() > 0
    np.testing.assert_allclose(fp.fisher, fp_again.fisher, rtol=1e-4, atol=1e-12)
