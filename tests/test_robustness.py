"""Sample-size robustness: reference selection, determinism, convergence with n."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np
import pandas as pd
import pytest

from taskfp_lib.distances import distance_matrix
from taskfp_lib.fingerprints import Fingerprint, build_reference_ranges
from taskfp_lib.robustness import sample_size_robustness, summarize_robustness


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    feats = {f"task{i}": np.abs(rng.normal(loc=0.4 * i, scale=0.5 + 0.1 * i, size=(2000, 5))) for i in range(6)}
    ranges = build_reference_ranges(feats, {"name": "synthetic", "weights": "none"})
    return feats, ranges


def test_reference_selection_and_shape(setup):
    feats, ranges = setup
    res = sample_size_robustness(feats, ranges, distances=["VDNA-PP:NN-10-BINS", "KLD-PP:NS-W:TS-10-BINS"],
                                 sizes=[10, 500], seeds=[0, 1], k=2, progress=False)
    assert len(res) == 2 * 2 * 2 * 6
    assert set(res.columns) >= {"distance", "n", "seed", "target", "selected", "reference", "overlap",
                                "top1_agrees", "kendall_tau"}
    assert res["overlap"].between(0, 1).all()
    # the reference selection is the top-k of the distance matrix of the full-feature fingerprints
    fps = {n: Fingerprint.from_features(f, ranges, task=n, bins=(10,), min_samples=1) for n, f in feats.items()}
    D = distance_matrix("VDNA-PP:NN-10-BINS", fps)
    for t in feats:
        col = D[t].drop(t).sort_values()
        ref = res[(res.distance == "VDNA-PP:NN-10-BINS") & (res.target == t)]["reference"].iloc[0]
        assert ref.split(";") == list(col.index[:2])


def test_deterministic_given_seeds(setup):
    feats, ranges = setup
    kw = dict(distances=["KLD-PP:NS-10-BINS"], sizes=[20], seeds=[3], k=2, progress=False)
    pd.testing.assert_frame_equal(sample_size_robustness(feats, ranges, **kw), sample_size_robustness(feats, ranges, **kw))
    other = sample_size_robustness(feats, ranges, **{**kw, "seeds": [4]})
    assert not other["kendall_tau"].equals(sample_size_robustness(feats, ranges, **kw)["kendall_tau"])


def test_selection_converges_with_more_samples(setup):
    feats, ranges = setup
    res = sample_size_robustness(feats, ranges, distances=["VDNA-PP:NN-10-BINS"], sizes=[10, 1000],
                                 seeds=range(4), k=2, progress=False,
                                 candidates=lambda t: [c for c in feats if c != t])
    summary = summarize_robustness(res).set_index("n")
    assert summary.loc[1000, "kendall_tau_mean"] > summary.loc[10, "kendall_tau_mean"]
    assert summary.loc[1000, "overlap_mean"] >= summary.loc[10, "overlap_mean"]
    assert summary.loc[1000, "kendall_tau_mean"] > 0.8


def test_rejects_feature_distances(setup):
    feats, ranges = setup
    with pytest.raises(ValueError, match="not computed from fingerprints"):
        sample_size_robustness(feats, ranges, distances=["Sinkhorn Divergence"], progress=False)
