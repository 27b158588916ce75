"""A local knowledge cloud: shared task fingerprints plus what worked for each task.

The paper's workflow: labs contribute *fingerprints* (never images, never per-image features) of
their tasks together with meta information (best architecture, a reference to the augmentation
policy, whether the data can be shared). A lab with a new task fingerprints it with the same
extractor and reference ranges and asks the cloud for the k closest earlier tasks.

Layout (a plain directory; no server)::

    <root>/cloud.json                 manifest: format, version, identity, entries
    <root>/fingerprints/<file>.npz    one fingerprint per entry (NPZ + JSON, see taskfp_lib.fingerprints)

The first fingerprint fixes the cloud's identity (extractor, weights, reference-range sha256,
feature count); fingerprints with another identity are refused. Every write is atomic, guarded by
a lock file, and the manifest records each file's sha256. Export/import uses a zip archive that is
validated member by member on import; nothing in it is executed or unpickled.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import pandas as pd

from .fingerprints import Fingerprint, IncompatibleFingerprintsError
from .fingerprints._io import FileFormatError, atomic_path, atomic_write_text, file_sha256

CLOUD_FORMAT = "taskfp-knowledge-cloud"
CLOUD_VERSION = 1
MANIFEST = "cloud.json"
FP_DIR = "fingerprints"
#: the paper's recommended selector: bKLD(small, target)
DEFAULT_DISTANCE = "KLD-PP:NS-W:TS-100-BINS"
#: import limits (archives come from other labs)
MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 512 << 20
MAX_TOTAL_BYTES = 8 << 30
_SAFE_FILE = re.compile(r"^[A-Za-z0-9._+-]{1,200}\.npz$")
_META_FIELDS = {"best_architecture": (str, type(None)), "augmentation_policy": (str, type(None)),
                "data_shareable": (bool,), "contact": (str, type(None)), "notes": (str, type(None))}


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
    """

    best_architecture: str | None = None
    augmentation_policy: str | None = None
    data_shareable: bool = False
    contact: str | None = None
    notes: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, where: str = "") -> "TaskMeta":
        d = dict(d or {})
        unknown = set(d) - set(_META_FIELDS)
        if unknown:
            raise FileFormatError(f"{where}: unknown task meta fields {sorted(unknown)}")
        for key, types in _META_FIELDS.items():
            if key in d and not isinstance(d[key], types):
                raise FileFormatError(f"{where}: task meta {key!r} must be {' or '.join(t.__name__ for t in types)}")
        return cls(**d)


class CloudError(ValueError):
    """Invalid knowledge-cloud operation or content."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _file_name(task: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", task)[:120]
    return f"{safe}-{hashlib.sha256(task.encode()).hexdigest()[:10]}.npz"


class KnowledgeCloud:
    """A knowledge cloud stored in a directory. Open an existing one with ``KnowledgeCloud(root)``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not (self.root / MANIFEST).is_file():
            raise FileNotFoundError(f"{self.root}: not a knowledge cloud (no {MANIFEST}); create it with "
                                    "KnowledgeCloud.create / `taskfp cloud init`")
        self._manifest = self._read_manifest()
        self._loaded: dict[str, Fingerprint] = {}   # sha256 of the file -> fingerprint (keeps cached statistics)

    # ------------------------------------------------------------------------------ creation / manifest
    @classmethod
    def create(cls, root: str | os.PathLike, exist_ok: bool = False) -> "KnowledgeCloud":
        """Create an empty cloud at ``root`` (or open it if it exists and ``exist_ok``)."""
        root = Path(root)
        if (root / MANIFEST).is_file():
            if exist_ok:
                return cls(root)
            raise CloudError(f"{root}: a knowledge cloud already exists")
        (root / FP_DIR).mkdir(parents=True, exist_ok=True)
        manifest = {"format": CLOUD_FORMAT, "version": CLOUD_VERSION, "created": _now(), "identity": None,
                    "entries": {}}
        atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=1))
        return cls(root)

    def _read_manifest(self) -> dict:
        path = self.root / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise FileFormatError(f"{path}: invalid JSON ({err})") from None
        _validate_manifest(manifest, str(path))
        return manifest

    def _write_manifest(self) -> None:
        atomic_write_text(self.root / MANIFEST, json.dumps(self._manifest, indent=1))

    @contextlib.contextmanager
    def _locked(self, timeout: float = 30.0) -> Iterator[None]:
        lock = self.root / ".lock"
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                break
            except FileExistsError:
                if time.monotonic() > deadline:
                    raise CloudError(f"{lock}: the cloud is locked by another writer (remove the file if stale)")
                time.sleep(0.05)
        try:
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            self._manifest = self._read_manifest()  # re-read under the lock
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()

    # ------------------------------------------------------------------------------ properties
    @property
    def identity(self) -> dict | None:
        """Extractor, weights, reference-range sha256 and feature count shared by all entries."""
        return self._manifest["identity"]

    @property
    def names(self) -> list[str]:
        return list(self._manifest["entries"])

    def __len__(self) -> int:
        return len(self._manifest["entries"])

    def __contains__(self, name: str) -> bool:
        return name in self._manifest["entries"]

    def _check_identity(self, fp: Fingerprint) -> None:
        ident = self.identity
        if ident is None:
            return
        mine = (ident["extractor"]["name"], ident["extractor"]["weights"], ident["ranges_sha256"], ident["n_features"])
        if mine != fp.identity:
            raise IncompatibleFingerprintsError(
                f"fingerprint {fp.task!r} does not fit this cloud: cloud uses extractor {mine[0]!r} with weights "
                f"{mine[1]!r}, reference ranges {mine[2][:12]}..., {mine[3]} features; the fingerprint has "
                f"{fp.identity[0]!r}, {fp.identity[1]!r}, {fp.identity[2][:12]}..., {fp.identity[3]}. Fingerprint "
                "the task with the cloud's extractor and range file.")
        if self.names:  # intensity preset, volume slices, probe precision (fingerprints.provenance)
            self.get(self.names[0]).check_compatible(fp)

    # ------------------------------------------------------------------------------ operations
    def add(self, fp: Fingerprint, meta: TaskMeta | Mapping[str, Any] | None = None, overwrite: bool = False) -> None:
        """Add a fingerprint with its meta information (error if the name exists, unless ``overwrite``)."""
        meta = meta if isinstance(meta, TaskMeta) else TaskMeta.from_dict(meta, where=fp.task)
        fp.validate()
        with self._locked():
            self._check_identity(fp)
            if fp.task in self._manifest["entries"] and not overwrite:
                raise CloudError(f"task {fp.task!r} is already in the cloud (use overwrite / --overwrite)")
            fname = _file_name(fp.task)
            path = self.root / FP_DIR / fname
            fp.save(path)
            if self._manifest["identity"] is None:
                self._manifest["identity"] = {"extractor": dict(fp.extractor), "ranges_sha256": fp.ranges_sha256,
                                              "n_features": fp.n_features}
            self._manifest["entries"][fp.task] = {
                "file": fname, "sha256": file_sha256(path), "added": _now(), "n_samples": fp.n_samples,
                "bins": list(fp.bins), "num_classes": fp.task_meta.get("num_classes"),
                "has_cov": fp.cov is not None, "has_fisher": fp.fisher is not None, "meta": asdict(meta)}
            self._write_manifest()

    def remove(self, name: str) -> None:
        """Remove an entry and its fingerprint file."""
        with self._locked():
            entry = self._manifest["entries"].pop(name, None)
            if entry is None:
                raise KeyError(f"task {name!r} is not in the cloud {self.root}")
            if not self._manifest["entries"]:
                self._manifest["identity"] = None
            self._write_manifest()
            with contextlib.suppress(FileNotFoundError):
                (self.root / FP_DIR / entry["file"]).unlink()

    def get(self, name: str) -> Fingerprint:
        """Load one fingerprint (checked against the manifest's sha256)."""
        entry = self._manifest["entries"].get(name)
        if entry is None:
            raise KeyError(f"task {name!r} is not in the cloud {self.root}")
        path = self.root / FP_DIR / entry["file"]
        if not path.is_file():
            raise FileFormatError(f"{path}: fingerprint file of {name!r} is missing")
        digest = file_sha256(path)
        if digest != entry["sha256"]:
            raise FileFormatError(f"{path}: fingerprint file of {name!r} does not match the manifest sha256")
        if digest in self._loaded:
            return self._loaded[digest]
        fp = Fingerprint.load(path)
        if fp.task != name:
            raise FileFormatError(f"{path}: holds task {fp.task!r}, manifest says {name!r}")
        self._loaded[digest] = fp
        return fp

    def meta(self, name: str) -> TaskMeta:
        return TaskMeta(**self._manifest["entries"][name]["meta"])

    def fingerprints(self, names=None) -> dict[str, Fingerprint]:
        return {n: self.get(n) for n in (names if names is not None else self.names)}

    def list(self) -> pd.DataFrame:
        """One row per task: samples, bins, classes, and the shared meta information."""
        rows = []
        for name, e in self._manifest["entries"].items():
            rows.append({"task": name, "n_samples": e["n_samples"], "bins": ",".join(map(str, e["bins"])),
                         "num_classes": e.get("num_classes"), "has_fisher": e.get("has_fisher", False),
                         **e["meta"], "added": e["added"]})
        cols = ["task", "n_samples", "bins", "num_classes", "has_fisher", *_META_FIELDS, "added"]
        return pd.DataFrame(rows, columns=cols)

    def distance_matrix(self, distance: str = DEFAULT_DISTANCE, targets=None) -> pd.DataFrame:
        """All-pairs distances between cloud entries (rows = sources, columns = targets)."""
        from .distances import distance_matrix

        fps = self.fingerprints()
        tg = fps if targets is None else targets
        return distance_matrix(distance, fps, tg)

    def query(self, fp: Fingerprint, distance: str = DEFAULT_DISTANCE, k: int = 3,
              exclude: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
        """Rank the cloud's tasks as transfer sources for the task of ``fp`` (the target).

        Parameters
        ----------
        fp : Fingerprint
            The query task's fingerprint (same extractor and reference ranges as the cloud).
        distance : str
            A registered distance computable from fingerprints (default bKLD(small,target)).
        k : int
            Number of sources to return (all if ``k <= 0``).
        exclude : sequence of str
            Cloud tasks not to consider (e.g. tasks sharing images with the query). An entry with
            the query's own name is always excluded.

        Returns
        -------
        DataFrame with columns rank, source, distance, and the sources' meta information,
        sorted by increasing distance (ties keep cloud order).
        """
        from .distances import distance_matrix, get_distance

        spec = get_distance(distance)
        if not spec.shareable:
            raise CloudError(f"{spec.name} needs per-image features, which fingerprints never contain; "
                             "choose a fingerprint distance, e.g. " + DEFAULT_DISTANCE)
        if "task_infos" in spec.requires:
            raise CloudError(f"{spec.name} uses the task registry's keywords, not fingerprints")
        self._check_identity(fp)
        names = [n for n in self.names if n != fp.task and n not in set(exclude)]
        if not names:
            raise CloudError("the cloud has no candidate source tasks for this query")
        D = distance_matrix(spec, self.fingerprints(names), [fp])
        col = D[fp.task]
        order = sorted(range(len(names)), key=lambda i: (col.iloc[i], i))
        if k and k > 0:
            order = order[:k]
        rows = []
        for r, i in enumerate(order, start=1):
            name = names[i]
            rows.append({"rank": r, "source": name, "distance": float(col.iloc[i]), "distance_name": spec.name,
                         **self._manifest["entries"][name]["meta"]})
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------------------ sharing
    def export(self, archive: str | os.PathLike, names=None) -> Path:
        """Write the cloud (or the entries ``names``) to a zip archive for another lab (atomic)."""
        archive = Path(archive)
        names = list(self.names if names is None else names)
        entries = {}
        for n in names:
            self.get(n)  # verifies the file
            entries[n] = self._manifest["entries"][n]
        manifest = {"format": CLOUD_FORMAT, "version": CLOUD_VERSION, "created": self._manifest.get("created"),
                    "exported": _now(), "identity": self.identity if entries else None, "entries": entries}
        with atomic_path(archive, suffix=".zip") as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
                zf.writestr(MANIFEST, json.dumps(manifest, indent=1))
                for n, e in entries.items():
                    zf.write(self.root / FP_DIR / e["file"], f"{FP_DIR}/{e['file']}")
        return archive

    def import_archive(self, archive: str | os.PathLike, on_conflict: str = "error") -> list[str]:
        """Import the entries of an exported archive after validating everything.

        Parameters
        ----------
        on_conflict : {"error", "skip", "replace"}
            What to do with a task name that is already in this cloud.

        Returns
        -------
        list of str
            Imported task names.
        """
        if on_conflict not in ("error", "skip", "replace"):
            raise ValueError("on_conflict must be 'error', 'skip' or 'replace'")
        archive = Path(archive)
        if not archive.is_file():
            raise FileNotFoundError(f"{archive}: no such archive")
        with tempfile.TemporaryDirectory(dir=self.root) as tmpdir:
            manifest, files = _read_archive(archive, Path(tmpdir))
            loaded = []
            for name, e in manifest["entries"].items():
                path = files[e["file"]]
                fp = Fingerprint.load(path)
                if fp.task != name:
                    raise FileFormatError(f"{archive}: {e['file']} holds task {fp.task!r}, manifest says {name!r}")
                loaded.append((fp, TaskMeta.from_dict(e.get("meta"), where=f"{archive}:{name}")))
            for fp, _ in loaded:
                self._check_identity(fp)
            if len({fp.identity for fp, _ in loaded}) > 1:
                raise IncompatibleFingerprintsError(f"{archive}: entries have different identities")
            conflicts = [fp.task for fp, _ in loaded if fp.task in self]
            if conflicts and on_conflict == "error":
                raise CloudError(f"{archive}: tasks already in the cloud: {conflicts} (use on_conflict skip/replace)")
            done = []
            for fp, meta in loaded:
                if fp.task in self and on_conflict == "skip":
                    continue
                self.add(fp, meta, overwrite=True)
                done.append(fp.task)
        return done


def _validate_manifest(manifest: Any, where: str) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != CLOUD_FORMAT:
        raise FileFormatError(f"{where}: not a knowledge-cloud manifest")
    if manifest.get("version") != CLOUD_VERSION:
        raise FileFormatError(f"{where}: knowledge-cloud version {manifest.get('version')!r} is not supported "
                              f"(this library reads version {CLOUD_VERSION})")
    entries = manifest.get("entries")
    if not isinstance(entries, dict):
        raise FileFormatError(f"{where}: 'entries' must be an object")
    ident = manifest.get("identity")
    if entries and not (isinstance(ident, dict) and isinstance(ident.get("extractor"), dict)
                        and isinstance(ident.get("ranges_sha256"), str) and isinstance(ident.get("n_features"), int)):
        raise FileFormatError(f"{where}: invalid identity")
    files = set()
    for name, e in entries.items():
        if not isinstance(e, dict):
            raise FileFormatError(f"{where}: entry {name!r} must be an object")
        f = e.get("file")
        if not isinstance(f, str) or not _SAFE_FILE.match(f) or f in files:
            raise FileFormatError(f"{where}: entry {name!r} has an invalid or duplicate file name {f!r}")
        files.add(f)
        if not isinstance(e.get("sha256"), str) or len(e["sha256"]) != 64:
            raise FileFormatError(f"{where}: entry {name!r} lacks a sha256")
        TaskMeta.from_dict(e.get("meta"), where=f"{where}:{name}")


def _read_archive(archive: Path, dest: Path) -> tuple[dict, dict[str, Path]]:
    """Validate an exported archive and extract its fingerprint files into ``dest``."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as err:
        raise FileFormatError(f"{archive}: not a zip archive ({err})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise FileFormatError(f"{archive}: too many members ({len(infos)})")
        if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
            raise FileFormatError(f"{archive}: uncompressed size exceeds {MAX_TOTAL_BYTES} bytes")
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
            if len(parts) != 2 or parts[0] != FP_DIR or not _SAFE_FILE.match(parts[1]) or info.is_dir():
                raise FileFormatError(f"{archive}: unexpected member {n!r} (only {MANIFEST} and {FP_DIR}/<name>.npz)")
            if info.file_size > MAX_MEMBER_BYTES:
                raise FileFormatError(f"{archive}: member {n!r} is too large")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise FileFormatError(f"{archive}: member {n!r} is a symbolic link")
        try:
            manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise FileFormatError(f"{archive}: {MANIFEST} is not valid JSON ({err})") from None
        _validate_manifest(manifest, f"{archive}:{MANIFEST}")
        listed = {e["file"] for e in manifest["entries"].values()}
        present = {n.split("/", 1)[1] for n in names if n != MANIFEST}
        if listed != present:
            raise FileFormatError(f"{archive}: files {sorted(listed ^ present)} are missing or not in the manifest")
        out = {}
        for name, e in manifest["entries"].items():
            target = dest / e["file"]
            with zf.open(f"{FP_DIR}/{e['file']}") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            if file_sha256(target) != e["sha256"]:
                raise FileFormatError(f"{archive}: {e['file']} does not match its sha256 in the manifest")
            out[e["file"]] = target
    return manifest, out
