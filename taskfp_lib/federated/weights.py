"""Model weights as named numpy arrays: Flower records, validation of client updates, aggregation,
and atomic stage checkpoints (safetensors, never pickle).

Aggregation rules over the ``m`` accepted client encoders ``w_1 .. w_m`` of one stage (every
parameter tensor separately, in float64, cast back to float32):

* ``fedavg``: ``sum_i n_i w_i / sum_i n_i`` with ``n_i`` the client's training samples
  (McMahan et al., 2017);
* ``mean``: ``sum_i w_i / m``;
* ``median``: the element-wise median (robust to a minority of outlying updates).

Clients are ordered by task name before summation, so the result does not depend on the order in
which replies arrive (same base model in the simulation and the deployment engine).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .config import AGGREGATIONS

__all__ = ["BadUpdateError", "CheckpointError", "init_head", "to_record", "from_record", "validate_update", "aggregate",
           "save_checkpoint", "load_checkpoint", "state_nbytes"]


class BadUpdateError(ValueError):
    """A client's model update is refused (one line naming the client and the problem)."""


class CheckpointError(ValueError):
    """A stage checkpoint is missing, unreadable or belongs to another configuration."""


def init_head(in_features: int, num_classes: int, seed: int | list[int]) -> dict[str, np.ndarray]:
    """A randomly initialised linear head as numpy arrays (``weight`` (k, d), ``bias`` (k,)).

    Both are drawn from U(-1/sqrt(d), 1/sqrt(d)) (the bound of ``torch.nn.Linear``) with a numpy
    generator seeded by ``seed`` (an int or a list of ints, e.g. ``[seed, stage, task_id]``).
    """
    if int(num_classes) < 2:
        raise ValueError(f"a classification head needs at least 2 classes, got {num_classes}")
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(in_features)
    weight = rng.uniform(-bound, bound, size=(int(num_classes), int(in_features))).astype(np.float32)
    bias = rng.uniform(-bound, bound, size=int(num_classes)).astype(np.float32)
    return {"weight": weight, "bias": bias}


def to_record(state: Mapping[str, np.ndarray]):
    """Named arrays -> ``flwr.app.ArrayRecord`` (same keys, same order)."""
    from flwr.app import Array, ArrayRecord

    return ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in state.items()})


def from_record(record) -> dict[str, np.ndarray]:
    """``flwr.app.ArrayRecord`` -> named numpy arrays."""
    return {k: np.asarray(v.numpy()) for k, v in record.items()}


def state_nbytes(state: Mapping[str, np.ndarray]) -> int:
    """Bytes of the raw tensors (what a transfer of these weights costs at least)."""
    return int(sum(np.asarray(v).nbytes for v in state.values()))


def validate_update(update: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray], client: str) -> None:
    """Refuse an update that does not fit the base model.

    Raises
    ------
    BadUpdateError
        Missing or unexpected keys (e.g. a classification head, which must stay with the client),
        a wrong shape or dtype, or NaN / infinite values; one line naming ``client``.
    """
    missing = [k for k in reference if k not in update]
    unexpected = [k for k in update if k not in reference]
    if missing or unexpected:
        raise BadUpdateError(f"client {client}: update refused, keys do not match the base model "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    for key, ref in reference.items():
        arr = np.asarray(update[key])
        if arr.shape != np.shape(ref):
            raise BadUpdateError(f"client {client}: update refused, {key} has shape {arr.shape}, "
                                 f"expected {np.shape(ref)}")
        if arr.dtype != np.asarray(ref).dtype:
            raise BadUpdateError(f"client {client}: update refused, {key} has dtype {arr.dtype}, "
                                 f"expected {np.asarray(ref).dtype}")
        if not np.isfinite(arr).all():
            raise BadUpdateError(f"client {client}: update refused, {key} contains NaN or infinite values")


def aggregate(updates: Sequence[Mapping[str, np.ndarray]], num_samples: Sequence[int] | None = None,
              rule: str = "fedavg") -> dict[str, np.ndarray]:
    """Aggregate validated updates (same keys and shapes) with ``rule`` (see the module docstring).

    Parameters
    ----------
    updates : sequence of dict str -> ndarray
    num_samples : sequence of int, optional
        Training samples per update (``fedavg`` only; required there, all > 0).
    rule : {"fedavg", "mean", "median"}

    Returns
    -------
    dict str -> ndarray, float32 (the reference dtype of the first update)
    """
    if rule not in AGGREGATIONS:
        raise ValueError(f"aggregation {rule!r} is not one of {AGGREGATIONS}")
    if not updates:
        raise ValueError("nothing to aggregate")
    if rule == "fedavg":
        if num_samples is None or len(num_samples) != len(updates) or min(num_samples) <= 0:
            raise ValueError("fedavg needs a positive number of samples per update")
        weights = np.asarray(num_samples, dtype=np.float64) / float(np.sum(num_samples))
    else:
        weights = np.full(len(updates), 1.0 / len(updates))
    out: dict[str, np.ndarray] = {}
    for key, first in updates[0].items():
        stack = np.stack([np.asarray(u[key], dtype=np.float64) for u in updates])
        value = np.median(stack, axis=0) if rule == "median" else np.tensordot(weights, stack, axes=1)
        out[key] = value.astype(np.asarray(first).dtype)
    return out


#: ``format`` of a MIM encoder checkpoint written by ``taskfp federated pretrain``
MIM_FORMAT = "taskfp-mim-encoder"


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, np.ndarray], metadata: Mapping) -> Path:
    """Write weights + JSON metadata as one safetensors file, atomically (temporary file, then rename)."""
    from safetensors.numpy import save_file

    from .._files import atomic_path

    path = Path(path)
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(tmp),
                  metadata={"taskfp": json.dumps(dict(metadata), sort_keys=True)})
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`: (weights, metadata)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = json.loads((fh.metadata() or {})["taskfp"])
            state = {k: fh.get_tensor(k) for k in fh.keys()}
    except (KeyError, ValueError, OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: not a taskfp checkpoint ({type(err).__name__}: {err})") from None
    except Exception as err:  # safetensors raises its own error type for damaged files
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: checkpoint metadata is not a JSON object")
    return state, meta
