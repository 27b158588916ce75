"""One training with Lightning, shared by every scenario: fit, test, record.

:func:`train` fits a :class:`~taskfp_lib.transfer.models.ClassifierModule` on a data module
(optionally after Lightning's learning-rate finder) and tests it on the target's held-out split;
:class:`RunResult` records the configuration, the metrics and the package versions. Seeds are
explicit: ``seed`` drives ``lightning.seed_everything`` (weights of new heads, data order,
augmentation) and the Trainer runs with ``deterministic=True``.
"""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import platform
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import albumentations as A
import lightning as L
import numpy as np
import torch

from .config import TrainConfig
from .data import CoTrainingDataModule, TaskDataModule, has_shrunk_variant, read_task
from .models import ClassifierModule

__all__ = ["RunResult", "versions", "train", "task_datamodule", "classifier", "run_result", "cost_notice"]


@dataclass
class RunResult:
    """Outcome of one training: metrics on the target test split plus provenance.

    ``scenario`` is the job kind (a scenario key, ``baseline`` or a helper kind such as
    ``pretrain_source``); ``metrics`` holds ``BA`` and ``AUROC`` in [0, 1].
    """

    scenario: str
    target: str
    source: str | None
    arch: str
    seed: int
    shrunk: bool
    metrics: dict[str, float]
    n_train: int
    n_test: int
    lr: float
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)


def versions() -> dict[str, str]:
    """Versions of the packages that determine a training result."""
    import timm
    import torchvision

    from taskfp_lib import __version__

    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "timm": timm.__version__, "lightning": L.__version__, "albumentations": A.__version__,
            "numpy": np.__version__, "taskfp_lib": __version__}


def task_datamodule(task, cfg: TrainConfig, seed: int, shrunk: bool,
                    transform: A.BasicTransform | None = None) -> TaskDataModule:
    """Data of one task: shrunk to ``cfg.shrink_train`` images when asked and the task has a shrunk variant.

    Whether a task has a shrunk variant is :func:`~taskfp_lib.transfer.data.has_shrunk_variant`;
    ``dm.shrunk`` tells whether it was shrunk.
    """
    task = read_task(task)
    shrink = cfg.shrink_train if shrunk and has_shrunk_variant(task, cfg.shrink_threshold, cfg.max_classes) \
        else None
    dm = TaskDataModule(task, image_size=cfg.image_size, batch_size=cfg.batch_size, shrink_train=shrink,
                        train_transform=transform, seed=seed, split_seed=cfg.split_seed,
                        test_fraction=cfg.test_fraction, num_workers=cfg.num_workers,
                        cache_images=cfg.cache_images)
    dm.shrunk = shrink is not None
    return dm


def classifier(cfg: TrainConfig, arch: str, num_classes, backbone=None) -> ClassifierModule:
    """The module of the recipe: backbone ``arch`` (ImageNet, local weights, or the given one) + heads."""
    return ClassifierModule(arch=arch, num_classes=num_classes, lr=cfg.lr, weight_decay=cfg.weight_decay,
                            label_smoothing=cfg.label_smoothing, warmup_fraction=cfg.warmup_fraction,
                            pretrained=cfg.pretrained, weights_file=cfg.weights_file(arch) if backbone is None
                            else None, backbone=backbone)


@contextlib.contextmanager
def _quiet(progress: bool):
    """Silence Lightning's banner messages unless progress output is wanted."""
    loggers = [logging.getLogger(n) for n in ("lightning", "lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    if not progress:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        warnings.filterwarnings("ignore", message=".*isn't set.*")
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def _on_cpu(cfg: TrainConfig) -> bool:
    return cfg.accelerator == "cpu" or (cfg.accelerator == "auto" and not torch.cuda.is_available())


def _step_seconds(module: ClassifierModule, cfg: TrainConfig) -> float:
    """Seconds of one forward + backward pass of a batch, measured on a copy (the run is not touched)."""
    with torch.random.fork_rng(devices=[]):
        probe = copy.deepcopy(module).train()
        x = torch.zeros(cfg.batch_size, 3, cfg.image_size, cfg.image_size)
        t0 = time.perf_counter()
        probe.heads[0](probe.backbone(x)).sum().backward()
        return time.perf_counter() - t0


def cost_notice(cfg: TrainConfig, steps_per_epoch: int, step_seconds: float | None = None) -> str:
    """One line with the cost of a run: finder steps, training steps and (if measured) the expected time.

    Parameters
    ----------
    cfg : TrainConfig
    steps_per_epoch : int
        Training batches per epoch.
    step_seconds : float, optional
        Measured seconds per step; without it the line gives step counts only.
    """
    finder = cfg.lr_find_steps if cfg.lr_find else 0
    fit = cfg.max_epochs * steps_per_epoch
    parts = [f"{fit} training steps ({cfg.max_epochs} epochs x {steps_per_epoch} batches of {cfg.batch_size})"]
    if finder:
        parts.insert(0, f"{finder} learning-rate finder steps")
    text = "transfer: " + " + ".join(parts)
    if step_seconds is not None:
        text += (f"; about {_duration(finder * step_seconds)} for the finder and {_duration(fit * step_seconds)} "
                 f"for training at {step_seconds:.2f} s per step measured now")
    if finder:
        text += "; --no-lr-find or --lr-find-steps N shorten the finder"
    return text


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def train(datamodule: TaskDataModule | CoTrainingDataModule, module: ClassifierModule, cfg: TrainConfig,
          seed: int) -> tuple[ClassifierModule, dict[str, float], float]:
    """Fit ``module`` on ``datamodule`` (optionally after the learning-rate finder) and test it.

    With ``cfg.progress`` a line on stderr states the cost before anything runs (steps, and on a
    CPU the expected time from one measured step).

    Returns
    -------
    module : ClassifierModule
        The trained module.
    metrics : dict
        ``{"BA": ..., "AUROC": ...}`` on the target's test split.
    lr : float
        The learning rate used (the finder's suggestion or ``cfg.lr``).
    """
    threads = torch.get_num_threads()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    try:
        if cfg.progress:
            steps = len(datamodule.train_dataloader())
            if cfg.limit_train_batches is not None:
                limit = cfg.limit_train_batches
                steps = min(steps, limit) if isinstance(limit, int) else max(1, int(steps * limit))
            measured = _step_seconds(module, cfg) if _on_cpu(cfg) else None
            print(cost_notice(cfg, steps, measured), file=sys.stderr)
        return _train(datamodule, module, cfg, seed)
    finally:
        torch.set_num_threads(threads)


def _train(datamodule, module, cfg, seed):
    with _quiet(cfg.progress), tempfile.TemporaryDirectory(prefix="taskfp-train-") as tmp:
        L.seed_everything(seed, workers=True, verbose=False)
        trainer_kwargs = dict(accelerator=cfg.accelerator, devices=1, deterministic=True, logger=False,
                              enable_checkpointing=False, enable_model_summary=False,
                              enable_progress_bar=cfg.progress, num_sanity_val_steps=0, limit_val_batches=0,
                              default_root_dir=tmp)
        if cfg.precision:
            trainer_kwargs["precision"] = cfg.precision
        if cfg.lr_find:
            from lightning.pytorch.tuner import Tuner

            finder_trainer = L.Trainer(max_epochs=10_000, **trainer_kwargs)  # bounded by num_training steps
            finder = Tuner(finder_trainer).lr_find(module, datamodule=datamodule, num_training=cfg.lr_find_steps,
                                                   update_attr=True, attr_name="lr", early_stop_threshold=None)
            suggestion = finder.suggestion() if finder is not None else None
            if suggestion is None or not np.isfinite(suggestion):
                module.lr = cfg.lr
            L.seed_everything(seed, workers=True, verbose=False)
        trainer = L.Trainer(max_epochs=cfg.max_epochs, limit_train_batches=cfg.limit_train_batches, **trainer_kwargs)
        trainer.fit(module, datamodule=datamodule)
        trainer.test(module, dataloaders=datamodule.test_dataloader(), verbose=False)
    return module, dict(module.test_metrics), float(module.lr)


def run_result(kind: str, target, source: str | None, arch: str, seed: int, dm, metrics: dict, lr: float,
               t0: float, cfg: TrainConfig, **extra: Any) -> RunResult:
    """The :class:`RunResult` of a finished training (``t0``: its ``time.perf_counter()`` start)."""
    single = dm.target if isinstance(dm, CoTrainingDataModule) else dm
    return RunResult(scenario=kind, target=target.name, source=source, arch=arch, seed=seed, shrunk=single.shrunk,
                     metrics=metrics, n_train=len(single.train_set), n_test=len(single.test_set), lr=lr,
                     seconds=time.perf_counter() - t0, config=asdict(cfg), versions=versions(), extra=extra)
