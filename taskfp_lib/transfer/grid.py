"""A declarative experiment grid: targets x sources x scenarios x repetitions, resumable and checked.

Every training is an independent :class:`~taskfp_lib.transfer.plugins.Job` whose result is one JSON
file ``<workdir>/runs/<job key>.json`` (written atomically). The jobs come from the scenario
plug-ins (:mod:`taskfp_lib.transfer.plugins`): the baseline's, then those of each scenario of the
specification. A finished job is never recomputed; an interrupted one left no file and simply runs
again. :func:`write_outcomes` turns the run files into transfer-outcome files in exactly the
published layout (:func:`taskfp_lib.upstream.readers.outcome_filename`), so that
:func:`taskfp_lib.evaluation.load_outcomes` and the paper notebooks read fresh outcomes unchanged.

Every run record carries the settings that determined it (recipe, seed, input files) and their
sha256, ``config_hash``. A grid resumed with other settings is refused before any job runs, with
the differing fields named, instead of reusing old runs under a new label.

Execution is sequential by default; pass a ``dask.distributed.Client`` to run the same jobs on a
Dask cluster (a ``LocalCluster``, or SLURM/Kubernetes through dask-jobqueue / dask-kubernetes).
Dask does the scheduling; this module only declares jobs and dependencies.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from .._files import atomic_write_text
from ..vocabulary import BASELINE_KEY, METRICS
from .config import ConfigError, recipe, settings_diff, settings_hash
from .plugins import Job, get_plugin, plugin_for_kind
from .spec import GridSpec

__all__ = ["grid_jobs", "job_settings", "job_done", "check_resume", "run_job", "run_grid", "job_status",
           "read_runs", "outcome_tables", "write_outcomes"]


def grid_jobs(spec: GridSpec) -> list[Job]:
    """All jobs of the grid, deduplicated, in a deterministic order (dependencies first).

    Per repetition: the baseline's jobs, then each scenario's in ``spec.scenarios`` order.
    """
    jobs: list[Job] = []
    scenario_plugins = [get_plugin(BASELINE_KEY)] + [get_plugin(k) for k in spec.scenarios]
    for r in spec.repetitions:
        for plugin in scenario_plugins:
            jobs += plugin.jobs(spec, r)
    return list({job.key: job for job in jobs}.values())


def job_settings(job: Job, spec: GridSpec) -> dict[str, Any]:
    """What determines a job's result: its identity, seed, recipe (execution details left out) and inputs."""
    cfg = spec.train if job.arch is None else spec.train.replace(arch=job.arch)
    return {"job": dataclasses.asdict(job), "seed": spec.seed + job.repetition, "train": recipe(cfg),
            "inputs": plugin_for_kind(job.kind).job_inputs(job, spec)}


def _run_path(workdir: Path, job: Job) -> Path:
    return workdir / "runs" / f"{job.key}.json"


def _read_run(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: corrupt run file ({err}); delete it to recompute the run") from None
    if not isinstance(record, dict) or not isinstance(record.get("key"), str):
        raise ValueError(f"{path}: not a run record (no 'key'); delete it to recompute the run")
    return record


def job_done(spec: GridSpec, workdir: str | os.PathLike, job: Job) -> bool:
    """Whether ``job`` has a run record (and the files its plug-in leaves besides it)."""
    workdir = Path(workdir)
    return _run_path(workdir, job).is_file() and plugin_for_kind(job.kind).outputs_present(job, workdir)


def _mismatch(record: dict, job: Job, spec: GridSpec) -> list[str] | None:
    """The differing settings of a stored run (``None`` if it matches the current settings)."""
    current = job_settings(job, spec)
    if record.get("config_hash") == settings_hash(current):
        return None
    if "settings" not in record:
        return ["config_hash: the run was made by an older taskfp without a configuration hash"]
    return settings_diff(record["settings"], current) or ["config_hash: differs"]


def check_resume(spec: GridSpec, workdir: str | os.PathLike) -> int:
    """Check that every finished run of ``workdir`` was made with the current settings; returns their number.

    Raises
    ------
    ConfigError
        Naming the work directory, the number of mismatched runs, the first one and its differing
        fields (``field: stored -> now``).
    """
    workdir = Path(workdir)
    done, bad = 0, []
    for job in grid_jobs(spec):
        record = _read_run(_run_path(workdir, job))
        if record is None:
            continue
        done += 1
        diff = _mismatch(record, job, spec)
        if diff:
            bad.append((job, diff))
    if bad:
        job, diff = bad[0]
        raise ConfigError(f"{workdir}: {len(bad)} finished run(s) were made with other settings, e.g. {job.key}: "
                          f"{'; '.join(diff[:6])}; use another --workdir, or delete {workdir / 'runs'} to "
                          "recompute")
    return done


def run_job(job: Job, spec: GridSpec | dict, workdir: str | os.PathLike, *_dependencies: Any) -> dict:
    """Run one job unless its result exists; write the result JSON atomically and return it.

    Extra positional arguments are ignored; they let Dask order a job after its dependency.

    Raises
    ------
    ConfigError
        A stored result of this job was made with other settings.
    """
    spec = spec if isinstance(spec, GridSpec) else GridSpec.from_dict(spec)
    workdir = Path(workdir)
    out = _run_path(workdir, job)
    settings = job_settings(job, spec)
    if job_done(spec, workdir, job):
        record = _read_run(out)
        diff = _mismatch(record, job, spec)
        if diff:
            raise ConfigError(f"{out}: made with other settings: {'; '.join(diff[:6])}")
        return record
    result = plugin_for_kind(job.kind).run_job(job, spec, workdir)
    record = result.to_dict()
    record.update(job=dataclasses.asdict(job), key=job.key, target=job.target, source=job.source,
                  settings=settings, config_hash=settings_hash(settings), host=platform.node(), pid=os.getpid())
    atomic_write_text(out, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def job_status(spec: GridSpec, workdir: str | os.PathLike) -> pd.DataFrame:
    """One row per job: key, kind, target, source, arch, repetition, shrunk, done."""
    rows = [{**dataclasses.asdict(j), "key": j.key, "done": job_done(spec, workdir, j)} for j in grid_jobs(spec)]
    return pd.DataFrame(rows)


def run_grid(spec: GridSpec, workdir: str | os.PathLike, client=None, progress: bool = True,
             max_jobs: int | None = None) -> dict[str, int]:
    """Run every job of the grid that has no result yet.

    Before any job runs, every input is read (:meth:`GridSpec.check_inputs`) and every finished
    run is checked against the current settings (:func:`check_resume`); only then is the
    specification written to ``<workdir>/grid.json`` (with absolute paths).

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
    workdir = Path(workdir)
    spec.check_inputs()
    check_resume(spec, workdir)
    (workdir / "runs").mkdir(parents=True, exist_ok=True)
    spec.to_json(workdir / "grid.json")
    jobs = grid_jobs(spec)
    todo = [j for j in jobs if not job_done(spec, workdir, j)]
    counts = {"total": len(jobs), "skipped": len(jobs) - len(todo), "ran": 0, "failed": 0}
    if max_jobs is not None:
        todo = todo[:max_jobs]
    if client is None:
        return _run_here(spec, workdir, todo, counts, progress)
    return _run_dask(spec, workdir, todo, counts, progress, client)


def _progress_bar(total: int, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="transfer grid", disable=not progress, file=sys.stderr)


def _run_here(spec: GridSpec, workdir: Path, todo: list[Job], counts: dict, progress: bool) -> dict[str, int]:
    bar = _progress_bar(len(todo), progress)
    for job in todo:
        bar.set_postfix_str(job.key[:60])
        run_job(job, spec, workdir)
        counts["ran"] += 1
        bar.update()
    bar.close()
    return counts


def _run_dask(spec: GridSpec, workdir: Path, todo: list[Job], counts: dict, progress: bool,
              client) -> dict[str, int]:
    from distributed import as_completed

    bar = _progress_bar(len(todo), progress)
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

    The baseline's files first, then each scenario's, for each metric (BA, AUROC).

    Raises
    ------
    RuntimeError
        If runs are missing (naming up to ten of them).
    ConfigError
        If a run was made with other settings than ``spec``'s.
    """
    runs = read_runs(workdir)
    missing: list[str] = []
    checked: set[str] = set()

    def metric_of(job: Job, metric: str) -> float:
        record = runs.get(job.key)
        if record is None:
            missing.append(job.key)
            return float("nan")
        if job.key not in checked:
            diff = _mismatch(record, job, spec)
            if diff:
                raise ConfigError(f"{Path(workdir) / 'runs' / job.key}.json: made with other settings: "
                                  f"{'; '.join(diff[:6])}")
            checked.add(job.key)
        return float(record["metrics"][metric])

    tables: dict[str, pd.DataFrame] = {}
    for metric in METRICS:
        for key in [BASELINE_KEY, *spec.scenarios]:
            tables.update(get_plugin(key).outcome_tables(spec, metric, lambda job, m=metric: metric_of(job, m)))
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
