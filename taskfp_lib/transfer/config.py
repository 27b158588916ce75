"""The training recipe of every transfer pipeline, checked field by field, and its hash.

:class:`TrainConfig` holds the recipe (the paper's setting where the paper states it; Methods,
"Knowledge transfer scenarios"). Every field is checked for type and range when a configuration
is made, so that a bad value in a grid specification or on the command line fails with one line
naming the field before any training starts (``max_epochs`` must be an integer >= 1: ``0`` would
store an untrained model as a finished run, ``"ten"`` is refused).

:func:`recipe` and :func:`settings_hash` say which fields determine a result: every field except
the execution details of :data:`EXECUTION_FIELDS` (where and how fast a run executes).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from ..vocabulary import BASELINE_ARCHITECTURE

__all__ = ["ConfigError", "TrainConfig", "EXECUTION_FIELDS", "recipe", "settings_hash", "settings_diff",
           "check_int", "check_number", "check_bool", "check_str"]


class ConfigError(ValueError):
    """A training option or grid field has a bad type or value; the message is one line naming it."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None,
              optional: bool = False) -> int | None:
    """``value`` as an int in ``[low, high]`` (bools and floats refused); ``None`` if optional."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: expected an integer{_bounds(low, high)}, got {_show(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{name}: expected an integer{_bounds(low, high)}, got {value}")
    return value


def check_number(name: str, value: Any, low: float, high: float, open_low: bool = False,
                 open_high: bool = False) -> float:
    """``value`` as a finite float in the interval from ``low`` to ``high`` (ends open as asked)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if open_low else value >= low) and (value < high if open_high else value <= high)
    if not ok:
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise ConfigError(f"{name}: expected a number in {interval}, got {_show(value)}")
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is a bool (``0``/``1``/``"yes"`` are refused)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected true or false, got {_show(value)}")
    return value


def check_str(name: str, value: Any, optional: bool = False, max_len: int = 4096) -> str | None:
    """``value`` if it is a non-empty printable string of at most ``max_len`` characters."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > max_len or not value.isprintable():
        raise ConfigError(f"{name}: expected a non-empty printable text of at most {max_len} characters, "
                          f"got {_show(value)}")
    return value


def _bounds(low, high) -> str:
    if low is not None and high is not None:
        return f" in [{low}, {high}]"
    return f" >= {low}" if low is not None else (f" <= {high}" if high is not None else "")


def _limit_batches(name: str, value: Any) -> None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return
    if isinstance(value, float) and 0 < value <= 1:
        return
    raise ConfigError(f"{name}: expected null, an integer >= 1 or a fraction in (0, 1], got {_show(value)}")


#: field -> check(name, value); every field of TrainConfig has exactly one entry
_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "arch": check_str,
    "pretrained": check_bool,
    "weights_dir": lambda n, v: check_str(n, v, optional=True),
    "image_size": lambda n, v: check_int(n, v, 8, 4096),
    "max_epochs": lambda n, v: check_int(n, v, 1, 100_000),
    "batch_size": lambda n, v: check_int(n, v, 1, 65_536),
    "lr": lambda n, v: check_number(n, v, 0.0, 10.0, open_low=True),
    "lr_find": check_bool,
    "lr_find_steps": lambda n, v: check_int(n, v, 2, 100_000),
    "weight_decay": lambda n, v: check_number(n, v, 0.0, 10.0),
    "label_smoothing": lambda n, v: check_number(n, v, 0.0, 1.0, open_high=True),
    "warmup_fraction": lambda n, v: check_number(n, v, 0.0, 1.0, open_high=True),
    "shrink_train": lambda n, v: check_int(n, v, 1),
    "shrink_threshold": lambda n, v: check_int(n, v, 0),
    "max_classes": lambda n, v: check_int(n, v, 2),
    "test_fraction": lambda n, v: check_number(n, v, 0.0, 1.0, open_low=True, open_high=True),
    "split_seed": lambda n, v: check_int(n, v, 0, 2**32 - 1),
    "limit_train_batches": _limit_batches,
    "accelerator": check_str,
    "precision": lambda n, v: check_str(n, v, optional=True),
    "num_threads": lambda n, v: check_int(n, v, 1, 1024, optional=True),
    "num_workers": lambda n, v: check_int(n, v, 0, 1024),
    "cache_images": check_bool,
    "progress": check_bool,
}

#: fields that say where and how fast a run executes, not what it computes; they are left out of
#: :func:`recipe` (a grid may resume on other hardware). ``weights_dir`` is a location: the
#: ``pretrained`` flag and the architecture are part of the recipe, the folder is not.
EXECUTION_FIELDS: tuple[str, ...] = ("weights_dir", "accelerator", "num_threads", "num_workers", "cache_images",
                                     "progress")


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
        Square input size (256 in the paper), 8 to 4096.
    max_epochs, batch_size, lr, weight_decay, label_smoothing, warmup_fraction
        Optimisation (AdamW, warm-up + cosine); ``max_epochs >= 1``.
    lr_find : bool
        Run Lightning's learning-rate finder before training (``lr_find_steps`` trial steps of
        ``batch_size`` images each; on a CPU at the paper's resolution this costs about as much as
        ``lr_find_steps * batch_size`` training images).
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

    Raises
    ------
    ConfigError
        A field of the wrong type or out of range (one line naming the field).
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

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _CHECKS[f.name](f.name, getattr(self, f.name))

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes`` (checked like the constructor's arguments)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: Any) -> "TrainConfig":
        """Build from a mapping (a grid specification's ``train``); unknown keys are refused."""
        if not isinstance(values, dict):
            raise ConfigError(f"expected a mapping of training options, got {type(values).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown training option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def weights_file(self, arch: str) -> str | None:
        """The local weights file of ``arch`` in ``weights_dir`` (``None`` without a folder)."""
        if not self.weights_dir:
            return None
        for suffix in (".safetensors", ".pth", ".bin"):
            candidate = Path(self.weights_dir) / f"{arch}{suffix}"
            if candidate.is_file():
                return str(candidate)
        raise FileNotFoundError(f"{self.weights_dir}: no weights file {arch}.safetensors/.pth/.bin")


def recipe(cfg: TrainConfig) -> dict[str, Any]:
    """The fields of ``cfg`` that determine a result (all but :data:`EXECUTION_FIELDS`)."""
    return {k: v for k, v in asdict(cfg).items() if k not in EXECUTION_FIELDS}


def settings_hash(settings: dict[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of ``settings`` (sorted keys, no spaces)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def settings_diff(stored: Any, current: dict[str, Any]) -> list[str]:
    """``field: stored -> current`` for every field that differs (dotted names, sorted)."""
    old, new = _flatten(stored if isinstance(stored, dict) else {}), _flatten(current)
    return [f"{k}: {_show(old.get(k))} -> {_show(new.get(k))}" for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k)]
