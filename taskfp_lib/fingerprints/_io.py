"""Safe, atomic, bounded file exchange: NPZ archives with an embedded JSON metadata member.

Files exchanged between labs (reference ranges, fingerprints) are ordinary zip archives:

* ``metadata.json`` -- UTF-8 JSON (format name, version, provenance, and a sha256 per array);
* ``<name>.npy``    -- one plain numeric array per entry (no object dtype, never a pickle).

Reading is bounded before anything is inflated (limits in :mod:`taskfp_lib.limits`): the member
count and the sum of declared member sizes are checked first, ``metadata.json`` is read with a
small cap, and every ``.npy`` header is parsed from the member stream and checked against the
dtype allow-list, the dtype and shape the metadata declares and the remaining byte budget; only
then are exactly the declared bytes read. Every array's sha256 is checked. Nothing is executed on
load. Writes go to a temporary file in the target directory followed by ``os.replace``.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .._files import (FileFormatError, atomic_path, atomic_write_text, file_sha256,  # noqa: F401  (re-exported)
                      read_json_member)
from ..limits import (ALLOWED_DTYPES, MAX_FINGERPRINT_BYTES, MAX_JSON_MEMBER_BYTES, MAX_NPY_HEADER_BYTES,
                      MAX_NPZ_MEMBERS)

METADATA_MEMBER = "metadata.json"
_ARRAY_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def array_sha256(array: np.ndarray) -> str:
    """sha256 over dtype, shape and the C-ordered bytes of ``array`` (no copy of contiguous arrays)."""
    a = np.ascontiguousarray(array)
    h = hashlib.sha256()
    h.update(a.dtype.str.encode())
    h.update(repr(tuple(a.shape)).encode())
    h.update(memoryview(a.reshape(-1)).cast("B"))
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
        if arr.dtype.str not in ALLOWED_DTYPES:
            raise TypeError(f"array {name!r} has dtype {arr.dtype}; exchanged arrays are one of "
                            f"{sorted(ALLOWED_DTYPES)}")
        table[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": array_sha256(arr)}
    meta["arrays"] = table
    with atomic_path(path, suffix=".npz") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(METADATA_MEMBER, json.dumps(meta, indent=1, sort_keys=True))
            for name, arr in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
                zf.writestr(f"{name}.npy", buf.getvalue())
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())


class _CountingReader:
    """Read-only wrapper of a member stream that counts the bytes handed out."""

    def __init__(self, fh):
        self.fh, self.count = fh, 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.count += len(data)
        return data


def _npy_header(reader: _CountingReader, where: str):
    version = np.lib.format.read_magic(reader)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(reader, max_header_size=MAX_NPY_HEADER_BYTES)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(reader, max_header_size=MAX_NPY_HEADER_BYTES)
    raise FileFormatError(f"{where}: unsupported .npy format version {version}")


def _read_exact(fh, n: int, where: str) -> bytearray:
    buf = bytearray(n)
    view, pos = memoryview(buf), 0
    while pos < n:
        chunk = fh.read(min(n - pos, 1 << 20))
        if not chunk:
            raise FileFormatError(f"{where}: truncated ({pos} of {n} bytes)")
        view[pos:pos + len(chunk)] = chunk
        pos += len(chunk)
    return buf


def _read_array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, declared: dict, budget: int, where: str) -> np.ndarray:
    """Read one ``.npy`` member after checking its header against ``declared`` and ``budget``."""
    with zf.open(info) as raw:
        fh = _CountingReader(raw)
        shape, fortran, dtype = _npy_header(fh, where)
        if dtype.str not in ALLOWED_DTYPES:
            raise FileFormatError(f"{where}: dtype {dtype.str} is not allowed (only {sorted(ALLOWED_DTYPES)})")
        if dtype.str != declared["dtype"] or list(shape) != declared["shape"]:
            raise FileFormatError(f"{where}: header says {dtype.str}{list(shape)}, metadata says "
                                  f"{declared['dtype']}{declared['shape']}")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > budget:
            raise FileFormatError(f"{where}: {nbytes} bytes exceed the remaining limit of {budget} bytes")
        if fh.count + nbytes != info.file_size:
            raise FileFormatError(f"{where}: member holds {info.file_size} bytes, header declares "
                                  f"{fh.count + nbytes}")
        data = _read_exact(fh, nbytes, where)
    arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    if array_sha256(arr) != declared["sha256"]:
        raise FileFormatError(f"{where}: fails its sha256 check (corrupted?)")
    return np.ascontiguousarray(arr)


def _array_table(meta: dict, where: str) -> dict[str, dict]:
    """The metadata's ``arrays`` table, each entry checked for form (name, dtype, shape, sha256)."""
    table = meta.get("arrays")
    if not isinstance(table, dict) or len(table) > MAX_NPZ_MEMBERS - 1:
        raise FileFormatError(f"{where}: metadata field 'arrays' is missing or too large")
    for name, info in table.items():
        if isinstance(info, dict) and info.get("dtype") not in ALLOWED_DTYPES:
            raise FileFormatError(f"{where}: metadata field arrays[{str(name)[:40]!r}]: dtype {str(info.get('dtype'))[:20]!r} "
                                  f"is not allowed (only {sorted(ALLOWED_DTYPES)})")
        ok = (_ARRAY_NAME.match(name) and isinstance(info, dict)
              and isinstance(info.get("shape"), list) and len(info["shape"]) <= 4
              and all(type(s) is int and s >= 0 for s in info["shape"])
              and isinstance(info.get("sha256"), str) and _SHA256.match(info["sha256"]))
        if not ok:
            raise FileFormatError(f"{where}: metadata field arrays[{str(name)[:40]!r}] is invalid (name, shape of at "
                                  "most 4 non-negative integers, sha256)")
    return table


def _check_members(zf: zipfile.ZipFile, where: str, max_bytes: int) -> dict[str, zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_NPZ_MEMBERS:
        raise FileFormatError(f"{where}: {len(infos)} members (limit {MAX_NPZ_MEMBERS})")
    by_name = {i.filename: i for i in infos}
    if len(by_name) != len(infos):
        raise FileFormatError(f"{where}: duplicate members")
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise FileFormatError(f"{where}: members inflate to {total} bytes (limit {max_bytes})")
    return by_name


def _check_header(meta: Any, where: str, expected_format: str, supported_versions: tuple[int, ...]) -> dict:
    if not isinstance(meta, dict) or meta.get("format") != expected_format:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise FileFormatError(f"{where}: expected format {expected_format!r}, found {found!r}")
    if meta.get("version") not in supported_versions:
        raise FileFormatError(f"{where}: {expected_format} version {meta.get('version')!r} is not supported "
                              f"(this library reads versions {list(supported_versions)})")
    return meta


def read_npz_with_metadata(path: str | os.PathLike, expected_format: str, supported_versions: tuple[int, ...],
                           max_bytes: int = MAX_FINGERPRINT_BYTES) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and verify an archive written by :func:`write_npz_with_metadata`, within fixed limits.

    Parameters
    ----------
    path : path-like
    expected_format : str
        Value of the metadata's ``format`` field.
    supported_versions : tuple of int
    max_bytes : int
        Most decompressed bytes of all members together.

    Returns
    -------
    meta : dict
        The metadata (its ``arrays`` table checked).
    arrays : dict of str -> ndarray

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    FileFormatError
        Not a zip/npz, too large, missing or invalid metadata, wrong format name or version,
        unexpected members, a dtype outside the allow-list, or an array whose dtype, shape, size
        or sha256 differs from the metadata.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as zf:
            members = _check_members(zf, str(path), max_bytes)
            if METADATA_MEMBER not in members:
                raise FileFormatError(f"{path}: not a {expected_format} file (no {METADATA_MEMBER})")
            meta = read_json_member(zf, METADATA_MEMBER, MAX_JSON_MEMBER_BYTES, str(path))
            _check_header(meta, str(path), expected_format, supported_versions)
            table = _array_table(meta, str(path))
            expected = {f"{n}.npy" for n in table} | {METADATA_MEMBER}
            if set(members) != expected:
                raise FileFormatError(f"{path}: members {sorted(set(members) ^ expected)} are unexpected or missing")
            budget, arrays = max_bytes, {}
            for name, info in table.items():
                arrays[name] = _read_array(zf, members[f"{name}.npy"], info, budget, f"{path}: array {name!r}")
                budget -= arrays[name].nbytes
    except (FileFormatError, FileNotFoundError):
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise FileFormatError(f"{path}: not a readable npz archive ({type(err).__name__}: {err})") from None
    return meta, arrays
