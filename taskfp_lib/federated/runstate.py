"""The run directory of a federation: one atomic checkpoint per stage, resume, tables.

``run_dir/stage_<s>.safetensors`` holds the base model after stage ``s`` (stage 0: the MIM
model) and, in its metadata, everything recorded in that stage (evaluation per client, accepted
and refused updates, seconds, configuration and its hash). Because weights and records are one
file written by rename, a run killed at any moment leaves only complete stages behind;
:func:`resume` picks the last one. ``stages.csv`` and ``summary.json`` are derived views.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .._atomic import atomic_write_text
from .config import FedConfig
from .weights import CheckpointError, load_checkpoint, save_checkpoint

__all__ = ["FORMAT", "stage_path", "state_sha256", "resume", "save_stage", "read_stages", "stage_table",
           "write_summary", "read_summary", "final_model"]

FORMAT = "taskfp-meduniverse-stage"
VERSION = 1
_STAGE_RE = re.compile(r"^stage_(\d{3,})\.safetensors$")


def stage_path(run_dir: str | Path, stage: int) -> Path:
    return Path(run_dir) / f"stage_{int(stage):03d}.safetensors"


def state_sha256(state: Mapping[str, np.ndarray]) -> str:
    """sha256 over the names, shapes and little-endian float bytes of a model (key order independent)."""
    h = hashlib.sha256()
    for key in sorted(state):
        arr = np.ascontiguousarray(state[key])
        h.update(f"{key}:{arr.dtype.str}:{arr.shape};".encode())
        h.update(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()


def _stages_on_disk(run_dir: Path) -> list[int]:
    if not run_dir.is_dir():
        return []
    return sorted(int(m.group(1)) for p in run_dir.iterdir() if (m := _STAGE_RE.match(p.name)))


def resume(run_dir: str | Path, cfg: FedConfig, initial: Mapping[str, np.ndarray],
           tasks: Sequence[str]) -> tuple[int, dict[str, np.ndarray]]:
    """The last completed stage and its base model, or ``(-1, initial)`` for a fresh run.

    Raises
    ------
    CheckpointError
        The directory holds a run of another configuration, initial model or set of clients.
    """
    run_dir = Path(run_dir)
    stages = _stages_on_disk(run_dir)
    if not stages:
        return -1, {k: np.asarray(v) for k, v in initial.items()}
    last = stages[-1]
    if stages != list(range(last + 1)):
        raise CheckpointError(f"{run_dir}: stage checkpoints are not consecutive ({stages})")
    state, meta = load_checkpoint(stage_path(run_dir, last))
    _check_meta(stage_path(run_dir, last), meta, cfg, initial, tasks)
    return last, state


def _check_meta(path: Path, meta: dict, cfg: FedConfig, initial, tasks) -> None:
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: not a {FORMAT} v{VERSION} checkpoint")
    if meta.get("config_hash") != cfg.result_hash():
        raise CheckpointError(f"{path}: the run directory belongs to another configuration; use a new run "
                              "directory or the same options")
    if meta.get("initial_sha256") != state_sha256(initial):
        raise CheckpointError(f"{path}: the run directory started from another initial model")
    if list(meta.get("tasks", [])) != list(tasks):
        raise CheckpointError(f"{path}: the run had clients {meta.get('tasks')}, now {list(tasks)}")


def save_stage(run_dir: str | Path, cfg: FedConfig, stage: int, base: Mapping[str, np.ndarray],
               tasks: Sequence[str], evaluation: list[dict], train: list[dict], refused: list[str],
               seconds: float, initial_sha256: str | None = None) -> Path:
    """Write stage ``stage``'s checkpoint (atomic), then refresh ``stages.csv``."""
    run_dir = Path(run_dir)
    if initial_sha256 is None:
        initial_sha256 = (state_sha256(base) if stage == 0
                          else load_checkpoint(stage_path(run_dir, 0))[1]["initial_sha256"])
    meta = {"format": FORMAT, "version": VERSION, "stage": int(stage), "config": cfg.to_dict(),
            "config_hash": cfg.result_hash(), "initial_sha256": initial_sha256, "tasks": list(tasks),
            "evaluation": evaluation, "train": train, "refused": list(refused), "seconds": float(seconds),
            "base_sha256": state_sha256(base)}
    path = save_checkpoint(stage_path(run_dir, stage), base, meta)
    atomic_write_text(run_dir / "stages.csv", stage_table(run_dir).to_csv(index=False, lineterminator="\n"))
    return path


def read_stages(run_dir: str | Path) -> list[dict]:
    """The metadata of every stage checkpoint, in stage order."""
    run_dir = Path(run_dir)
    return [load_checkpoint(stage_path(run_dir, s))[1] for s in _stages_on_disk(run_dir)]


def stage_table(run_dir: str | Path) -> pd.DataFrame:
    """One row per stage and client: held-out accuracy of the stage's base model after fine-tuning.

    Columns: stage, task, accuracy, balanced_accuracy, n_test, trained (the client contributed to
    this stage's base model), stage_seconds.
    """
    rows = []
    for meta in read_stages(run_dir):
        trained = {t["task"] for t in meta["train"]}
        for ev in meta["evaluation"]:
            rows.append({**ev, "trained": ev["task"] in trained, "stage_seconds": meta["seconds"]})
    cols = ["stage", "task", "accuracy", "balanced_accuracy", "n_test", "trained", "stage_seconds"]
    return pd.DataFrame(rows, columns=cols)


def write_summary(run_dir: str | Path, cfg: FedConfig, stages: int) -> Path:
    """``summary.json``: the completed stage count and the final base model's checkpoint and hash."""
    run_dir = Path(run_dir)
    meta = load_checkpoint(stage_path(run_dir, stages))[1]
    summary = {"completed_stages": int(stages), "final_checkpoint": stage_path(run_dir, stages).name,
               "base_sha256": meta["base_sha256"], "config": cfg.to_dict(),
               "refused": [r for m in read_stages(run_dir) for r in m["refused"]]}
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return run_dir / "summary.json"


def read_summary(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        raise CheckpointError(f"{path}: the run did not complete (no summary)")
    return json.loads(path.read_text(encoding="utf-8"))


def final_model(run_dir: str | Path) -> dict[str, np.ndarray]:
    """The base model of the last completed stage."""
    stages = _stages_on_disk(Path(run_dir))
    if not stages:
        raise CheckpointError(f"{run_dir}: no stage checkpoint")
    return load_checkpoint(stage_path(run_dir, stages[-1]))[0]
