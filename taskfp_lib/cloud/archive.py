"""Knowledge-cloud archives exchanged between labs: writing and the bounded, validating reader.

An archive is a zip file holding ``cloud.json`` (the exported manifest) and
``fingerprints/<file>.npz``. The reader treats it as hostile: member count, declared sizes
(per member and in all, the manifest included), member names, links and the manifest's size are
checked before anything is inflated; each fingerprint file is extracted with a bounded copy into
a staging folder and must match the manifest's sha256. Nothing in an archive is executed.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path

from .._files import FileFormatError, atomic_path, read_json_member
from ..limits import MAX_ARCHIVE_BYTES, MAX_ARCHIVE_MEMBERS, MAX_FINGERPRINT_BYTES, MAX_MANIFEST_BYTES
from .manifest import FP_DIR, MANIFEST, SAFE_FILE, validate_manifest


def write_archive(archive: Path, manifest: dict, files: dict[str, Path]) -> Path:
    """Write ``manifest`` and the fingerprint ``files`` (name in archive -> path) atomically."""
    with atomic_path(archive, suffix=".zip") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1))
            for fname, path in files.items():
                zf.write(path, f"{FP_DIR}/{fname}")
    return archive


def _check_members(zf: zipfile.ZipFile, archive: Path) -> list[str]:
    infos = zf.infolist()
    if len(infos) > MAX_ARCHIVE_MEMBERS + 1:
        raise FileFormatError(f"{archive}: {len(infos)} members (limit {MAX_ARCHIVE_MEMBERS + 1})")
    total = sum(i.file_size for i in infos)
    if total > MAX_ARCHIVE_BYTES:
        raise FileFormatError(f"{archive}: members inflate to {total} bytes (limit {MAX_ARCHIVE_BYTES})")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise FileFormatError(f"{archive}: duplicate members")
    if MANIFEST not in names:
        raise FileFormatError(f"{archive}: no {MANIFEST}")
    for info in infos:
        n = info.filename
        if n == MANIFEST:
            continue
        parts = n.split("/")
        if len(parts) != 2 or parts[0] != FP_DIR or not SAFE_FILE.match(parts[1]) or info.is_dir():
            raise FileFormatError(f"{archive}: unexpected member {n[:80]!r} (only {MANIFEST} and {FP_DIR}/<name>.npz)")
        if info.file_size > MAX_FINGERPRINT_BYTES:
            raise FileFormatError(f"{archive}: member {n!r} declares {info.file_size} bytes "
                                  f"(limit {MAX_FINGERPRINT_BYTES})")
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise FileFormatError(f"{archive}: member {n!r} is a symbolic link")
    return names


def _extract(zf: zipfile.ZipFile, member: str, target: Path, expected_sha256: str, archive: Path) -> int:
    """Bounded copy of one member into ``target``; return the bytes written."""
    info = zf.getinfo(member)
    h, written = hashlib.sha256(), 0
    with zf.open(info) as src, open(target, "wb") as dst:
        while block := src.read(min(1 << 20, info.file_size - written + 1)):
            written += len(block)
            if written > info.file_size:
                raise FileFormatError(f"{archive}: member {member!r} inflates beyond its declared size")
            h.update(block)
            dst.write(block)
    if h.hexdigest() != expected_sha256:
        raise FileFormatError(f"{archive}: {member} does not match its sha256 in the manifest")
    return written


def read_archive(archive: Path, dest: Path) -> tuple[dict, dict[str, Path]]:
    """Validate an exported archive and extract its fingerprint files into ``dest``.

    Returns
    -------
    manifest : dict
        The archive's manifest, checked field by field.
    files : dict of str -> Path
        File name (as in the manifest) -> extracted path.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise FileFormatError(f"{archive}: not a zip archive ({err})") from None
    try:
        with zf:
            names = _check_members(zf, archive)
            manifest = read_json_member(zf, MANIFEST, MAX_MANIFEST_BYTES, str(archive))
            validate_manifest(manifest, f"{archive}: {MANIFEST}")
            listed = {e["file"] for e in manifest["entries"].values()}
            present = {n.split("/", 1)[1] for n in names if n != MANIFEST}
            if listed != present:
                raise FileFormatError(f"{archive}: files {sorted(listed ^ present)[:5]} are missing or not in "
                                      "the manifest")
            out, total = {}, 0
            for e in manifest["entries"].values():
                target = dest / e["file"]
                total += _extract(zf, f"{FP_DIR}/{e['file']}", target, e["sha256"], archive)
                if total > MAX_ARCHIVE_BYTES:
                    raise FileFormatError(f"{archive}: inflates beyond {MAX_ARCHIVE_BYTES} bytes")
                out[e["file"]] = target
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
        raise FileFormatError(f"{archive}: damaged archive ({type(err).__name__}: {err})") from None
    return manifest, out
