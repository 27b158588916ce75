"""kill -9 at every write step of ``cloud add``, ``cloud add --overwrite``, ``cloud import`` and ``data fetch``:
the cloud and the data directory stay consistent and usable, and the next writer removes the leftovers
(issue 11, item 5). The kill is injected with ``TASKFP_CRASH_AT=<step>`` (taskfp_lib._files.crash_point)."""
from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys

import numpy as np
import pytest

import _hostile as H
from taskfp_lib.cloud import KnowledgeCloud
from taskfp_lib.upstream import manifest as data

ADD_STEPS = ["cloud-add:after-file", "cloud-add:after-manifest", "cloud-add:after-cleanup"]
IMPORT_STEPS = ["cloud-import:after-check", "cloud-import:after-file", "cloud-import:after-manifest",
                "cloud-import:after-cleanup"]
FETCH_STEPS = ["fetch:during-download", "fetch:before-replace"]
SCENARIOS = ([("add", s) for s in ADD_STEPS] + [("overwrite", s) for s in ADD_STEPS]
             + [("import", s) for s in IMPORT_STEPS] + [("fetch", s) for s in FETCH_STEPS])


def _cloud(root, names, seed0=0):
    c = KnowledgeCloud.create(root)
    c.add_many([H.fingerprint(n, shift=0.2 * i, seed=seed0 + i) for i, n in enumerate(names)])
    return c


def _prepare(kind, root, server):
    """Set up one scenario's folder; return the command line to crash and its environment."""
    if kind == "fetch":
        man = H.one_file_manifest(root / "manifest.csv", server + "/slow")
        return ["data", "fetch"], {"TASKFP_MANIFEST": man, "TASKFP_DATA_DIR": root / "data", "TASKFP_MIRROR": "",
                                   "TASKFP_OFFLINE": "0"}
    cloud = _cloud(root / "cloud", ["a", "b"]).root
    if kind == "add":
        return ["cloud", "add", cloud, H.fingerprint("c", seed=7).save(root / "c.npz")], {}
    if kind == "overwrite":
        return ["cloud", "add", cloud, H.fingerprint("b", seed=11).save(root / "b2.npz"), "--overwrite"], {}
    other = _cloud(root / "other", ["b", "x", "y"], seed0=20)
    return ["cloud", "import", cloud, other.export(root / "share.zip"), "--on-conflict", "replace"], {}


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """Every scenario prepared, then all crashing children run at once (2 cores: keep the suite short)."""
    srv = H.start_server()
    server = f"http://127.0.0.1:{srv.server_address[1]}"
    runs = {}
    for kind, step in SCENARIOS:
        root = tmp_path_factory.mktemp(f"{kind}-{step.split(':')[1]}")
        args, extra = _prepare(kind, root, server)
        before = _snapshot(root / "cloud") if kind != "fetch" else None
        proc = subprocess.Popen([sys.executable, "-m", "taskfp_lib.cli", *map(str, args)],
                                env=H.env(TASKFP_CRASH_AT=step, **extra), cwd=H.REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        runs[(kind, step)] = (root, proc, before, extra)
    out = {}
    for key, (root, proc, before, extra) in runs.items():
        _, err = proc.communicate(timeout=120)
        out[key] = (root, proc.returncode, err.decode(), before, extra)
    srv.shutdown()
    return out


def _snapshot(cloud_root) -> dict[str, str]:
    """Entry name -> sha256 of its fingerprint file, read through the manifest."""
    man = json.loads((cloud_root / "cloud.json").read_text())
    return {n: e["sha256"] for n, e in man["entries"].items()}


def _check_cloud(root, before, kind, step):
    cloud = KnowledgeCloud(root / "cloud")                      # opens: the manifest is whole
    now = _snapshot(root / "cloud")
    for name in cloud.names:                                     # every entry's file exists and verifies
        cloud.get(name)
    committed = step.endswith(("after-manifest", "after-cleanup"))
    if not committed:
        assert now == before, "a crash before the manifest switch must leave the old cloud"
    elif kind == "add":
        assert set(now) == {"a", "b", "c"} and all(now[n] == before[n] for n in before)
    elif kind == "overwrite":
        assert set(now) == {"a", "b"} and now["a"] == before["a"] and now["b"] != before["b"]
    else:
        assert set(now) == {"a", "b", "x", "y"} and now["a"] == before["a"] and now["b"] != before["b"]
    ranking = cloud.query(H.fingerprint("q", seed=99), k=0)
    assert set(ranking["source"]) == set(now) and not ranking.attrs["quarantined"]
    cloud.add(H.fingerprint("next", seed=42))                    # the next writer cleans up
    live = {e["file"] for e in json.loads((root / "cloud" / "cloud.json").read_text())["entries"].values()}
    assert {p.name for p in (root / "cloud" / "fingerprints").iterdir()} == live
    assert not list((root / "cloud").glob(".staging-*")) and not list((root / "cloud").rglob(".*.tmp"))


def _check_data(root, extra, monkeypatch):
    for k, v in extra.items():
        monkeypatch.setenv(k, str(v))
    dest = root / "data" / data.UPSTREAM_COMMIT[:7] / "cache" / "x.csv"
    assert not dest.exists() or hashlib.sha256(dest.read_bytes()).hexdigest() == \
        hashlib.sha256(H.PAYLOAD).hexdigest(), "never a half-written file in place"
    leftovers = list((root / "data").glob(".fetch-*"))
    monkeypatch.setenv("TASKFP_MANIFEST", str(H.one_file_manifest(root / "m2.csv", "http://127.0.0.1:9/x")))
    monkeypatch.setenv("TASKFP_MIRROR", str(root / "mirror"))
    (root / "mirror" / "cache").mkdir(parents=True)
    (root / "mirror" / "cache" / "x.csv").write_bytes(H.PAYLOAD)
    data._VERIFIED.clear()
    try:
        assert data.data_path("cache/x.csv").read_bytes() == H.PAYLOAD       # the next fetch works ...
    finally:
        data._VERIFIED.clear()
    assert leftovers and not list((root / "data").glob(".fetch-*"))          # ... and removed the leftovers


@pytest.mark.parametrize("kind, step", SCENARIOS, ids=[f"{k}@{s}" for k, s in SCENARIOS])
def test_kill_9_leaves_a_consistent_usable_state(crashed, kind, step, monkeypatch):
    root, rc, err, before, extra = crashed[(kind, step)]
    assert rc == -signal.SIGKILL, f"the child was not killed at {step} (rc {rc}): {err}"
    if kind == "fetch":
        _check_data(root, extra, monkeypatch)
    else:
        _check_cloud(root, before, kind, step)
    assert np.isfinite(0.0)
