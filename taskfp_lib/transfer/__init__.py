"""Knowledge-transfer pipelines (baseline + four scenarios) and the experiment grid.

* :mod:`.data`: image-folder tasks, the 80:20 split, shrunk variants, Lightning data modules,
  the co-training sampler.
* :mod:`.models`: timm backbones, the 20 candidate architectures, the Lightning module, BA/AUROC.
* :mod:`.policies`: albumentations 1.3 policy files -> albumentations 2.x.
* :mod:`.pipelines`: ``run_baseline``, ``run_architecture``, ``run_pretraining``,
  ``run_augmentation``, ``run_cotraining``.
* :mod:`.grid`: declarative grid, resumable jobs (sequential or Dask), outcome files in the
  published layout.
* :mod:`.demo`: small offline image tasks from scikit-learn's digits.

Heavy dependencies (torch, lightning, timm, albumentations) are imported on first use of a
name of this package.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "TaskData": "data", "scan_task": "data", "stratified_split": "data", "shrink_indices": "data",
    "TaskDataModule": "data", "CoTrainingDataModule": "data", "MixedTaskSampler": "data",
    "ARCHITECTURES": "models", "BASELINE_ARCHITECTURE": "models", "ClassifierModule": "models",
    "balanced_accuracy": "models", "macro_auroc": "models",
    "PolicyError": "policies", "load_policy": "policies", "convert_policy": "policies", "policy_file": "policies",
    "TrainConfig": "pipelines", "RunResult": "pipelines", "run_baseline": "pipelines",
    "run_architecture": "pipelines", "pretrain_source": "pipelines", "run_pretraining": "pipelines",
    "run_augmentation": "pipelines", "run_cotraining": "pipelines",
    "GridSpec": "grid", "Job": "grid", "grid_jobs": "grid", "run_grid": "grid", "run_job": "grid",
    "job_status": "grid", "write_outcomes": "grid", "outcome_tables": "grid", "outcome_filename": "grid",
    "TRANSFER_SCENARIOS": "grid",
    "write_digit_tasks": "demo", "DIGIT_TASKS": "demo",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
