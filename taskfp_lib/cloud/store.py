"""A local knowledge cloud: shared task fingerprints plus what worked for each task.

The paper's workflow: labs contribute *fingerprints* (never images, never per-image features) of
their tasks together with meta information (best architecture, a reference to the augmentation
policy, whether the data can be shared). A lab with a new task fingerprints it with the same
extractor and reference ranges and asks the cloud for the k closest earlier tasks.

Layout (a plain directory; no server)::

    <root>/cloud.json                 manifest: format, version, identity, entries
    <root>/fingerprints/<file>.npz    one fingerprint per entry (NPZ + JSON, see taskfp_lib.fingerprints)
    <root>/.lock                      the writers' lock (filelock)

The first fingerprint fixes the cloud's identity (extractor, weights, reference-range sha256,
feature count); fingerprints with another identity are refused. Every fingerprint passes the
content checks of :mod:`taskfp_lib.fingerprints.validation` on add, import and every load, and
must carry its reference ranges. Writes follow the crash-safe protocol of
:mod:`taskfp_lib.cloud.writer`. The threat model is in ``book/threat_model.md``.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pandas as pd

from .._files import FileFormatError, atomic_write_text, crash_point, file_sha256, read_json_file
from ..fingerprints import Fingerprint, IncompatibleFingerprintsError, check_all_compatible
from ..limits import MAX_MANIFEST_BYTES
from . import archive as _archive
from .manifest import (DEFAULT_DISTANCE, FP_DIR, MANIFEST, META_FIELDS, CloudError, TaskMeta, empty_manifest,
                       UnknownTaskError, fresh_file_name, identity_of, manifest_entry, now, validate_manifest)
from .query import rank_sources
from .writer import clean_leftovers, cloud_lock, commit, new_staging_dir

#: errors that make one cloud entry unusable (it is then left out of a ranking and reported)
ENTRY_ERRORS = (FileFormatError, IncompatibleFingerprintsError, OSError)


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
        with cloud_lock(root):
            if not (root / MANIFEST).is_file():
                import json

                atomic_write_text(root / MANIFEST, json.dumps(empty_manifest(), indent=1))
        return cls(root)

    def _read_manifest(self) -> dict:
        path = self.root / MANIFEST
        return validate_manifest(read_json_file(path, MAX_MANIFEST_BYTES), str(path))

    @contextlib.contextmanager
    def _writing(self) -> Iterator[dict]:
        """Hold the lock, re-read the manifest, clean leftovers; yield a copy of the manifest to edit."""
        with cloud_lock(self.root):
            self._manifest = self._read_manifest()
            clean_leftovers(self.root, self._manifest)
            yield {**self._manifest, "entries": dict(self._manifest["entries"])}
            self._manifest = self._read_manifest()

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

    def _check_identity(self, fp: Fingerprint, ident: dict | None = None) -> None:
        ident = self.identity if ident is None else ident
        if ident is None:
            return
        mine = (ident["extractor"]["name"], ident["extractor"]["weights"], ident["ranges_sha256"], ident["n_features"])
        if mine != fp.identity:
            raise IncompatibleFingerprintsError(
                f"fingerprint {fp.task!r} does not fit this cloud: cloud uses extractor {mine[0]!r} with weights "
                f"{mine[1]!r}, reference ranges {mine[2][:12]}..., {mine[3]} features; the fingerprint has "
                f"{fp.identity[0]!r}, {fp.identity[1]!r}, {fp.identity[2][:12]}..., {fp.identity[3]}. Fingerprint "
                "the task with the cloud's extractor and range file.")

    def _admissible(self, fp: Fingerprint, where: str) -> None:
        """Every check an incoming fingerprint must pass (structure, content, carried ranges)."""
        fp.validate()
        fp.check_content(where)
        if fp.ranges is None:
            raise CloudError(f"{where}: the fingerprint does not carry its reference ranges (a version-1 file), so "
                             "its means cannot be checked; re-create it with this version of taskfp")

    # ------------------------------------------------------------------------------ operations
    def add(self, fp: Fingerprint, meta: TaskMeta | Mapping[str, Any] | None = None, overwrite: bool = False) -> None:
        """Add a fingerprint with its meta information (error if the name exists, unless ``overwrite``)."""
        self.add_many([fp], meta, overwrite=overwrite)

    def add_many(self, fps: Sequence[Fingerprint], meta: TaskMeta | Mapping[str, Any] | None = None,
                 overwrite: bool = False) -> list[str]:
        """Add several fingerprints at once: every check first, then all entries in one manifest switch.

        Nothing is added when any fingerprint fails a check or conflicts (a name already in the
        cloud without ``overwrite``, a name twice, another identity).
        """
        meta = meta if isinstance(meta, TaskMeta) else TaskMeta.from_dict(meta, where="task meta")
        for fp in fps:
            self._admissible(fp, f"fingerprint {fp.task!r}")
        names = [fp.task for fp in fps]
        if len(set(names)) != len(names):
            raise CloudError(f"the same task name is given twice: {sorted({n for n in names if names.count(n) > 1})}")
        check_all_compatible(list(fps))                # also intensity preset, slices, probe precision
        if fps and self.names:
            self.get(self.names[0]).check_compatible(fps[0])
        with self._writing() as manifest:
            ident = manifest["identity"] or (identity_of(fps[0]) if fps else None)
            for fp in fps:
                self._check_identity(fp, ident)
            taken = [n for n in names if n in manifest["entries"]]
            if taken and not overwrite:
                raise CloudError(f"task(s) {taken} already in the cloud (use overwrite / --overwrite); nothing added")
            superseded = [manifest["entries"][n]["file"] for n in taken]
            for fp in fps:
                fname = fresh_file_name(fp.task)
                path = fp.save(self.root / FP_DIR / fname)
                crash_point("cloud-add:after-file")
                manifest["entries"][fp.task] = manifest_entry(fp, fname, file_sha256(path), meta)
            manifest["identity"] = ident
            commit(self.root, manifest, superseded, step="cloud-add")
        return names

    def remove(self, name: str) -> None:
        """Remove an entry and its fingerprint file."""
        with self._writing() as manifest:
            entry = manifest["entries"].pop(name, None)
            if entry is None:
                raise UnknownTaskError(f"task {name!r} is not in the cloud {self.root}")
            if not manifest["entries"]:
                manifest["identity"] = None
            commit(self.root, manifest, [entry["file"]], step="cloud-remove")

    def get(self, name: str) -> Fingerprint:
        """Load one fingerprint (checked against the manifest's sha256 and the content checks)."""
        entry = self._manifest["entries"].get(name)
        if entry is None:
            raise UnknownTaskError(f"task {name!r} is not in the cloud {self.root}")
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
        self._check_identity(fp)
        self._loaded[digest] = fp
        return fp

    def meta(self, name: str) -> TaskMeta:
        if name not in self._manifest["entries"]:
            raise UnknownTaskError(f"task {name!r} is not in the cloud {self.root}")
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
        cols = ["task", "n_samples", "bins", "num_classes", "has_fisher", *META_FIELDS, "added"]
        return pd.DataFrame(rows, columns=cols)

    def distance_matrix(self, distance: str = DEFAULT_DISTANCE, targets=None) -> pd.DataFrame:
        """All-pairs distances between cloud entries (rows = sources, columns = targets)."""
        from ..distances import distance_matrix

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
        DataFrame with columns rank, source, distance, distance_name and the sources' meta
        information, sorted by increasing distance (ties keep cloud order). Entries that fail
        validation, or whose distance is NaN, are never ranked: ``ranking.attrs["quarantined"]``
        maps their names to the reason.
        """
        fp.check_content(f"query fingerprint {fp.task!r}")
        self._check_identity(fp)
        names = [n for n in self.names if n != fp.task and n not in set(exclude)]
        sources, quarantined = {}, {}
        for n in names:
            try:
                sources[n] = self.get(n)
            except ENTRY_ERRORS as err:
                quarantined[n] = str(err)
        metas = {n: self._manifest["entries"][n]["meta"] for n in sources}
        return rank_sources(fp, sources, metas, distance, k, quarantined)

    # ------------------------------------------------------------------------------ sharing
    def export(self, archive: str | os.PathLike, names=None) -> Path:
        """Write the cloud (or the entries ``names``) to a zip archive for another lab (atomic)."""
        names = list(self.names if names is None else names)
        entries = {}
        for n in names:
            self.get(n)  # verifies the file and its content
            entries[n] = self._manifest["entries"][n]
        manifest = {**empty_manifest(), "created": self._manifest.get("created"), "exported": now(),
                    "identity": self.identity if entries else None, "entries": entries}
        files = {e["file"]: self.root / FP_DIR / e["file"] for e in entries.values()}
        return _archive.write_archive(Path(archive), manifest, files)

    def import_archive(self, archive: str | os.PathLike, on_conflict: str = "error") -> list[str]:
        """Import the entries of an exported archive: staged and checked completely, then applied at once.

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
        with self._writing() as manifest:
            staging = new_staging_dir(self.root)
            try:
                todo = self._apply_archive(archive, staging, manifest, on_conflict)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return todo

    def _apply_archive(self, archive: Path, staging: Path, manifest: dict, on_conflict: str) -> list[str]:
        """Stage and check the whole archive, then move its files in and switch the manifest once."""
        incoming, files, ident = self._stage_archive(archive, staging, manifest)
        conflicts = [n for n in incoming if n in manifest["entries"]]
        if conflicts and on_conflict == "error":
            raise CloudError(f"{archive}: tasks already in the cloud: {conflicts[:10]} (use on_conflict "
                             "skip/replace); nothing imported")
        todo = [n for n in incoming if not (n in conflicts and on_conflict == "skip")]
        superseded = [manifest["entries"][n]["file"] for n in todo if n in manifest["entries"]]
        for n in todo:
            entry = {**incoming[n], "file": fresh_file_name(n)}
            os.replace(files[incoming[n]["file"]], self.root / FP_DIR / entry["file"])
            crash_point("cloud-import:after-file")
            manifest["entries"][n] = entry
        if todo:
            manifest["identity"] = ident
        commit(self.root, manifest, superseded, step="cloud-import")
        return todo

    def _stage_archive(self, archive: Path, staging: Path, manifest: dict) -> tuple[dict, dict, dict | None]:
        """Extract and check every entry of ``archive``; return its entries, extracted files and identity."""
        theirs, files = _archive.read_archive(archive, staging)
        ident = manifest["identity"] or theirs["identity"]
        for name, e in theirs["entries"].items():
            where = f"{archive}: entry {name!r}"
            try:
                fp = Fingerprint.load(files[e["file"]])
            except FileFormatError as err:
                raise FileFormatError(f"{where}: {err}") from None
            if fp.task != name:
                raise FileFormatError(f"{where}: {e['file']} holds task {fp.task!r}")
            self._admissible(fp, where)
            self._check_identity(fp, ident)
            e.update(n_samples=fp.n_samples, bins=list(fp.bins), has_cov=fp.cov is not None,
                     has_fisher=fp.fisher is not None)
            crash_point("cloud-import:after-check")
        return theirs["entries"], files, ident
