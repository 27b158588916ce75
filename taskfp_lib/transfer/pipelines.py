"""The single-task baseline and the four knowledge-transfer scenarios as training pipelines.

Every function trains with Lightning, evaluates balanced accuracy and macro AUROC on the
target's held-out 20 % split and returns a :class:`RunResult` that records the configuration,
the metrics and the package versions. Seeds are explicit: ``seed`` drives
``lightning.seed_everything`` (weights of new heads, data order, augmentation) and the
Trainer runs with ``deterministic=True``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import platform
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import albumentations as A
import lightning as L
import numpy as np
import torch

from .data import CoTrainingDataModule, TaskData, TaskDataModule, is_shrinkable, scan_task
from .models import BASELINE_ARCHITECTURE, ClassifierModule, create_backbone, load_backbone_weights, save_backbone
from .policies import load_policy

__all__ = [
    "TrainConfig",
    "RunResult",
    "versions",
    "train",
    "run_baseline",
    "run_architecture",
    "pretrain_source",
    "run_pretraining",
    "run_augmentation",
    "run_cotraining",
]

SCENARIOS = ("baseline", "arch", "pretrain", "augmentation", "multi_task")


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe (defaults = the paper's setting where it is stated).

    Attributes
    ----------
    arch : str
        timm backbone (resnet34 for the baseline).
    pretrained : bool
        Start from ImageNet weights (timm hub); ``weights_dir`` holds local weight files
        ``<arch>.safetensors`` / ``<arch>.pth`` for offline machines.
    image_size : int
        Square input size (256 in the paper).
    max_epochs, batch_size, lr, weight_decay, label_smoothing, warmup_fraction
        Optimisation (AdamW, warm-up + cosine).
    lr_find : bool
        Run Lightning's learning-rate finder before training (``lr_find_steps`` trials).
    shrink_train, shrink_threshold, max_classes
        Shrunk variants: ``shrink_train`` training images for tasks with more than
        ``shrink_threshold`` samples and fewer than ``max_classes`` classes (800/1000/40).
    test_fraction, split_seed
        The held-out split (20 %, class-stratified, fixed across repetitions).
    limit_train_batches : int or float, optional
        Cap on the training batches per epoch (tests, benchmarks).
    accelerator, precision, num_threads, num_workers, cache_images, progress
        Execution details. ``precision`` is Lightning's (e.g. ``"16-mixed"`` on GPUs; default
        32-bit). ``num_threads`` sets torch's CPU threads for the run (use 1 on shared or
        oversubscribed CPUs, where several OpenMP threads per process slow down a lot).
    """

    arch: str = BASELINE_ARCHITECTURE
    pretrained: bool = True
    weights_dir: str | None = None
    image_size: int = 256
    max_epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    lr_find: bool = True
    lr_find_steps: int = 100
    weight_decay: float = 0.02
    label_smoothing: float = 0.1
    warmup_fraction: float = 0.05
    shrink_train: int = 800
    shrink_threshold: int = 1000
    max_classes: int = 40
    test_fraction: float = 0.2
    split_seed: int = 0
    limit_train_batches: int | float | None = None
    accelerator: str = "auto"
    precision: str | None = None
    num_threads: int | None = None
    num_workers: int = 0
    cache_images: bool = False
    progress: bool = False

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def weights_file(self, arch: str) -> str | None:
        if not self.weights_dir:
            return None
        for suffix in (".safetensors", ".pth", ".bin"):
            candidate = Path(self.weights_dir) / f"{arch}{suffix}"
            if candidate.is_file():
                return str(candidate)
        raise FileNotFoundError(f"{self.weights_dir}: no weights file {arch}.safetensors/.pth/.bin")


@dataclass
class RunResult:
    """Outcome of one training: metrics on the target test split plus provenance."""

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


def _as_task(task: TaskData | str | os.PathLike) -> TaskData:
    return task if isinstance(task, TaskData) else scan_task(task)


def _datamodule(task: TaskData, cfg: TrainConfig, seed: int, shrunk: bool,
                transform: A.BasicTransform | None = None) -> TaskDataModule:
    shrink = cfg.shrink_train if shrunk and is_shrinkable(len(task), task.num_classes, cfg.shrink_threshold,
                                                          cfg.max_classes) else None
    dm = TaskDataModule(task, image_size=cfg.image_size, batch_size=cfg.batch_size, shrink_train=shrink,
                        train_transform=transform, seed=seed, split_seed=cfg.split_seed,
                        test_fraction=cfg.test_fraction, num_workers=cfg.num_workers,
                        cache_images=cfg.cache_images)
    dm.shrunk = shrink is not None
    return dm


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


def train(datamodule: TaskDataModule | CoTrainingDataModule, module: ClassifierModule, cfg: TrainConfig,
          seed: int) -> tuple[ClassifierModule, dict[str, float], float]:
    """Fit ``module`` on ``datamodule`` (optionally after the learning-rate finder) and test it.

    Returns the trained module, the test metrics and the learning rate used.
    """
    threads = torch.get_num_threads()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    try:
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


def _result(scenario, target: TaskData, source, arch, seed, shrunk, dm, metrics, lr, t0, cfg, **extra):
    train_set = dm.target.train_set if isinstance(dm, CoTrainingDataModule) else dm.train_set
    test_set = dm.target.test_set if isinstance(dm, CoTrainingDataModule) else dm.test_set
    return RunResult(scenario=scenario, target=target.name, source=source, arch=arch, seed=seed, shrunk=shrunk,
                     metrics=metrics, n_train=len(train_set), n_test=len(test_set), lr=lr,
                     seconds=time.perf_counter() - t0, config=asdict(cfg), versions=versions(), extra=extra)


def _module(cfg: TrainConfig, arch: str, num_classes, backbone=None) -> ClassifierModule:
    return ClassifierModule(arch=arch, num_classes=num_classes, lr=cfg.lr, weight_decay=cfg.weight_decay,
                            label_smoothing=cfg.label_smoothing, warmup_fraction=cfg.warmup_fraction,
                            pretrained=cfg.pretrained, weights_file=cfg.weights_file(arch) if backbone is None
                            else None, backbone=backbone)


def run_baseline(target, cfg: TrainConfig = TrainConfig(), seed: int = 0, shrunk: bool = False) -> RunResult:
    """Single-task baseline: the ImageNet backbone ``cfg.arch`` trained on the target alone."""
    return run_architecture(target, cfg.arch, cfg, seed, shrunk, scenario="baseline")


def run_architecture(target, arch: str, cfg: TrainConfig = TrainConfig(), seed: int = 0, shrunk: bool = True,
                     scenario: str = "arch") -> RunResult:
    """Model-architecture scenario building block: train the target with architecture ``arch``.

    The transfer outcome of a source is the target's result with the architecture that was
    best on the (full-size) source; the grid evaluates all candidates on every task and picks
    per source (see :mod:`taskfp_lib.transfer.grid`).
    """
    t0 = time.perf_counter()
    task = _as_task(target)
    L.seed_everything(seed, workers=True, verbose=False)
    dm = _datamodule(task, cfg, seed, shrunk)
    module = _module(cfg, arch, [task.num_classes])
    _, metrics, lr = train(dm, module, cfg, seed)
    return _result(scenario, task, None, arch, seed, dm.shrunk, dm, metrics, lr, t0, cfg)


def pretrain_source(source, checkpoint: str | os.PathLike, cfg: TrainConfig = TrainConfig(),
                    seed: int = 0) -> RunResult:
    """Train ``cfg.arch`` on the full source task and save its backbone (safetensors) to ``checkpoint``."""
    t0 = time.perf_counter()
    task = _as_task(source)
    L.seed_everything(seed, workers=True, verbose=False)
    dm = _datamodule(task, cfg, seed, shrunk=False)
    module = _module(cfg, cfg.arch, [task.num_classes])
    module, metrics, lr = train(dm, module, cfg, seed)
    save_backbone(module.backbone, checkpoint, metadata={"arch": cfg.arch, "source": task.name, "seed": str(seed)})
    return _result("pretrain_source", task, None, cfg.arch, seed, False, dm, metrics, lr, t0, cfg,
                   checkpoint=str(checkpoint))


def run_pretraining(source, target, cfg: TrainConfig = TrainConfig(), seed: int = 0,
                    checkpoint: str | os.PathLike | None = None, shrunk: bool = True) -> RunResult:
    """Pretraining-data scenario: backbone trained on the source, new head, fine-tuned on the target.

    ``checkpoint`` is a backbone written by :func:`pretrain_source`; without it the source is
    trained first (into a temporary file).
    """
    t0 = time.perf_counter()
    target_task = _as_task(target)
    with tempfile.TemporaryDirectory(prefix="taskfp-pretrain-") as tmp:
        source_name = None
        if checkpoint is None:
            source_task = _as_task(source)
            source_name = source_task.name
            checkpoint = Path(tmp) / "backbone.safetensors"
            pretrain_source(source_task, checkpoint, cfg, seed)
        backbone = load_backbone_weights(create_backbone(cfg.arch, pretrained=False), checkpoint)
    if source_name is None:
        source_name = source.name if isinstance(source, TaskData) else Path(str(source)).name
    L.seed_everything(seed, workers=True, verbose=False)
    dm = _datamodule(target_task, cfg, seed, shrunk)
    module = _module(cfg, cfg.arch, [target_task.num_classes], backbone=backbone)
    _, metrics, lr = train(dm, module, cfg, seed)
    return _result("pretrain", target_task, source_name, cfg.arch, seed, dm.shrunk, dm, metrics, lr, t0, cfg)


def run_augmentation(policy: str | os.PathLike | A.BaseCompose, target, cfg: TrainConfig = TrainConfig(),
                     seed: int = 0, source: str | None = None, shrunk: bool = True) -> RunResult:
    """Augmentation-policy scenario: train the target with the source task's learned policy.

    ``policy`` is a policy JSON file (albumentations 1.3 or 2.x serialisation, loaded through
    :mod:`taskfp_lib.transfer.policies`) or a ready albumentations transform. The policy
    replaces the default training augmentation.
    """
    t0 = time.perf_counter()
    task = _as_task(target)
    if isinstance(policy, (str, os.PathLike)):
        source = source or Path(policy).parent.name
        policy = load_policy(policy, seed=seed, image_size=cfg.image_size)
    L.seed_everything(seed, workers=True, verbose=False)
    dm = _datamodule(task, cfg, seed, shrunk, transform=policy)
    module = _module(cfg, cfg.arch, [task.num_classes])
    _, metrics, lr = train(dm, module, cfg, seed)
    return _result("augmentation", task, source, cfg.arch, seed, dm.shrunk, dm, metrics, lr, t0, cfg)


def run_cotraining(source, target, cfg: TrainConfig = TrainConfig(), seed: int = 0, shrunk: bool = True,
                   probabilities=(0.5, 0.5)) -> RunResult:
    """Co-training scenario: shared backbone, one head per task, samples drawn 1:1 from both tasks.

    Each head's loss is computed on its own task's samples; the two losses have equal weights.
    The target (head 0) is evaluated on its test split. The source uses its full training split.
    """
    t0 = time.perf_counter()
    target_task, source_task = _as_task(target), _as_task(source)
    L.seed_everything(seed, workers=True, verbose=False)
    tdm = _datamodule(target_task, cfg, seed, shrunk)
    sdm = _datamodule(source_task, cfg, seed + 1, shrunk=False)
    dm = CoTrainingDataModule(tdm, sdm, seed=seed, probabilities=probabilities)
    module = _module(cfg, cfg.arch, [target_task.num_classes, source_task.num_classes])
    _, metrics, lr = train(dm, module, cfg, seed)
    return _result("multi_task", target_task, source_task.name, cfg.arch, seed, tdm.shrunk, dm, metrics, lr, t0,
                   cfg)
