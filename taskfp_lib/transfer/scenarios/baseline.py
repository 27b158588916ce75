"""The single-task baseline: the target trained alone (no transfer), full-size and shrunk.

Its outcome files ``load_baseline_experiment%<METRIC>%<SHRUNK>%<VALIDATION>.csv`` have one row per
repetition and one column per target; the shrunk file holds the targets with a shrunk variant.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import lightning as L
import pandas as pd

from ...upstream.readers import outcome_filename
from ..config import TrainConfig
from ..data import read_task
from ..plugins import Job, TransferScenario, register_plugin
from ..training import RunResult, classifier, run_result, task_datamodule, train

__all__ = ["train_single", "run_baseline", "BaselinePlugin"]


def train_single(target, arch: str, cfg: TrainConfig, seed: int = 0, shrunk: bool = False,
                 kind: str = "baseline") -> RunResult:
    """Train ``target`` alone with backbone ``arch`` (the recipe of ``cfg`` otherwise) and test it.

    Parameters
    ----------
    target : path or TaskScan
    arch : str
        timm architecture.
    cfg : TrainConfig
    seed : int
    shrunk : bool
        Train on the shrunk variant when the task has one.
    kind : str
        The job kind recorded in the result.
    """
    t0 = time.perf_counter()
    task = read_task(target)
    L.seed_everything(seed, workers=True, verbose=False)
    dm = task_datamodule(task, cfg, seed, shrunk)
    module = classifier(cfg, arch, [task.num_classes])
    _, metrics, lr = train(dm, module, cfg, seed)
    return run_result(kind, task, None, arch, seed, dm, metrics, lr, t0, cfg)


def run_baseline(target, cfg: TrainConfig = TrainConfig(), seed: int = 0, shrunk: bool = False) -> RunResult:
    """Single-task baseline: the ImageNet backbone ``cfg.arch`` trained on the target alone."""
    return train_single(target, cfg.arch, cfg, seed, shrunk, kind="baseline")


class BaselinePlugin(TransferScenario):
    """The baseline as a plug-in: one job per target, repetition and size (full; shrunk if it has a variant)."""

    source_kind = None

    def run(self, target, cfg, seed=0, *, shrunk=False, source=None) -> RunResult:
        return run_baseline(target, cfg, seed, shrunk=shrunk)

    def jobs(self, spec, repetition: int) -> list[Job]:
        arch = spec.train.arch
        jobs = []
        for t in spec.targets:
            jobs.append(Job(self.key, t, repetition, arch=arch, shrunk=False))
            if spec.shrinkable(t):
                jobs.append(Job(self.key, t, repetition, arch=arch, shrunk=True))
        return jobs

    def run_job(self, job: Job, spec, workdir: Path) -> RunResult:
        return run_baseline(spec.scan(job.target), spec.train, spec.seed + job.repetition, shrunk=job.shrunk)

    def outcome_tables(self, spec, metric: str, metric_of: Callable[[Job], float]) -> dict[str, pd.DataFrame]:
        tables = {}
        for shrunk in (True, False):
            targets = [t for t in spec.targets if spec.shrinkable(t)] if shrunk else list(spec.targets)
            data = {t: [metric_of(Job(self.key, t, r, arch=spec.train.arch, shrunk=shrunk))
                        for r in spec.repetitions] for t in targets}
            frame = pd.DataFrame(data, index=list(spec.repetitions), columns=targets)
            tables[outcome_filename(self.key, metric, spec.validation, shrunk)] = frame
        return tables


PLUGIN = register_plugin(BaselinePlugin())
