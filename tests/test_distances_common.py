"""Generic checks over the distance registry (in the style of scikit-learn's test_common.py).

Every registered distance -- and every distance a test-local module plugs in -- holds its declared
properties on valid inputs: shape (n_sources, n_targets), finite values, non-negativity, zero on
identical inputs, symmetry. Every selector of the vocabulary resolves through the registry or is
declared published-only. The package has no import cycle with ``fingerprints``.
"""
from __future__ import annotations

import ast
import importlib
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

import taskfp_lib
from taskfp_lib.distances import (PUBLISHED_ONLY, available_distances, distance_matrix, get_distance,
                                  register_distance, resolves)
from taskfp_lib.distances import registry
from taskfp_lib.fingerprints import Fingerprint, build_reference_ranges
from taskfp_lib.upstream.readers import load_task_infos
from taskfp_lib.vocabulary import DEFAULT_DISTANCE, SELECTORS

LIB = Path(taskfp_lib.__file__).parent
#: variants built from a name, besides the registered ones
VARIANTS = ["KLD-PP:NS-W:TN-10-BINS", "KLD-PP:NS-W:SS-100-BINS", "KLD-PP:NS-10-BINS", "VDNA-PP:NN-10-BINS",
            "MMD-geo-sinkhorn-0.5"]


@pytest.fixture(scope="module")
def inputs():
    """Fingerprints (and features) of 5 tasks, plus a copy of task0 under another name."""
    rng = np.random.default_rng(0)
    feats = {f"task{i}": np.abs(rng.normal(loc=0.2 * i, scale=0.5 + 0.3 * i, size=(300, 6))) for i in range(5)}
    feats["task0_copy"] = feats["task0"].copy()
    ranges = build_reference_ranges(feats, {"name": "synthetic", "weights": "none"})
    fps = {}
    for i, (name, f) in enumerate(feats.items()):
        fisher = np.abs(np.random.default_rng(100 + min(i, 5) % 5).normal(size=40)).astype(np.float32)
        fps[name] = Fingerprint.from_features(f, ranges, task=name, bins=(10, 100, 1000), fisher=fisher)
    return fps, {k: v[:40] for k, v in feats.items()}


def _data(spec, inputs):
    fps, feats = inputs
    if "features" in spec.requires:
        return feats
    if "task_infos" in spec.requires:
        infos = load_task_infos()
        return list(infos.index[:4]) + [infos.index[10]]
    return fps


ALL = available_distances() + VARIANTS


@pytest.mark.parametrize("name", ALL)
def test_declared_inputs_and_names(name):
    spec = get_distance(name)
    assert spec.name == name
    if spec.label in SELECTORS:
        assert get_distance(spec.label).name == name
    assert set(spec.requires) <= set(registry.INPUTS) and spec.requires
    assert spec.description


@pytest.mark.parametrize("name", ALL)
def test_declared_properties_hold(name, inputs):
    check_declared_properties(name, inputs)


def check_declared_properties(name, inputs):
    """Shape, orientation, finiteness and the declared properties of one distance on valid inputs."""
    spec = get_distance(name)
    data = _data(spec, inputs)
    names = list(data)
    keys = names[:3], names[1:]                                  # non-square: 3 sources, the others as targets
    sub = (({k: data[k] for k in keys[0]}, {k: data[k] for k in keys[1]}) if isinstance(data, dict)
           else (keys[0], keys[1]))
    D = distance_matrix(name, *sub, self_zero=False)
    assert D.shape == (3, len(names) - 1) and list(D.index) == keys[0] and list(D.columns) == keys[1]
    values = distance_matrix(name, data, self_zero=False).to_numpy()
    assert np.isfinite(values).all()
    np.testing.assert_allclose(D.to_numpy(), values[:3, 1:], rtol=1e-10, atol=1e-12)
    if spec.nonnegative:
        assert (values >= 0).all()
    if spec.zero_self:
        np.testing.assert_allclose(np.diag(values), 0.0, atol=1e-6)
    if spec.symmetric:
        np.testing.assert_allclose(values, values.T, rtol=1e-6, atol=1e-9)
    else:
        assert not np.allclose(values, values.T)
    zeroed = distance_matrix(name, data).to_numpy()
    np.testing.assert_array_equal(np.diag(zeroed), 0.0 if "task_infos" not in spec.requires else np.diag(values))


@pytest.mark.parametrize("name", [n for n in ALL if get_distance(n).from_fingerprints])
def test_identical_fingerprints_under_two_names(name, inputs):
    fps, _ = inputs
    spec = get_distance(name)
    d = distance_matrix(name, [fps["task0"]], [fps["task0_copy"]], self_zero=False).iloc[0, 0]
    assert abs(d) < 1e-9 if spec.zero_self else d > 1e-3        # bKLD compares P with softmax(P)


def test_every_selector_resolves_or_is_published_only():
    assert PUBLISHED_ONLY <= set(SELECTORS)
    for label, selector in SELECTORS.items():
        if label in PUBLISHED_ONLY:
            assert not resolves(label)
            continue
        assert resolves(label), label
        for name in (label, selector.stem, selector.upstream_label):
            if name is not None:
                spec = get_distance(name)
                assert (spec.name, spec.label) == (selector.stem, label)
    assert get_distance("Sinkhorn").name == SELECTORS["Sinkhorn"].stem
    assert get_distance(DEFAULT_DISTANCE).label == "bKLD(small,target)"
    assert set(available_distances()) >= {s.stem for s in SELECTORS.values()}
    with pytest.raises(KeyError, match="unknown distance"):
        get_distance("KLD-XYZ")


@pytest.fixture
def toy():
    module = importlib.import_module("toy_distance")
    if module.NAME not in registry._REGISTRY:                   # re-register after an earlier test removed it
        register_distance(module.SPEC)
    yield module
    registry.unregister(module.NAME)


def test_a_distance_plugs_in_with_one_module(toy, inputs):
    """tests/toy_distance.py registers itself on import; nothing in the library names it."""
    fps, _ = inputs
    assert toy.NAME in available_distances(shareable_only=True)
    spec = get_distance(toy.NAME)
    D = distance_matrix(toy.NAME, [fps["task1"], fps["task2"]], [fps["task3"]])
    a, b = fps["task1"].mean, fps["task3"].mean
    assert D.shape == (2, 1) and D.iloc[0, 0] == pytest.approx(np.abs(a - b).mean(), rel=1e-14)
    check_declared_properties(toy.NAME, inputs)
    assert not any(toy.NAME in p.read_text() for p in LIB.rglob("*.py"))
    with pytest.raises(ValueError, match="already registered"):
        register_distance(spec)


# ----------------------------------------------------------------------------------- package structure
def _imports(path: Path):
    """(module imported, inside a function?) for every import statement of a file."""
    tree = ast.parse(path.read_text())
    local = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield "." * node.level + (node.module or ""), id(node) in local
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in local


def test_no_cycle_between_distances_and_fingerprints():
    for path in (LIB / "fingerprints").glob("*.py"):
        assert not [m for m, _ in _imports(path) if "distances" in m], path
    for path in (LIB / "distances").glob("*.py"):
        found = list(_imports(path))
        assert not [m for m, local in found if local and (m.startswith(".") or m.startswith("taskfp_lib"))], path
        private = [m for m, _ in found if m.startswith("..")
                   and any(part.startswith("_") for part in m.lstrip(".").split(".")[1:])]
        assert not private, (path, private)             # no private module of another subpackage
