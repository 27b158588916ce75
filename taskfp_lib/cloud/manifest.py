"""The knowledge cloud's manifest ``cloud.json``: format, entry schema, task meta and its checks.

The manifest is the cloud's single source of truth: an entry exists when it is in the manifest
and its file's sha256 matches. It is read with a size cap and checked field by field, so a
manifest from another lab (inside an archive) or a damaged one never reaches the code as an
unchecked dictionary (no ``KeyError`` from a missing field).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, Mapping

from .._files import FileFormatError
from .._safety import task_name_problem
from ..limits import MAX_ARCHIVE_MEMBERS, MAX_BINS, MAX_META_STRING_CHARS

CLOUD_FORMAT = "taskfp-knowledge-cloud"
CLOUD_VERSION = 1
MANIFEST = "cloud.json"
FP_DIR = "fingerprints"
#: the paper's recommended selector: bKLD(small, target)
DEFAULT_DISTANCE = "KLD-PP:NS-W:TS-100-BINS"
SAFE_FILE = re.compile(r"^[A-Za-z0-9._+-]{1,200}\.npz$")
META_FIELDS = {"best_architecture": (str, type(None)), "augmentation_policy": (str, type(None)),
               "data_shareable": (bool,), "contact": (str, type(None)), "notes": (str, type(None))}
_ENTRY_FIELDS = {"file": (str,), "sha256": (str,), "added": (str,), "n_samples": (int,), "bins": (list,),
                 "num_classes": (int, type(None)), "has_cov": (bool,), "has_fisher": (bool,), "meta": (dict,)}


class CloudError(ValueError):
    """Invalid knowledge-cloud operation or content."""


class UnknownTaskError(CloudError, KeyError):
    """A task name that is not in the cloud (also a ``KeyError``; its message is plain text)."""

    __str__ = Exception.__str__


def _text_ok(value: str) -> bool:
    return len(value) <= MAX_META_STRING_CHARS and all(ch.isprintable() or ch == "\n" for ch in value)


@dataclass
class TaskMeta:
    """What a contributing lab shares about its task besides the fingerprint.

    Attributes
    ----------
    best_architecture : str or None
        E.g. the timm name of the best model found for the task.
    augmentation_policy : str or None
        A *reference* to the augmentation policy (path, URL or identifier), never code.
    data_shareable : bool
        Whether the lab can share the images for co-training.
    contact, notes : str or None
        Printable text (new lines allowed in notes), at most ``MAX_META_STRING_CHARS`` characters.
    """

    best_architecture: str | None = None
    augmentation_policy: str | None = None
    data_shareable: bool = False
    contact: str | None = None
    notes: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, where: str = "") -> "TaskMeta":
        """Checked construction: known fields, their types, printable bounded text."""
        d = dict(d or {})
        unknown = set(d) - set(META_FIELDS)
        if unknown:
            raise FileFormatError(f"{where}: unknown task meta fields {sorted(map(str, unknown))[:5]}")
        for key, types in META_FIELDS.items():
            if key in d and not isinstance(d[key], types):
                raise FileFormatError(f"{where}: task meta {key!r} must be {' or '.join(t.__name__ for t in types)}")
            if isinstance(d.get(key), str) and not _text_ok(d[key]):
                raise FileFormatError(f"{where}: task meta {key!r} has control characters or more than "
                                      f"{MAX_META_STRING_CHARS} characters")
        return cls(**d)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def fresh_file_name(task: str) -> str:
    """A new file name for a fingerprint of ``task`` (never reused: a write never touches a live file)."""
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", task)[:100]
    return f"{safe}-{hashlib.sha256(task.encode()).hexdigest()[:10]}-{secrets.token_hex(4)}.npz"


def empty_manifest() -> dict:
    return {"format": CLOUD_FORMAT, "version": CLOUD_VERSION, "created": now(), "identity": None, "entries": {}}


def _check_entry(name: Any, e: Any, where: str) -> None:
    problem = task_name_problem(name)
    if problem:
        raise FileFormatError(f"{where}: entry name {str(name)[:60]!r} {problem}")
    if not isinstance(e, dict):
        raise FileFormatError(f"{where}: entry {name!r} must be an object")
    for key, types in _ENTRY_FIELDS.items():
        value = e.get(key, None if type(None) in types else ...)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise FileFormatError(f"{where}: entry {name!r} field {key!r} is missing or not "
                                  f"{' or '.join(t.__name__ for t in types)}")
    if not SAFE_FILE.match(e["file"]):
        raise FileFormatError(f"{where}: entry {name!r} has an invalid or duplicate file name "
                              f"{e['file'][:80]!r}")
    if not re.fullmatch(r"[0-9a-f]{64}", e["sha256"]):
        raise FileFormatError(f"{where}: entry {name!r} field 'sha256' is not a sha256")
    if not e["bins"] or any(type(b) is not int or not 1 <= b <= MAX_BINS for b in e["bins"]):
        raise FileFormatError(f"{where}: entry {name!r} field 'bins' is invalid")
    TaskMeta.from_dict(e["meta"], where=f"{where}: entry {name!r}")


def _check_identity(ident: Any, where: str) -> None:
    ok = (isinstance(ident, dict) and isinstance(ident.get("extractor"), dict)
          and isinstance(ident["extractor"].get("name"), str) and isinstance(ident["extractor"].get("weights"), str)
          and isinstance(ident.get("ranges_sha256"), str) and type(ident.get("n_features")) is int)
    if not ok:
        raise FileFormatError(f"{where}: field 'identity' is invalid (extractor name/weights, ranges_sha256, "
                              "n_features)")


def validate_manifest(manifest: Any, where: str) -> dict:
    """Check a manifest's form field by field; return it. Errors name ``where`` and the field."""
    if not isinstance(manifest, dict) or manifest.get("format") != CLOUD_FORMAT:
        raise FileFormatError(f"{where}: not a knowledge-cloud manifest")
    if manifest.get("version") != CLOUD_VERSION:
        raise FileFormatError(f"{where}: knowledge-cloud version {manifest.get('version')!r} is not supported "
                              f"(this library reads version {CLOUD_VERSION})")
    entries = manifest.get("entries")
    if not isinstance(entries, dict):
        raise FileFormatError(f"{where}: field 'entries' must be an object")
    if len(entries) > MAX_ARCHIVE_MEMBERS:
        raise FileFormatError(f"{where}: {len(entries)} entries (limit {MAX_ARCHIVE_MEMBERS})")
    if entries:
        _check_identity(manifest.get("identity"), where)
    files = set()
    for name, e in entries.items():
        _check_entry(name, e, where)
        if e["file"] in files:
            raise FileFormatError(f"{where}: entry {name!r} has an invalid or duplicate file name "
                                  f"{e['file']!r} (shared with another entry)")
        files.add(e["file"])
    return manifest


def manifest_entry(fp, fname: str, sha256: str, meta: TaskMeta) -> dict:
    """The manifest entry of a fingerprint stored under ``fname``."""
    from dataclasses import asdict

    num_classes = fp.task_meta.get("num_classes")
    return {"file": fname, "sha256": sha256, "added": now(), "n_samples": int(fp.n_samples), "bins": list(fp.bins),
            "num_classes": num_classes if type(num_classes) is int else None, "has_cov": fp.cov is not None,
            "has_fisher": fp.fisher is not None, "meta": asdict(meta)}


def identity_of(fp) -> dict:
    return {"extractor": dict(fp.extractor), "ranges_sha256": fp.ranges_sha256, "n_features": fp.n_features}
