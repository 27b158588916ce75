"""Seeded inputs of the pinned distance snapshot (``tests/data/distances_snapshot.npz``).

The snapshot holds the values the kernels of main ``c2ccd70`` (before the distances renovation)
computed from these inputs; ``tests/test_distances.py`` checks that today's kernels give the same
values to 1e-12 relative. It was written once, before the kernels changed, by calling the kernels of
that commit (targets first) on these inputs: ``bkld_distance_matrix(P, Q, weighting, ...)`` for the five
weightings at 10 and 1000 bins (also with the target histograms scaled by 3, and with the source
histograms scaled by 1e4), ``vdna_distance_matrix(P, Q)``, ``kld_averaged_distance_matrix`` on the means
(with and without zero entries), ``fid_distance_matrix`` and ``fed_distance_matrix``; the keys of the
file name each call. It is never regenerated from today's kernels.
"""
from __future__ import annotations

import numpy as np

T, S, M = 6, 5, 24


def _hists(rng, n, m, b):
    h = rng.random((n, m, b)) ** 2
    h[h < 0.15] = 0.0
    h[..., 0] += 1e-3
    return h / h.sum(-1, keepdims=True)


def _covs(rng, n, m, samples):
    return np.stack([np.cov(rng.normal(size=(samples, m)) * rng.random(m), rowvar=False) for _ in range(n)])


def snapshot_inputs() -> dict[str, np.ndarray]:
    """All inputs, by name (targets first: ``target_*`` has n = 6 rows, ``source_*`` n = 5)."""
    rng = np.random.default_rng(20241211)
    x: dict[str, np.ndarray] = {}
    for b in (10, 1000):
        x[f"target_hists_{b}"] = _hists(rng, T, M, b)
        x[f"source_hists_{b}"] = _hists(rng, S, M, b)
    x["target_means"] = rng.random((T, M)) * 2.0
    x["source_means"] = rng.random((S, M)) * 2.0
    zt, zs = x["target_means"].copy(), x["source_means"].copy()
    zt[:, :3] = 0.0          # 0 log 0 = 0
    zs[1:, 5] = 0.0          # q = 0 < p: the infinite term becomes the largest float
    x["target_means_zeros"], x["source_means_zeros"] = zt, zs
    m = 12
    x["target_fid_means"] = rng.normal(size=(T, m))
    x["source_fid_means"] = rng.normal(size=(S, m))
    x["target_covs"] = np.concatenate([_covs(rng, T - 2, m, 40), _covs(rng, 2, m, 6)])  # two singular ones
    x["source_covs"] = np.concatenate([_covs(rng, S - 1, m, 40), _covs(rng, 1, m, 6)])
    x["target_fisher"] = rng.random((T, 70_000), dtype=np.float32)
    x["source_fisher"] = rng.random((S, 70_000), dtype=np.float32)
    return x
