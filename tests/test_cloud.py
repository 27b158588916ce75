"""Knowledge cloud: add/list/remove/query, identity checks, export/import validation, atomicity."""
from __future__ import annotations

import json
import os
import zipfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np
import pandas as pd
import pytest

from taskfp_lib.cloud import CloudError, KnowledgeCloud, TaskMeta
from taskfp_lib.distances import distance_matrix
from taskfp_lib.fingerprints import (FileFormatError, Fingerprint, IncompatibleFingerprintsError,
                                     build_reference_ranges)

M = 6


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    out = {f"t{i}": np.abs(rng.normal(loc=0.3 * i, scale=1 + 0.2 * i, size=(200, M))) for i in range(4)}
    out["query"] = out["t2"] + np.abs(rng.normal(scale=0.05, size=(200, M)))   # close to t2
    out["odd name/with spaces --shrink_train 800"] = out["t0"] * 1.5
    return out


@pytest.fixture(scope="module")
def ranges(features):
    return build_reference_ranges({k: v for k, v in features.items() if k.startswith("t")},
                                  {"name": "synthetic", "weights": "none"})


@pytest.fixture(scope="module")
def fps(features, ranges):
    return {k: Fingerprint.from_features(v, ranges, task=k, bins=(10, 100), seed=1, task_meta={"num_classes": 2})
            for k, v in features.items()}


@pytest.fixture
def cloud(tmp_path, fps):
    c = KnowledgeCloud.create(tmp_path / "cloud")
    for i, name in enumerate(["t0", "t1", "t2", "t3", "odd name/with spaces --shrink_train 800"]):
        c.add(fps[name], {"best_architecture": f"arch{i}", "augmentation_policy": f"policies/{i}.json",
                          "data_shareable": i % 2 == 0})
    return c


def test_add_list_get_round_trip(cloud, fps):
    listing = cloud.list()
    assert list(listing["task"]) == ["t0", "t1", "t2", "t3", "odd name/with spaces --shrink_train 800"]
    assert list(listing["best_architecture"]) == [f"arch{i}" for i in range(5)]
    assert list(listing["data_shareable"]) == [True, False, True, False, True]
    got = cloud.get("t2")
    np.testing.assert_array_equal(got.histogram(100), fps["t2"].histogram(100))
    # reopening from disk gives the same content
    again = KnowledgeCloud(cloud.root)
    assert again.names == cloud.names and again.meta("t1") == TaskMeta("arch1", "policies/1.json", False)
    with pytest.raises(CloudError, match="already in the cloud"):
        cloud.add(fps["t0"])
    cloud.add(fps["t0"], {"best_architecture": "new"}, overwrite=True)
    assert cloud.meta("t0").best_architecture == "new"


def test_query_ranks_by_distance(cloud, fps):
    # a metric distance finds the task the query was derived from
    assert cloud.query(fps["query"], k=1, distance="VDNA-PP:NN-100-BINS")["source"].tolist() == ["t2"]
    res = cloud.query(fps["query"], k=3)
    assert list(res["rank"]) == [1, 2, 3]
    D = distance_matrix("KLD-PP:NS-W:TS-100-BINS", [cloud.get(n) for n in cloud.names], [fps["query"]])
    expected = D["query"].sort_values(kind="stable")
    assert list(res["source"]) == list(expected.index[:3])
    np.testing.assert_array_equal(res["distance"].to_numpy(), expected.to_numpy()[:3])
    assert res["best_architecture"].iloc[0] == cloud.meta(res["source"].iloc[0]).best_architecture
    full = cloud.query(fps["query"], k=0, distance="VDNA-PP:NN-10-BINS", exclude=["t2"])
    assert len(full) == 4 and "t2" not in set(full["source"]) and full["distance"].is_monotonic_increasing
    # a query whose name is in the cloud never returns itself
    assert "t1" not in set(cloud.query(fps["t1"], k=0)["source"])
    with pytest.raises(CloudError, match="per-image features"):
        cloud.query(fps["query"], distance="Sinkhorn Divergence")


def test_identity_is_enforced(cloud, features):
    other = build_reference_ranges(features["t0"], {"name": "synthetic", "weights": "other-weights"})
    foreign = Fingerprint.from_features(features["t1"], other, task="foreign", bins=(10, 100))
    with pytest.raises(IncompatibleFingerprintsError, match="other-weights"):
        cloud.add(foreign)
    with pytest.raises(IncompatibleFingerprintsError):
        cloud.query(foreign)
    assert "foreign" not in cloud


def test_remove(cloud):
    cloud.remove("t1")
    assert "t1" not in cloud and len(cloud) == 4
    assert len(list((cloud.root / "fingerprints").glob("*.npz"))) == 4
    with pytest.raises(KeyError):
        cloud.remove("t1")


def test_export_import_between_labs(cloud, tmp_path, fps):
    archive = cloud.export(tmp_path / "shared.zip", names=["t0", "t2"])
    lab = KnowledgeCloud.create(tmp_path / "lab_b")
    assert lab.import_archive(archive) == ["t0", "t2"]
    assert lab.meta("t2") == cloud.meta("t2")
    np.testing.assert_array_equal(lab.get("t0").histogram(10), cloud.get("t0").histogram(10))
    pd.testing.assert_frame_equal(lab.query(fps["query"], k=2), cloud.query(fps["query"], k=0,
                                                                              exclude=["t1", "t3", lab_odd(cloud)]))
    with pytest.raises(CloudError, match="already in the cloud"):
        lab.import_archive(archive)
    assert lab.import_archive(archive, on_conflict="skip") == []
    assert lab.import_archive(archive, on_conflict="replace") == ["t0", "t2"]


def lab_odd(cloud):
    return [n for n in cloud.names if n.startswith("odd")][0]


def _rezip(src, dst, edit=None, extra=None, drop=None):
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if edit:
        members = edit(members)
    for n in drop or []:
        members.pop(n)
    members.update(extra or {})
    with zipfile.ZipFile(dst, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return dst


def test_import_rejects_malicious_or_corrupt_archives(cloud, tmp_path):
    archive = cloud.export(tmp_path / "shared.zip", names=["t0"])
    lab = KnowledgeCloud.create(tmp_path / "lab")
    with pytest.raises(FileFormatError, match="unexpected member"):
        lab.import_archive(_rezip(archive, tmp_path / "a1.zip", extra={"../../evil.py": b"print(1)"}))
    with pytest.raises(FileFormatError, match="unexpected member"):
        lab.import_archive(_rezip(archive, tmp_path / "a2.zip", extra={"fingerprints/x.pkl": b"\x80\x04"}))

    def corrupt(m):
        name = [n for n in m if n.endswith(".npz")][0]
        m[name] = m[name][:-10] + b"0123456789"
        return m

    with pytest.raises(FileFormatError, match="sha256"):
        lab.import_archive(_rezip(archive, tmp_path / "a3.zip", edit=corrupt))

    def bad_manifest(m):
        man = json.loads(m["cloud.json"])
        man["version"] = 7
        m["cloud.json"] = json.dumps(man).encode()
        return m

    with pytest.raises(FileFormatError, match="version 7"):
        lab.import_archive(_rezip(archive, tmp_path / "a4.zip", edit=bad_manifest))

    def traversal(m):
        man = json.loads(m["cloud.json"])
        for e in man["entries"].values():
            e["file"] = "../escape.npz"
        m["cloud.json"] = json.dumps(man).encode()
        return m

    with pytest.raises(FileFormatError, match="invalid or duplicate file name"):
        lab.import_archive(_rezip(archive, tmp_path / "a5.zip", edit=traversal))
    with pytest.raises(FileFormatError, match="missing or not in the manifest"):
        lab.import_archive(_rezip(archive, tmp_path / "a6.zip",
                                  drop=[n for n in zipfile.ZipFile(archive).namelist() if n.endswith(".npz")]))
    (tmp_path / "junk.zip").write_bytes(b"junk")
    with pytest.raises(FileFormatError, match="not a zip"):
        lab.import_archive(tmp_path / "junk.zip")
    assert len(lab) == 0 and not any(p.name.startswith("tmp") for p in lab.root.iterdir())


def test_tampered_cloud_files_are_detected(cloud):
    entry = json.loads((cloud.root / "cloud.json").read_text())["entries"]["t3"]
    path = cloud.root / "fingerprints" / entry["file"]
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    with pytest.raises(FileFormatError, match="sha256"):
        cloud.get("t3")
    (cloud.root / "cloud.json").write_text("{not json")
    with pytest.raises(FileFormatError, match="invalid JSON"):
        KnowledgeCloud(cloud.root)


def test_meta_validation_and_missing_cloud(tmp_path, fps):
    with pytest.raises(FileNotFoundError, match="not a knowledge cloud"):
        KnowledgeCloud(tmp_path / "nothing")
    c = KnowledgeCloud.create(tmp_path / "c")
    with pytest.raises(FileFormatError, match="unknown task meta"):
        c.add(fps["t0"], {"code": "import os"})
    with pytest.raises(FileFormatError, match="data_shareable"):
        c.add(fps["t0"], {"data_shareable": "yes"})
    with pytest.raises(CloudError, match="already exists"):
        KnowledgeCloud.create(tmp_path / "c")
    with pytest.raises(CloudError, match="no candidate"):
        c.query(fps["t0"])
