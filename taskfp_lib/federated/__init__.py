"""MedUniverse on Flower: stage-wise federated learning of one universal encoder.

MedUniverse (Radwan, Osman, Shehata; arXiv 2407.14719) shares *fine-tuned weights* instead of
task descriptions: a server pretrains a base model by masked image modelling, clients fine-tune it
with their own heads, and after a fixed number of clients per stage the server aggregates their
encoders into the next base model.

* :mod:`.config`: :class:`FedConfig`, every option in one record.
* :mod:`.data`: task folders -> per-site train / test / MIM-pool splits in memory.
* :mod:`.mim`: the timm ViT encoder and SimMIM pretraining.
* :mod:`.finetune`: client fine-tuning with the project's Lightning recipe, held-out accuracy.
* :mod:`.weights`: Flower records, validation of updates, aggregation rules, safetensors checkpoints.
* :mod:`.strategy`: the stage-wise server as a Flower ``Strategy``.
* :mod:`.runstate`: stage checkpoints, resume, tables.
* :mod:`.apps`: the Flower ``ServerApp`` and ``ClientApp``.
* :mod:`.engines`: the simulation engine; :mod:`.deploy`: the deployment engine (processes).
* :mod:`.compare`: the same client tasks through task fingerprinting (MIM encoder as probe).
* :mod:`.recipe`: the book chapter's experiment; :mod:`.plots`: its figures.

Heavy dependencies (torch, flwr) are imported on first use of a name of this package.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "FedConfig": "config", "AGGREGATIONS": "config", "SELECTIONS": "config",
    "ClientData": "data", "site_split": "data", "load_client": "data", "load_pool": "data", "to_tensor": "data",
    "create_encoder": "mim", "pretrain_mim": "mim", "SimMIM": "mim",
    "finetune": "finetune", "init_head": "weights",
    "BadUpdateError": "weights", "CheckpointError": "weights", "aggregate": "weights", "validate_update": "weights",
    "save_checkpoint": "weights", "load_checkpoint": "weights",
    "StageWiseStrategy": "strategy", "StageError": "strategy", "stage_order": "strategy",
    "stage_table": "runstate", "read_stages": "runstate", "final_model": "runstate", "read_summary": "runstate",
    "make_server_app": "apps", "make_client_app": "apps",
    "run_simulation_engine": "engines",
    "run_server": "deploy", "run_client": "deploy", "run_local": "deploy",
    "MIMProbe": "compare", "fingerprint_clients": "compare", "select_sources": "compare",
    "meduniverse_chapter": "recipe", "CHAPTER_CONFIG": "recipe",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
