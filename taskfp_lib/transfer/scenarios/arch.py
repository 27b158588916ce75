"""Scenario 1, Model Architecture: the target trained with the architecture that was best on the source.

Every candidate architecture (the paper's 20 timm models, Supplementary Table 1) is trained on
every full-size source and on every target; the outcome of source ``s`` for target ``t`` in
repetition ``r`` and metric ``m`` is the target's result with the architecture whose result on
``s`` was best in the same repetition and metric (ties: the earlier candidate).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...vocabulary import ARCH
from ..config import TrainConfig
from ..plugins import Job, TransferScenario, register_plugin
from ..training import RunResult
from .baseline import train_single

__all__ = ["run_architecture", "ArchitecturePlugin"]


def run_architecture(target, arch: str, cfg: TrainConfig = TrainConfig(), seed: int = 0,
                     shrunk: bool = True) -> RunResult:
    """Model-architecture building block: train the target with architecture ``arch``.

    The transfer outcome of a source is the target's result with the architecture that was
    best on the (full-size) source; the grid evaluates all candidates on every task and picks
    per source.
    """
    return train_single(target, arch, cfg, seed, shrunk, kind=ARCH.key)


class ArchitecturePlugin(TransferScenario):
    """Model Architecture: jobs for every candidate on the used sources (full) and the targets."""

    record = ARCH
    source_kind = None

    def run(self, target, cfg, seed=0, *, shrunk=True, source=None) -> RunResult:
        return run_architecture(target, cfg.arch, cfg, seed, shrunk=shrunk)

    def jobs(self, spec, repetition: int) -> list[Job]:
        used = [s for s in spec.sources if any(s in spec.valid_sources(t) for t in spec.targets)]
        jobs = []
        for a in spec.architectures:
            jobs += [Job(self.key, s, repetition, arch=a, shrunk=False) for s in used]
            jobs += [Job(self.key, t, repetition, arch=a, shrunk=self.target_shrunk(spec, t)) for t in spec.targets]
        return jobs

    def run_job(self, job: Job, spec, workdir: Path) -> RunResult:
        return run_architecture(spec.scan(job.target), job.arch, spec.train, spec.seed + job.repetition,
                                shrunk=job.shrunk)

    def outcome_job(self, spec, source, target, repetition, metric, metric_of) -> Job:
        scores = [metric_of(Job(self.key, source, repetition, arch=a, shrunk=False)) for a in spec.architectures]
        best = spec.architectures[int(np.nanargmax(scores))] if not np.all(np.isnan(scores)) \
            else spec.architectures[0]
        return Job(self.key, target, repetition, arch=best, shrunk=self.target_shrunk(spec, target))


PLUGIN = register_plugin(ArchitecturePlugin())
