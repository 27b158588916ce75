"""The data manifest of the published upstream files: local mirrors or download, sha256 verification.

Every upstream file the compendium reads is listed in ``data_manifest/manifest.csv`` with the
upstream commit it comes from (path, commit, sha256, size, group, raw URL at that commit). The same
upstream path may appear once per commit: the paper's Fig. 6 uses the resampled distance files as
they were at the arXiv release (:data:`ARXIV_COMMIT`), everything else the repository revision
(:data:`UPSTREAM_COMMIT`). :func:`data_path` resolves a file into the local data directory, taking
it from the local mirror of its commit when there is one and downloading it otherwise, and verifies
its hash. Nothing half-written is ever left in the data directory.

Environment variables
---------------------
TASKFP_MIRROR
    A local copy of the upstream repository at :data:`UPSTREAM_COMMIT` (default:
    ``../shared/data/task-fingerprinting`` next to the repository, when it exists). An empty string
    disables the mirror.
TASKFP_MIRROR_<COMMIT7>
    The same for another commit, e.g. ``TASKFP_MIRROR_BC099DD`` (default:
    ``../shared/data/task-fingerprinting-<commit7>``).
TASKFP_DATA_DIR
    Where verified files are stored (default: ``data/`` in the repository), one folder per commit.
TASKFP_OFFLINE
    If set to 1, never download.

Downloads go through ``pooch`` with this module's downloader: the manifest's size is a hard cap
(a server that sends more is cut off), the whole download has a deadline
(``DOWNLOAD_BASE_S + size / DOWNLOAD_MIN_RATE`` seconds, so a server that drips one byte at a
time times out), one read may block at most ``DOWNLOAD_READ_TIMEOUT_S`` seconds, and pooch checks
the sha256 before the file is moved into place. Everything in progress lives in a staging folder
``<data dir>/.fetch-<random>/``; a process fetching holds ``<data dir>/.fetch.lock`` (an OS-level
lock, released when its holder dies) and removes the staging folders of killed fetches.
"""
from __future__ import annotations

import contextlib
import csv
import os
import secrets
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .._files import crash_point, default_file_mode, file_sha256
from ..limits import DOWNLOAD_BASE_S, DOWNLOAD_MIN_RATE, DOWNLOAD_READ_TIMEOUT_S, FETCH_LOCK_TIMEOUT_S

UPSTREAM_REPO = "IMSY-DKFZ/task-fingerprinting"
#: the repository revision (2025-12-19): every published file the book reads, unless stated otherwise
UPSTREAM_COMMIT = "064ddd8b1baf03f3e6a53e25781aa0eb6b90a06c"
#: the arXiv release (2024-10-25): the resampled distance files behind the paper's printed Fig. 6
ARXIV_COMMIT = "bc099ddbb0a6db64178de769e89eff4951ec875b"
COMMITS = (UPSTREAM_COMMIT, ARXIV_COMMIT)
REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFEST_HEADER = ["path", "commit", "sha256", "size", "group", "url"]


class DataError(RuntimeError):
    """A published file is missing, corrupt or cannot be fetched."""


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    commit: str
    sha256: str
    size: int
    group: str
    url: str


def upstream_url(rel: str, commit: str = UPSTREAM_COMMIT) -> str:
    """Raw URL of an upstream file at ``commit``."""
    return (f"https://raw.githubusercontent.com/{UPSTREAM_REPO}/{commit}/"
            + urllib.parse.quote(rel, safe="/"))


def manifest_path() -> Path:
    return Path(os.environ.get("TASKFP_MANIFEST", REPO_ROOT / "data_manifest" / "manifest.csv"))


def default_mirror(commit: str = UPSTREAM_COMMIT) -> Path | None:
    """The local mirror of ``commit``: its environment variable, else the shared folder when present."""
    if commit == UPSTREAM_COMMIT:
        env, folder = os.environ.get("TASKFP_MIRROR"), "task-fingerprinting"
    else:
        env, folder = os.environ.get(f"TASKFP_MIRROR_{commit[:7].upper()}"), f"task-fingerprinting-{commit[:7]}"
    if env is not None:
        return Path(env) if env else None
    candidate = REPO_ROOT.parent / "shared" / "data" / folder
    return candidate if candidate.is_dir() else None


def data_dir() -> Path:
    return Path(os.environ.get("TASKFP_DATA_DIR", REPO_ROOT / "data"))


def local_path(rel: str, commit: str = UPSTREAM_COMMIT) -> Path:
    """Where the verified copy of ``rel`` at ``commit`` is kept: ``<data dir>/<commit7>/<rel>``."""
    return data_dir() / commit[:7] / rel


@lru_cache(maxsize=1)
def _manifest_cached(path: str, mtime: float) -> dict[tuple[str, str], ManifestEntry]:
    entries = {}
    with open(path, newline="") as fh:
        rows = csv.reader(line for line in fh if not line.startswith("#"))
        header = next(rows, None)
        if header != MANIFEST_HEADER:
            raise DataError(f"{path}: unexpected manifest header {header}; expected {MANIFEST_HEADER}")
        for row in rows:
            if len(row) != len(MANIFEST_HEADER):
                raise DataError(f"{path}: malformed manifest row {row[:2]}")
            entry = ManifestEntry(row[0], row[1], row[2], int(row[3]), row[4], row[5])
            entries[(entry.commit, entry.path)] = entry
    return entries


def load_manifest() -> dict[tuple[str, str], ManifestEntry]:
    """The manifest as a mapping ``(commit, upstream path) -> ManifestEntry``."""
    path = manifest_path()
    if not path.is_file():
        raise DataError(f"{path}: data manifest not found (regenerate it with scripts/make_manifest.py)")
    return _manifest_cached(str(path), path.stat().st_mtime)


def manifest_files(commit: str = UPSTREAM_COMMIT) -> list[str]:
    """The upstream paths the manifest lists for ``commit`` (sorted)."""
    return sorted(rel for c, rel in load_manifest() if c == commit)


class CappedDownloader:
    """A pooch downloader with a byte cap and an overall deadline (stdlib HTTP, one read at a time).

    Parameters
    ----------
    max_bytes : int
        Most bytes accepted (the manifest's size); a longer body is an error.
    deadline_s : float
        Seconds the whole download may take.
    read_timeout_s : float
        Seconds one read may block.
    """

    def __init__(self, max_bytes: int, deadline_s: float, read_timeout_s: float = DOWNLOAD_READ_TIMEOUT_S):
        self.max_bytes, self.deadline_s, self.read_timeout_s = int(max_bytes), float(deadline_s), float(read_timeout_s)

    def __call__(self, url: str, output_file, pooch=None, check_only: bool = False):
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise DataError(f"{url}: only http(s) downloads are allowed")
        deadline = time.monotonic() + self.deadline_s
        timeout = min(self.read_timeout_s, self.deadline_s)
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(output_file, "wb") as out:
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > self.max_bytes:
                raise DataError(f"{url}: server announces {declared} bytes, the manifest says {self.max_bytes}")
            written = 0
            while chunk := resp.read1(1 << 16):
                written += len(chunk)
                if written > self.max_bytes:
                    raise DataError(f"{url}: server sends more than the manifest's {self.max_bytes} bytes")
                out.write(chunk)
                crash_point("fetch:during-download")
                if time.monotonic() > deadline:
                    raise DataError(f"{url}: download exceeded its deadline of {self.deadline_s:g} s "
                                    f"({written} of {self.max_bytes} bytes)")


def download_deadline(size: int) -> float:
    """Seconds a download of ``size`` bytes may take in all."""
    return DOWNLOAD_BASE_S + size / DOWNLOAD_MIN_RATE


@contextlib.contextmanager
def _fetch_lock(root: Path):
    """Hold the data directory's fetch lock and remove staging folders of killed fetches."""
    import filelock

    root.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(root / ".fetch.lock"), timeout=FETCH_LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise DataError(f"{root}: another process has been fetching for {FETCH_LOCK_TIMEOUT_S:g} s") from None
    try:
        for leftover in root.glob(".fetch-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        yield
    finally:
        lock.release()


def _verified_copy(entry: ManifestEntry, dest: Path, fill) -> None:
    """Let ``fill(staged_path)`` produce the file in a staging folder, check size and hash, move it into place."""
    staging = data_dir() / f".fetch-{secrets.token_hex(6)}"
    staging.mkdir(parents=True)
    try:
        staged = Path(fill(staging / dest.name) or staging / dest.name)
        size, digest = staged.stat().st_size, file_sha256(staged)
        if digest != entry.sha256 or size != entry.size:
            raise DataError(f"{entry.path}@{entry.commit[:7]}: sha256 mismatch (expected {entry.sha256}, got {digest})")
        os.chmod(staged, default_file_mode())
        crash_point("fetch:before-replace")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download(entry: ManifestEntry, staged: Path) -> Path:
    """Download ``entry`` with pooch (capped, with a deadline, sha256 checked) to ``staged``."""
    import pooch
    import requests

    downloader = CappedDownloader(entry.size, download_deadline(entry.size))
    try:
        got = pooch.retrieve(entry.url, known_hash=f"sha256:{entry.sha256}", fname=staged.name, path=staged.parent,
                             downloader=downloader, progressbar=False)
    except ValueError as err:  # pooch's hash mismatch
        raise DataError(f"{entry.path}@{entry.commit[:7]}: sha256 mismatch ({one_line_text(err)})") from None
    except (requests.RequestException, urllib.error.URLError, OSError) as err:
        raise DataError(f"{one_line_text(err)}") from None
    return Path(got)


def one_line_text(err: BaseException) -> str:
    return " ".join(str(err).split())


_VERIFIED: set[Path] = set()


def data_path(rel: str, commit: str = UPSTREAM_COMMIT) -> Path:
    """Verified local path of the upstream file ``rel`` at ``commit`` (e.g. ``"cache/distances/FID.csv"``).

    Raises
    ------
    DataError
        With one message naming the file, where it looked and what to do.
    """
    entry = load_manifest().get((commit, rel))
    if entry is None:
        raise DataError(f"{rel}@{commit[:7]}: not in the data manifest {manifest_path()}; "
                        "add it with scripts/make_manifest.py")
    dest = local_path(rel, commit)
    if dest in _VERIFIED:
        return dest
    if _is_verified(dest, entry):
        return dest
    with _fetch_lock(data_dir()):
        if _is_verified(dest, entry):    # another process fetched it while we waited for the lock
            return dest
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()                # corrupt or stale: fetch again
        return _resolve(entry, rel, commit, dest)


def _is_verified(dest: Path, entry: ManifestEntry) -> bool:
    if dest.is_file() and dest.stat().st_size == entry.size and file_sha256(dest) == entry.sha256:
        _VERIFIED.add(dest)
        return True
    return False


def _resolve(entry: ManifestEntry, rel: str, commit: str, dest: Path) -> Path:
    """Copy ``entry`` from its mirror or download it (called while holding the fetch lock)."""
    tried = []
    mirror = default_mirror(commit)
    if mirror is not None:
        src = mirror / rel
        tried.append(f"mirror {src}")
        if src.is_file():
            _verified_copy(entry, dest, lambda staged: shutil.copyfile(src, staged))
            _VERIFIED.add(dest)
            return dest
    if os.environ.get("TASKFP_OFFLINE") == "1":
        tried.append("download disabled (TASKFP_OFFLINE=1)")
    else:
        tried.append(f"download {entry.url}")
        try:
            _verified_copy(entry, dest, lambda staged: _download(entry, staged))
            _VERIFIED.add(dest)
            return dest
        except (DataError, OSError) as err:
            tried[-1] += f" failed: {one_line_text(err)}"
    variable = "TASKFP_MIRROR" if commit == UPSTREAM_COMMIT else f"TASKFP_MIRROR_{commit[:7].upper()}"
    raise DataError(
        f"{rel}@{commit[:7]}: not available; looked at " + "; ".join(tried)
        + f". Point {variable} at a copy of the upstream repository "
        f"({UPSTREAM_REPO} @ {commit[:7]}) or allow the download."
    )


def fetch_all(groups: list[str] | None = None, progress: bool = True) -> list[Path]:
    """Resolve every manifest file (optionally only some groups) into the data directory."""
    from tqdm.auto import tqdm

    entries = [e for e in load_manifest().values() if groups is None or e.group in groups]
    return [data_path(e.path, e.commit) for e in tqdm(entries, desc="fetch published data", disable=not progress,
                                                       unit="file")]


def manifest_digest() -> str:
    """sha256 of the manifest file: identifies the exact published inputs of a build."""
    return file_sha256(manifest_path())
