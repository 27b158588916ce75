"""A toy distance registered from outside the library: the whole of what adding a distance takes.

Importing this module registers ``TOY-L1-MEAN`` (the mean absolute difference of the mean feature
vectors); ``tests/test_distances.py::test_a_distance_plugs_in_with_one_module`` uses it.
"""
from __future__ import annotations

import numpy as np

from taskfp_lib.distances import DistanceSpec, register_distance

NAME = "TOY-L1-MEAN"


def toy_distance_matrix(source_means: np.ndarray, target_means: np.ndarray) -> np.ndarray:
    r""":math:`d(S, T) = \frac1m \sum_i |\bar v^S_i - \bar v^T_i|`, shape (n_sources, n_targets)."""
    return np.abs(source_means[:, None, :] - target_means[None, :, :]).mean(-1)


def _compute(sources, targets):
    return toy_distance_matrix(np.stack([fp.mean for fp in sources]), np.stack([fp.mean for fp in targets]))


SPEC = register_distance(DistanceSpec(NAME, "Toy", symmetric=True, nonnegative=True, zero_self=True,
                                      requires=("mean",), compute=_compute,
                                      description="mean absolute difference of the mean features"))
