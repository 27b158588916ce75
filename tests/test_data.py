import hashlib
import re

import pytest

from taskfp_lib import data


def test_manifest_entries_are_complete():
    manifest = data.load_manifest()
    assert len(manifest) >= 400
    for entry in manifest.values():
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
        assert entry.url.startswith(f"https://raw.githubusercontent.com/{data.UPSTREAM_REPO}/{data.UPSTREAM_COMMIT}/")
        assert entry.size > 0
    assert "cache/task_infos.csv" in manifest
    assert manifest["cache/distances/KLD-PP:NS-W:TS-100-BINS.csv"].url.endswith("KLD-PP%3ANS-W%3ATS-100-BINS.csv")


@pytest.fixture
def fake_setup(tmp_path, monkeypatch):
    """A one-file manifest, a mirror holding that file, and an empty data directory."""
    content = b"a,b\n1,2\n"
    mirror = tmp_path / "mirror"
    (mirror / "cache").mkdir(parents=True)
    (mirror / "cache" / "x.csv").write_bytes(content)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("# test\npath,sha256,size,group,url\n"
                        f"cache/x.csv,{hashlib.sha256(content).hexdigest()},{len(content)},metadata,http://127.0.0.1:9/x\n")
    monkeypatch.setenv("TASKFP_MANIFEST", str(manifest))
    monkeypatch.setenv("TASKFP_MIRROR", str(mirror))
    monkeypatch.setenv("TASKFP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TASKFP_OFFLINE", "1")
    data._VERIFIED.clear()
    yield mirror, tmp_path / "data"
    data._VERIFIED.clear()


def test_fetch_from_mirror_verifies_and_copies(fake_setup):
    mirror, ddir = fake_setup
    path = data.data_path("cache/x.csv")
    assert path == ddir / "cache" / "x.csv" and path.read_bytes() == b"a,b\n1,2\n"
    assert not list(ddir.rglob("*.part"))


def test_corrupt_local_copy_is_replaced(fake_setup):
    mirror, ddir = fake_setup
    (ddir / "cache").mkdir(parents=True)
    (ddir / "cache" / "x.csv").write_bytes(b"tampered")
    assert data.data_path("cache/x.csv").read_bytes() == b"a,b\n1,2\n"


def test_hash_mismatch_names_the_file_and_leaves_nothing(fake_setup):
    mirror, ddir = fake_setup
    (mirror / "cache" / "x.csv").write_bytes(b"other bytes")
    with pytest.raises(data.DataError, match=r"cache/x.csv: sha256 mismatch"):
        data.data_path("cache/x.csv")
    assert not (ddir / "cache" / "x.csv").exists()
    assert not list(ddir.rglob("*.part"))


def test_missing_file_message_says_where_it_looked(fake_setup):
    mirror, _ = fake_setup
    (mirror / "cache" / "x.csv").unlink()
    with pytest.raises(data.DataError) as err:
        data.data_path("cache/x.csv")
    msg = str(err.value)
    assert "cache/x.csv: not available" in msg and str(mirror) in msg and "TASKFP_MIRROR" in msg


def test_unreachable_download_is_reported(fake_setup, monkeypatch):
    mirror, _ = fake_setup
    (mirror / "cache" / "x.csv").unlink()
    monkeypatch.setenv("TASKFP_OFFLINE", "0")
    with pytest.raises(data.DataError, match=r"download http://127.0.0.1:9/x failed"):
        data.data_path("cache/x.csv")


def test_unknown_file_is_rejected(fake_setup):
    with pytest.raises(data.DataError, match="not in the data manifest"):
        data.data_path("cache/unknown.csv")


def test_atomic_write_text(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    data.atomic_write_text(target, "hello")
    assert target.read_text() == "hello"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]
