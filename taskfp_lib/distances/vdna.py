r"""VDNA: the mean per-feature earth mover's distance between binned fingerprints.

The paper's VDNA selector (Methods, "Task fingerprinting"; file ``VDNA-PP:NN-1000-BINS``): per
feature the 1-D earth mover's distance between the L1-normalised histograms with unit bin spacing,
averaged over the features,

.. math:: d(S, T) = \frac{1}{m} \sum_{j=1}^{m} \sum_{k=1}^{b}
          \Big| \sum_{l \le k} (\hat q_{jl} - \hat p_{jl}) \Big|, \qquad \hat p = p / \textstyle\sum_k p_k .

Symmetric, zero for identical histograms. It is an L1 distance between cumulative histograms, so
every pair costs one pass over the (feature, bin) axis with no matrix-product shortcut.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import torch
from numba import njit, uint64

from ._inputs import BLOCK_BYTES, as_stack, blockwise, refuse_rows, task_names
from .registry import DistanceSpec, paper_label, register_family

NAME = "VDNA"
#: the L1 distance runs over slices of this many (feature, bin) values, which stay in cache
_SLICE = 1024


def check_histograms(distance: str, side: str, h: torch.Tensor, names) -> None:
    """Refuse, naming the tasks, stacked histograms (n, m, b) with a negative or non-finite value or an empty row."""
    if h.numel() == 0:
        return
    lo, hi = torch.aminmax(h)
    empty = ~(h.sum(-1) > 0).all(-1)
    if not (lo >= 0 and hi < float("inf")) or bool(empty.any()):
        bad = ~((h >= 0) & torch.isfinite(h)).reshape(h.shape[0], -1).all(-1) | empty
        refuse_rows(distance, side, names, bad.numpy(), "histograms must be finite, non-negative and non-empty")


def _cumulative(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative L1-normalised histograms of a block (n, f, b), flattened to (n, f * b), and the rows
    (tasks) that hold a negative or non-finite value or an all-zero histogram (bool, shape (n,))."""
    n, f, b = h.shape
    out = np.empty((n, f * b))
    bad = np.zeros(n, dtype=np.bool_)
    _cumulative_rows(h, out, bad)
    return out, bad


@njit(cache=True)
def _add_row(out, s, t, t1, t2, t3, a0, a1, a2, a3):  # pragma: no cover - compiled
    """Add one source's four accumulators, each distinct target column once."""
    out[s, t] += a0
    if t1 != t:
        out[s, t1] += a1
    if t2 != t1:
        out[s, t2] += a2
    if t3 != t2:
        out[s, t3] += a3


def _add_l1(cq, cp, out, width):
    """``out[s, t] += sum_k |cq[s, k] - cp[t, k]|`` for C-contiguous cq (S, K) and cp (T, K), over slices
    of ``width`` columns (cache-resident); see :func:`_l1_kernel`."""
    cq, cp = np.ascontiguousarray(cq), np.ascontiguousarray(cp)
    _l1_kernel(cq.reshape(-1), cp.reshape(-1), cq.shape[1], out, width)


@njit(cache=True, fastmath={"reassoc", "nsz", "contract"})
def _l1_kernel(qf, pf, K, out, width):  # pragma: no cover - compiled
    """:func:`_add_l1` on the flattened rows: row r of cq is ``qf[r*K:(r+1)*K]``.

    Register-blocked: each pass over a slice serves 4 sources x 4 targets with 16 accumulators, so
    every loaded value is used four times; the four targets' rows stay in L1 while the sources
    stream. The element offsets are unsigned: with signed indices the compiler must allow for
    negative (wrap-around) indices and falls back to gathered loads, 2.4x slower than the contiguous
    vector loads it emits here. The sums are reassociated for SIMD, which changes them only in the
    last bits (about 1e-15 relative) and with the CPU's vector width. At the edges the last row/column
    is repeated and written once.
    """
    S = qf.shape[0] // K
    T = pf.shape[0] // K
    for k0 in range(0, K, width):
        w = min(K, k0 + width) - k0
        for t in range(0, T, 4):
            t1, t2, t3 = min(t + 1, T - 1), min(t + 2, T - 1), min(t + 3, T - 1)
            o0, o1, o2, o3 = uint64(t * K + k0), uint64(t1 * K + k0), uint64(t2 * K + k0), uint64(t3 * K + k0)
            for s in range(0, S, 4):
                s1, s2, s3 = min(s + 1, S - 1), min(s + 2, S - 1), min(s + 3, S - 1)
                r0, r1, r2, r3 = uint64(s * K + k0), uint64(s1 * K + k0), uint64(s2 * K + k0), uint64(s3 * K + k0)
                a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = 0.0
                c0 = c1 = c2 = c3 = d0 = d1 = d2 = d3 = 0.0
                for kk in range(w):
                    k = uint64(kk)
                    q0, q1, q2, q3 = qf[r0 + k], qf[r1 + k], qf[r2 + k], qf[r3 + k]
                    p0, p1, p2, p3 = pf[o0 + k], pf[o1 + k], pf[o2 + k], pf[o3 + k]
                    a0 += abs(q0 - p0)
                    a1 += abs(q0 - p1)
                    a2 += abs(q0 - p2)
                    a3 += abs(q0 - p3)
                    b0 += abs(q1 - p0)
                    b1 += abs(q1 - p1)
                    b2 += abs(q1 - p2)
                    b3 += abs(q1 - p3)
                    c0 += abs(q2 - p0)
                    c1 += abs(q2 - p1)
                    c2 += abs(q2 - p2)
                    c3 += abs(q2 - p3)
                    d0 += abs(q3 - p0)
                    d1 += abs(q3 - p1)
                    d2 += abs(q3 - p2)
                    d3 += abs(q3 - p3)
                _add_row(out, s, t, t1, t2, t3, a0, a1, a2, a3)
                if s1 != s:
                    _add_row(out, s1, t, t1, t2, t3, b0, b1, b2, b3)
                if s2 != s1:
                    _add_row(out, s2, t, t1, t2, t3, c0, c1, c2, c3)
                if s3 != s2:
                    _add_row(out, s3, t, t1, t2, t3, d0, d1, d2, d3)


@njit(cache=True)
def _cumulative_rows(h, out, bad):  # pragma: no cover - compiled
    """``out[i, j*b:(j+1)*b] = cumsum(h[i, j]) / sum(h[i, j])`` for a block h (n, f, b) of any strides.

    Eight features run side by side (eight independent running sums); the division is a separate,
    vectorised pass. The last cumulative bin is exactly 1 (the running sum ends at the total). The
    same pass checks the input: ``bad[i]`` is set when a histogram of task i has a negative value (its
    running minimum), a NaN or an infinity (its sum is then not finite) or no mass (sum 0)."""
    n, f, b = h.shape
    for i in range(n):
        for j in range(0, f, 8):
            j1, j2, j3 = min(j + 1, f - 1), min(j + 2, f - 1), min(j + 3, f - 1)
            j4, j5, j6, j7 = min(j + 4, f - 1), min(j + 5, f - 1), min(j + 6, f - 1), min(j + 7, f - 1)
            r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = 0.0
            low = 0.0
            for k in range(b):  # a repeated last feature writes the same values twice
                v0, v1, v2, v3 = h[i, j, k], h[i, j1, k], h[i, j2, k], h[i, j3, k]
                v4, v5, v6, v7 = h[i, j4, k], h[i, j5, k], h[i, j6, k], h[i, j7, k]
                low = min(low, min(min(min(v0, v1), min(v2, v3)), min(min(v4, v5), min(v6, v7))))
                r0 += v0
                r1 += v1
                r2 += v2
                r3 += v3
                r4 += v4
                r5 += v5
                r6 += v6
                r7 += v7
                out[i, j * b + k] = r0
                out[i, j1 * b + k] = r1
                out[i, j2 * b + k] = r2
                out[i, j3 * b + k] = r3
                out[i, j4 * b + k] = r4
                out[i, j5 * b + k] = r5
                out[i, j6 * b + k] = r6
                out[i, j7 * b + k] = r7
            if not low >= 0.0:
                bad[i] = True
            for jj in range(j, min(j + 8, f)):
                row = out[i, jj * b:(jj + 1) * b]
                total = row[b - 1]
                if not (total > 0.0 and total < np.inf):
                    bad[i] = True
                    continue  # the block is refused; no division by a zero sum
                for k in range(b):
                    row[k] = row[k] / total


def vdna_distance_matrix(source_hists: np.ndarray, target_hists: np.ndarray, *,
                         source_names: Sequence[str] | None = None, target_names: Sequence[str] | None = None,
                         block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    r"""VDNA of every (source, target) pair: the mean over features of the 1-D EMD of the histograms.

    :math:`d(S, T) = \frac1m \sum_j \sum_k |\mathrm{cumsum}(\hat q_j - \hat p_j)_k|` with
    :math:`\hat p, \hat q` the L1-normalised target/source histograms (unit bin spacing). Runs over
    blocks of features (temporaries below ``block_bytes``) and cache-sized slices of each block.

    Parameters
    ----------
    source_hists : ndarray of shape (n_sources, n_features, bins)
    target_hists : ndarray of shape (n_targets, n_features, bins)
    source_names, target_names : sequence of str, optional
        Task names, used to name an offending entry in errors.
    block_bytes : int

    Returns
    -------
    ndarray of shape (n_sources, n_targets), float64; symmetric in its arguments.

    Raises
    ------
    DistanceInputError
        A histogram with a negative or non-finite value, an all-zero row or a sum that overflows,
        naming the task (checked in the pass that builds the cumulative histograms).
    """
    Q = torch.from_numpy(as_stack(NAME, "source", source_hists, 3, source_names))
    P = torch.from_numpy(as_stack(NAME, "target", target_hists, 3, target_names))
    if P.shape[1:] != Q.shape[1:]:
        raise ValueError(f"target histograms {tuple(P.shape[1:])} and source histograms {tuple(Q.shape[1:])} differ")
    (S, m, b), T = Q.shape, P.shape[0]
    out = np.zeros((S, T))
    f = max(1, min(m, int(block_bytes) // (8 * b * max(S + T, 1))))
    for j0 in range(0, m, f):
        cq, bad_q = _cumulative(Q[:, j0:j0 + f].numpy())  # the input checks run in the same pass
        cp, bad_p = _cumulative(P[:, j0:j0 + f].numpy())
        for side, bad, h, names in (("source", bad_q, Q, source_names), ("target", bad_p, P, target_names)):
            if bad.any():
                check_histograms(NAME, side, h, names)  # raises, naming the tasks and the kind of value
                refuse_rows(NAME, side, names, bad, "histograms must sum to a finite value")  # sums overflowed
        _add_l1(cq, cp, out, _SLICE)
    return out / m


def _vdna(sources, targets, *, bins: int) -> np.ndarray:
    """Registry adapter: fingerprints -> :func:`vdna_distance_matrix`, in blocks within the memory budget."""
    def block(src, tgt):
        return vdna_distance_matrix(np.stack([fp.histogram(bins) for fp in src]),
                                    np.stack([fp.histogram(bins) for fp in tgt]),
                                    source_names=task_names(src), target_names=task_names(tgt))

    return blockwise(sources, targets, lambda fp: 8 * fp.n_features * bins, block)


def _build(match: re.Match) -> DistanceSpec:
    bins, name = int(match.group(1)), match.group(0)

    def compute(sources, targets):
        return _vdna(sources, targets, bins=bins)

    return DistanceSpec(name, paper_label(name, f"VDNA({bins})"), symmetric=True, nonnegative=True,
                        zero_self=True, requires=("histograms",), compute=compute,
                        description=f"mean per-feature 1-D EMD between {bins}-bin histograms")


register_family(r"VDNA-PP:NN-([1-9]\d*)-BINS", _build, "VDNA-PP:NN-<b>-BINS")
