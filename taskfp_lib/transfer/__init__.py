"""Knowledge-transfer pipelines (baseline + the paper's four scenarios as plug-ins) and the experiment grid.

* :mod:`.config`: ``TrainConfig``, the training recipe, checked field by field; the settings hash.
* :mod:`.data`: task folders (through :mod:`taskfp_lib.imaging`), the 80:20 split, shrunk variants,
  Lightning data modules, the co-training sampler.
* :mod:`.models`: timm backbones, the Lightning module, BA/AUROC.
* :mod:`.training`: one training (fit, test, record).
* :mod:`.plugins`: ``Job`` and ``TransferScenario``, the plug-in interface and registry.
* :mod:`.scenarios`: one module per scenario (``baseline``, ``arch``, ``pretrain``,
  ``augmentation``, ``cotraining``), each with its ``run_*`` function and plug-in.
* :mod:`.policies`, :mod:`.policy_rules`, :mod:`.policy_files`: learned augmentation policies
  (albumentations 1.3 JSON -> 2.x), their limits, and where the authors' files are.
* :mod:`.spec`, :mod:`.grid`: declarative grid, resumable checked jobs (sequential or Dask),
  outcome files in the published layout.
* :mod:`.demo`: small offline image tasks from scikit-learn's digits; the outcome table and figure
  of the book's demo page.

Heavy dependencies (torch, lightning, timm, albumentations) are imported on first use of a
name of this package.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "ConfigError": "config", "TrainConfig": "config",
    "read_task": "data", "stratified_split": "data", "shrink_indices": "data", "has_shrunk_variant": "data",
    "TaskDataModule": "data", "CoTrainingDataModule": "data", "MixedTaskSampler": "data",
    "ClassifierModule": "models", "balanced_accuracy": "models", "macro_auroc": "models",
    "WeightsUnavailableError": "models",
    "RunResult": "training",
    "Job": "plugins", "TransferScenario": "plugins", "register_plugin": "plugins", "get_plugin": "plugins",
    "run_baseline": "scenarios.baseline", "run_architecture": "scenarios.arch",
    "pretrain_source": "scenarios.pretrain", "run_pretraining": "scenarios.pretrain",
    "run_augmentation": "scenarios.augmentation", "run_cotraining": "scenarios.cotraining",
    "PolicyError": "policy_rules", "load_policy": "policies", "convert_policy": "policies",
    "policy_file": "policy_files",
    "GridSpec": "spec", "grid_jobs": "grid", "run_grid": "grid", "run_job": "grid", "job_status": "grid",
    "write_outcomes": "grid", "outcome_tables": "grid",
    "write_digit_tasks": "demo", "DIGIT_TASKS": "demo", "outcome_table": "demo", "plot_outcomes": "demo",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
