"""The distance registry: the mechanism only (each kernel module registers its own distances).

Every distance is registered under the stem of its published file, e.g. ``KLD-PP:NS-W:TS-100-BINS``,
so a matrix computed here is written to ``<stem>.csv`` and drops into the evaluation of the paper
notebooks. A kernel module registers fixed names with :func:`register_distance` and parametrised
ones (any bin count, any blur) with :func:`register_family`, a pattern plus a builder. Names of the
paper's task selectors (``"bKLD(small,target)"``, ``"P2L"``, ``"Sinkhorn"``, ...) resolve through
:func:`taskfp_lib.vocabulary.get_selector`, the one table from selector label to file stem.

Orientation everywhere: sources first, a matrix of shape (n_sources, n_targets), rows = sources,
columns = targets (as POT's ``bures_wasserstein_distance(ms, mt)``), lower = closer.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from .._files import atomic_path
from ..fingerprints import check_all_compatible
from ..tasks import ALL_TASKS, ALL_TASKS_INCLUDING_SHRUNK
from ..vocabulary import SELECTORS, get_selector

#: inputs a distance can need
INPUTS = ("histograms", "mean", "cov", "fisher", "features", "task_infos")
#: the inputs a fingerprint holds
FINGERPRINT_INPUTS = ("histograms", "mean", "cov", "fisher")
#: selector labels whose distance exists only as a published file (none today; a selector added to
#: the vocabulary without a kernel must be declared here, see tests/test_distances.py)
PUBLISHED_ONLY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DistanceSpec:
    """A registered task distance and its declared properties.

    Attributes
    ----------
    name : str
        Published file stem (``<name>.csv``).
    label : str
        Paper label (the vocabulary's selector label where the stem is a selector's).
    symmetric : bool
        ``d(s, t) == d(t, s)`` for all inputs.
    nonnegative : bool
        ``d >= 0`` for all valid inputs.
    zero_self : bool
        ``d(x, x) == 0`` by the formula (bKLD is not: it compares P with softmax(P)). In matrices,
        a pair with the same task name on both sides is set to 0 regardless (published convention).
    requires : tuple of str
        Inputs from :data:`INPUTS`.
    compute : callable
        ``compute(sources, targets, **context) -> ndarray (n_sources, n_targets)``; the items are
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
        """Needs no per-image features (which a shareable fingerprint never holds)."""
        return "features" not in self.requires

    @property
    def from_fingerprints(self) -> bool:
        """Computed from fingerprints alone (histograms, mean, covariance, Fisher embedding)."""
        return set(self.requires) <= set(FINGERPRINT_INPUTS)


@dataclass(frozen=True)
class DistanceFamily:
    """Distances built on demand from their name (``KLD-PP:NS-W:SN-250-BINS``).

    Attributes
    ----------
    pattern : re.Pattern
        Full-match pattern of the names.
    build : callable
        ``build(match) -> DistanceSpec``.
    grammar : str
        The names in words, for error messages (``KLD-PP:NS[-W:TS|SN|TN|SS]-<b>-BINS``).
    """

    pattern: re.Pattern
    build: Callable[[re.Match], DistanceSpec]
    grammar: str


_REGISTRY: dict[str, DistanceSpec] = {}
_FAMILIES: dict[str, DistanceFamily] = {}


def _check_spec(spec: DistanceSpec) -> None:
    bad = set(spec.requires) - set(INPUTS)
    if bad:
        raise ValueError(f"distance {spec.name!r}: unknown inputs {sorted(bad)}; choose from {INPUTS}")


def register_distance(spec: DistanceSpec, overwrite: bool = False) -> DistanceSpec:
    """Add ``spec`` under its name (error on a duplicate unless ``overwrite``); returns it."""
    if spec.name in _REGISTRY and not overwrite:
        raise ValueError(f"distance {spec.name!r} is already registered")
    _check_spec(spec)
    _REGISTRY[spec.name] = spec
    return spec


def register_family(pattern: str, build: Callable[[re.Match], DistanceSpec], grammar: str,
                    overwrite: bool = False) -> DistanceFamily:
    """Add a family of distances whose names match ``pattern`` (built by ``build(match)``)."""
    if grammar in _FAMILIES and not overwrite:
        raise ValueError(f"distance family {grammar!r} is already registered")
    family = DistanceFamily(re.compile(pattern), build, grammar)
    _FAMILIES[grammar] = family
    return family


def unregister(name: str) -> None:
    """Remove a distance or a family (by grammar); for tests and plug-ins."""
    if _REGISTRY.pop(name, None) is None and _FAMILIES.pop(name, None) is None:
        raise KeyError(f"no distance or family {name!r} is registered")


def paper_label(stem: str, default: str) -> str:
    """The vocabulary's selector label of a file stem, else ``default``."""
    for selector in SELECTORS.values():
        if selector.stem == stem:
            return selector.label
    return default


def _stem(name: str) -> str:
    try:
        return get_selector(name).stem
    except KeyError:
        return name


def _lookup(stem: str) -> DistanceSpec | None:
    if stem in _REGISTRY:
        return _REGISTRY[stem]
    for family in _FAMILIES.values():
        if m := family.pattern.fullmatch(stem):
            spec = family.build(m)
            _check_spec(spec)
            return spec
    return None


def get_distance(name: str) -> DistanceSpec:
    """A distance by file stem, selector label or upstream label (see :mod:`taskfp_lib.vocabulary`).

    Raises
    ------
    KeyError
        The name is neither registered nor matched by a registered family.
    """
    spec = _lookup(_stem(str(name)))
    if spec is None:
        raise KeyError(f"unknown distance {name!r}; registered: {', '.join(available_distances())} "
                       f"(plus {', '.join(_FAMILIES)}; selectors: {', '.join(SELECTORS)})")
    return spec


def available_distances(shareable_only: bool = False) -> list[str]:
    """The stems of the paper's selectors that resolve (vocabulary order), then the other registered names.

    ``shareable_only``: only those that need no per-image features.
    """
    names = [s.stem for s in SELECTORS.values() if _lookup(s.stem) is not None]
    names += [n for n in _REGISTRY if n not in names]
    return [n for n in names if get_distance(n).shareable or not shareable_only]


def resolves(selector_label: str) -> bool:
    """Whether a selector of the vocabulary can be computed through this registry."""
    return _lookup(get_selector(selector_label).stem) is not None


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


def _kind(spec: DistanceSpec) -> str:
    if "task_infos" in spec.requires:
        return "task_infos"
    return "features" if "features" in spec.requires else "fp"


def distance_matrix(distance: str | DistanceSpec, sources, targets=None, *, task_infos: pd.DataFrame | None = None,
                    self_zero: bool = True) -> pd.DataFrame:
    """All-pairs distance matrix in the published orientation (sources first).

    Parameters
    ----------
    distance : str or DistanceSpec
        File stem (``"KLD-PP:NS-W:TS-100-BINS"``) or selector label (``"bKLD(small,target)"``).
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
    DistanceInputError
        An entry the distance cannot use (its message names the entry).
    """
    spec = distance if isinstance(distance, DistanceSpec) else get_distance(distance)
    kind = _kind(spec)
    targets = sources if targets is None else targets
    s_names, s_items = _named(sources, kind)
    t_names, t_items = _named(targets, kind)
    if kind == "fp":
        check_all_compatible(list(s_items) + list(t_items))
    context = {"task_infos": task_infos} if kind == "task_infos" else {}
    values = np.asarray(spec.compute(s_items, t_items, **context), dtype=np.float64)
    if values.shape != (len(s_names), len(t_names)):
        raise RuntimeError(f"{spec.name} returned shape {values.shape}, expected {(len(s_names), len(t_names))}")
    df = pd.DataFrame(values, index=pd.Index(s_names), columns=pd.Index(t_names))
    if self_zero and kind != "task_infos":
        same = np.asarray(s_names, dtype=object)[:, None] == np.asarray(t_names, dtype=object)[None, :]
        df = df.mask(same, 0.0) if same.any() else df
    return df


def write_distance_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a distance matrix as the published CSV layout (index column first), atomically."""
    path = Path(path)
    with atomic_path(path, suffix=".csv") as tmp:
        df.to_csv(tmp, float_format="%.17g")
    return path


def published_layout(df: pd.DataFrame) -> pd.DataFrame:
    """Reindex a matrix to the published 71 source rows x 127 target columns (NaN where missing)."""
    return df.reindex(index=list(ALL_TASKS), columns=list(ALL_TASKS_INCLUDING_SHRUNK))
