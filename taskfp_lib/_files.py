"""File helpers shared by every package: atomic writes, content hashes, file modes (one home each).

An atomic write goes to a temporary file in the target folder and is moved into place with
``os.replace`` only on success, so a reader never sees a half-written file and a crash leaves the
old file intact (the temporary file ``.<name>.<random>[suffix].tmp`` is all that can be left
behind; the writers that own a folder remove such leftovers). A written file gets the mode an
ordinary ``open`` would give it (``0o666`` minus the user's umask), not the ``0o600`` of
:func:`tempfile.mkstemp`, so a knowledge cloud on a group share stays readable to colleagues.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any, Iterator

#: environment variable naming a write step at which the process kills itself (crash tests only)
CRASH_ENV = "TASKFP_CRASH_AT"
_UMASK_LOCK = threading.Lock()


class FileFormatError(ValueError):
    """A file to be exchanged between labs is malformed, corrupted, too large or of an unknown version."""


def current_umask() -> int:
    """The process's file-mode creation mask (read from ``/proc`` where possible, else set and reset)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_file_mode() -> int:
    """``0o666`` minus the umask: the mode ``open(path, "w")`` would create a file with."""
    return 0o666 & ~current_umask()


def crash_point(step: str) -> None:
    """Kill this process with SIGKILL when ``$TASKFP_CRASH_AT`` equals ``step`` (crash-safety tests)."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a directory entry (after a rename) where the platform allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; ``os.replace`` it onto ``path`` only on success.

    The file gets :func:`default_file_mode` before it is moved into place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, default_file_mode())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends kept as given) to ``path`` atomically and durably."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    fsync_dir(Path(path).parent)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def parse_json_bytes(raw: bytes, where: str) -> Any:
    """Parse UTF-8 JSON, turning every parse failure into one :class:`FileFormatError` naming ``where``."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as err:
        raise FileFormatError(f"{where}: invalid JSON ({type(err).__name__}: {err})") from None


def read_json_file(path: str | os.PathLike, cap: int) -> Any:
    """Parse the JSON file ``path``, reading at most ``cap`` bytes (larger files are refused)."""
    with open(path, "rb") as fh:
        raw = fh.read(cap + 1)
    if len(raw) > cap:
        raise FileFormatError(f"{path}: larger than the limit of {cap} bytes")
    return parse_json_bytes(raw, str(path))


def read_json_member(zf: zipfile.ZipFile, name: str, cap: int, where: str) -> Any:
    """Parse the JSON member ``name`` of ``zf``, inflating at most ``cap`` bytes."""
    info = zf.getinfo(name)
    if info.file_size > cap:
        raise FileFormatError(f"{where}: {name} declares {info.file_size} bytes (limit {cap})")
    with zf.open(info) as fh:
        raw = fh.read(cap + 1)
    if len(raw) > cap:
        raise FileFormatError(f"{where}: {name} inflates beyond {cap} bytes")
    return parse_json_bytes(raw, f"{where}: {name}")
