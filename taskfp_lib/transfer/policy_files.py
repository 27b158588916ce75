"""Locating the authors' learned augmentation policies (one per task and repetition).

The authors ship them as
``data/auto_augmentations/pami2_t_aa_search_01_<r>/AA/<dataset>%<task>/policy_0001.json``
(albumentations 1.3 serialisations, read through :mod:`taskfp_lib.transfer.policies`); this module
finds the file of a task and repetition in the data manifest or in a local mirror of the upstream
repository.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["AUTO_AUGMENTATION_ROOT", "POLICY_RUNS", "shipped_policy_relpaths", "policy_relpath", "policy_file"]

#: upstream folder of the learned policies (relative to the upstream repository root)
AUTO_AUGMENTATION_ROOT = "data/auto_augmentations"
#: the three search runs, one per repetition r = 0, 1, 2
POLICY_RUNS = ("pami2_t_aa_search_01_0", "pami2_t_aa_search_01_1", "pami2_t_aa_search_01_2")
#: task names whose policy folder carries a different task name upstream
_FOLDER_ALIASES = {"breast_cancer_classification_v2": "breast_cancer_classification"}
#: how to get a policy file without network access
_OFFLINE_HINT = ("to work offline copy the upstream data once with 'taskfp data fetch' on a connected machine "
                 "(TASKFP_DATA_DIR) or point TASKFP_MIRROR at a copy of the upstream repository, or pass your own "
                 "policy file (--policy FILE, GridSpec.policies)")

_FOLDER_RE = re.compile(r"^[^%]+%TASK\d*_(?P<task>.+)$")


def _task_of_folder(folder: str) -> str | None:
    match = _FOLDER_RE.match(folder)
    return match.group("task") if match else None


def shipped_policy_relpaths() -> list[str]:
    """Upstream paths of all shipped policies (from the data manifest, else the local mirror)."""
    rels: list[str] = []
    try:
        from taskfp_lib.upstream.manifest import manifest_files

        rels = [p for p in manifest_files() if p.startswith(AUTO_AUGMENTATION_ROOT + "/")
                and p.endswith("/policy_0001.json")]
    except Exception:  # noqa: BLE001 - no manifest yet: fall back to the mirror
        rels = []
    if rels:
        return rels
    mirror = _mirror()
    if mirror is None:
        return []
    root = mirror / AUTO_AUGMENTATION_ROOT
    return sorted(str(p.relative_to(mirror)).replace(os.sep, "/") for p in root.glob("*/AA/*/policy_0001.json"))


def _mirror() -> Path | None:
    """The local mirror of the upstream repository (``$TASKFP_MIRROR`` or the default)."""
    try:
        from taskfp_lib.upstream.manifest import default_mirror

        return default_mirror()
    except ImportError:  # pragma: no cover
        env = os.environ.get("TASKFP_MIRROR")
        return Path(env) if env else None


def policy_relpath(task: str, repetition: int) -> str:
    """Upstream path of the learned policy of ``task`` in repetition ``repetition`` (0, 1 or 2).

    Raises
    ------
    ValueError
        If ``repetition`` is not 0, 1 or 2.
    FileNotFoundError
        If no shipped policy belongs to the task.
    """
    if isinstance(repetition, bool) or repetition not in range(len(POLICY_RUNS)):
        raise ValueError(f"policy repetition must be 0, 1 or 2, got {repetition!r}")
    wanted = _FOLDER_ALIASES.get(task, task)
    prefix = f"{AUTO_AUGMENTATION_ROOT}/{POLICY_RUNS[repetition]}/AA/"
    for rel in shipped_policy_relpaths():
        if rel.startswith(prefix) and _task_of_folder(rel[len(prefix):].split("/")[0]) == wanted:
            return rel
    raise FileNotFoundError(f"no learned augmentation policy for task {task!r} (repetition {repetition}) under "
                            f"{prefix}; pass a policy file instead (--policy FILE, GridSpec.policies)")


def policy_file(task: str, repetition: int) -> Path:
    """Verified local copy of the learned policy of ``task`` (see :func:`policy_relpath`).

    Uses :func:`taskfp_lib.upstream.manifest.data_path` (data manifest, mirror or download); for a file not in
    the data manifest it reads the local mirror (``$TASKFP_MIRROR``) directly.
    """
    rel = policy_relpath(task, repetition)
    from taskfp_lib.upstream.manifest import DataError, data_path

    try:
        return data_path(rel)
    except DataError as err:  # not (yet) in the data manifest: read the mirror directly
        mirror = _mirror()
        if mirror is None or not (mirror / rel).is_file():
            raise FileNotFoundError(f"{rel}: learned augmentation policy not available ({err}); "
                                    f"{_OFFLINE_HINT}") from None
        return mirror / rel
