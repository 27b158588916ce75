"""Scenario 4, Co-Training Data: target and source trained together, one head each.

A shared backbone with one classification head per task; every training sample is drawn from
either task with probability 1/2 and each head's loss is computed on its own task's samples, with
equal weights. The target (head 0) is tested on its held-out split; the source uses its full
training split.
"""
from __future__ import annotations

import time
from pathlib import Path

import lightning as L

from ...vocabulary import COTRAINING
from ..config import TrainConfig
from ..data import CoTrainingDataModule, read_task
from ..plugins import Job, TransferScenario, register_plugin
from ..training import RunResult, classifier, run_result, task_datamodule, train

__all__ = ["run_cotraining", "CoTrainingPlugin"]


def run_cotraining(source, target, cfg: TrainConfig = TrainConfig(), seed: int = 0, shrunk: bool = True,
                   probabilities=(0.5, 0.5)) -> RunResult:
    """Co-training scenario: shared backbone, one head per task, samples drawn 1:1 from both tasks.

    Parameters
    ----------
    source, target : path or TaskScan
    cfg : TrainConfig
    seed : int
        The target's data and the run use ``seed``, the source's data ``seed + 1``.
    shrunk : bool
        Train on the target's shrunk variant when it has one.
    probabilities : (float, float)
        Probability of drawing a target / source sample (1/2 each in the paper).
    """
    t0 = time.perf_counter()
    target_task, source_task = read_task(target), read_task(source)
    L.seed_everything(seed, workers=True, verbose=False)
    tdm = task_datamodule(target_task, cfg, seed, shrunk)
    sdm = task_datamodule(source_task, cfg, seed + 1, shrunk=False)
    dm = CoTrainingDataModule(tdm, sdm, seed=seed, probabilities=probabilities)
    module = classifier(cfg, cfg.arch, [target_task.num_classes, source_task.num_classes])
    _, metrics, lr = train(dm, module, cfg, seed)
    return run_result(COTRAINING.key, target_task, source_task.name, cfg.arch, seed, dm, metrics, lr, t0, cfg)


class CoTrainingPlugin(TransferScenario):
    """Co-Training Data: one job per (target, valid source)."""

    record = COTRAINING

    def run(self, target, cfg, seed=0, *, shrunk=True, source=None) -> RunResult:
        return run_cotraining(source, target, cfg, seed, shrunk=shrunk)


    def run_job(self, job: Job, spec, workdir: Path) -> RunResult:
        return run_cotraining(spec.scan(job.source), spec.scan(job.target), spec.train, spec.seed + job.repetition,
                              shrunk=job.shrunk)



PLUGIN = register_plugin(CoTrainingPlugin())
