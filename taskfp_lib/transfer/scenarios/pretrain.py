"""Scenario 2, Pretraining Data: a backbone trained on the source, a new head, fine-tuned on the target.

In a grid the source pretraining is a job of its own (kind ``pretrain_source``) that writes the
backbone as safetensors to ``<workdir>/checkpoints/``; every fine-tuning on a target depends on it
(the grid's only dependency).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import lightning as L

from ...vocabulary import PRETRAIN
from ..config import TrainConfig
from ..data import read_task
from ..models import create_backbone, load_backbone_weights, save_backbone
from ..plugins import Job, TransferScenario, checkpoint_path, register_plugin
from ..training import RunResult, classifier, run_result, task_datamodule, train

__all__ = ["pretrain_source", "run_pretraining", "PretrainingPlugin", "SOURCE_KIND"]

#: job kind of the source pretraining
SOURCE_KIND = "pretrain_source"


def pretrain_source(source, checkpoint: str | os.PathLike, cfg: TrainConfig = TrainConfig(),
                    seed: int = 0) -> RunResult:
    """Train ``cfg.arch`` on the full source task and save its backbone (safetensors) to ``checkpoint``."""
    t0 = time.perf_counter()
    task = read_task(source)
    L.seed_everything(seed, workers=True, verbose=False)
    dm = task_datamodule(task, cfg, seed, shrunk=False)
    module = classifier(cfg, cfg.arch, [task.num_classes])
    module, metrics, lr = train(dm, module, cfg, seed)
    save_backbone(module.backbone, checkpoint, metadata={"arch": cfg.arch, "source": task.name, "seed": str(seed)})
    return run_result(SOURCE_KIND, task, None, cfg.arch, seed, dm, metrics, lr, t0, cfg, checkpoint=str(checkpoint))


def run_pretraining(source, target, cfg: TrainConfig = TrainConfig(), seed: int = 0,
                    checkpoint: str | os.PathLike | None = None, shrunk: bool = True) -> RunResult:
    """Pretraining-data scenario: backbone trained on the source, new head, fine-tuned on the target.

    Parameters
    ----------
    source : path, TaskScan or str
        The source task (its name is recorded; with ``checkpoint`` only the name is used).
    target : path or TaskScan
    cfg : TrainConfig
    seed : int
    checkpoint : path, optional
        A backbone written by :func:`pretrain_source`; without it the source is trained first
        (into a temporary file).
    shrunk : bool
        Fine-tune on the target's shrunk variant when it has one.

    Raises
    ------
    ValueError
        The checkpoint is not a readable safetensors file or does not fit ``cfg.arch`` (one line).
    """
    t0 = time.perf_counter()
    target_task = read_task(target)
    with tempfile.TemporaryDirectory(prefix="taskfp-pretrain-") as tmp:
        source_name = None
        if checkpoint is None:
            source_task = read_task(source)
            source_name = source_task.name
            checkpoint = Path(tmp) / "backbone.safetensors"
            pretrain_source(source_task, checkpoint, cfg, seed)
        backbone = load_backbone_weights(create_backbone(cfg.arch, pretrained=False), checkpoint)
    if source_name is None:
        source_name = getattr(source, "name", None) or Path(str(source)).name
    L.seed_everything(seed, workers=True, verbose=False)
    dm = task_datamodule(target_task, cfg, seed, shrunk)
    module = classifier(cfg, cfg.arch, [target_task.num_classes], backbone=backbone)
    _, metrics, lr = train(dm, module, cfg, seed)
    return run_result(PRETRAIN.key, target_task, source_name, cfg.arch, seed, dm, metrics, lr, t0, cfg)


class PretrainingPlugin(TransferScenario):
    """Pretraining Data: source pretraining jobs, then one fine-tuning per (target, valid source)."""

    record = PRETRAIN
    kinds = (PRETRAIN.key, SOURCE_KIND)

    def run(self, target, cfg, seed=0, *, shrunk=True, source=None) -> RunResult:
        return run_pretraining(source, target, cfg, seed, shrunk=shrunk)

    def jobs(self, spec, repetition: int) -> list[Job]:
        arch = spec.train.arch
        used = {s for t in spec.targets for s in spec.valid_sources(t)}
        jobs = [Job(SOURCE_KIND, s, repetition, arch=arch) for s in spec.sources if s in used]
        return jobs + super().jobs(spec, repetition)

    def dependency(self, job: Job) -> Job | None:
        return Job(SOURCE_KIND, job.source, job.repetition, arch=job.arch) if job.kind == self.key else None

    def outputs_present(self, job: Job, workdir: Path) -> bool:
        return job.kind != SOURCE_KIND or checkpoint_path(workdir, job).is_file()

    def run_job(self, job: Job, spec, workdir: Path) -> RunResult:
        seed = spec.seed + job.repetition
        if job.kind == SOURCE_KIND:
            return pretrain_source(spec.scan(job.target), checkpoint_path(workdir, job),
                                   spec.train.replace(arch=job.arch), seed)
        source_job = self.dependency(job)
        checkpoint = checkpoint_path(workdir, source_job)
        if not checkpoint.is_file():
            raise RuntimeError(f"{checkpoint}: source backbone missing; run {source_job.key} first")
        try:
            return run_pretraining(job.source, spec.scan(job.target), spec.train, seed, checkpoint=checkpoint,
                                   shrunk=job.shrunk)
        except ValueError as err:
            if str(checkpoint) not in str(err):
                raise
            raise ValueError(f"{err}; delete it and runs/{source_job.key}.json in {workdir} to recompute the "
                             "source pretraining") from None



PLUGIN = register_plugin(PretrainingPlugin())
