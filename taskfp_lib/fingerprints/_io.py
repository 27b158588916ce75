"""Safe, atomic file exchange: NPZ archives with an embedded JSON metadata member.

Files exchanged between labs (reference ranges, fingerprints, knowledge-cloud manifests) are
ordinary zip archives that numpy reads with ``np.load(..., allow_pickle=False)``:

* ``metadata.json`` -- UTF-8 JSON (format name, version, provenance, and a sha256 per array);
* ``<name>.npy``    -- one plain numeric array per entry (no object dtype, never a pickle).

Nothing is executed on load; every array is checked against the sha256, dtype and shape recorded
in the metadata. Writes go to a temporary file in the target directory followed by ``os.replace``,
so a reader never sees a half-written file.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

METADATA_MEMBER = "metadata.json"
#: dtypes allowed inside exchanged archives (no object, no void/structured)
_ALLOWED_KINDS = set("biuf")


class FileFormatError(ValueError):
    """A file to be exchanged between labs is malformed, corrupted or of an unknown version."""


from .._files import atomic_path, atomic_write_text, file_sha256  # noqa: E402,F401  (re-exported)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def array_sha256(array: np.ndarray) -> str:
    """sha256 over dtype, shape and the C-ordered bytes of ``array``."""
    a = np.ascontiguousarray(array)
    h = hashlib.sha256()
    h.update(a.dtype.str.encode())
    h.update(repr(tuple(a.shape)).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def write_npz_with_metadata(path: str | os.PathLike, arrays: Mapping[str, np.ndarray],
                            metadata: Mapping[str, Any]) -> None:
    """Atomically write ``arrays`` plus ``metadata`` (gets an ``arrays`` checksum table) to ``path``."""
    meta = dict(metadata)
    table = {}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.dtype.kind not in _ALLOWED_KINDS:
            raise TypeError(f"array {name!r} has dtype {arr.dtype}; only numeric arrays are exchanged")
        table[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": array_sha256(arr)}
    meta["arrays"] = table
    with atomic_path(path, suffix=".npz") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(METADATA_MEMBER, json.dumps(meta, indent=1, sort_keys=True))
            for name, arr in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
                zf.writestr(f"{name}.npy", buf.getvalue())


def read_npz_with_metadata(path: str | os.PathLike, expected_format: str,
                           supported_versions: tuple[int, ...]) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and verify an archive written by :func:`write_npz_with_metadata`.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    FileFormatError
        Not a zip/npz, missing or invalid metadata, wrong format name or version, unexpected
        members, or an array whose dtype, shape or sha256 differs from the metadata.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            members = set(npz.files)
            if METADATA_MEMBER not in members:
                raise FileFormatError(f"{path}: not a {expected_format} file (no {METADATA_MEMBER})")
            raw = npz[METADATA_MEMBER]
            try:
                meta = json.loads(bytes(raw).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise FileFormatError(f"{path}: {METADATA_MEMBER} is not valid JSON ({err})") from None
            if not isinstance(meta, dict) or meta.get("format") != expected_format:
                raise FileFormatError(
                    f"{path}: expected format {expected_format!r}, found {meta.get('format') if isinstance(meta, dict) else type(meta).__name__!r}")
            if meta.get("version") not in supported_versions:
                raise FileFormatError(
                    f"{path}: {expected_format} version {meta.get('version')!r} is not supported "
                    f"(this library reads versions {list(supported_versions)})")
            table = meta.get("arrays")
            if not isinstance(table, dict):
                raise FileFormatError(f"{path}: metadata has no array table")
            expected = set(table) | {METADATA_MEMBER}
            if members != expected:
                raise FileFormatError(
                    f"{path}: members {sorted(members ^ expected)} are unexpected or missing")
            arrays = {}
            for name, info in table.items():
                try:
                    arr = npz[name]
                except ValueError as err:  # object arrays refuse to load without pickle
                    raise FileFormatError(f"{path}: array {name!r} cannot be loaded safely ({err})") from None
                if arr.dtype.str != info.get("dtype") or list(arr.shape) != info.get("shape"):
                    raise FileFormatError(
                        f"{path}: array {name!r} is {arr.dtype.str}{list(arr.shape)}, metadata says "
                        f"{info.get('dtype')}{info.get('shape')}")
                if array_sha256(arr) != info.get("sha256"):
                    raise FileFormatError(f"{path}: array {name!r} fails its sha256 check (corrupted?)")
                arrays[name] = arr
    except (FileFormatError, FileNotFoundError):
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise FileFormatError(f"{path}: not a readable npz archive ({type(err).__name__}: {err})") from None
    return meta, arrays
