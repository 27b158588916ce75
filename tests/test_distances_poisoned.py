"""Poisoned fingerprints (a knowledge cloud's hostile input) never rank first; errors name the entry.

The kernel side of the hostile-input audit: a negative-definite covariance gave FID = -5e8 (every
query's top match), a mean feature of 1e308 took rank 1 under the source-weighted bKLD, a negative
mean feature made every P2L query fail without naming the entry.
"""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from taskfp_lib.distances import (PSD_RTOL, DistanceInputError, bkld_distance_matrix, distance_matrix,
                                  fed_distance_matrix, fid_distance_matrix, kld_averaged_distance_matrix,
                                  vdna_distance_matrix)
from taskfp_lib.fingerprints import Fingerprint, build_reference_ranges

M = 6
#: four healthy tasks (post-ReLU-like features), seeded
FEATURES = {f"task{i}": np.abs(np.random.default_rng(i).normal(0.2 * i, 0.5 + 0.3 * i, size=(300, M)))
            for i in range(4)}


@pytest.fixture(scope="module")
def cloud():
    feats = FEATURES
    ranges = build_reference_ranges(feats, {"name": "synthetic", "weights": "none"})
    fps = {n: Fingerprint.from_features(f, ranges, task=n, bins=(10, 100, 1000)) for n, f in feats.items()}
    return fps, feats, ranges


def _forged(cloud, name, **changes):
    fps, feats, ranges = cloud
    fp = Fingerprint.from_features(feats["task2"], ranges, task=name, bins=(10, 100, 1000))
    for key, value in changes.items():            # bypasses validation, as a forged file that passed a loader would
        setattr(fp, key, value)
    return fp


def test_negative_definite_covariance_is_refused_naming_the_entry(cloud):
    fps, _, _ = cloud
    evil = _forged(cloud, "evil", cov=-1e3 * np.eye(M))
    with pytest.raises(DistanceInputError, match=r"FID: source 'evil': covariance is not positive semi-definite") as e:
        distance_matrix("FID", [fps["task1"], evil], [fps["task0"]])
    assert e.value.entries == ("evil",) and e.value.side == "source"
    with pytest.raises(DistanceInputError, match="target 'evil'"):
        distance_matrix("FID", [fps["task1"]], [evil])


def test_fid_is_never_negative_and_round_off_eigenvalues_count_as_zero(cloud):
    fps, _, _ = cloud
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, M))                                 # rank 3: three zero eigenvalues
    vals, vecs = np.linalg.eigh(a.T @ a)
    vals[:3] = [-1e-3 * PSD_RTOL * vals.max(), 0.0, 1e-16]       # round-off below zero is accepted
    cov = (vecs * vals) @ vecs.T
    cov = (cov + cov.T) / 2
    clipped = (vecs * np.clip(vals, 0, None)) @ vecs.T
    mu = np.zeros((1, M))
    D = fid_distance_matrix(np.concatenate([mu, mu]), np.stack([cov, clipped]), mu, clipped[None])
    assert (D >= 0).all() and D[0, 0] == pytest.approx(D[1, 0], abs=1e-9)
    bad = cov.copy() - 10 * PSD_RTOL * vals.max() * np.outer(vecs[:, 0], vecs[:, 0])
    with pytest.raises(DistanceInputError, match="#1"):
        fid_distance_matrix(np.concatenate([mu, mu]), np.stack([clipped, bad]), mu, clipped[None])
    assert (distance_matrix("FID", list(fps.values())).to_numpy() >= 0).all()


@pytest.mark.parametrize("name", ["KLD-PP:NS-W:SN-1000-BINS", "KLD-PP:NS-W:SS-100-BINS", "KLD-PP:NN", "FID"])
def test_huge_mean_feature_is_an_overflow_error_not_rank_one(cloud, name):
    fps, _, _ = cloud
    mean = fps["task2"].mean.copy()
    mean[0] = 1e308
    evil = _forged(cloud, "evil", mean=mean)
    with pytest.raises(DistanceInputError, match=r"source 'evil': a mean feature exceeds the float32 range"):
        distance_matrix(name, [fps["task1"], evil, fps["task3"]], [fps["task0"]])


def test_negative_mean_feature_in_p2l_names_the_entries(cloud):
    fps, _, _ = cloud
    bad = []
    for name in ("neg1", "neg2"):
        mean = fps["task2"].mean.copy()
        mean[3] = -0.5
        bad.append(_forged(cloud, name, mean=mean))
    message = r"P2L: source 'neg1', 'neg2': mean features must be non-negative"
    with pytest.raises(DistanceInputError, match=message) as e:
        distance_matrix("P2L", [fps["task1"], *bad], [fps["task0"]])
    assert e.value.entries == ("neg1", "neg2")
    healthy = distance_matrix("P2L", [fps["task1"], fps["task3"]], [fps["task0"]])   # the rest of the cloud still works
    assert np.isfinite(healthy.to_numpy()).all()


@pytest.mark.parametrize("value", [np.nan, np.inf, -0.1])
def test_broken_histograms_name_the_task(value):
    rng = np.random.default_rng(2)
    h = rng.random((3, 4, 10))
    h /= h.sum(-1, keepdims=True)
    broken = h.copy()
    broken[1, 2, 3] = value
    names = ["a", "b", "c"]
    with pytest.raises(DistanceInputError, match=r"target 'b'"):
        bkld_distance_matrix(h, broken, target_names=names)
    with pytest.raises(DistanceInputError, match=r"source 'b'"):
        vdna_distance_matrix(broken, h, source_names=names)
    if not np.isfinite(value):
        with pytest.raises(DistanceInputError, match=r"bKLD: source 'b'"):
            bkld_distance_matrix(broken, h, source_names=names)


@pytest.mark.parametrize("side", ["source", "target"])
def test_vdna_refuses_empty_and_overflowing_histograms_in_any_feature_block(side):
    """VDNA checks its input in the pass that builds the cumulative histograms, block by block: a histogram
    without mass or whose sum overflows is refused by name, also in the last block and the 8-feature tail."""
    rng = np.random.default_rng(3)
    h = rng.random((3, 13, 10))
    names = ["a", "b", "c"]
    for feature, fill, problem in ((12, 0.0, "non-empty"), (9, 1e308, "sum to a finite value")):
        broken = h.copy()
        broken[2, feature, :] = fill
        args = (broken, h) if side == "source" else (h, broken)
        with pytest.raises(DistanceInputError, match=rf"VDNA: {side} 'c': histograms must .*{problem}"):
            vdna_distance_matrix(*args, source_names=names, target_names=names, block_bytes=8 * 10 * 6 * 4)


def test_degenerate_mean_and_fisher_vectors_name_the_task():
    with pytest.raises(DistanceInputError, match=r"P2L: target 'zero': mean features sum to zero"):
        kld_averaged_distance_matrix(np.ones((1, 3)), np.zeros((1, 3)), target_names=["zero"])
    with pytest.raises(DistanceInputError, match=r"FED: source 'z': Fisher embedding is all zeros"):
        fed_distance_matrix(np.zeros((1, 3)), np.ones((1, 3)), source_names=["z"])
    with pytest.raises(DistanceInputError, match=r"FED: target #0: Fisher embedding is not finite"):
        fed_distance_matrix(np.ones((1, 3)), np.array([[1.0, np.inf, 0.0]]))
