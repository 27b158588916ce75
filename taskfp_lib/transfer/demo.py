"""Small real image tasks, available offline, derived from scikit-learn's bundled digits images.

The 1,797 8x8 greyscale digit images (``sklearn.datasets.load_digits``) are upscaled and
written as PNG image-folder tasks (one sub-folder per class), so that the pipelines and the
experiment grid can be exercised end to end on CPU in seconds.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from .._files import atomic_directory

__all__ = ["DIGIT_TASKS", "write_digit_task", "write_digit_tasks"]

#: task name -> (class names, digit -> class index or None to leave the digit out)
DIGIT_TASKS: dict[str, tuple[tuple[str, ...], Callable[[int], int | None]]] = {
    "digits_low_high": (("low", "high"), lambda d: int(d >= 5)),
    "digits_parity": (("even", "odd"), lambda d: d % 2),
    "digits_mod3": (("r0", "r1", "r2"), lambda d: d % 3),
    "digits_round": (("straight", "round"), lambda d: int(d in (0, 3, 6, 8, 9))),
    "digits_0to4": (tuple(f"d{i}" for i in range(5)), lambda d: d if d < 5 else None),
    "digits_ten": (tuple(f"d{i}" for i in range(10)), lambda d: d),
}


def write_digit_task(name: str, out_dir: str | os.PathLike, size: int = 32, max_per_class: int | None = None,
                     seed: int = 0) -> Path:
    """Write the digits task ``name`` (a key of :data:`DIGIT_TASKS`) as an image folder.

    Parameters
    ----------
    name : str
    out_dir : path
        The task is written to ``out_dir/name`` (atomically: a temporary folder, then a rename).
    size : int
        Side length of the written PNG images.
    max_per_class : int, optional
        Keep at most this many images per class (chosen with ``seed``).
    seed : int

    Returns
    -------
    pathlib.Path
        The task folder.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    if name not in DIGIT_TASKS:
        raise ValueError(f"unknown digits task {name!r}; known: {sorted(DIGIT_TASKS)}")
    classes, label_of = DIGIT_TASKS[name]
    digits = load_digits()
    images = np.clip(digits.images * (255.0 / 16.0), 0, 255).astype(np.uint8)
    labels = np.array([label_of(int(d)) if label_of(int(d)) is not None else -1 for d in digits.target])
    rng = np.random.default_rng(seed)
    final = Path(out_dir) / name
    with atomic_directory(final) as tmp:
        for c, cls in enumerate(classes):
            idx = np.flatnonzero(labels == c)
            if max_per_class is not None and len(idx) > max_per_class:
                idx = np.sort(rng.choice(idx, size=max_per_class, replace=False))
            (tmp / cls).mkdir()
            for i in idx:
                img = Image.fromarray(images[i], mode="L").resize((size, size), Image.BILINEAR)
                img.save(tmp / cls / f"{i:04d}.png")
    return final


def write_digit_tasks(out_dir: str | os.PathLike, names=None, size: int = 32, max_per_class: int | None = None,
                      seed: int = 0) -> dict[str, Path]:
    """Write several digits tasks (default: all of :data:`DIGIT_TASKS`); returns name -> folder."""
    names = list(DIGIT_TASKS) if names is None else list(names)
    return {n: write_digit_task(n, out_dir, size, max_per_class, seed) for n in names}
