"""Published intermediate results: the data manifest, local mirror or download, sha256 verification.

Every upstream file the compendium reads is listed in ``data_manifest/manifest.csv`` (path, sha256,
size, group, URL at the pinned upstream commit). :func:`data_path` resolves a file into the local data
directory, taking it from a local mirror when there is one and downloading it otherwise, and verifies
its hash. Nothing half-written is ever left in the data directory.

Environment variables
---------------------
TASKFP_MIRROR
    A local copy of the upstream repository (default: ``../shared/data/task-fingerprinting``
    next to the repository, when it exists). Set it to an empty string to disable the mirror.
TASKFP_DATA_DIR
    Where verified files are stored (default: ``data/`` in the repository).
TASKFP_OFFLINE
    If set to 1, never download.
"""
from __future__ import annotations

import csv
import hashlib
import os
import shutil
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ._atomic import atomic_path, atomic_write_text  # noqa: F401  (re-exported)

UPSTREAM_REPO = "IMSY-DKFZ/task-fingerprinting"
UPSTREAM_COMMIT = "064ddd8b1baf03f3e6a53e25781aa0eb6b90a06c"
REPO_ROOT = Path(__file__).resolve().parents[1]


class DataError(RuntimeError):
    """A published file is missing, corrupt or cannot be fetched."""


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    sha256: str
    size: int
    group: str
    url: str


def upstream_url(rel: str) -> str:
    """Raw URL of an upstream file at the pinned commit."""
    return (f"https://raw.githubusercontent.com/{UPSTREAM_REPO}/{UPSTREAM_COMMIT}/"
            + urllib.parse.quote(rel, safe="/"))


def manifest_path() -> Path:
    return Path(os.environ.get("TASKFP_MANIFEST", REPO_ROOT / "data_manifest" / "manifest.csv"))


def default_mirror() -> Path | None:
    """The local mirror: ``$TASKFP_MIRROR`` or ``../shared/data/task-fingerprinting`` when present."""
    env = os.environ.get("TASKFP_MIRROR")
    if env is not None:
        return Path(env) if env else None
    candidate = REPO_ROOT.parent / "shared" / "data" / "task-fingerprinting"
    return candidate if candidate.is_dir() else None


def data_dir() -> Path:
    return Path(os.environ.get("TASKFP_DATA_DIR", REPO_ROOT / "data"))


@lru_cache(maxsize=1)
def _manifest_cached(path: str, mtime: float) -> dict[str, ManifestEntry]:
    entries = {}
    with open(path, newline="") as fh:
        rows = csv.reader(line for line in fh if not line.startswith("#"))
        header = next(rows)
        if header != ["path", "sha256", "size", "group", "url"]:
            raise DataError(f"{path}: unexpected manifest header {header}")
        for row in rows:
            entry = ManifestEntry(row[0], row[1], int(row[2]), row[3], row[4])
            entries[entry.path] = entry
    return entries


def load_manifest() -> dict[str, ManifestEntry]:
    """The manifest as a mapping upstream path -> :class:`ManifestEntry`."""
    path = manifest_path()
    if not path.is_file():
        raise DataError(f"{path}: data manifest not found (regenerate it with scripts/make_manifest.py)")
    return _manifest_cached(str(path), path.stat().st_mtime)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _verified_copy(entry: ManifestEntry, dest: Path, fill) -> None:
    """Let ``fill(tmp_path)`` write the file, check its hash, then move it into place (atomically)."""
    with atomic_path(dest, suffix=".part") as tmp:
        fill(tmp)
        digest = sha256_of(tmp)
        if digest != entry.sha256:
            raise DataError(f"{entry.path}: sha256 mismatch (expected {entry.sha256}, got {digest})")


_VERIFIED: set[Path] = set()


def data_path(rel: str) -> Path:
    """Verified local path of the upstream file ``rel`` (e.g. ``"cache/distances/FID.csv"``).

    Raises
    ------
    DataError
        With one message naming the file, where it looked and what to do.
    """
    manifest = load_manifest()
    entry = manifest.get(rel)
    if entry is None:
        raise DataError(f"{rel}: not in the data manifest {manifest_path()}; add it with scripts/make_manifest.py")
    dest = data_dir() / rel
    if dest in _VERIFIED:
        return dest
    if dest.is_file():
        if dest.stat().st_size == entry.size and sha256_of(dest) == entry.sha256:
            _VERIFIED.add(dest)
            return dest
        dest.unlink()  # corrupt or stale: fetch again
    mirror = default_mirror()
    tried = []
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
    raise DataError(
        f"{rel}: not available; looked at " + "; ".join(tried)
        + ". Point TASKFP_MIRROR at a copy of the upstream repository "
        f"({UPSTREAM_REPO} @ {UPSTREAM_COMMIT[:7]}) or allow the download."
    )


def _download(url: str, tmp: Path, timeout: float = 60.0) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
        shutil.copyfileobj(resp, out)


def fetch_all(groups: list[str] | None = None, progress: bool = True) -> list[Path]:
    """Resolve every manifest file (optionally only some groups) into the data directory."""
    from tqdm.auto import tqdm

    entries = [e for e in load_manifest().values() if groups is None or e.group in groups]
    return [data_path(e.path) for e in tqdm(entries, desc="fetch published data", disable=not progress,
                                             unit="file")]


def manifest_digest() -> str:
    """sha256 of the manifest file: identifies the exact published inputs of a build."""
    return sha256_of(manifest_path())
