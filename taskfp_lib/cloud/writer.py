"""Crash-safe writes to a knowledge cloud: one writer at a time, the manifest switched last.

Protocol of every write (``add``, ``remove``, ``import``):

1. take the cloud's lock -- an OS-level lock (``filelock``) on ``<root>/.lock``, released by the
   operating system when its holder dies, so a killed writer never blocks the next one;
2. re-read the manifest and remove what a killed writer left behind: staging folders
   ``.staging-*``, temporary files ``.*.tmp`` and fingerprint files the manifest does not name;
3. run every check (content, identity, names, conflicts) before anything is written;
4. write new fingerprint files under fresh names (never over a live file);
5. switch the manifest in one atomic, durable write -- the commit point;
6. delete the files the new manifest no longer names.

A crash before step 5 leaves the old manifest and its untouched files (plus orphans that step 2
of the next writer removes); a crash after it leaves the new manifest with all its files. Either
way every entry in the manifest has its file with the recorded sha256.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterable, Iterator

import filelock

from .._files import atomic_write_text, crash_point
from ..limits import LOCK_TIMEOUT_S
from .manifest import FP_DIR, MANIFEST, CloudError

LOCK_FILE = ".lock"
STAGING_PREFIX = ".staging-"


@contextlib.contextmanager
def cloud_lock(root: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the cloud's writer lock (released by the OS if this process dies); wait at most ``timeout``
    seconds (default ``LOCK_TIMEOUT_S``) for another writer."""
    timeout = LOCK_TIMEOUT_S if timeout is None else timeout
    lock = filelock.FileLock(str(root / LOCK_FILE), timeout=timeout)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise CloudError(f"{root}: another process has been writing to this cloud for more than {timeout:g} s "
                         f"(lock {root / LOCK_FILE}); try again when it has finished") from None
    try:
        yield
    finally:
        lock.release()


def clean_leftovers(root: Path, manifest: dict) -> list[str]:
    """Remove what an interrupted writer left (call only while holding the lock); return the names."""
    removed = []
    live = {e["file"] for e in manifest["entries"].values()}
    for path in root.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    for path in list(root.glob(".*.tmp")) + list((root / FP_DIR).glob(".*.tmp")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name)
    for path in (root / FP_DIR).glob("*.npz"):
        if path.name not in live:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path.name)
    return removed


def new_staging_dir(root: Path) -> Path:
    """A fresh staging folder inside the cloud (same file system: staged files move with ``os.replace``)."""
    path = root / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
    path.mkdir()
    return path


def commit(root: Path, manifest: dict, superseded: Iterable[str] = (), step: str = "cloud") -> None:
    """Switch the manifest (atomic, durable), then delete the files it no longer names."""
    atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=1))
    crash_point(f"{step}:after-manifest")
    live = {e["file"] for e in manifest["entries"].values()}
    for fname in superseded:
        if fname not in live:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(root / FP_DIR / fname)
    crash_point(f"{step}:after-cleanup")
