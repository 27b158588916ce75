"""Registry of task distances with declared properties, and all-pairs distance matrices.

Every distance is registered under the stem of its published file (spec 3.2/3.3), e.g.
``KLD-PP:NS-W:TS-100-BINS``, so a matrix computed here is written to ``<stem>.csv`` and drops
into the evaluation of the paper notebooks. Paper labels (``"bKLD(small,target)"``, ``"P2L"``, ...)
are accepted as aliases. Binned variants with any bin count are built on demand from their name
(``KLD-PP:NS-W:SN-250-BINS``, ``VDNA-PP:NN-100-BINS``), as are ``MMD-geo-sinkhorn-<blur>``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from . import binned, fisher, gaussian, transport

#: inputs a distance can need
INPUTS = ("histograms", "mean", "cov", "fisher", "features", "task_infos")

#: paper label -> published file stem (spec 3.3; seed-paper labels)
ALIASES = {
    "bKLD(small,target)": "KLD-PP:NS-W:TS-100-BINS",
    "bKLD(large,unweighted)": "KLD-PP:NS-1000-BINS",
    "bKLD(large,source)": "KLD-PP:NS-W:SN-1000-BINS",
    "P2L": "KLD-PP:NN",
    "VDNA": "VDNA-PP:NN-1000-BINS",
    "Manual": "SEMANTIC",
    "Sinkhorn Divergence": "MMD-geo-sinkhorn-0.01",
}


@dataclass(frozen=True)
class DistanceSpec:
    """A registered task distance.

    Attributes
    ----------
    name : str
        Published file stem (``<name>.csv``).
    label : str
        Paper label.
    symmetric : bool
        ``d(s, t) == d(t, s)`` for all inputs.
    nonnegative : bool
        ``d >= 0`` for all inputs.
    zero_self : bool
        ``d(x, x) == 0`` by the formula (bKLD is not: it compares P with softmax(P)). In matrices,
        a pair with the same task name on both sides is set to 0 regardless (published convention).
    requires : tuple of str
        Inputs from :data:`INPUTS`.
    compute : callable
        ``compute(sources, targets) -> ndarray (n_sources, n_targets)``; the items are
        fingerprints, feature arrays (``features``) or task names (``task_infos``).
    description : str
        The formula in words.
    """

    name: str
    label: str
    symmetric: bool
    nonnegative: bool
    zero_self: bool
    requires: tuple[str, ...]
    compute: Callable[..., np.ndarray]
    description: str = ""

    @property
    def shareable(self) -> bool:
        """Computable from shareable fingerprints alone (no per-image features)."""
        return "features" not in self.requires


_REGISTRY: dict[str, DistanceSpec] = {}


def register_distance(spec: DistanceSpec, overwrite: bool = False) -> DistanceSpec:
    """Add ``spec`` to the registry (error on a duplicate name unless ``overwrite``)."""
    if spec.name in _REGISTRY and not overwrite:
        raise ValueError(f"distance {spec.name!r} is already registered")
    bad = set(spec.requires) - set(INPUTS)
    if bad:
        raise ValueError(f"unknown inputs {sorted(bad)}; choose from {INPUTS}")
    _REGISTRY[spec.name] = spec
    return spec


# ---------------------------------------------------------------------------------- compute functions
def _stack(fps, what: str, bins: int | None = None) -> np.ndarray:
    if what == "hist":
        return np.stack([fp.histogram(bins) for fp in fps])
    if what == "mean":
        return np.stack([fp.mean for fp in fps])
    if what == "cov":
        missing = [fp.task for fp in fps if fp.cov is None]
        if missing:
            raise ValueError(f"FID needs covariances; fingerprints without: {missing}")
        return np.stack([fp.cov for fp in fps])
    if what == "fisher":
        missing = [fp.task for fp in fps if fp.fisher is None]
        if missing:
            raise ValueError(f"FED needs Fisher embeddings (fingerprint with with_fisher=True); missing for {missing}")
        return np.stack([fp.fisher for fp in fps])
    raise KeyError(what)


def _bkld(sources, targets, *, bins: int, weighting: str):
    by = binned.WEIGHTINGS[weighting][0]
    return binned.bkld_distance_matrix(
        _stack(targets, "hist", bins), _stack(sources, "hist", bins), weighting=weighting,
        target_means=_stack(targets, "mean") if by == "target" else None,
        source_means=_stack(sources, "mean") if by == "source" else None,
        target_plogp=np.stack([fp.histogram_stats(bins)[0] for fp in targets]),   # cached per fingerprint
        source_lse=np.stack([fp.histogram_stats(bins)[1] for fp in sources]))


def _vdna(sources, targets, *, bins: int):
    return binned.vdna_distance_matrix(_stack(targets, "hist", bins), _stack(sources, "hist", bins))


def _p2l(sources, targets):
    return binned.kld_averaged_distance_matrix(_stack(targets, "mean"), _stack(sources, "mean"))


def _fid(sources, targets):
    return gaussian.fid_distance_matrix(_stack(targets, "mean"), _stack(targets, "cov"),
                                        _stack(sources, "mean"), _stack(sources, "cov"))


def _fed(sources, targets):
    return fisher.fed_distance_matrix(_stack(targets, "fisher"), _stack(sources, "fisher"))


def _sinkhorn(sources, targets, *, blur: float):
    return transport.sinkhorn_distance_matrix(list(targets), list(sources), blur=blur)


def _semantic(sources, targets, *, task_infos=None):
    try:
        from .semantic import semantic_distance_matrix
    except ImportError as err:  # the lead's module, imported lazily
        raise RuntimeError(f"SEMANTIC needs taskfp_lib.distances.semantic ({err})") from None
    if task_infos is None:
        from ..upstream.readers import load_task_infos

        task_infos = load_task_infos()
    df = semantic_distance_matrix(task_infos, list(sources), list(targets))
    return df.loc[list(sources), list(targets)].to_numpy(dtype=np.float64)


_WCODES = {"TS": "target_softmax", "SN": "source_normalized", "TN": "target_normalized", "SS": "source_softmax"}
_WLABEL = {None: "unweighted", "target_softmax": "target", "source_normalized": "source",
           "target_normalized": "target-normalised", "source_softmax": "source-softmax"}
_KLD_RE = re.compile(r"^KLD-PP:NS(?:-W:(TS|SN|TN|SS))?-(\d+)-BINS$")
_VDNA_RE = re.compile(r"^VDNA-PP:NN-(\d+)-BINS$")
_SINK_RE = re.compile(r"^MMD-geo-sinkhorn-(\d+(?:\.\d+)?)$")


def _build(name: str) -> DistanceSpec | None:
    if m := _KLD_RE.match(name):
        code, bins = m.group(1), int(m.group(2))
        weighting = _WCODES[code] if code else "uniform"
        needs = ("histograms", "mean") if code else ("histograms",)
        size = "small" if bins <= 100 else "large"
        return DistanceSpec(
            name, f"bKLD({size},{_WLABEL[_WCODES.get(code)]})" if code else f"bKLD({size},unweighted)",
            symmetric=False, nonnegative=True, zero_self=False, requires=needs,
            compute=partial(_bkld, bins=bins, weighting=weighting),
            description=f"binned KL divergence, {bins} bins, target histogram vs softmax of source histogram, "
                        f"weighting {weighting}")
    if m := _VDNA_RE.match(name):
        bins = int(m.group(1))
        return DistanceSpec(name, "VDNA" if bins == 1000 else f"VDNA({bins})", symmetric=True, nonnegative=True,
                            zero_self=True, requires=("histograms",), compute=partial(_vdna, bins=bins),
                            description=f"mean per-feature 1-D EMD between {bins}-bin histograms")
    if m := _SINK_RE.match(name):
        blur = float(m.group(1))
        return DistanceSpec(name, "Sinkhorn Divergence", symmetric=True, nonnegative=True, zero_self=True,
                            requires=("features",), compute=partial(_sinkhorn, blur=blur),
                            description=f"debiased Sinkhorn divergence (geomloss), blur {blur}, scaling 0.1")
    return None


for _spec in (
    DistanceSpec("KLD-PP:NN", "P2L", symmetric=False, nonnegative=True, zero_self=True, requires=("mean",),
                 compute=_p2l, description="KL divergence of L1-normalised mean features (/ n_features)"),
    DistanceSpec("FID", "FID", symmetric=True, nonnegative=True, zero_self=True, requires=("mean", "cov"),
                 compute=_fid, description="Fréchet distance of Gaussian feature summaries"),
    DistanceSpec("FED", "FED", symmetric=True, nonnegative=True, zero_self=True, requires=("fisher",),
                 compute=_fed, description="1 - cosine of diagonal Fisher embeddings (last 60 % of layers)"),
    DistanceSpec("SEMANTIC", "Manual", symmetric=False, nonnegative=False, zero_self=False,
                 requires=("task_infos",), compute=_semantic,
                 description="1 - keyword IoU, minus size/dimension/position tie-breakers per source row"),
):
    register_distance(_spec)
for _name in ("KLD-PP:NS-W:TS-100-BINS", "KLD-PP:NS-1000-BINS", "KLD-PP:NS-W:SN-1000-BINS",
              "VDNA-PP:NN-1000-BINS", "MMD-geo-sinkhorn-0.01"):
    register_distance(_build(_name))


def get_distance(name: str) -> DistanceSpec:
    """Look up a distance by file stem or paper label; binned/Sinkhorn variants are built from the name."""
    key = ALIASES.get(name, name)
    if key in _REGISTRY:
        return _REGISTRY[key]
    spec = _build(key)
    if spec is None:
        raise KeyError(f"unknown distance {name!r}; registered: {', '.join(available_distances())} "
                       f"(plus KLD-PP:NS[-W:TS|SN|TN|SS]-<b>-BINS, VDNA-PP:NN-<b>-BINS, MMD-geo-sinkhorn-<blur>)")
    return spec


def available_distances(shareable_only: bool = False) -> list[str]:
    """Names of the registered distances (``shareable_only``: computable from fingerprints alone)."""
    return [n for n, s in _REGISTRY.items() if s.shareable or not shareable_only]


# ---------------------------------------------------------------------------------- matrices
def _named(items, kind: str) -> tuple[list[str], list]:
    if isinstance(items, Mapping):
        return [str(k) for k in items], list(items.values())
    items = list(items)
    if kind == "task_infos":
        return [str(x) for x in items], [str(x) for x in items]
    if kind == "features":
        raise TypeError("feature-based distances need a mapping {task name: features (n, m)}")
    return [fp.task for fp in items], items


def distance_matrix(distance: str | DistanceSpec, sources, targets=None, *, task_infos: pd.DataFrame | None = None,
                    self_zero: bool = True) -> pd.DataFrame:
    """All-pairs distance matrix in the published orientation.

    Parameters
    ----------
    distance : str or DistanceSpec
        File stem (``"KLD-PP:NS-W:TS-100-BINS"``) or paper label (``"bKLD(small,target)"``).
    sources, targets : sequence of Fingerprint, or mapping name -> Fingerprint / features (n, m)
        For ``SEMANTIC``: task names. ``targets`` defaults to ``sources``.
    task_infos : DataFrame, optional
        For ``SEMANTIC`` (default: ``taskfp_lib.upstream.readers.load_task_infos()``).
    self_zero : bool
        Set entries whose source and target names are equal to 0.0 (published convention:
        the diagonal is 0 and later becomes NaN in the affinity transform).

    Returns
    -------
    DataFrame of shape (n_sources, n_targets)
        index = source names, columns = target names, raw distances (lower = closer).

    Raises
    ------
    IncompatibleFingerprintsError
        Fingerprints made with different extractors, weights or reference ranges.
    """
    spec = distance if isinstance(distance, DistanceSpec) else get_distance(distance)
    kind = "task_infos" if "task_infos" in spec.requires else ("features" if "features" in spec.requires else "fp")
    targets = sources if targets is None else targets
    s_names, s_items = _named(sources, kind)
    t_names, t_items = _named(targets, kind)
    if kind == "fp":
        from ..fingerprints import check_all_compatible

        check_all_compatible(list(s_items) + list(t_items))
        values = spec.compute(s_items, t_items)
    elif kind == "features":
        values = spec.compute(s_items, t_items)
    else:
        values = spec.compute(s_items, t_items, task_infos=task_infos)
    df = pd.DataFrame(np.asarray(values, dtype=np.float64), index=pd.Index(s_names, name=None),
                      columns=pd.Index(t_names))
    if self_zero and kind != "task_infos":
        for i, s in enumerate(s_names):
            for j, t in enumerate(t_names):
                if s == t:
                    df.iat[i, j] = 0.0
    return df


def write_distance_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a distance matrix as the published CSV layout (index column first), atomically."""
    from .._files import atomic_path

    path = Path(path)
    with atomic_path(path, suffix=".csv") as tmp:
        df.to_csv(tmp, float_format="%.17g")
    return path


def published_layout(df: pd.DataFrame) -> pd.DataFrame:
    """Reindex a matrix to the published 71 source rows x 127 target columns (NaN where missing)."""
    from ..tasks import ALL_TASKS, ALL_TASKS_INCLUDING_SHRUNK

    return df.reindex(index=list(ALL_TASKS), columns=list(ALL_TASKS_INCLUDING_SHRUNK))
