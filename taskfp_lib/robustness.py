"""Sample-size robustness of task selection (the paper's Fig. 6 question, on any data).

How many images does a fingerprint need? Subsample each task's extracted features to ``n``
draws (with replacement, seeded), rebuild the fingerprints, recompute the distances and compare
the resulting top-k source selection with the one obtained from all features.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from tqdm import tqdm

from .distances import DistanceSpec, distance_matrix, get_distance
from .evaluation.affinity import affinity_from_distance
from .evaluation.selection import SelectionTieError, top_k_sources
from .fingerprints import Fingerprint, ReferenceRanges
from .vocabulary import DEFAULT_DISTANCE


def _bins_needed(names: Sequence[str]) -> tuple[int, ...]:
    bins = set()
    for n in names:
        parts = get_distance(n).name.split("-")
        if parts[-1] == "BINS":
            bins.add(int(parts[-2]))
    return tuple(sorted(bins)) or (10,)


def _fingerprints(features: Mapping[str, np.ndarray], ranges: ReferenceRanges, bins, with_cov: bool):
    return {name: Fingerprint.from_features(f, ranges, task=name, bins=bins, with_cov=with_cov, min_samples=1)
            for name, f in features.items()}


def _subsample(features: Mapping[str, np.ndarray], n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` rows of each task's features, uniformly with replacement (one generator per (seed, n))."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(n)]))
    return {name: f[rng.integers(0, len(f), size=int(n))] for name, f in features.items()}


def _select(dist: pd.DataFrame, target: str, candidates: list[str], k: int) -> list[str] | None:
    aff = affinity_from_distance(dist[[target]])
    try:
        return top_k_sources(aff[target], candidates, k)
    except SelectionTieError:
        return None


def _selections(spec: DistanceSpec, fps: Mapping[str, Fingerprint], targets, cand, k: int):
    """The distance matrix (sources x targets) and each target's top-k selection."""
    D = distance_matrix(spec, fps, [fps[t] for t in targets])
    return D, {t: _select(D, t, cand[t], k) for t in targets}


def _rows(spec: DistanceSpec, D: pd.DataFrame, reference: tuple[pd.DataFrame, dict], targets, cand, k: int,
          n: int, seed: int) -> list[dict]:
    """One result row per target: the subsampled selection against the full-feature one."""
    D_full, ref_sel = reference
    rows = []
    for t in targets:
        sel, ref = _select(D, t, cand[t], k), ref_sel[t]
        ok = sel is not None and ref is not None
        tau = stats.kendalltau(D.loc[cand[t], t], D_full.loc[cand[t], t])[0] if len(cand[t]) > 1 else np.nan
        rows.append({"distance": spec.name, "n": int(n), "seed": int(seed), "target": t,
                     "selected": ";".join(sel) if sel is not None else None,
                     "reference": ";".join(ref) if ref is not None else None,
                     "overlap": len(set(sel) & set(ref)) / k if ok else np.nan,
                     "top1_agrees": (sel[0] == ref[0]) if ok and sel and ref else np.nan,
                     "kendall_tau": float(tau)})
    return rows


def sample_size_robustness(features: Mapping[str, np.ndarray], ranges: ReferenceRanges,
                           distances: Sequence[str] = (DEFAULT_DISTANCE,),
                           sizes: Iterable[int] = (10, 100, 1000), seeds: Iterable[int] = range(10), k: int = 3,
                           targets: Sequence[str] | None = None,
                           candidates: Callable[[str], Sequence[str]] | None = None,
                           progress: bool = True) -> pd.DataFrame:
    """Top-k selection with fingerprints from ``n`` subsampled features vs. from all features.

    For every size ``n`` and seed, each task's features are subsampled to ``n`` rows drawn
    uniformly with replacement (one ``numpy.random.Generator`` per (seed, n), tasks drawn in the
    order of ``features``), fingerprints are rebuilt over the same ``ranges``, the distance matrix is
    recomputed and, per target, the top-k sources are selected (the paper's selection, Methods,
    "Task selection": affinity transform, ties at the cut-off are reported as ``NaN``).

    Parameters
    ----------
    features : mapping task name -> ndarray of shape (n_samples, n_features)
        Extracted probe features of every task (never leave the lab).
    ranges : ReferenceRanges
    distances : sequence of str
        Distances computable from fingerprints (file stems or selector labels).
    sizes : iterable of int
        Subsample sizes, e.g. 10, 100, 1000 (the paper's Fig. 6).
    seeds : iterable of int
    k : int
        Budget (the paper: 3).
    targets : sequence of str, optional
        Default: all tasks.
    candidates : callable target -> sequence of source names, optional
        Valid sources of a target (default: every other task), e.g. ``taskfp_lib.tasks.valid_sources``.

    Returns
    -------
    DataFrame
        One row per (distance, n, seed, target) with the selections (``selected``,
        ``reference``; ``;``-joined), ``overlap`` = |selected ∩ reference| / k, ``top1_agrees`` and
        ``kendall_tau`` between the subsampled and the full distances over the candidates.
    """
    names = list(features)
    targets = list(targets) if targets is not None else names
    specs = [get_distance(d) for d in distances]
    not_fp = [s.name for s in specs if not s.from_fingerprints]
    if not_fp:
        raise ValueError(f"{', '.join(not_fp)} is not computed from fingerprints")
    bins = _bins_needed([s.name for s in specs])
    with_cov = any("cov" in s.requires for s in specs)
    cand = {t: [c for c in (candidates(t) if candidates else names) if c != t and c in features] for t in targets}
    full_fps = _fingerprints(features, ranges, bins, with_cov)
    reference = {s.name: _selections(s, full_fps, targets, cand, k) for s in specs}
    rows = []
    sizes, seeds = list(sizes), list(seeds)
    with tqdm(total=len(sizes) * len(seeds), desc="sample-size robustness", disable=not progress) as bar:
        for n in sizes:
            for seed in seeds:
                fps = _fingerprints(_subsample(features, n, seed), ranges, bins, with_cov)
                for s in specs:
                    D = distance_matrix(s, fps, [fps[t] for t in targets])
                    rows += _rows(s, D, reference[s.name], targets, cand, k, n, seed)
                bar.update(1)
    return pd.DataFrame(rows)


def summarize_robustness(result: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std (ddof 1) of overlap, top-1 agreement and Kendall tau per distance and n."""
    agg = result.groupby(["distance", "n"], sort=True)[["overlap", "top1_agrees", "kendall_tau"]]
    out = agg.mean().add_suffix("_mean").join(agg.std(ddof=1).add_suffix("_std"))
    return out.reset_index()
