"""Flower's simulation engine: the whole federation in one process (what the book uses).

:func:`run_simulation_engine` calls ``flwr.simulation.run_simulation`` with one virtual SuperNode
per task (Ray backend, one CPU per client, clients run in parallel). The deployment engine, with
one process per role, is in :mod:`taskfp_lib.federated.deploy`; both run the same apps
(:mod:`taskfp_lib.federated.apps`) and give the same base model for the same seed.
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from .config import FedConfig
from .deploy import group_members

__all__ = ["run_simulation_engine"]


@contextlib.contextmanager
def _quiet_flower(quiet: bool) -> Iterator[None]:
    """Silence Flower's INFO logs, its deprecation notice and Ray's start-up notes while running (``quiet``)."""
    loggers = [logging.getLogger(n) for n in ("flwr", "ray", "ray.widgets.util")]  # the last: an ipywidgets note
    levels = [lg.level for lg in loggers]
    if quiet:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def run_simulation_engine(task_dirs: Sequence[str | os.PathLike], cfg: FedConfig, run_dir: str | os.PathLike,
                          initial: Mapping[str, np.ndarray], num_cpus: int | None = None, quiet: bool = True,
                          tamper=None) -> Path:
    """Run (or resume) the federation in this process with Flower's simulation engine.

    Parameters
    ----------
    task_dirs : sequence of paths
        One virtual client per task folder.
    cfg : FedConfig
    run_dir : path
        Stage checkpoints, ``stages.csv``, ``summary.json``.
    initial : dict of str -> ndarray
        The MIM-pretrained encoder (stage 0 base model).
    num_cpus : int, optional
        CPUs given to Ray (clients run in parallel, one CPU each); default ``min(#tasks, os.cpu_count())``.
    tamper : callable, optional
        Tests only, see :func:`~taskfp_lib.federated.apps.make_client_app`.
    """
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    from flwr.simulation import run_simulation

    from .apps import make_client_app, make_server_app

    cpus = num_cpus or max(1, min(len(task_dirs), os.cpu_count() or 1))
    backend = {"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
               "init_args": {"num_cpus": cpus, "num_gpus": 0, "include_dashboard": False, "log_to_driver": not quiet}}
    dirs = [str(Path(d).resolve()) for d in task_dirs]
    before = _ray_workers()
    try:
        with _quiet_flower(quiet):
            run_simulation(make_server_app(cfg, run_dir, initial), make_client_app(cfg, dirs, tamper),
                           num_supernodes=len(dirs), backend_config=backend)
    finally:
        _stop_leftover_workers(before)
    return Path(run_dir)


def _ray_workers() -> set[int]:
    """Ray worker processes (``ray::...``) in this process group, read from /proc (empty elsewhere)."""
    pids: set[int] = set()
    for pid in group_members(os.getpgrp()):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if fh.read(64).startswith(b"ray::"):
                    pids.add(pid)
    return pids


def _stop_leftover_workers(before: set[int]) -> None:
    """Kill the Ray workers this run started that outlived ``ray.shutdown`` (seen as orphans holding ~1 GB)."""
    import signal

    for pid in _ray_workers() - before:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
