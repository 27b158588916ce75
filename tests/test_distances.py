"""Task distances: closed-form oracles, vectorised == naive, declared properties, reference implementations."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskfp_lib.distances import (ALIASES, available_distances, bkld_distance_matrix, bkld_naive, distance_matrix,
                                  fed_distance_matrix, fid_distance_matrix, frechet_distance_naive, get_distance,
                                  kld_averaged_distance_matrix, sinkhorn_divergence, softmax, vdna_distance_matrix,
                                  write_distance_csv)
from taskfp_lib.distances.transport import sinkhorn_divergence_pot
from taskfp_lib.fingerprints import Fingerprint, IncompatibleFingerprintsError, build_reference_ranges

M = 8  # features


def _hists(rng, n, m, b, zeros=True):
    h = rng.random((n, m, b)) ** 2
    if zeros:
        h[h < 0.15] = 0.0
        h[..., 0] += 1e-3
    return h / h.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def task_features():
    rng = np.random.default_rng(0)
    feats = {}
    for i in range(5):
        scale = 0.5 + 0.3 * i
        feats[f"task{i}"] = np.abs(rng.normal(loc=0.2 * i, scale=scale, size=(300, M)))
    # one task twice under another name: identical fingerprint, different name
    feats["task0_copy"] = feats["task0"].copy()
    return feats


@pytest.fixture(scope="module")
def fingerprints(task_features):
    ranges = build_reference_ranges(task_features, {"name": "synthetic", "weights": "none"})
    fps = {name: Fingerprint.from_features(f, ranges, task=name, bins=(10, 100, 1000), seed=0)
           for name, f in task_features.items()}
    for i, fp in enumerate(fps.values()):  # deterministic pseudo Fisher embeddings
        fp.fisher = np.abs(np.random.default_rng(100 + i).normal(size=50)).astype(np.float32)
    fps["task0_copy"].fisher = fps["task0"].fisher.copy()
    return fps


# ----------------------------------------------------------------------------------- closed forms
def test_bkld_two_bin_closed_form():
    P = np.array([[[1.0, 0.0]]])          # target: all mass in bin 0
    q = np.array([[[0.0, 1.0]]])          # source: all mass in bin 1 -> Q = softmax([0, 1])
    expected = np.log(1.0 + np.e)         # KL = 1 * log(1 / Q0) = log(1 + e)
    assert bkld_distance_matrix(P, q)[0, 0] == pytest.approx(expected, rel=1e-14)
    assert bkld_naive(P[0], q[0]) == pytest.approx(expected, rel=1e-14)
    # uniform target vs uniform source: softmax(uniform) = uniform -> KL = 0
    u = np.full((1, 3, 4), 0.25)
    assert abs(bkld_distance_matrix(u, u)[0, 0]) < 1e-15


@pytest.mark.parametrize("weighting", ["uniform", "target_softmax", "source_normalized", "target_normalized",
                                       "source_softmax"])
def test_bkld_vectorised_equals_naive_loop(weighting):
    rng = np.random.default_rng(1)
    T, S, m, b = 4, 3, 5, 7
    P, q = _hists(rng, T, m, b), _hists(rng, S, m, b)
    at, as_ = rng.random((T, m)), rng.random((S, m))
    D = bkld_distance_matrix(P, q, weighting, target_means=at, source_means=as_)
    assert D.shape == (S, T)
    for s in range(S):
        for t in range(T):
            w = {"uniform": None, "target_softmax": softmax(at[t]), "source_normalized": as_[s] / as_[s].sum(),
                 "target_normalized": at[t] / at[t].sum(), "source_softmax": softmax(as_[s])}[weighting]
            assert D[s, t] == pytest.approx(bkld_naive(P[t], q[s], w), rel=1e-12, abs=1e-14)


def test_bkld_weighting_needs_means():
    P = np.full((1, 2, 3), 1 / 3)
    with pytest.raises(ValueError, match="target_means"):
        bkld_distance_matrix(P, P, "target_softmax")
    with pytest.raises(ValueError, match="unknown weighting"):
        bkld_distance_matrix(P, P, "nope")


def test_vdna_closed_form_dirac_histograms():
    b = 10
    P = np.zeros((1, 2, b))
    Q = np.zeros((1, 2, b))
    P[0, 0, 2] = P[0, 1, 7] = 1.0
    Q[0, 0, 5] = Q[0, 1, 7] = 1.0
    # EMD with unit bin spacing: |2 - 5| = 3 for feature 0, 0 for feature 1 -> mean 1.5
    assert vdna_distance_matrix(P, Q)[0, 0] == pytest.approx(1.5, abs=1e-12)
    rng = np.random.default_rng(2)
    A, B = _hists(rng, 3, 4, 6), _hists(rng, 2, 4, 6)
    D = vdna_distance_matrix(A, B)
    naive = [[np.mean([np.abs(np.cumsum(B[s, j] - A[t, j])).sum() for j in range(4)]) for t in range(3)]
             for s in range(2)]
    np.testing.assert_allclose(D, naive, rtol=1e-12)


def test_p2l_equals_formula_and_handles_zeros():
    rng = np.random.default_rng(3)
    at, as_ = rng.random((3, 6)), rng.random((4, 6))
    D = kld_averaged_distance_matrix(at, as_)
    for s in range(4):
        for t in range(3):
            p, q = at[t] / at[t].sum(), as_[s] / as_[s].sum()
            assert D[s, t] == pytest.approx(np.sum(p * np.log(p / q)) / 6, rel=1e-12)
    z = np.array([[0.0, 1.0, 1.0]])
    assert kld_averaged_distance_matrix(z, np.array([[1.0, 1.0, 1.0]]))[0, 0] == pytest.approx(
        np.log(1.5) * 2 / 2 / 3)  # 0 log 0 = 0
    # q = 0 < p: the infinite term becomes the largest float (np.nan_to_num, as the original)
    big = kld_averaged_distance_matrix(np.array([[1.0, 1.0]]), np.array([[0.0, 1.0]]))[0, 0]
    assert big == pytest.approx(np.finfo(np.float64).max / 2, rel=1e-12)
    with pytest.raises(ValueError, match="non-negative"):
        kld_averaged_distance_matrix(-at, as_)


def test_fid_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])   # variances
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)  # = 5 + 1 + 1
    assert expected == 7.0
    got = fid_distance_matrix(mu2[None], np.diag(s2)[None], mu1[None], np.diag(s1)[None])[0, 0]
    assert got == pytest.approx(expected, rel=1e-12)
    assert frechet_distance_naive(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def test_fid_fast_equals_sqrtm_formula_on_random_covariances():
    rng = np.random.default_rng(4)
    means = rng.normal(size=(3, 5))
    covs = []
    for _ in range(3):
        a = rng.normal(size=(20, 5))
        covs.append(np.cov(a, rowvar=False))
    covs = np.stack(covs)
    D = fid_distance_matrix(means, covs, means, covs)
    for s in range(3):
        for t in range(3):
            assert D[s, t] == pytest.approx(frechet_distance_naive(means[s], covs[s], means[t], covs[t]),
                                            rel=1e-8, abs=1e-10)
    np.testing.assert_allclose(np.diag(D), 0.0, atol=1e-10)


def test_fed_is_one_minus_cosine():
    e = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    D = fed_distance_matrix(e, e)
    np.testing.assert_allclose(D, [[0, 1 - 1 / np.sqrt(2), 1], [1 - 1 / np.sqrt(2), 0, 1], [1, 1, 0]], atol=1e-15)
    np.testing.assert_allclose(fed_distance_matrix(3 * e, e), D, atol=1e-15)  # scale invariant
    with pytest.raises(ValueError, match="all zeros"):
        fed_distance_matrix(np.zeros((1, 3)), e)


def test_sinkhorn_agrees_with_pot_reference():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(25, 3)) + 0.5
    for blur in (0.5, 1.0):
        ref = sinkhorn_divergence_pot(x, y, blur)
        # geomloss anneals epsilon; with a fine schedule it converges to the exact entropic value
        assert sinkhorn_divergence(x, y, blur=blur, scaling=0.99) == pytest.approx(ref, rel=1e-3)
        # the paper's setting (scaling 0.1) is an approximation of the same quantity
        assert sinkhorn_divergence(x, y, blur=blur, scaling=0.1) == pytest.approx(ref, rel=0.1)
    assert abs(sinkhorn_divergence(x, x, blur=0.5)) < 1e-6
    assert sinkhorn_divergence(x, y, blur=0.5) == pytest.approx(sinkhorn_divergence(y, x, blur=0.5), rel=1e-6)


# ----------------------------------------------------------------------------------- registry & matrices
def _inputs_for(spec, fingerprints, task_features):
    if "features" in spec.requires:
        return {k: v[:60] for k, v in task_features.items()}
    return fingerprints


@pytest.mark.parametrize("name", [n for n in available_distances() if n != "SEMANTIC"])
def test_registered_distance_properties(name, fingerprints, task_features):
    spec = get_distance(name)
    data = _inputs_for(spec, fingerprints, task_features)
    D = distance_matrix(name, data)
    names = list(data)
    assert list(D.index) == names and list(D.columns) == names
    values = D.to_numpy()
    assert np.isfinite(values).all()
    if spec.nonnegative:
        assert (values >= -1e-9).all()
    np.testing.assert_array_equal(np.diag(values), 0.0)   # same name -> 0 (published convention)
    raw = distance_matrix(name, data, self_zero=False)
    copy_pair = raw.loc["task0", "task0_copy"]           # identical inputs, different names
    if spec.zero_self:
        assert abs(copy_pair) < 1e-6
    else:
        assert copy_pair > 1e-3                             # bKLD compares P with softmax(P)
    off = values[:5, :5]
    if spec.symmetric:
        np.testing.assert_allclose(off, off.T, rtol=1e-6, atol=1e-9)
    else:
        assert not np.allclose(off, off.T)


def test_matrix_orientation_sources_rows_targets_columns(fingerprints):
    sources = [fingerprints["task1"], fingerprints["task2"]]
    targets = [fingerprints["task3"], fingerprints["task4"], fingerprints["task0"]]
    D = distance_matrix("bKLD(small,target)", sources, targets)
    assert list(D.index) == ["task1", "task2"] and list(D.columns) == ["task3", "task4", "task0"]
    for s in sources:
        for t in targets:
            w = softmax(t.mean)
            assert D.loc[s.task, t.task] == pytest.approx(bkld_naive(t.histogram(100), s.histogram(100), w),
                                                          rel=1e-12)


def test_library_matrix_from_histograms_equals_formula_elementwise(fingerprints):
    fps = list(fingerprints.values())
    for name in ("KLD-PP:NS-W:TS-100-BINS", "KLD-PP:NS-1000-BINS", "KLD-PP:NS-W:SN-10-BINS"):
        D = distance_matrix(name, fps, self_zero=False)
        bins = int(name.split("-")[-2])
        for s in fps:
            for t in fps:
                w = softmax(t.mean) if "W:TS" in name else (s.mean / s.mean.sum() if "W:SN" in name else None)
                assert D.loc[s.task, t.task] == pytest.approx(
                    bkld_naive(t.histogram(bins), s.histogram(bins), w), rel=1e-12, abs=1e-15)


def test_names_aliases_and_variants():
    assert get_distance("bKLD(small,target)").name == "KLD-PP:NS-W:TS-100-BINS"
    assert get_distance("P2L").name == "KLD-PP:NN"
    spec = get_distance("KLD-PP:NS-W:SN-250-BINS")
    assert not spec.symmetric and spec.requires == ("histograms", "mean")
    assert get_distance("VDNA-PP:NN-50-BINS").symmetric
    assert not get_distance("Sinkhorn Divergence").shareable
    assert set(ALIASES.values()) <= set(available_distances())
    with pytest.raises(KeyError, match="unknown distance"):
        get_distance("KLD-XYZ")


def test_incompatible_fingerprints_refused(fingerprints, task_features):
    other = build_reference_ranges(task_features, {"name": "synthetic", "weights": "other"})
    fp = Fingerprint.from_features(task_features["task1"], other, task="foreign", bins=(10, 100))
    with pytest.raises(IncompatibleFingerprintsError, match="weights"):
        distance_matrix("KLD-PP:NS-W:TS-100-BINS", [fingerprints["task0"]], [fp])
    with pytest.raises(IncompatibleFingerprintsError, match="1000-bin"):
        distance_matrix("KLD-PP:NS-1000-BINS", [fp])


def test_fid_and_fed_through_registry_match_direct(fingerprints):
    fps = [fingerprints["task1"], fingerprints["task2"]]
    D = distance_matrix("FID", fps, self_zero=False)
    assert D.iloc[0, 1] == pytest.approx(frechet_distance_naive(fps[0].mean, fps[0].cov, fps[1].mean, fps[1].cov),
                                         rel=1e-8)
    E = distance_matrix("FED", fps)
    a, b = fps[0].fisher.astype(float), fps[1].fisher.astype(float)
    assert E.iloc[0, 1] == pytest.approx(1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b), rel=1e-10)


def test_write_distance_csv_round_trip(tmp_path, fingerprints):
    D = distance_matrix("KLD-PP:NS-W:TS-100-BINS", fingerprints)
    path = write_distance_csv(D, tmp_path / "KLD-PP:NS-W:TS-100-BINS.csv")
    back = pd.read_csv(path, index_col=0)
    pd.testing.assert_frame_equal(back, D, check_exact=True)
    assert not list(tmp_path.glob(".*tmp"))


def _mirror() -> Path:
    try:
        from taskfp_lib.upstream.manifest import data_path

        return data_path("cache/distances/SEMANTIC.csv")
    except Exception:
        return Path(os.environ.get("TASKFP_MIRROR", "/work/shared/data/task-fingerprinting")) / \
            "cache/distances/SEMANTIC.csv"


def test_semantic_through_registry_matches_published_file():
    path = _mirror()
    if not path.is_file():
        pytest.skip(f"published SEMANTIC.csv not available ({path}); set TASKFP_MIRROR")
    pytest.importorskip("taskfp_lib.distances.semantic")
    from taskfp_lib.tasks import ALL_TASKS, ALL_TASKS_INCLUDING_SHRUNK
    from taskfp_lib.upstream.readers import load_task_infos

    published = pd.read_csv(path, index_col=0)
    D = distance_matrix("Manual", list(ALL_TASKS), list(ALL_TASKS_INCLUDING_SHRUNK), task_infos=load_task_infos())
    np.testing.assert_allclose(D.to_numpy(), published.loc[D.index, D.columns].to_numpy(), rtol=0, atol=1e-12)
    spec = get_distance("SEMANTIC")
    assert not spec.nonnegative and (D.to_numpy().min() < 0)


def test_bkld_is_invariant_to_weight_scaling(fingerprints):
    # W:SN uses normalised weights: scaling the mean features does not change the distance
    fps = list(fingerprints.values())
    P = np.stack([f.histogram(10) for f in fps])
    means = np.stack([f.mean for f in fps])
    D1 = bkld_distance_matrix(P, P, "source_normalized", source_means=means)
    D2 = bkld_distance_matrix(P, P, "source_normalized", source_means=7.0 * means)
    np.testing.assert_allclose(D1, D2, rtol=1e-12)


def test_recomputed_matrix_drops_into_the_paper_evaluation(tmp_path):
    """A library-computed 71 x 127 matrix has the published layout and feeds affinity + top-k selection."""
    from taskfp_lib.evaluation.affinity import affinity_from_distance
    from taskfp_lib.upstream.readers import read_distance_csv
    from taskfp_lib.distances import published_layout
    from taskfp_lib.evaluation.selection import top_k_sources
    from taskfp_lib.tasks import ALL_TASKS, ALL_TASKS_INCLUDING_SHRUNK, VAL_TASKS, shrunk_name, valid_sources

    rng = np.random.default_rng(7)
    feats = {name: np.abs(rng.normal(loc=rng.random(4), size=(120, 4))) for name in ALL_TASKS_INCLUDING_SHRUNK}
    ranges = build_reference_ranges({n: feats[n] for n in ALL_TASKS[:28]}, {"name": "synthetic", "weights": "none"})
    fps = {n: Fingerprint.from_features(f, ranges, task=n, bins=(100,), with_cov=False) for n, f in feats.items()}
    D = distance_matrix("bKLD(small,target)", [fps[n] for n in ALL_TASKS],
                        [fps[n] for n in ALL_TASKS_INCLUDING_SHRUNK])
    assert D.shape == (71, 127)
    pd.testing.assert_frame_equal(published_layout(D), D)
    path = write_distance_csv(D, tmp_path / "KLD-PP:NS-W:TS-100-BINS.csv")
    back = read_distance_csv(path)
    assert list(back.index) == list(ALL_TASKS) and list(back.columns) == list(ALL_TASKS_INCLUDING_SHRUNK)
    np.testing.assert_array_equal(back.to_numpy(), D.to_numpy())
    aff = affinity_from_distance(back)
    assert np.isnan(np.diag(aff.loc[list(ALL_TASKS), list(ALL_TASKS)].to_numpy())).all()
    target = VAL_TASKS[0]
    col = shrunk_name(target)
    chosen = top_k_sources(aff[col], valid_sources(target), k=3)
    expected = D.loc[valid_sources(target), col].sort_values(kind="stable").index[:3].tolist()
    assert chosen == expected


def test_precomputed_histogram_stats_give_the_same_matrix():
    from taskfp_lib.distances.binned import histogram_stats

    rng = np.random.default_rng(11)
    P, q = _hists(rng, 4, 5, 9), _hists(rng, 3, 5, 9)
    at, as_ = rng.random((4, 5)), rng.random((3, 5))
    plogp, _ = histogram_stats(P)
    _, lse = histogram_stats(q)
    for w in ("uniform", "target_softmax", "source_normalized"):
        direct = bkld_distance_matrix(P, q, w, target_means=at, source_means=as_)
        cached = bkld_distance_matrix(P, q, w, target_means=at, source_means=as_, target_plogp=plogp, source_lse=lse)
        np.testing.assert_allclose(cached, direct, rtol=1e-13, atol=1e-15)
    # large raw values take the shifted log-sum-exp path and stay finite
    big = q * 1e4
    assert np.isfinite(bkld_distance_matrix(P, big)).all()
    np.testing.assert_allclose(histogram_stats(big)[1], np.log(np.exp(big - big.max(-1, keepdims=True)).sum(-1))
                               + big.max(-1), rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 6), st.integers(2, 12), st.integers(0, 2**31 - 1),
       st.sampled_from(["uniform", "target_softmax", "source_normalized"]))
def test_bkld_property_vectorised_equals_naive_and_nonnegative(T, S, m, b, seed, weighting):
    rng = np.random.default_rng(seed)
    P, q = _hists(rng, T, m, b), _hists(rng, S, m, b)
    at, as_ = rng.random((T, m)) + 1e-3, rng.random((S, m)) + 1e-3
    D = bkld_distance_matrix(P, q, weighting, target_means=at, source_means=as_)
    assert D.shape == (S, T) and (D >= -1e-12).all()
    for s in range(S):
        for t in range(T):
            w = {"uniform": None, "target_softmax": softmax(at[t]), "source_normalized": as_[s] / as_[s].sum()}[weighting]
            assert D[s, t] == pytest.approx(bkld_naive(P[t], q[s], w), rel=1e-11, abs=1e-13)
    V = vdna_distance_matrix(P, q)
    assert (V >= 0).all()
    np.testing.assert_allclose(vdna_distance_matrix(q, P), V.T, rtol=1e-12, atol=1e-15)
