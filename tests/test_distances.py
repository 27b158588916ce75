"""Task distance kernels: closed forms, oracles, the pinned values of the earlier kernels, streaming."""
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

from distance_snapshot_inputs import snapshot_inputs
from oracles import bkld_naive, frechet_distance_naive, sinkhorn_divergence_pot
from taskfp_lib.distances import (bkld_distance_matrix, distance_matrix, fed_distance_matrix, fid_distance_matrix,
                                  histogram_stats, kld_averaged_distance_matrix, sinkhorn_divergence, softmax,
                                  vdna_distance_matrix, write_distance_csv)
from taskfp_lib.fingerprints import Fingerprint, IncompatibleFingerprintsError, build_reference_ranges

WEIGHTINGS = ["uniform", "target_softmax", "source_normalized", "target_normalized", "source_softmax"]


def _hists(rng, n, m, b):
    h = rng.random((n, m, b)) ** 2
    h[h < 0.15] = 0.0
    h[..., 0] += 1e-3
    return h / h.sum(-1, keepdims=True)


def _oracle_weights(weighting, at, as_):
    return {"uniform": None, "target_softmax": softmax(at), "source_normalized": as_ / as_.sum(),
            "target_normalized": at / at.sum(), "source_softmax": softmax(as_)}[weighting]


# ----------------------------------------------------------------------------------- closed forms and oracles
def test_bkld_two_bin_closed_form():
    P = np.array([[[1.0, 0.0]]])          # target: all mass in bin 0
    q = np.array([[[0.0, 1.0]]])          # source: all mass in bin 1 -> Q = softmax([0, 1])
    expected = np.log(1.0 + np.e)         # KL = 1 * log(1 / Q0) = log(1 + e)
    assert bkld_distance_matrix(q, P)[0, 0] == pytest.approx(expected, rel=1e-14)
    assert bkld_naive(P[0], q[0]) == pytest.approx(expected, rel=1e-14)
    u = np.full((1, 3, 4), 0.25)          # softmax(uniform) = uniform -> KL = 0
    assert abs(bkld_distance_matrix(u, u)[0, 0]) < 1e-15


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_bkld_vectorised_equals_naive_loop(weighting):
    rng = np.random.default_rng(1)
    T, S, m, b = 4, 3, 5, 7
    P, q = _hists(rng, T, m, b), _hists(rng, S, m, b)
    at, as_ = rng.random((T, m)), rng.random((S, m))
    D = bkld_distance_matrix(q, P, weighting, source_means=as_, target_means=at)
    assert D.shape == (S, T)
    for s in range(S):
        for t in range(T):
            w = _oracle_weights(weighting, at[t], as_[s])
            assert D[s, t] == pytest.approx(bkld_naive(P[t], q[s], w), rel=1e-12, abs=1e-14)


def test_bkld_weighting_needs_means():
    P = np.full((1, 2, 3), 1 / 3)
    with pytest.raises(ValueError, match="target_means"):
        bkld_distance_matrix(P, P, "target_softmax")
    with pytest.raises(ValueError, match="unknown weighting"):
        bkld_distance_matrix(P, P, "nope")


def test_vdna_closed_form_dirac_histograms_and_oracle():
    b = 10
    P, Q = np.zeros((1, 2, b)), np.zeros((1, 2, b))
    P[0, 0, 2] = P[0, 1, 7] = 1.0
    Q[0, 0, 5] = Q[0, 1, 7] = 1.0
    # EMD with unit bin spacing: |2 - 5| = 3 for feature 0, 0 for feature 1 -> mean 1.5
    assert vdna_distance_matrix(Q, P)[0, 0] == pytest.approx(1.5, abs=1e-12)
    rng = np.random.default_rng(2)
    A, B = _hists(rng, 3, 4, 6), _hists(rng, 2, 4, 6)       # targets A, sources B
    D = vdna_distance_matrix(B, A)
    naive = [[np.mean([np.abs(np.cumsum(B[s, j] - A[t, j])).sum() for j in range(4)]) for t in range(3)]
             for s in range(2)]
    np.testing.assert_allclose(D, naive, rtol=1e-12)


def test_p2l_equals_formula_and_handles_zeros():
    rng = np.random.default_rng(3)
    at, as_ = rng.random((3, 6)), rng.random((4, 6))
    D = kld_averaged_distance_matrix(as_, at)
    assert D.shape == (4, 3)
    for s in range(4):
        for t in range(3):
            p, q = at[t] / at[t].sum(), as_[s] / as_[s].sum()
            assert D[s, t] == pytest.approx(np.sum(p * np.log(p / q)) / 6, rel=1e-12)
    z = np.array([[0.0, 1.0, 1.0]])
    assert kld_averaged_distance_matrix(np.array([[1.0, 1.0, 1.0]]), z)[0, 0] == pytest.approx(
        np.log(1.5) * 2 / 2 / 3)  # 0 log 0 = 0
    # q = 0 < p: the infinite term becomes the largest float (np.nan_to_num, as the original); two such: inf
    big = kld_averaged_distance_matrix(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]]))[0, 0]
    assert big == pytest.approx(np.finfo(np.float64).max / 2, rel=1e-12)
    assert kld_averaged_distance_matrix(np.array([[0.0, 0.0, 1.0]]), np.ones((1, 3)))[0, 0] == np.inf


def test_fid_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])   # variances
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)  # = 5 + 1 + 1
    assert expected == 7.0
    got = fid_distance_matrix(mu1[None], np.diag(s1)[None], mu2[None], np.diag(s2)[None])[0, 0]
    assert got == pytest.approx(expected, rel=1e-12)
    assert frechet_distance_naive(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def test_fid_fast_equals_sqrtm_formula_on_random_covariances():
    rng = np.random.default_rng(4)
    means = rng.normal(size=(3, 5))
    covs = np.stack([np.cov(rng.normal(size=(20, 5)), rowvar=False) for _ in range(3)])
    D = fid_distance_matrix(means, covs, means, covs)
    for s in range(3):
        for t in range(3):
            assert D[s, t] == pytest.approx(frechet_distance_naive(means[s], covs[s], means[t], covs[t]),
                                            rel=1e-8, abs=1e-10)
    np.testing.assert_allclose(np.diag(D), 0.0, atol=1e-10)
    assert (D >= 0).all()


def test_fed_is_one_minus_cosine():
    e = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    D = fed_distance_matrix(e, e)
    np.testing.assert_allclose(D, [[0, 1 - 1 / np.sqrt(2), 1], [1 - 1 / np.sqrt(2), 0, 1], [1, 1, 0]], atol=1e-15)
    np.testing.assert_allclose(fed_distance_matrix(e, 3 * e), D, atol=1e-15)  # scale invariant
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


# ----------------------------------------------------------------------------------- pinned values, streaming
def _snapshot_values(block_bytes=None):
    """Today's kernels on the snapshot inputs (sources first), keyed like the snapshot file."""
    x = snapshot_inputs()
    kw = {} if block_bytes is None else {"block_bytes": block_bytes}
    means = {"source_means": x["source_means"], "target_means": x["target_means"]}
    out = {}
    for b in (10, 1000):
        P, Q = x[f"target_hists_{b}"], x[f"source_hists_{b}"]
        for w in WEIGHTINGS:
            out[f"bkld_{w}_{b}"] = bkld_distance_matrix(Q, P, w, **means, **kw)
        out[f"bkld_unnormalised_{b}"] = bkld_distance_matrix(Q, 3.0 * P, "target_softmax", **means, **kw)
        out[f"bkld_large_source_{b}"] = bkld_distance_matrix(1e4 * Q, P, "source_normalized", **means, **kw)
        out[f"vdna_{b}"] = vdna_distance_matrix(Q, P, **kw)
    out["p2l"] = kld_averaged_distance_matrix(x["source_means"], x["target_means"])
    out["p2l_zeros"] = kld_averaged_distance_matrix(x["source_means_zeros"], x["target_means_zeros"])
    out["fid"] = fid_distance_matrix(x["source_fid_means"], x["source_covs"], x["target_fid_means"], x["target_covs"])
    out["fed"] = fed_distance_matrix(x["source_fisher"], x["target_fisher"])
    return out


@pytest.mark.parametrize("block_bytes", [None, 20_000], ids=["default-blocks", "tiny-blocks"])
def test_values_equal_the_pinned_snapshot_of_the_earlier_kernels(block_bytes):
    snap = np.load(Path(__file__).parent / "data" / "distances_snapshot.npz")
    ours = _snapshot_values(block_bytes)
    assert sorted(ours) == sorted(snap.files)
    for key in snap.files:
        assert ours[key].shape == snap[key].shape == (5, 6), key
        np.testing.assert_allclose(ours[key], snap[key], rtol=1e-12, atol=0, err_msg=key)
    assert np.isinf(snap["p2l_zeros"]).sum() == 0 and (snap["p2l_zeros"] > 1e300).any()


def test_precomputed_histogram_stats_give_the_same_matrix():
    rng = np.random.default_rng(11)
    P, q = _hists(rng, 4, 5, 9), _hists(rng, 3, 5, 9)
    at, as_ = rng.random((4, 5)), rng.random((3, 5))
    plogp, _ = histogram_stats(P)
    _, lse = histogram_stats(q)
    for w in ("uniform", "target_softmax", "source_normalized"):
        direct = bkld_distance_matrix(q, P, w, source_means=as_, target_means=at)
        cached = bkld_distance_matrix(q, P, w, source_means=as_, target_means=at, source_lse=lse, target_plogp=plogp)
        np.testing.assert_allclose(cached, direct, rtol=1e-13, atol=1e-15)
    big = q * 1e4                          # large raw values take the shifted log-sum-exp path and stay finite
    assert np.isfinite(bkld_distance_matrix(big, P)).all()
    np.testing.assert_allclose(histogram_stats(big)[1], np.log(np.exp(big - big.max(-1, keepdims=True)).sum(-1))
                               + big.max(-1), rtol=1e-12)


def test_vectorisable_log_is_within_one_ulp():
    import math

    from numba import njit

    from taskfp_lib.distances._vector_math import log_positive

    @njit
    def logs(x, out):
        for i in range(x.size):
            out[i] = log_positive(x[i])

    rng = np.random.default_rng(5)
    tiny, big = np.finfo(np.float64).tiny, np.finfo(np.float64).max
    edges = [tiny, big, 1.0, 2.0, 0.5, np.sqrt(2), np.nextafter(np.sqrt(2), 0), np.nextafter(np.sqrt(2), 2),
             np.nextafter(1.0, 0), np.nextafter(1.0, 2), 1e-4, 0.999]
    x = np.concatenate([np.exp(rng.uniform(np.log(tiny), np.log(big), 200_000)), rng.uniform(0.5, 2.0, 200_000),
                        2.0 ** np.arange(-1022, 1024), edges])
    out = np.empty_like(x)
    logs(x, out)
    ref = np.array([math.log(v) for v in x.tolist()])   # glibc's log: correctly rounded in practice
    ulps = np.abs(out - ref) / np.spacing(np.maximum(np.abs(ref), tiny))
    assert ulps.max() <= 1.0
    assert (out[x == 1.0] == 0.0).all() and (ulps == 0).mean() > 0.9
    bad = np.array([0.0, -0.0, -1.0, -np.inf, np.nan])
    out = np.empty_like(bad)
    logs(bad, out)
    assert np.isnan(out).all()      # outside the domain of positive normal numbers: NaN for y <= 0 and NaN


def test_target_term_kernel_equals_the_closed_form_and_splits_rows_exactly():
    import torch

    from taskfp_lib.distances import bkld

    rng = np.random.default_rng(6)
    h = rng.random((600, 1000)) ** 3
    h[h < 0.05] = 0.0                              # empty bins: 0 log 0 = 0
    h[0] = 0.0
    h[0, 7] = 1.0                                  # a one-hot row: exactly 0
    h[1] = 0.0
    h[1, :4] = [0.25, 0.25, 0.5, 0.0]              # closed form: -(2 * 0.25 log 4 + 0.5 log 2) = -1.5 log 2
    sums, plogp = bkld._sum_plogp(h)
    expected = np.where(h > 0, h * np.log(np.where(h > 0, h, 1.0)), 0.0).sum(-1)
    np.testing.assert_allclose(plogp.numpy(), expected, rtol=1e-13, atol=0)
    np.testing.assert_allclose(sums.numpy(), h.sum(-1), rtol=1e-13, atol=0)
    assert plogp[0] == 0.0 and sums[0] == 1.0
    assert abs(plogp[1].item() + 1.5 * np.log(2.0)) <= 2 * np.spacing(1.5 * np.log(2.0))
    before = torch.get_num_threads()
    try:                                           # rows split over threads: each row is computed the same way
        torch.set_num_threads(1)
        one = bkld._sum_plogp(h)
        torch.set_num_threads(3)
        three = bkld._sum_plogp(h)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one[0], three[0]) and torch.equal(one[1], three[1])
    poisoned = h[:4].copy()
    poisoned[1, 3], poisoned[2, 5], poisoned[3, 9] = -1e-3, np.inf, np.nan
    sums, plogp, bad = bkld._target_rows(torch.from_numpy(poisoned), plogp=True)
    assert bad.tolist() == [False, True, True, True]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 6), st.integers(2, 12), st.integers(0, 2**31 - 1),
       st.sampled_from(["uniform", "target_softmax", "source_normalized"]), st.sampled_from([None, 64, 4096]))
def test_bkld_property_vectorised_equals_naive_and_nonnegative(T, S, m, b, seed, weighting, block_bytes):
    rng = np.random.default_rng(seed)
    P, q = _hists(rng, T, m, b), _hists(rng, S, m, b)
    at, as_ = rng.random((T, m)) + 1e-3, rng.random((S, m)) + 1e-3
    kw = {} if block_bytes is None else {"block_bytes": block_bytes}
    D = bkld_distance_matrix(q, P, weighting, source_means=as_, target_means=at, **kw)
    assert D.shape == (S, T) and (D >= -1e-12).all()
    for s in range(S):
        for t in range(T):
            w = _oracle_weights(weighting, at[t], as_[s])
            assert D[s, t] == pytest.approx(bkld_naive(P[t], q[s], w), rel=1e-11, abs=1e-13)
    V = vdna_distance_matrix(q, P, **kw)
    assert (V >= 0).all()
    np.testing.assert_allclose(vdna_distance_matrix(P, q), V.T, rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------------- through the registry
@pytest.fixture(scope="module")
def fingerprints():
    rng = np.random.default_rng(0)
    feats = {f"task{i}": np.abs(rng.normal(loc=0.2 * i, scale=0.5 + 0.3 * i, size=(300, 8))) for i in range(5)}
    ranges = build_reference_ranges(feats, {"name": "synthetic", "weights": "none"})
    return {n: Fingerprint.from_features(f, ranges, task=n, bins=(10, 100, 1000), seed=0) for n, f in feats.items()}


def test_matrix_orientation_sources_rows_targets_columns(fingerprints):
    sources = [fingerprints["task1"], fingerprints["task2"]]
    targets = [fingerprints["task3"], fingerprints["task4"], fingerprints["task0"]]
    D = distance_matrix("bKLD(small,target)", sources, targets)
    assert list(D.index) == ["task1", "task2"] and list(D.columns) == ["task3", "task4", "task0"]
    for s in sources:
        for t in targets:
            assert D.loc[s.task, t.task] == pytest.approx(
                bkld_naive(t.histogram(100), s.histogram(100), softmax(t.mean)), rel=1e-12)


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


@pytest.mark.parametrize("name", ["KLD-PP:NS-W:SN-1000-BINS", "VDNA-PP:NN-100-BINS", "FID", "KLD-PP:NN"])
def test_blocks_within_a_memory_budget_give_the_same_matrix(name, fingerprints, monkeypatch):
    import taskfp_lib.distances._inputs as inputs

    fps = list(fingerprints.values())
    whole = distance_matrix(name, fps[:4], fps[1:])
    monkeypatch.setattr(inputs, "MEMORY_BUDGET_BYTES", 1)          # one task per block
    blocked = distance_matrix(name, fps[:4], fps[1:])
    np.testing.assert_allclose(blocked.to_numpy(), whole.to_numpy(), rtol=1e-13, atol=1e-15)


def test_incompatible_fingerprints_refused(fingerprints):
    rng = np.random.default_rng(9)
    feats = {"a": np.abs(rng.normal(size=(200, 8)))}
    other = build_reference_ranges(feats, {"name": "synthetic", "weights": "other"})
    fp = Fingerprint.from_features(feats["a"], other, task="foreign", bins=(10, 100))
    with pytest.raises(IncompatibleFingerprintsError, match="weights"):
        distance_matrix("KLD-PP:NS-W:TS-100-BINS", [fingerprints["task0"]], [fp])
    own = build_reference_ranges(feats, {"name": "synthetic", "weights": "none"})
    same = Fingerprint.from_features(feats["a"], own, task="few-bins", bins=(10,))
    with pytest.raises(IncompatibleFingerprintsError, match="1000-bin"):
        distance_matrix("KLD-PP:NS-1000-BINS", [same])


def test_fid_and_fed_through_registry_match_oracles(fingerprints):
    fps = [fingerprints["task1"], fingerprints["task2"]]
    D = distance_matrix("FID", fps, self_zero=False)
    assert D.iloc[0, 1] == pytest.approx(frechet_distance_naive(fps[0].mean, fps[0].cov, fps[1].mean, fps[1].cov),
                                         rel=1e-8)
    emb = [np.abs(np.random.default_rng(i).normal(size=50)).astype(np.float32) for i in range(2)]
    with_fisher = [Fingerprint(**{**fp.__dict__, "fisher": e}) for fp, e in zip(fps, emb)]
    E = distance_matrix("FED", with_fisher)
    a, b = emb[0].astype(float), emb[1].astype(float)
    assert E.iloc[0, 1] == pytest.approx(1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b), rel=1e-10)


def test_write_distance_csv_round_trip(tmp_path, fingerprints):
    D = distance_matrix("KLD-PP:NS-W:TS-100-BINS", fingerprints)
    path = write_distance_csv(D, tmp_path / "KLD-PP:NS-W:TS-100-BINS.csv")
    back = pd.read_csv(path, index_col=0)
    pd.testing.assert_frame_equal(back, D, check_exact=True)
    assert not list(tmp_path.glob(".*tmp"))


def test_semantic_through_registry_matches_published_file():
    from taskfp_lib.upstream.manifest import data_path

    path = data_path("cache/distances/SEMANTIC.csv")
    if not path.is_file():
        pytest.skip(f"published SEMANTIC.csv not available ({path})")
    from taskfp_lib.tasks import ALL_TASKS, ALL_TASKS_INCLUDING_SHRUNK
    from taskfp_lib.upstream.readers import load_task_infos

    published = pd.read_csv(path, index_col=0)
    D = distance_matrix("Manual", list(ALL_TASKS), list(ALL_TASKS_INCLUDING_SHRUNK), task_infos=load_task_infos())
    np.testing.assert_allclose(D.to_numpy(), published.loc[D.index, D.columns].to_numpy(), rtol=0, atol=1e-12)
    assert D.to_numpy().min() < 0


def test_recomputed_matrix_drops_into_the_paper_evaluation(tmp_path):
    """A library-computed 71 x 127 matrix has the published layout and feeds affinity + top-k selection."""
    from taskfp_lib.distances import published_layout
    from taskfp_lib.evaluation.affinity import affinity_from_distance
    from taskfp_lib.evaluation.selection import top_k_sources
    from taskfp_lib.tasks import ALL_TASKS, ALL_TASKS_INCLUDING_SHRUNK, VAL_TASKS, shrunk_name, valid_sources
    from taskfp_lib.upstream.readers import read_distance_csv

    rng = np.random.default_rng(7)
    feats = {name: np.abs(rng.normal(loc=rng.random(4), size=(120, 4))) for name in ALL_TASKS_INCLUDING_SHRUNK}
    ranges = build_reference_ranges({n: feats[n] for n in ALL_TASKS[:28]}, {"name": "synthetic", "weights": "none"})
    fps = {n: Fingerprint.from_features(f, ranges, task=n, bins=(100,), with_cov=False) for n, f in feats.items()}
    D = distance_matrix("bKLD(small,target)", [fps[n] for n in ALL_TASKS],
                        [fps[n] for n in ALL_TASKS_INCLUDING_SHRUNK])
    assert D.shape == (71, 127)
    pd.testing.assert_frame_equal(published_layout(D), D)
    back = read_distance_csv(write_distance_csv(D, tmp_path / "KLD-PP:NS-W:TS-100-BINS.csv"))
    assert list(back.index) == list(ALL_TASKS) and list(back.columns) == list(ALL_TASKS_INCLUDING_SHRUNK)
    np.testing.assert_array_equal(back.to_numpy(), D.to_numpy())
    aff = affinity_from_distance(back)
    assert np.isnan(np.diag(aff.loc[list(ALL_TASKS), list(ALL_TASKS)].to_numpy())).all()
    target = VAL_TASKS[0]
    col = shrunk_name(target)
    chosen = top_k_sources(aff[col], valid_sources(target), k=3)
    expected = D.loc[valid_sources(target), col].sort_values(kind="stable").index[:3].tolist()
    assert chosen == expected


def test_per_fingerprint_statistics_are_cached_while_the_histograms_live(fingerprints):
    import gc

    from taskfp_lib.distances import bkld

    h = fingerprints["task1"].histogram(100).copy()
    plogp = bkld.task_statistic(h, "plogp")
    assert bkld.task_statistic(h, "plogp") is plogp
    expected_plogp, expected_lse = histogram_stats(h[None])
    np.testing.assert_array_equal(plogp, expected_plogp[0])
    np.testing.assert_array_equal(bkld.task_statistic(h, "lse"), expected_lse[0])
    p = h / h.sum(-1, keepdims=True)
    np.testing.assert_allclose(plogp, np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0).sum(-1), rtol=1e-13)
    keys = [(id(h), "plogp"), (id(h), "lse")]
    assert all(k in bkld._STATS for k in keys)
    del h
    gc.collect()
    assert not any(k in bkld._STATS for k in keys)
