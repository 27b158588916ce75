"""What a recipe computed, the machine-readable results files, and the provenance of every page.

A recipe returns a :class:`RecipeResult`: named tables, each written to ``results/<name>.csv`` at
full precision (plain CSV, shortest round-trip floats), and the figures drawn from them. Files that
several runs share (one block per selector set) are updated block by block.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from .. import __version__
from .._files import atomic_write_text
from ..upstream.manifest import REPO_ROOT, manifest_digest

#: fixed order of the selector sets in shared results files
SELECTOR_SET_ORDER = ("paper", "revision")


def results_dir(path: str | Path | None = None) -> Path:
    """``$TASKFP_RESULTS_DIR`` or ``results/`` in the repository."""
    return Path(path or os.environ.get("TASKFP_RESULTS_DIR", REPO_ROOT / "results"))


def to_csv_text(df: pd.DataFrame) -> str:
    """Plain CSV with full float precision (shortest round-trip repr), no index, ``\\n`` line ends."""
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def write_results(df: pd.DataFrame, name: str, directory: str | Path | None = None,
                  replace: dict | None = None) -> Path:
    """Write ``df`` atomically to ``<results>/<name>.csv``.

    With ``replace={"selector_set": "paper"}`` only the rows of that key are replaced in an existing
    file, so that notebook runs with different parameters share one file; rows are kept in the
    fixed order of :data:`SELECTOR_SET_ORDER`, whatever the order of the runs, and the update is
    locked against runs writing other blocks of the same file at the same time.
    """
    path = results_dir(directory) / f"{name}.csv"
    if not replace:
        atomic_write_text(path, to_csv_text(df))
        return path
    (col, value), = replace.items()
    # runs of the notebook plan execute side by side: the read-modify-write of a shared file is locked
    with _block_lock(path):
        if path.is_file():
            old = pd.read_csv(path, keep_default_na=False, na_values=[""])
            old = old[old[col].astype(str) != str(value)]
            df = pd.concat([old, df], ignore_index=True)
        order = {v: i for i, v in enumerate(SELECTOR_SET_ORDER)}
        df = df.sort_values(col, key=lambda s: s.map(lambda v: order.get(v, len(order))), kind="stable")
        atomic_write_text(path, to_csv_text(df))
    return path


def _block_lock(path: Path):
    """Inter-process lock of one results file (a lock file in the temporary folder, not beside the results)."""
    from filelock import FileLock

    key = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:16]
    return FileLock(Path(tempfile.gettempdir()) / f"taskfp-results-{key}.lock", timeout=600)


@dataclass
class RecipeResult:
    """Tables and figures of one recipe.

    Attributes
    ----------
    tables : dict
        Results name -> DataFrame (written to ``results/<name>.csv``).
    figures : dict
        Figure name -> zero-argument function drawing it (a matplotlib Figure).
    replace : dict, optional
        Key of the block of a shared results file these tables replace (e.g. ``{"selector_set": "paper"}``).
    """

    tables: dict[str, pd.DataFrame]
    figures: dict[str, Callable] = field(default_factory=dict)
    replace: dict | None = None

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def figure(self, name: str):
        """Draw the figure ``name``."""
        return self.figures[name]()

    def write(self, directory: str | Path | None = None) -> list[Path]:
        """Write every table to ``<results>/<name>.csv``; returns the paths."""
        return [write_results(df, name, directory, self.replace) for name, df in self.tables.items()]


def code_version() -> str:
    """Package version plus the git commit (and ``-dirty``) when run from a checkout."""
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"taskfp {__version__}" + (f" ({commit})" if commit else "")


#: parameters that say where a page writes, not what it computes: not shown in the provenance footer
OUTPUT_PARAMETERS = ("results_dir",)


def provenance(parameters: dict) -> str:
    """Markdown footer: code version, parameters (without :data:`OUTPUT_PARAMETERS`, which would show
    build paths) and the data manifest hash."""
    shown = {k: v for k, v in parameters.items() if k not in OUTPUT_PARAMETERS}
    params = json.dumps(shown, sort_keys=True, default=str) if shown else "defaults"
    return ("**Provenance.** Code: `" + code_version() + "`; parameters: `" + params + "`; data manifest sha256: `"
            + manifest_digest()[:16] + "` (`data_manifest/manifest.csv`).")
