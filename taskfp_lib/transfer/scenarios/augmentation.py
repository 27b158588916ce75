"""Scenario 3, Augmentation Policy: the target trained with the source task's learned augmentation policy.

The policy replaces the default training augmentation. The authors learned one policy per task and
repetition (albumentations 1.3 files, read through :mod:`taskfp_lib.transfer.policies`); repetition
``r`` of a grid uses the policy of run ``r``.
"""
from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import albumentations as A
import lightning as L

from ..._files import file_sha256
from ...vocabulary import AUGMENTATION
from ..config import TrainConfig
from ..data import read_task
from ..plugins import Job, TransferScenario, register_plugin
from ..policies import check_policy_file, load_policy
from ..training import RunResult, classifier, run_result, task_datamodule, train

__all__ = ["run_augmentation", "AugmentationPlugin"]


def run_augmentation(policy: str | os.PathLike | A.BaseCompose, target, cfg: TrainConfig = TrainConfig(),
                     seed: int = 0, source: str | None = None, shrunk: bool = True) -> RunResult:
    """Augmentation-policy scenario: train the target with the source task's learned policy.

    Parameters
    ----------
    policy : path or albumentations transform
        A policy JSON file (albumentations 1.3 or 2.x serialisation, checked against the limits of
        :mod:`taskfp_lib.transfer.policy_rules`) or a ready transform.
    target : path or TaskScan
    cfg : TrainConfig
    seed : int
    source : str, optional
        Source name recorded in the result (default: the policy file's folder name).
    shrunk : bool
        Train on the target's shrunk variant when it has one.
    """
    t0 = time.perf_counter()
    task = read_task(target)
    if isinstance(policy, (str, os.PathLike)):
        source = source or Path(policy).parent.name
        policy = load_policy(policy, seed=seed, image_size=cfg.image_size)
    L.seed_everything(seed, workers=True, verbose=False)
    dm = task_datamodule(task, cfg, seed, shrunk, transform=policy)
    module = classifier(cfg, cfg.arch, [task.num_classes])
    _, metrics, lr = train(dm, module, cfg, seed)
    return run_result(AUGMENTATION.key, task, source, cfg.arch, seed, dm, metrics, lr, t0, cfg)


@functools.lru_cache(maxsize=1024)
def _policy_sha256(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def policy_digest(path: str | os.PathLike) -> str:
    """sha256 of a policy file, computed once per (file, size, modification time)."""
    stat = os.stat(path)
    return _policy_sha256(os.fspath(path), stat.st_size, stat.st_mtime_ns)


class AugmentationPlugin(TransferScenario):
    """Augmentation Policy: one job per (target, valid source); the source lends its policy of the repetition."""

    record = AUGMENTATION
    source_kind = "policy"

    def run(self, target, cfg, seed=0, *, shrunk=True, source=None) -> RunResult:
        return run_augmentation(source, target, cfg, seed, shrunk=shrunk)


    def check_inputs(self, spec) -> None:
        for s in dict.fromkeys(s for t in spec.targets for s in spec.valid_sources(t)):
            for r in spec.repetitions:
                check_policy_file(spec.policy_path(s, r), image_size=spec.train.image_size)

    def job_inputs(self, job: Job, spec) -> dict:
        policy = spec.policy_path(job.source, job.repetition)
        return {"target": spec.tasks[job.target], "policy": policy, "policy_sha256": policy_digest(policy)}

    def run_job(self, job: Job, spec, workdir: Path) -> RunResult:
        return run_augmentation(spec.policy_path(job.source, job.repetition), spec.scan(job.target), spec.train,
                                spec.seed + job.repetition, source=job.source, shrunk=job.shrunk)



PLUGIN = register_plugin(AugmentationPlugin())
