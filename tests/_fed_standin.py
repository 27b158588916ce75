"""Tests only: synthetic PNG tasks with distinct domains (small and fast), and a Flower task identity.

Each task is ``<root>/<task>/<class>/<i>.png``. Domains differ in colour, background texture and noise;
classes differ in where a bright blob sits (left/right, or top/bottom for a third class).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DOMAINS = {
    "ct_like": dict(tint=(1.0, 1.0, 1.0), background=0.2, noise=0.05, stripes=0),
    "mr_like": dict(tint=(0.9, 0.9, 1.0), background=0.35, noise=0.1, stripes=4),
    "us_like": dict(tint=(1.0, 0.95, 0.8), background=0.1, noise=0.25, stripes=0),
    "photo_like": dict(tint=(1.0, 0.6, 0.5), background=0.5, noise=0.05, stripes=8),
}


def _image(rng, size, cls, n_classes, dom):
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.full((size, size), dom["background"]) + dom["noise"] * rng.standard_normal((size, size))
    if dom["stripes"]:
        img += 0.1 * np.sin(2 * np.pi * dom["stripes"] * xx)
    centres = [(0.5, 0.25), (0.5, 0.75), (0.25, 0.5), (0.75, 0.5)][:n_classes]
    cy, cx = centres[cls]
    cy, cx = cy + 0.08 * rng.standard_normal(), cx + 0.08 * rng.standard_normal()
    img += 0.6 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 0.1 ** 2))
    rgb = np.clip(img[..., None] * np.asarray(dom["tint"]), 0, 1)
    return (rgb * 255).astype(np.uint8)


def build_standin_tasks(root, seed=0, size=32, per_class=24, domains=None, classes=None):
    """Write the stand-in tasks; returns {task name: folder}."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    out = {}
    for i, name in enumerate(domains or list(DOMAINS)):
        k = (classes or {}).get(name, 2 + (i % 2))
        for c in range(k):
            d = root / name / f"class_{c}"
            d.mkdir(parents=True, exist_ok=True)
            for j in range(per_class):
                Image.fromarray(_image(rng, size, c, k, DOMAINS[name])).save(d / f"{j:03d}.png")
        out[name] = root / name
    return out


@pytest.fixture()
def flower_identity():
    """Flower builds messages only inside a task (run and node ids); the tests play one."""
    from flwr.supercore.task_identity import TaskIdentity

    old = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 0
    yield
    TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = old
