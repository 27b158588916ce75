"""A declarative experiment grid: targets x sources x scenarios x repetitions.

Every training is an independent job whose result is one JSON file
``<workdir>/runs/<job key>.json`` (written atomically). A finished job is never recomputed;
an interrupted one left no file and simply runs again. :func:`write_outcomes` turns the run
files into transfer-outcome files in exactly the published layout (spec 2.1-2.3), so that
``taskfp_lib.outcomes`` and the paper notebooks read fresh outcomes unchanged.

Jobs (``Job.kind``)
-------------------
* ``baseline``: target t, repetition r, full and (for shrinkable targets) shrunk.
* ``arch``: every candidate architecture on every full-size source (to find the source's
  best architecture) and on every target (shrunk when ``spec.shrunk``).
* ``pretrain_source`` -> ``pretrain``: the source backbone (a safetensors checkpoint), then
  the fine-tuning on each shrunk target; the only dependency in the grid.
* ``augmentation``: shrunk target trained with the source's learned policy of repetition r.
* ``multi_task``: co-training of target and source.

Execution is sequential by default; pass a ``dask.distributed.Client`` to run the same jobs
on a Dask cluster (a ``LocalCluster``, or SLURM/Kubernetes through dask-jobqueue /
dask-kubernetes). Dask does the scheduling; this module only declares jobs and dependencies.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._files import atomic_write_text
from .data import is_shrinkable as _rule_shrinkable
from .data import scan_task
from .models import ARCHITECTURES
from .pipelines import (TrainConfig, pretrain_source, run_architecture, run_augmentation,
                        run_baseline, run_cotraining, run_pretraining)

__all__ = [
    "TRANSFER_SCENARIOS",
    "EXPERIMENT_FILE_KEYS",
    "METRICS",
    "GridSpec",
    "Job",
    "grid_jobs",
    "run_job",
    "run_grid",
    "job_status",
    "read_runs",
    "outcome_tables",
    "write_outcomes",
    "outcome_filename",
]

#: the four transfer scenarios (grid keys) and their upstream labels (spec conventions)
TRANSFER_SCENARIOS = {
    "arch": "Model<br>Architecture",
    "pretrain": "Pretraining<br>Data",
    "augmentation": "Augmentation<br>Policy",
    "multi_task": "Co-Training<br>Data",
}
#: experiment name in the outcome file names (``load_<exp>_experiment``)
EXPERIMENT_FILE_KEYS = {"arch": "arch", "pretrain": "pretrain", "augmentation": "augmentation",
                        "multi_task": "multi_task", "baseline": "baseline"}
METRICS = ("BA", "AUROC")


@dataclass
class GridSpec:
    """Declaration of an experiment grid (JSON round-trip via :meth:`to_json` / :meth:`from_json`).

    Attributes
    ----------
    tasks : dict
        Task name -> image-folder path (relative paths are resolved against the spec file).
    targets, sources : list of str
        Task names. Valid sources of a target exclude the target itself and its group
        (``groups``; for the paper's 71 task names the rules of ``taskfp_lib.tasks``).
    scenarios : list of str
        Any of ``arch``, ``pretrain``, ``augmentation``, ``multi_task``.
    repetitions : list of int
        Repetition r uses seed ``seed + r`` and the learned policy of run r.
    architectures : list of str
        Candidates of the architecture scenario (the paper's 20 timm models by default).
    policies : dict
        Source name -> list of policy JSON paths (one per repetition). Sources without an
        entry use the authors' shipped policy of the task of the same name.
    validation : bool
        The VALIDATION flag of the outcome file names.
    shrunk : bool
        Evaluate the arch and multi_task scenarios on shrunk targets (SHRUNK flag); pretrain
        and augmentation always use shrunk targets, as in the paper.
    groups : list of list of str
        Image-sharing groups whose members are never sources of each other.
    train : TrainConfig
        The training recipe.
    """

    tasks: dict[str, str]
    targets: list[str]
    sources: list[str]
    scenarios: list[str] = field(default_factory=lambda: list(TRANSFER_SCENARIOS))
    repetitions: list[int] = field(default_factory=lambda: [0, 1, 2])
    architectures: list[str] = field(default_factory=lambda: list(ARCHITECTURES))
    policies: dict[str, list[str]] = field(default_factory=dict)
    validation: bool = True
    shrunk: bool = True
    seed: int = 0
    groups: list[list[str]] = field(default_factory=list)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if isinstance(self.train, dict):
            self.train = TrainConfig.from_dict(self.train)
        unknown = [s for s in self.scenarios if s not in TRANSFER_SCENARIOS]
        if unknown:
            raise ValueError(f"unknown scenario(s) {unknown}; known: {list(TRANSFER_SCENARIOS)}")
        missing = [t for t in [*self.targets, *self.sources] if t not in self.tasks]
        if missing:
            raise ValueError(f"task(s) {sorted(set(missing))} have no image folder in 'tasks'")
        if not self.targets or not self.sources:
            raise ValueError("a grid needs at least one target and one source")
        if len(set(self.repetitions)) != len(self.repetitions) or any(r < 0 for r in self.repetitions):
            raise ValueError(f"repetitions must be distinct non-negative integers, got {self.repetitions}")
        for s, paths in self.policies.items():
            if len(paths) < len(self.repetitions):
                raise ValueError(f"policies[{s!r}] needs one policy per repetition ({len(self.repetitions)})")

    # -- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["train"] = dataclasses.asdict(self.train)
        return d

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            atomic_write_text(Path(path), text + "\n")
        return text

    @classmethod
    def from_dict(cls, values: dict[str, Any], base: str | os.PathLike | None = None) -> "GridSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown grid option(s) {unknown}; known: {sorted(known)}")
        values = dict(values)
        if base is not None:
            base = Path(base)
            values["tasks"] = {k: str(base / v) for k, v in values.get("tasks", {}).items()}
            values["policies"] = {k: [str(base / p) for p in v] for k, v in values.get("policies", {}).items()}
        return cls(**values)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "GridSpec":
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: grid specification not found") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from err
        try:
            return cls.from_dict(values, base=path.parent)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from err

    # -- task logic -------------------------------------------------------------------------
    def valid_sources(self, target: str) -> list[str]:
        """Sources of ``target`` in ``sources`` order (paper rules for the paper's task names)."""
        from taskfp_lib import tasks as registry

        if target in registry.ALL_TASKS and all(s in registry.ALL_TASKS for s in self.sources):
            allowed = set(registry.valid_sources(target))
        else:
            allowed = set(self.sources)
        excluded = {target}
        for group in self.groups:
            if target in group:
                excluded.update(group)
        return [s for s in self.sources if s in allowed and s not in excluded]

    def shrinkable(self, task: str) -> bool:
        """Whether ``task`` has a shrunk variant (paper list for paper tasks, else the 1,000/40 rule)."""
        from taskfp_lib import tasks as registry

        if task in registry.ALL_TASKS:
            return registry.is_shrinkable(task)
        data = scan_task(self.tasks[task], task)
        return _rule_shrinkable(len(data), data.num_classes, self.train.shrink_threshold, self.train.max_classes)

    def policy_path(self, source: str, repetition: int) -> str:
        if source in self.policies:
            return self.policies[source][self.repetitions.index(repetition)]
        from .policies import policy_file

        return str(policy_file(source, repetition))


_SAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


@dataclass(frozen=True)
class Job:
    """One training of the grid."""

    kind: str  # baseline | arch | pretrain_source | pretrain | augmentation | multi_task
    target: str  # the trained/evaluated task (for pretrain_source: the source)
    repetition: int
    source: str | None = None
    arch: str | None = None
    shrunk: bool = False

    @property
    def key(self) -> str:
        parts = [self.kind, self.target, self.source or "-", self.arch or "-", f"r{self.repetition}",
                 "shrunk" if self.shrunk else "full"]
        return "__".join(_SAFE.sub("_", p) for p in parts)

    def depends_on(self) -> "Job | None":
        if self.kind == "pretrain":
            return Job("pretrain_source", self.source, self.repetition, arch=self.arch)
        return None


def grid_jobs(spec: GridSpec) -> list[Job]:
    """All jobs of the grid, deduplicated, in a deterministic order (dependencies first)."""
    jobs: list[Job] = []
    shrinkable = {t: spec.shrinkable(t) for t in set(spec.targets)}
    arch = spec.train.arch
    for r in spec.repetitions:
        for t in spec.targets:
            jobs.append(Job("baseline", t, r, arch=arch, shrunk=False))
            if shrinkable[t]:
                jobs.append(Job("baseline", t, r, arch=arch, shrunk=True))
        if "pretrain" in spec.scenarios:
            used = {s for t in spec.targets for s in spec.valid_sources(t)}
            jobs += [Job("pretrain_source", s, r, arch=arch) for s in spec.sources if s in used]
        if "arch" in spec.scenarios:
            used = [s for s in spec.sources if any(s in spec.valid_sources(t) for t in spec.targets)]
            for a in spec.architectures:
                jobs += [Job("arch", s, r, arch=a, shrunk=False) for s in used]
                jobs += [Job("arch", t, r, arch=a, shrunk=spec.shrunk and shrinkable[t]) for t in spec.targets]
        for t in spec.targets:
            for s in spec.valid_sources(t):
                if "pretrain" in spec.scenarios:
                    jobs.append(Job("pretrain", t, r, source=s, arch=arch, shrunk=shrinkable[t]))
                if "augmentation" in spec.scenarios:
                    jobs.append(Job("augmentation", t, r, source=s, arch=arch, shrunk=shrinkable[t]))
                if "multi_task" in spec.scenarios:
                    jobs.append(Job("multi_task", t, r, source=s, arch=arch, shrunk=spec.shrunk and shrinkable[t]))
    seen: set[str] = set()
    unique = []
    for job in jobs:
        if job.key not in seen:
            seen.add(job.key)
            unique.append(job)
    return unique


def _run_path(workdir: Path, job: Job) -> Path:
    return workdir / "runs" / f"{job.key}.json"


def _checkpoint_path(workdir: Path, job: Job) -> Path:
    return workdir / "checkpoints" / f"{job.key}.safetensors"


def _read_run(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: corrupt run file ({err}); delete it to recompute the run") from err


def job_done(spec: GridSpec, workdir: str | os.PathLike, job: Job) -> bool:
    workdir = Path(workdir)
    if not _run_path(workdir, job).is_file():
        return False
    return job.kind != "pretrain_source" or _checkpoint_path(workdir, job).is_file()


def run_job(job: Job, spec: GridSpec | dict, workdir: str | os.PathLike, *_dependencies: Any) -> dict:
    """Run one job unless its result exists; write the result JSON atomically and return it.

    Extra positional arguments are ignored; they let Dask order a job after its dependency.
    """
    spec = spec if isinstance(spec, GridSpec) else GridSpec.from_dict(spec)
    workdir = Path(workdir)
    out = _run_path(workdir, job)
    if job_done(spec, workdir, job):
        return _read_run(out)
    cfg = spec.train
    seed = spec.seed + job.repetition
    task = spec.tasks[job.target]
    if job.kind == "baseline":
        result = run_baseline(task, cfg, seed, shrunk=job.shrunk)
    elif job.kind == "arch":
        result = run_architecture(task, job.arch, cfg, seed, shrunk=job.shrunk)
    elif job.kind == "pretrain_source":
        result = pretrain_source(task, _checkpoint_path(workdir, job), cfg.replace(arch=job.arch), seed)
    elif job.kind == "pretrain":
        checkpoint = _checkpoint_path(workdir, job.depends_on())
        if not checkpoint.is_file():
            raise RuntimeError(f"{checkpoint}: source backbone missing; run {job.depends_on().key} first")
        result = run_pretraining(job.source, task, cfg, seed, checkpoint=checkpoint, shrunk=job.shrunk)
    elif job.kind == "augmentation":
        result = run_augmentation(spec.policy_path(job.source, job.repetition), task, cfg, seed,
                                  source=job.source, shrunk=job.shrunk)
    elif job.kind == "multi_task":
        result = run_cotraining(spec.tasks[job.source], task, cfg, seed, shrunk=job.shrunk)
    else:
        raise ValueError(f"unknown job kind {job.kind!r}")
    record = result.to_dict()
    record.update(job=dataclasses.asdict(job), key=job.key, target=job.target, source=job.source,
                  host=platform.node(), pid=os.getpid())
    atomic_write_text(out, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def job_status(spec: GridSpec, workdir: str | os.PathLike) -> pd.DataFrame:
    """One row per job: key, kind, target, source, arch, repetition, shrunk, done."""
    rows = [{**dataclasses.asdict(j), "key": j.key, "done": job_done(spec, workdir, j)} for j in grid_jobs(spec)]
    return pd.DataFrame(rows)


def run_grid(spec: GridSpec, workdir: str | os.PathLike, client=None, progress: bool = True,
             max_jobs: int | None = None) -> dict[str, int]:
    """Run every job of the grid that has no result yet.

    Parameters
    ----------
    spec : GridSpec
    workdir : path
        Receives ``runs/``, ``checkpoints/`` and ``grid.json`` (the specification).
    client : dask.distributed.Client, optional
        Run the jobs on this Dask cluster; ``None`` runs them here, one after the other.
    progress : bool
        Show a progress bar (tqdm) on stderr.
    max_jobs : int, optional
        Stop after this many new jobs (sequential mode; for interrupting on purpose).

    Returns
    -------
    dict
        Counts: ``total``, ``skipped`` (already done), ``ran``, ``failed``.
    """
    from tqdm.auto import tqdm

    workdir = Path(workdir)
    (workdir / "runs").mkdir(parents=True, exist_ok=True)
    spec.to_json(workdir / "grid.json")
    jobs = grid_jobs(spec)
    todo = [j for j in jobs if not job_done(spec, workdir, j)]
    counts = {"total": len(jobs), "skipped": len(jobs) - len(todo), "ran": 0, "failed": 0}
    if max_jobs is not None:
        todo = todo[:max_jobs]
    bar = tqdm(total=len(todo), desc="transfer grid", disable=not progress, file=sys.stderr)
    if client is None:
        for job in todo:
            bar.set_postfix_str(job.key[:60])
            run_job(job, spec, workdir)
            counts["ran"] += 1
            bar.update()
        bar.close()
        return counts

    from distributed import as_completed

    spec_dict = spec.to_dict()
    futures: dict[str, Any] = {}
    for job in todo:  # dependencies come first in grid_jobs order
        dep = job.depends_on()
        args = [futures[dep.key]] if dep is not None and dep.key in futures else []
        futures[job.key] = client.submit(run_job, job, spec_dict, str(workdir), *args, key=f"taskfp-{job.key}",
                                         pure=False, resources=None)
    errors = []
    for future in as_completed(list(futures.values())):
        if future.status == "error":
            counts["failed"] += 1
            errors.append(f"{future.key}: {future.exception()!r}")
        else:
            counts["ran"] += 1
        bar.update()
    bar.close()
    if errors:
        raise RuntimeError(f"{len(errors)} grid job(s) failed (finished ones are kept; rerun to resume): "
                           + "; ".join(errors[:5]))
    return counts


# ------------------------------------------------------------------------------------------
# outcome files


def outcome_filename(exp: str, metric: str, validation: bool, shrunk: bool | None = None) -> str:
    """Published file name (spec 2.1); pretrain/augmentation have no SHRUNK field."""
    if exp in ("pretrain", "augmentation"):
        return f"load_{exp}_experiment%{metric}%{validation}.csv"
    return f"load_{exp}_experiment%{metric}%{shrunk}%{validation}.csv"


def read_runs(workdir: str | os.PathLike) -> dict[str, dict]:
    """All finished run records of a work directory, by job key."""
    runs = {}
    for path in sorted((Path(workdir) / "runs").glob("*.json")):
        if path.name.startswith("."):
            continue
        record = _read_run(path)
        runs[record["key"]] = record
    return runs


def outcome_tables(spec: GridSpec, workdir: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """The outcome tables of the grid in the published layout, keyed by file name.

    Raises
    ------
    RuntimeError
        If runs are missing (naming up to ten of them).
    """
    runs = read_runs(workdir)
    shrinkable = {t: spec.shrinkable(t) for t in spec.targets}
    arch = spec.train.arch
    missing: list[str] = []

    def metric_of(job: Job, metric: str) -> float:
        record = runs.get(job.key)
        if record is None:
            missing.append(job.key)
            return float("nan")
        return float(record["metrics"][metric])

    tables: dict[str, pd.DataFrame] = {}
    for metric in METRICS:
        for shrunk_file, targets in ((True, [t for t in spec.targets if shrinkable[t]]), (False, spec.targets)):
            data = {t: [metric_of(Job("baseline", t, r, arch=arch, shrunk=shrunk_file and shrinkable[t]), metric)
                        for r in spec.repetitions] for t in targets}
            frame = pd.DataFrame(data, index=list(spec.repetitions), columns=targets)
            tables[outcome_filename("baseline", metric, spec.validation, shrunk_file)] = frame
        for scenario in spec.scenarios:
            rows = []
            for r in spec.repetitions:
                best: dict[str, str] = {}

                def best_arch(s: str) -> str:  # the architecture that was best on the full-size source
                    if s not in best:
                        scores = [metric_of(Job("arch", s, r, arch=a, shrunk=False), metric)
                                  for a in spec.architectures]
                        best[s] = spec.architectures[int(np.nanargmax(scores))] if not np.all(np.isnan(scores)) \
                            else spec.architectures[0]
                    return best[s]

                for s in spec.sources:
                    for t in spec.targets:
                        if s not in spec.valid_sources(t):
                            continue
                        if scenario == "arch":
                            job = Job("arch", t, r, arch=best_arch(s), shrunk=spec.shrunk and shrinkable[t])
                        elif scenario == "multi_task":
                            job = Job("multi_task", t, r, source=s, arch=arch, shrunk=spec.shrunk and shrinkable[t])
                        else:
                            job = Job(scenario, t, r, source=s, arch=arch, shrunk=shrinkable[t])
                        rows.append({"r": r, "s": s, "t": t, "p": metric_of(job, metric)})
            frame = pd.DataFrame(rows, columns=["r", "s", "t", "p"])
            shrunk_flag = spec.shrunk if scenario in ("arch", "multi_task") else None
            tables[outcome_filename(EXPERIMENT_FILE_KEYS[scenario], metric, spec.validation, shrunk_flag)] = frame
    if missing:
        unique = sorted(set(missing))
        raise RuntimeError(f"{len(unique)} run(s) missing in {workdir}; run the grid first: {unique[:10]}")
    return tables


def write_outcomes(spec: GridSpec, workdir: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> list[Path]:
    """Write the outcome files (published layout) to ``out_dir`` (default ``<workdir>/exp``)."""
    out_dir = Path(out_dir) if out_dir is not None else Path(workdir) / "exp"
    written = []
    for name, frame in outcome_tables(spec, workdir).items():
        path = out_dir / name
        atomic_write_text(path, frame.to_csv(index=True))
        written.append(path)
    return written
