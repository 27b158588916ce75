r"""bKLD, the paper's binned Kullback-Leibler task distance (Methods, "Task fingerprinting").

For the target fingerprint :math:`P` (m histograms :math:`p_j` of b bins) and the source fingerprint
:math:`Q` (histograms :math:`q_j`),

.. math::

    d(S, T) = \sum_{j=1}^{m} w_j \, \mathrm{KL}\big(p_j \,\|\, \mathrm{soft}(q_j)\big), \qquad
    \mathrm{KL}(p \,\|\, r) = \sum_k p_k \log \frac{p_k}{r_k}, \quad 0 \log 0 := 0,

with feature weights :math:`\sum_j w_j = 1`. Registered as ``KLD-PP:NS[-W:<by><pp>]-<b>-BINS``: the
paper's bKLD(small,target) is ``KLD-PP:NS-W:TS-100-BINS``, bKLD(large,unweighted)
``KLD-PP:NS-1000-BINS`` and bKLD(large,source) ``KLD-PP:NS-W:SN-1000-BINS``.

Because :math:`\log \mathrm{soft}(q) = q - \mathrm{logsumexp}(q)` and :math:`\sum_k p_k = 1`,

.. math::

    \mathrm{KL}(p_j \| \mathrm{soft}(q_j)) = \underbrace{\textstyle\sum_k p_{jk} \log p_{jk}}_{\text{target term}}
    - \sum_k p_{jk} q_{jk} + \underbrace{\mathrm{logsumexp}_k\, q_{jk}}_{\text{source term}},

so all pairs cost one matrix product over the flattened (feature, bin) axis plus two per-task
statistics (:func:`histogram_stats`), which the registry caches per fingerprint.
"""
from __future__ import annotations

import re
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np
import torch
from numba import njit, uint64

from ._inputs import (BLOCK_BYTES, as_stack, blockwise, check_means, l1_normalize, refuse_rows, softmax,
                      task_names)
from ._vector_math import log_positive, prefetch
from .registry import DistanceSpec, paper_label, register_family

NAME = "bKLD"
#: bKLD feature weightings: name -> (whose mean features, preprocessing)
WEIGHTINGS = {
    "uniform": (None, None),
    "target_softmax": ("target", "softmax"),      # -W:TS
    "source_normalized": ("source", "l1"),        # -W:SN
    "target_normalized": ("target", "l1"),        # -W:TN
    "source_softmax": ("source", "softmax"),      # -W:SS
}
#: histogram rows whose sum is within this of 1 are used as they are (the published values)
NORMALISED_ATOL = 1e-12
#: a sum of exponentials below this is recomputed with the shifted logsumexp (subnormal terms)
_SUM_FLOOR = 1e-280
#: elementwise work runs on cache-sized chunks of this many float64 values
_CHUNK = 1 << 16
_TINY = float(np.finfo(np.float64).tiny)
#: below this many values the target pass runs in one thread (a thread pool costs about 0.1 ms)
_PARALLEL_MIN_VALUES = 1 << 18
#: the target pass prefetches this many values (16 KB) ahead of the row it reads
_PREFETCH_AHEAD = 2048


def feature_weights(mean_features: np.ndarray, preprocessing: str) -> np.ndarray:
    r"""Feature weights from mean feature vectors (n_tasks, n_features): ``softmax`` or ``l1``.

    ``softmax``: :math:`w = \mathrm{soft}(\bar v)`; ``l1``: :math:`w = \bar v / \sum_j \bar v_j`.
    """
    if preprocessing == "softmax":
        return softmax(mean_features, axis=-1)
    if preprocessing == "l1":
        return l1_normalize(mean_features, axis=-1)
    raise ValueError(f"unknown weight preprocessing {preprocessing!r} (use 'softmax' or 'l1')")


def _chunk_rows(b: int) -> int:
    return max(1, _CHUNK // max(b, 1))


def _target_rows(P2: torch.Tensor, plogp: bool) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    r"""Per row of P2 (rows, bins): :math:`\sigma = \sum_k p_k`, :math:`\sum_k p_k \log p_k` (0 log 0 = 0) and bad rows.

    With ``plogp``, one compiled pass reads each value once (:func:`_sum_plogp_kernel`), rows split
    over torch's thread count; without, torch sums the rows and takes cache-sized chunks' minima. A
    bad row holds a negative or non-finite value or sums to 0.
    """
    rows, b = P2.shape
    if plogp:
        sums, out = _sum_plogp(P2.numpy())
        bad = ~(sums > 0) | ~torch.isfinite(sums) | ~torch.isfinite(out)
        return sums, out, bad
    step = _chunk_rows(b)
    sums = torch.empty(rows, dtype=torch.float64)
    mins = torch.empty(-(-rows // step), dtype=torch.float64)
    for i, r0 in enumerate(range(0, rows, step)):
        x = P2[r0:r0 + step]
        torch.sum(x, -1, out=sums[r0:r0 + step])
        torch.amin(x, dim=(0, 1), out=mins[i])
    bad = ~(sums > 0) | ~torch.isfinite(sums)
    for i in torch.nonzero(~(mins >= 0)).flatten().tolist():        # NaN compares False
        x = P2[i * step:(i + 1) * step]
        bad[i * step:(i + 1) * step] |= ~((x >= 0) & torch.isfinite(x)).all(-1)
    return sums, None, bad


def _sum_plogp(x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Row sums and :math:`\sum_k p_k \log(p_k + \mathrm{tiny})` of a (rows, bins) array.

    The rows are split into one contiguous range per torch thread (the compiled kernel releases the
    GIL); every row is computed the same way whatever the split, so the result does not depend on the
    thread count.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    rows, b = x.shape
    sums, out = np.empty(rows), np.empty(rows)
    flat = x.reshape(-1)
    n = max(1, min(torch.get_num_threads(), rows * b // _PARALLEL_MIN_VALUES))
    bounds = np.linspace(0, rows, n + 1).astype(np.int64)
    if n == 1:
        _sum_plogp_kernel(flat, b, 0, rows, sums, out)
    else:
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(lambda i: _sum_plogp_kernel(flat, b, bounds[i], bounds[i + 1], sums, out), range(n)))
    return torch.from_numpy(sums), torch.from_numpy(out)


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "nsz", "contract"})
def _sum_plogp_kernel(flat, b, r0, r1, sums, out):  # pragma: no cover - compiled
    r"""``sums[r] = sum_k p_rk`` and ``out[r] = sum_k p_rk log(p_rk + tiny)`` for rows r0..r1-1 of ``flat``.

    :math:`p \log(p + \mathrm{tiny})` is exactly 0 where p = 0, :math:`p \log p` for every other
    finite p >= 0 and NaN for a negative p; a non-finite p makes the row's sum non-finite. The log is
    :func:`~._vector_math.log_positive`, so the loop compiles to SIMD code with the two sums
    reassociated (they change in the last bits, about 1e-16 relative); the data
    :data:`_PREFETCH_AHEAD` values ahead is prefetched row by row, as the arithmetic would otherwise
    wait for memory. Offsets are unsigned, for contiguous vector loads (see :func:`.vdna._l1_kernel`).
    """
    n = uint64(flat.size)
    for r in range(r0, r1):
        base = uint64(r) * uint64(b)
        ahead = base + uint64(_PREFETCH_AHEAD)
        for j in range(0, b, 8):                   # one request per 64-byte cache line
            if ahead + uint64(j) < n:
                prefetch(flat, ahead + uint64(j))
        s = 0.0
        t = 0.0
        for kk in range(b):
            v = flat[base + uint64(kk)]
            s += v
            t += v * log_positive(v + _TINY)
        sums[r] = s
        out[r] = t


def _normalised_plogp(sums: torch.Tensor, plogp: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""Divisors :math:`\sigma'` and :math:`\sum_k \hat p \log \hat p` of :math:`\hat p = p / \sigma'`.

    :math:`\sigma' = \sigma`, or exactly 1 where :math:`|\sigma - 1| \le` :data:`NORMALISED_ATOL`
    (those rows are used as they are); :math:`\sum \hat p \log \hat p = \sum p \log p / \sigma' - \log \sigma'`.
    """
    divisor = torch.where((sums - 1.0).abs() > NORMALISED_ATOL, sums, 1.0)
    if plogp is not None and not bool((divisor == 1.0).all()):
        plogp = plogp / divisor - divisor.log()
    return divisor, plogp


def _source_rows(q2: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathrm{logsumexp}_k q_k` per row of q2 (rows, bins), chunk by chunk.

    Computed as :math:`\log \sum_k e^{q_k}` without the max shift; the overflow guard costs nothing:
    a row whose sum overflowed (inf), underflowed (below :data:`_SUM_FLOOR`, where subnormal terms
    would lose precision) or is NaN is recomputed with the shifted ``logsumexp``. NaN/inf rows stay
    non-finite.
    """
    rows, b = q2.shape
    step = _chunk_rows(b)
    sums = torch.empty(rows, dtype=torch.float64)
    buf = torch.empty(step * b, dtype=torch.float64)
    for r0 in range(0, rows, step):
        x = q2[r0:r0 + step]
        torch.sum(torch.exp(x, out=buf[:x.numel()].view_as(x)), -1, out=sums[r0:r0 + step])
    redo = torch.nonzero(~((sums > _SUM_FLOOR) & (sums < float("inf")))).flatten()
    out = sums.log_()
    if redo.numel():
        out[redo] = torch.logsumexp(q2[redo], dim=-1)
    return out


def histogram_stats(hists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Per-task bKLD statistics of stacked histograms (n_tasks, n_features, bins).

    Returns
    -------
    plogp : ndarray of shape (n_tasks, n_features)
        :math:`\sum_k p_k \log p_k` of the L1-normalised histograms (0 log 0 = 0), the target term.
    lse : ndarray of shape (n_tasks, n_features)
        :math:`\log \sum_k e^{q_k}` of the histograms as given, the source term.
    """
    h = as_stack(NAME, "task", hists, 3)
    n, m, b = h.shape
    rows = torch.from_numpy(h).reshape(n * m, b)
    _, plogp = _normalised_plogp(*_target_rows(rows, plogp=True)[:2])
    return plogp.reshape(n, m).numpy(), _source_rows(rows).reshape(n, m).numpy()


def _weights(weighting: str, means, side: str, names, n: int, m: int) -> torch.Tensor:
    if means is None:
        raise ValueError(f"weighting {weighting!r} needs {side}_means")
    pre = WEIGHTINGS[weighting][1]
    a = check_means(NAME, side, means, names, n=n, m=m, nonnegative=pre == "l1")
    w = feature_weights(a, pre)
    return torch.from_numpy(w / w.sum(axis=1, keepdims=True))


def _cross(tq: torch.Tensor, tP: torch.Tensor, fs: torch.Tensor | None, ft: torch.Tensor | None,
           block_bytes: int) -> torch.Tensor:
    r""":math:`X_{st} = \sum_j f^S_{sj} f^T_{tj} \sum_k q_{sjk} p_{tjk}` for per-feature factors f (None = 1).

    Without factors this is one matrix product over the flattened (feature, bin) axis (the bound of
    the kernel). With factors, a batched product per block of features gives
    :math:`C_{jst} = \sum_k q_{sjk} p_{tjk}` (temporaries below ``block_bytes``), which the factors
    then weight and sum over j.
    """
    S, m, b = tq.shape
    T = tP.shape[0]
    if fs is None and ft is None:
        return tq.reshape(S, m * b) @ tP.reshape(T, m * b).T
    f = max(1, min(m, int(block_bytes) // (8 * (S * T + (S + T) * b))))
    cross = torch.zeros((S, T), dtype=torch.float64)
    for j0 in range(0, m, f):
        C = torch.bmm(tq[:, j0:j0 + f].transpose(0, 1), tP[:, j0:j0 + f].permute(1, 2, 0))   # (f, S, T)
        if ft is not None:
            C.mul_(ft[:, j0:j0 + f].T[:, None, :])
        cross += torch.einsum("jst,sj->st", C, fs[:, j0:j0 + f]) if fs is not None else C.sum(0)
    return cross


def _target_terms(P: np.ndarray, target_plogp, names) -> tuple[torch.Tensor, torch.Tensor]:
    T, m, b = P.shape
    sums, raw, bad = _target_rows(torch.from_numpy(P).reshape(T * m, b), plogp=target_plogp is None)
    divisor, plogp = _normalised_plogp(sums, raw)
    if target_plogp is not None:
        plogp = torch.from_numpy(np.asarray(target_plogp, np.float64).reshape(T * m))
    bad |= ~torch.isfinite(plogp)
    refuse_rows(NAME, "target", names, bad.reshape(T, m).any(1).numpy(),
                "histograms must be finite, non-negative and non-empty")
    return divisor.reshape(T, m), plogp.reshape(T, m)


def _source_terms(q: np.ndarray, source_lse, names) -> torch.Tensor:
    S, m, b = q.shape
    lse = (_source_rows(torch.from_numpy(q).reshape(S * m, b)) if source_lse is None
           else torch.from_numpy(np.asarray(source_lse, np.float64).reshape(S * m)))
    lse = lse.reshape(S, m)
    refuse_rows(NAME, "source", names, (~torch.isfinite(lse)).any(1).numpy(), "histogram values are not finite")
    return lse


def bkld_distance_matrix(source_hists: np.ndarray, target_hists: np.ndarray, weighting: str = "uniform", *,
                         source_means: np.ndarray | None = None, target_means: np.ndarray | None = None,
                         source_lse: np.ndarray | None = None, target_plogp: np.ndarray | None = None,
                         source_names: Sequence[str] | None = None, target_names: Sequence[str] | None = None,
                         block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    r"""bKLD of every (source, target) pair, :math:`d(S, T) = \sum_j w_j \mathrm{KL}(p_j \| \mathrm{soft}(q_j))`.

    Weightings ``w`` (Methods, "Task fingerprinting"): ``"uniform"`` (:math:`w_j = 1/m`, file
    ``KLD-PP:NS-<b>-BINS``), ``"target_softmax"`` (:math:`w = \mathrm{soft}(\bar v^T)`, ``-W:TS``),
    ``"source_normalized"`` (:math:`w = \bar v^S / \sum_j \bar v^S_j`, ``-W:SN``); also
    ``"target_normalized"`` and ``"source_softmax"``. Target histograms are L1-normalised (rows
    within :data:`NORMALISED_ATOL` of 1 are used as they are). Computed in float64 as
    :math:`\sum_j w_j (\sum_k \hat p \log \hat p + \mathrm{logsumexp}(q)) - \sum_{j,k} w_j \hat p q`:
    one matrix product plus per-task statistics; temporaries stay below ``block_bytes``.

    Parameters
    ----------
    source_hists : ndarray of shape (n_sources, n_features, bins)
    target_hists : ndarray of shape (n_targets, n_features, bins)
    weighting : str
    source_means : ndarray of shape (n_sources, n_features), required for source weightings
    target_means : ndarray of shape (n_targets, n_features), required for target weightings
    source_lse, target_plogp : ndarray of shape (n_sources, n_features) / (n_targets, n_features), optional
        Precomputed per-task statistics (:func:`histogram_stats`).
    source_names, target_names : sequence of str, optional
        Task names, used to name an offending entry in errors.
    block_bytes : int

    Returns
    -------
    ndarray of shape (n_sources, n_targets), float64

    Raises
    ------
    DistanceInputError
        Non-finite or negative target histograms, non-finite source histograms, invalid mean
        features (non-finite, beyond the float32 range, negative for an L1 weighting), naming the task.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; choose from {sorted(WEIGHTINGS)}")
    q = as_stack(NAME, "source", source_hists, 3, source_names)
    P = as_stack(NAME, "target", target_hists, 3, target_names)
    if P.shape[1:] != q.shape[1:]:
        raise ValueError(f"target histograms {P.shape[1:]} and source histograms {q.shape[1:]} differ")
    (S, m, _), T = q.shape, P.shape[0]
    by = WEIGHTINGS[weighting][0]
    ws = _weights(weighting, source_means, "source", source_names, S, m) if by == "source" else None
    wt = _weights(weighting, target_means, "target", target_names, T, m) if by == "target" else None
    divisor, plogp = _target_terms(P, target_plogp, target_names)
    lse = _source_terms(q, source_lse, source_names)
    with torch.no_grad():
        inv = None if bool((divisor == 1.0).all()) else 1.0 / divisor
        ft = wt if inv is None else (inv if wt is None else wt * inv)
        cross = _cross(torch.from_numpy(q), torch.from_numpy(P), ws, ft, block_bytes)
        out = _combine(cross, plogp, lse, ws, wt)
    return _finite(out.numpy(), source_names)


def _combine(cross: torch.Tensor, plogp: torch.Tensor, lse: torch.Tensor, ws: torch.Tensor | None,
             wt: torch.Tensor | None) -> torch.Tensor:
    r""":math:`d_{st} = \sum_j w_j (\sum_k \hat p \log \hat p)_{tj} + \sum_j w_j \mathrm{lse}_{sj} - X_{st}`."""
    if ws is None and wt is None:
        return (plogp.sum(1)[None, :] - (cross - lse.sum(1)[:, None])) / plogp.shape[1]
    if wt is not None:
        return (wt * plogp).sum(1)[None, :] - (cross - lse @ wt.T)
    return ws @ plogp.T - (cross - (ws * lse).sum(1)[:, None])


def _finite(out: np.ndarray, source_names) -> np.ndarray:
    """``out`` if finite, else a :class:`DistanceInputError` naming the sources of non-finite rows."""
    finite = np.isfinite(out)
    if not finite.all():
        refuse_rows(NAME, "source", source_names, ~finite.all(axis=1), "distance is not finite (overflow)")
    return out


# ------------------------------------------------------------------------- per-fingerprint statistics
_STATS: dict[tuple[int, str], tuple[weakref.ref, np.ndarray]] = {}


def task_statistic(hist: np.ndarray, which: str) -> np.ndarray:
    """The bKLD term ``"plogp"`` or ``"lse"`` (n_features,) of one task's histograms (n_features, bins).

    Computed once per histogram array and kept while the array lives (a fingerprint's histograms
    are not modified after validation).
    """
    key = (id(hist), which)
    hit = _STATS.get(key)
    if hit is not None and hit[0]() is hist:
        return hit[1]
    rows = torch.from_numpy(np.ascontiguousarray(hist, dtype=np.float64))
    if which == "plogp":
        value = _normalised_plogp(*_target_rows(rows, plogp=True)[:2])[1].numpy()
    elif which == "lse":
        value = _source_rows(rows).numpy()
    else:
        raise ValueError(f"unknown statistic {which!r} (use 'plogp' or 'lse')")
    _STATS[key] = (weakref.ref(hist, lambda _ref, k=key: _STATS.pop(k, None)), value)
    return value


def _bkld(sources, targets, *, bins: int, weighting: str) -> np.ndarray:
    """Registry adapter: fingerprints -> :func:`bkld_distance_matrix`, in blocks within the memory budget."""
    by = WEIGHTINGS[weighting][0]

    def block(src, tgt):
        return bkld_distance_matrix(
            np.stack([fp.histogram(bins) for fp in src]), np.stack([fp.histogram(bins) for fp in tgt]), weighting,
            source_means=np.stack([fp.mean for fp in src]) if by == "source" else None,
            target_means=np.stack([fp.mean for fp in tgt]) if by == "target" else None,
            source_lse=np.stack([task_statistic(fp.histogram(bins), "lse") for fp in src]),
            target_plogp=np.stack([task_statistic(fp.histogram(bins), "plogp") for fp in tgt]),
            source_names=task_names(src), target_names=task_names(tgt))

    return blockwise(sources, targets, lambda fp: 8 * fp.n_features * bins, block)


_CODES = {"TS": "target_softmax", "SN": "source_normalized", "TN": "target_normalized", "SS": "source_softmax"}


def _build(match: re.Match) -> DistanceSpec:
    code, bins = match.group(1), int(match.group(2))
    weighting = _CODES[code] if code else "uniform"
    name = match.group(0)

    def compute(sources, targets):
        return _bkld(sources, targets, bins=bins, weighting=weighting)

    return DistanceSpec(
        name, paper_label(name, f"bKLD({bins} bins, {weighting})"), symmetric=False, nonnegative=True,
        zero_self=False, requires=("histograms", "mean") if code else ("histograms",), compute=compute,
        description=f"binned KL divergence, {bins} bins, target histogram vs softmax of the source histogram, "
                    f"weighting {weighting}")


register_family(r"KLD-PP:NS(?:-W:(TS|SN|TN|SS))?-([1-9]\d*)-BINS", _build, "KLD-PP:NS[-W:TS|SN|TN|SS]-<b>-BINS")
