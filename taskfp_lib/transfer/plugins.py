"""Transfer scenarios as plug-ins: one object per scenario runs it, declares its grid jobs and its outcomes.

A scenario of the paper (Fig. 1; Methods, "Knowledge transfer scenarios") has a record in
:mod:`taskfp_lib.vocabulary` (label, experiment key, SHRUNK field, colour) and a plug-in here, a
:class:`TransferScenario` that knows

* how to train it once (:meth:`TransferScenario.run`, used by ``taskfp transfer run`` and the API),
* which trainings (:class:`Job`) a grid needs for it (:meth:`TransferScenario.jobs`) and how to
  run each (:meth:`TransferScenario.run_job`),
* which finished training is the outcome ``p`` of a (source, target, repetition) row of its
  outcome file (:meth:`TransferScenario.outcome_job`).

The grid (:mod:`taskfp_lib.transfer.grid`) and the command line only loop over plug-ins. Adding a
scenario means one module that calls :func:`taskfp_lib.vocabulary.register_scenario` and
:func:`register_plugin`; modules in :mod:`taskfp_lib.transfer.scenarios` are imported
automatically. The single-task baseline is a plug-in without a record (key ``baseline``): every
grid runs it, and its outcome files are the baselines.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd

from ..upstream.readers import outcome_filename
from ..vocabulary import BASELINE_KEY, Scenario

if TYPE_CHECKING:  # pragma: no cover
    from .config import TrainConfig
    from .spec import GridSpec
    from .training import RunResult

__all__ = ["Job", "TransferScenario", "register_plugin", "get_plugin", "plugin_for_kind", "plugins",
           "checkpoint_path", "safe_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")
#: characters of a task or architecture name kept in a job key (the rest is in the key's hash)
SAFE_NAME_CHARS = 40


def safe_name(name: str | None) -> str:
    """A file-name-safe, shortened form of ``name`` (``-`` for ``None``); not unique on its own."""
    if name is None:
        return "-"
    return _UNSAFE.sub("_", name)[:SAFE_NAME_CHARS] or "_"


@dataclass(frozen=True)
class Job:
    """One training of a grid.

    Attributes
    ----------
    kind : str
        The plug-in's job kind: a scenario key, ``baseline`` or a helper kind (``pretrain_source``).
    target : str
        The trained and evaluated task (for ``pretrain_source``: the source being trained).
    repetition : int
    source : str, optional
    arch : str, optional
    shrunk : bool
    """

    kind: str
    target: str
    repetition: int
    source: str | None = None
    arch: str | None = None
    shrunk: bool = False

    @property
    def key(self) -> str:
        """Unique, file-name-safe key: readable parts plus 16 hex digits of the sha256 of every field.

        Task names such as ``task x``, ``task_x`` and ``task/x`` share their readable part but never
        their key.
        """
        identity = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
        parts = [self.kind, safe_name(self.target), safe_name(self.source), safe_name(self.arch),
                 f"r{self.repetition}", "shrunk" if self.shrunk else "full", digest]
        return "__".join(parts)

    def depends_on(self) -> "Job | None":
        """The job that must finish first (e.g. the source pretraining of a fine-tuning), if any."""
        return plugin_for_kind(self.kind).dependency(self)


def checkpoint_path(workdir: str | os.PathLike, job: Job) -> Path:
    """Where the grid keeps the backbone a job writes (``<workdir>/checkpoints/<key>.safetensors``)."""
    return Path(workdir) / "checkpoints" / f"{job.key}.safetensors"


class TransferScenario:
    """Base class of a scenario plug-in (override what the scenario needs).

    Attributes
    ----------
    record : Scenario or None
        The vocabulary record (``None`` for the baseline).
    kinds : tuple of str
        Job kinds this plug-in runs (default: the key alone).
    source_kind : {"task", "policy", None}
        What a single run takes as its source: a task folder, a policy file, or nothing.
    """

    record: Scenario | None = None
    kinds: tuple[str, ...] = ()
    source_kind: str | None = "task"

    @property
    def key(self) -> str:
        """Experiment key of the outcome files and of ``GridSpec.scenarios``."""
        return self.record.key if self.record is not None else BASELINE_KEY

    def job_kinds(self) -> tuple[str, ...]:
        """The job kinds this plug-in runs (``kinds``, or the key alone)."""
        return self.kinds or (self.key,)

    # -- one training -------------------------------------------------------------------------------
    def run(self, target, cfg: "TrainConfig", seed: int = 0, *, shrunk: bool = True,
            source: Any = None) -> "RunResult":
        """Train the scenario once: ``target`` (folder or scan) with ``source`` (see ``source_kind``)."""
        raise NotImplementedError

    # -- the grid -----------------------------------------------------------------------------------
    def pair_job(self, spec: "GridSpec", source: str, target: str, repetition: int) -> Job:
        """The training of ``target`` with ``source`` (backbone ``spec.train.arch``, shrunk as the scenario says)."""
        return Job(self.key, target, repetition, source=source, arch=spec.train.arch,
                   shrunk=self.target_shrunk(spec, target))

    def jobs(self, spec: "GridSpec", repetition: int) -> list[Job]:
        """The jobs of this scenario in one repetition, dependencies first (default: one per valid pair)."""
        return [self.pair_job(spec, s, t, repetition) for t in spec.targets for s in spec.valid_sources(t)]

    def run_job(self, job: Job, spec: "GridSpec", workdir: Path) -> "RunResult":
        """Run one of this plug-in's jobs (``job.kind in self.job_kinds()``)."""
        raise NotImplementedError

    def check_inputs(self, spec: "GridSpec") -> None:
        """Check this scenario's own inputs of a grid before any job runs (nothing by default)."""

    def dependency(self, job: Job) -> Job | None:
        """The job ``job`` needs first (none by default)."""
        return None

    def outputs_present(self, job: Job, workdir: Path) -> bool:
        """Whether the files a finished job leaves besides its run record exist (none by default)."""
        return True

    def job_inputs(self, job: Job, spec: "GridSpec") -> dict[str, Any]:
        """Files a job reads besides its recipe, for the run's configuration hash (task folders by default)."""
        inputs: dict[str, Any] = {"target": spec.tasks[job.target]}
        if job.source is not None and job.source in spec.tasks:
            inputs["source"] = spec.tasks[job.source]
        return inputs

    def outcome_job(self, spec: "GridSpec", source: str, target: str, repetition: int, metric: str,
                    metric_of: Callable[[Job], float]) -> Job:
        """The job whose ``metric`` is the outcome of (source, target, repetition) (default: :meth:`pair_job`)."""
        return self.pair_job(spec, source, target, repetition)

    def outcome_tables(self, spec: "GridSpec", metric: str,
                       metric_of: Callable[[Job], float]) -> dict[str, pd.DataFrame]:
        """This scenario's outcome file of ``metric``: one row ``(r, s, t, p)`` per repetition and valid pair.

        Rows are ordered by repetition, then source, then target (``spec`` order); the file name is
        :func:`taskfp_lib.upstream.readers.outcome_filename` of the scenario's key.
        """
        rows = [{"r": r, "s": s, "t": t, "p": metric_of(self.outcome_job(spec, s, t, r, metric, metric_of))}
                for r in spec.repetitions for s in spec.sources for t in spec.targets if s in spec.valid_sources(t)]
        name = outcome_filename(self.key, metric, spec.validation, spec.shrunk)
        return {name: pd.DataFrame(rows, columns=["r", "s", "t", "p"])}

    def target_shrunk(self, spec: "GridSpec", target: str) -> bool:
        """Whether this scenario trains ``target`` shrunk in a grid (SHRUNK field, else always shrunk)."""
        has_field = self.record is None or self.record.has_shrunk_field
        return spec.shrinkable(target) and (spec.shrunk if has_field else True)


_PLUGINS: dict[str, TransferScenario] = {}
_KINDS: dict[str, TransferScenario] = {}


def register_plugin(plugin: TransferScenario) -> TransferScenario:
    """Make a plug-in known under its key and job kinds (all new); returns it."""
    taken = [k for k in (plugin.key, *plugin.job_kinds()) if k in _KINDS or k in _PLUGINS]
    if taken:
        raise ValueError(f"scenario plug-in {type(plugin).__name__}: key or job kind {taken} already registered")
    _PLUGINS[plugin.key] = plugin
    for kind in plugin.job_kinds():
        _KINDS[kind] = plugin
    return plugin


def unregister_plugin(key: str) -> None:
    """Forget the plug-in of ``key`` (tests that register a toy scenario clean up with this)."""
    plugin = _PLUGINS.pop(key)
    for kind in plugin.job_kinds():
        _KINDS.pop(kind, None)


def _load_builtin() -> None:
    from . import scenarios  # noqa: F401 - importing registers the plug-ins of the package


def plugins() -> dict[str, TransferScenario]:
    """Every registered plug-in by key, the baseline first."""
    _load_builtin()
    return dict(_PLUGINS)


def _lookup(table: dict[str, TransferScenario], name: str, what: str) -> TransferScenario:
    _load_builtin()
    try:
        return table[name]
    except KeyError:
        raise KeyError(f"unknown {what} {name!r}; known: {sorted(table)}") from None


def get_plugin(key: str) -> TransferScenario:
    """The plug-in of a scenario key (or ``baseline``)."""
    return _lookup(_PLUGINS, key, "scenario")


def plugin_for_kind(kind: str) -> TransferScenario:
    """The plug-in that runs jobs of ``kind``."""
    return _lookup(_KINDS, kind, "job kind")
