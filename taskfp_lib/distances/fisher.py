r"""FED: the Fisher embedding distance, Task2Vec-style (file ``FED``).

The paper's FED selector (Methods, "Task fingerprinting"): the embedding :math:`e` of a task is the
concatenation of the diagonal Fisher information of the last 60 % of the probe's layers, and

.. math:: d(S, T) = 1 - \frac{\langle e_S, e_T \rangle}{\|e_S\| \, \|e_T\|} \in [0, 2].

Symmetric, zero for identical (or proportional) embeddings.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ._inputs import blockwise, entry_names, refuse_rows, require, task_names
from .registry import DistanceSpec, paper_label, register_distance

NAME = "FED"
#: parameters per chunk: each chunk is cast to float64 once and stays in cache for its product
_CHUNK = 1 << 14


def _as_embeddings(side: str, e, names) -> np.ndarray:
    e = np.asarray(e)
    if e.ndim != 2 or e.dtype not in (np.float32, np.float64):
        raise ValueError(f"{NAME}: {side} Fisher embeddings must be a float32/float64 array (n, n_params), "
                         f"got {e.dtype} {e.shape}")
    if names is not None:
        entry_names(names, len(e))
    return e


def fed_distance_matrix(source_embeddings: np.ndarray, target_embeddings: np.ndarray, *,
                        source_names: Sequence[str] | None = None,
                        target_names: Sequence[str] | None = None) -> np.ndarray:
    r"""FED of every (source, target) pair: :math:`1 - \cos(e_S, e_T)`.

    Embeddings may be float32 (a ResNet34 embedding has ~2e7 entries); the products are
    accumulated in float64 over chunks of parameters, each chunk cast to float64 once, so memory
    stays bounded.

    Parameters
    ----------
    source_embeddings : ndarray of shape (n_sources, n_params)
    target_embeddings : ndarray of shape (n_targets, n_params)
    source_names, target_names : sequence of str, optional
        Task names, used to name an offending entry in errors.

    Returns
    -------
    ndarray of shape (n_sources, n_targets), values in [0, 2]; symmetric in its arguments.

    Raises
    ------
    DistanceInputError
        An embedding that is all zeros (the cosine is undefined) or not finite, naming the task.
    """
    es = _as_embeddings("source", source_embeddings, source_names)
    et = _as_embeddings("target", target_embeddings, target_names)
    if et.shape[1] != es.shape[1]:
        raise ValueError(f"{NAME}: Fisher embeddings must be of equal length, got {es.shape} and {et.shape}")
    dots = torch.zeros((es.shape[0], et.shape[0]), dtype=torch.float64)
    ns = torch.zeros(es.shape[0], dtype=torch.float64)
    nt = torch.zeros(et.shape[0], dtype=torch.float64)
    tes, tet = torch.from_numpy(np.ascontiguousarray(es)), torch.from_numpy(np.ascontiguousarray(et))
    for start in range(0, et.shape[1], _CHUNK):
        a = tes[:, start:start + _CHUNK].to(torch.float64)          # one cast per chunk, none for float64
        b = tet[:, start:start + _CHUNK].to(torch.float64)
        dots.addmm_(a, b.T)
        ns += torch.linalg.vecdot(a, a)
        nt += torch.linalg.vecdot(b, b)
    dots, ns, nt = dots.numpy(), ns.numpy(), nt.numpy()
    for side, norms, names in (("source", ns, source_names), ("target", nt, target_names)):
        refuse_rows(NAME, side, names, ~np.isfinite(norms), "Fisher embedding is not finite")
        refuse_rows(NAME, side, names, norms == 0, "Fisher embedding is all zeros; cosine similarity is undefined")
    cos = dots / np.outer(np.sqrt(ns), np.sqrt(nt))
    return 1.0 - np.clip(cos, -1.0, 1.0)


def _fed(sources, targets) -> np.ndarray:
    """Registry adapter: fingerprints -> :func:`fed_distance_matrix`, in blocks within the memory budget."""
    require(NAME, list(sources) + list(targets), "fisher", "Fisher embeddings (fingerprint with with_fisher=True)")

    def block(src, tgt):
        return fed_distance_matrix(np.stack([fp.fisher for fp in src]), np.stack([fp.fisher for fp in tgt]),
                                   source_names=task_names(src), target_names=task_names(tgt))

    return blockwise(sources, targets, lambda fp: fp.fisher.nbytes, block)


register_distance(DistanceSpec(
    "FED", paper_label("FED", "FED"), symmetric=True, nonnegative=True, zero_self=True, requires=("fisher",),
    compute=_fed, description="1 - cosine of diagonal Fisher embeddings (last 60 % of layers)"))
