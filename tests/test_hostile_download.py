"""Downloads through pooch with the manifest's size as a cap and an overall deadline (issue 11, item 10)."""
from __future__ import annotations

import stat
import time

import pytest

import _hostile as H
from taskfp_lib.upstream import manifest as data


@pytest.fixture(scope="module")
def server():
    srv = H.start_server()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.fixture
def fetch(tmp_path, monkeypatch, server):
    def run(path):
        monkeypatch.setenv("TASKFP_MANIFEST", str(H.one_file_manifest(tmp_path / f"m{path[1:]}.csv", server + path)))
        data._VERIFIED.clear()
        return data.data_path("cache/x.csv")

    monkeypatch.setenv("TASKFP_MIRROR", "")
    monkeypatch.setenv("TASKFP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TASKFP_OFFLINE", "0")
    monkeypatch.setattr(data, "download_deadline", lambda size: 1.5)
    yield run
    data._VERIFIED.clear()


def _no_leftovers(tmp_path):
    assert not list((tmp_path / "data").glob(".fetch-*"))
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file() and p.name not in ("x.csv", ".fetch.lock")]


@pytest.mark.parametrize("path, needle", [("/drip", "deadline"), ("/big", "more than the manifest"),
                                          ("/liar", "announces"), ("/wrong", "sha256")])
def test_hostile_servers_are_cut_off(fetch, tmp_path, path, needle):
    t0 = time.monotonic()
    with pytest.raises(data.DataError) as err:
        fetch(path)
    assert time.monotonic() - t0 < 10                    # the slow drip hits the 1.5 s deadline, not a hang
    msg = str(err.value)
    assert needle in msg and "cache/x.csv@064ddd8" in msg and "\n" not in msg
    assert not (tmp_path / "data" / "064ddd8" / "cache" / "x.csv").exists()
    _no_leftovers(tmp_path)


def test_good_download_is_verified_and_follows_the_umask(fetch, tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = fetch("/good")
    finally:
        os.umask(old)
    assert path.read_bytes() == H.PAYLOAD and stat.S_IMODE(path.stat().st_mode) == 0o644
    _no_leftovers(tmp_path)


def test_deadline_scales_with_size():
    assert data.download_deadline(0) == data.DOWNLOAD_BASE_S
    assert data.download_deadline(10 * data.DOWNLOAD_MIN_RATE) == data.DOWNLOAD_BASE_S + 10
