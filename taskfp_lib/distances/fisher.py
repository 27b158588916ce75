"""Fisher embedding distance (FED, Task2Vec-style; spec 3.4)."""
from __future__ import annotations

import numpy as np
import torch

_CHUNK = 1 << 16


def fed_distance_matrix(target_embeddings: np.ndarray, source_embeddings: np.ndarray) -> np.ndarray:
    r"""FED: one minus the cosine similarity of Fisher embeddings.

    .. math:: d(s, t) = 1 - \frac{\langle e_s, e_t\rangle}{\|e_s\|\,\|e_t\|}

    Embeddings may be float32 (a ResNet34 embedding has ~2e7 entries); the products are
    accumulated in float64 over chunks of parameters, so memory stays bounded.

    Parameters
    ----------
    target_embeddings : ndarray of shape (n_targets, n_params)
    source_embeddings : ndarray of shape (n_sources, n_params)

    Returns
    -------
    ndarray of shape (n_sources, n_targets), values in [0, 2]; symmetric.
    """
    et = np.asarray(target_embeddings)
    es = np.asarray(source_embeddings)
    if et.ndim != 2 or es.ndim != 2 or et.shape[1] != es.shape[1]:
        raise ValueError(f"Fisher embeddings must be (n, n_params) of equal length, got {et.shape} and {es.shape}")
    dots = torch.zeros((es.shape[0], et.shape[0]), dtype=torch.float64)
    nt = torch.zeros(et.shape[0], dtype=torch.float64)
    ns = torch.zeros(es.shape[0], dtype=torch.float64)
    for start in range(0, et.shape[1], _CHUNK):
        a = torch.from_numpy(np.ascontiguousarray(es[:, start:start + _CHUNK])).double()
        b = torch.from_numpy(np.ascontiguousarray(et[:, start:start + _CHUNK])).double()
        dots += a @ b.T
        ns += (a * a).sum(1)
        nt += (b * b).sum(1)
    dots, nt, ns = dots.numpy(), nt.numpy(), ns.numpy()
    if (nt == 0).any() or (ns == 0).any():
        raise ValueError("a Fisher embedding is all zeros; cosine similarity is undefined")
    cos = dots / np.outer(np.sqrt(ns), np.sqrt(nt))
    return 1.0 - np.clip(cos, -1.0, 1.0)
