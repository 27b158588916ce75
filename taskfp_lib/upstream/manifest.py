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
"""
from __future__ import annotations

import csv
import os
import shutil
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .._files import atomic_path, file_sha256

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


def _verified_copy(entry: ManifestEntry, dest: Path, fill) -> None:
    """Let ``fill(tmp_path)`` write the file, check its hash, then move it into place (atomically)."""
    with atomic_path(dest, suffix=".part") as tmp:
        fill(tmp)
        digest = file_sha256(tmp)
        if digest != entry.sha256:
            raise DataError(f"{entry.path}@{entry.commit[:7]}: sha256 mismatch (expected {entry.sha256}, got {digest})")


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
    if dest.is_file():
        if dest.stat().st_size == entry.size and file_sha256(dest) == entry.sha256:
            _VERIFIED.add(dest)
            return dest
        dest.unlink()  # corrupt or stale: fetch again
    tried = []
    mirror = default_mirror(commit)
    if mirror is not None:
        src = mirror / rel
        tried.append(f"mirror {src}")
        if src.is_file():
            _verified_copy(entry, dest, lambda tmp: shutil.copyfile(src, tmp))
            _VERIFIED.add(dest)
            return dest
    if os.environ.get("TASKFP_OFFLINE") == "1":
        tried.append("download disabled (TASKFP_OFFLINE=1)")
    else:
        tried.append(f"download {entry.url}")
        try:
            _verified_copy(entry, dest, lambda tmp: _download(entry.url, tmp))
            _VERIFIED.add(dest)
            return dest
        except (OSError, urllib.error.URLError) as err:
            tried[-1] += f" failed: {err}"
    variable = "TASKFP_MIRROR" if commit == UPSTREAM_COMMIT else f"TASKFP_MIRROR_{commit[:7].upper()}"
    raise DataError(
        f"{rel}@{commit[:7]}: not available; looked at " + "; ".join(tried)
        + f". Point {variable} at a copy of the upstream repository "
        f"({UPSTREAM_REPO} @ {commit[:7]}) or allow the download."
    )


def _download(url: str, tmp: Path, timeout: float = 60.0) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
        shutil.copyfileobj(resp, out)


def fetch_all(groups: list[str] | None = None, progress: bool = True) -> list[Path]:
    """Resolve every manifest file (optionally only some groups) into the data directory."""
    from tqdm.auto import tqdm

    entries = [e for e in load_manifest().values() if groups is None or e.group in groups]
    return [data_path(e.path, e.commit) for e in tqdm(entries, desc="fetch published data", disable=not progress,
                                                       unit="file")]


def manifest_digest() -> str:
    """sha256 of the manifest file: identifies the exact published inputs of a build."""
    return file_sha256(manifest_path())
