"""What a recipe computed, the machine-readable results files, their comparison, and the provenance of every page.

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

import numpy as np
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


#: what executing the book writes into the checkout; changes there do not make the code ``-dirty``
RUN_OUTPUTS = ("notebooks", "results")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()


def code_version() -> str:
    """Package version plus the git commit when run from a checkout, ``-dirty`` if tracked files other than
    the run's own outputs (:data:`RUN_OUTPUTS`, which papermill rewrites while the book executes) differ."""
    try:
        commit = _git("rev-parse", "--short=12", "HEAD")
        changed = _git("status", "--porcelain", "--untracked-files=no", "--", ".",
                       *(f":(exclude){p}" for p in RUN_OUTPUTS)) if commit else ""
    except (OSError, subprocess.SubprocessError):
        commit, changed = "", ""
    return f"taskfp {__version__}" + (f" ({commit}{'-dirty' if changed else ''})" if commit else "")


#: parameters that say where a page writes, not what it computes: not shown in the provenance footer
OUTPUT_PARAMETERS = ("results_dir",)


def provenance(parameters: dict) -> str:
    """Markdown footer: code version, parameters (without :data:`OUTPUT_PARAMETERS`, which would show
    build paths) and the data manifest hash."""
    shown = {k: v for k, v in parameters.items() if k not in OUTPUT_PARAMETERS}
    params = json.dumps(shown, sort_keys=True, default=str) if shown else "defaults"
    return ("**Provenance.** Code: `" + code_version() + "`; parameters: `" + params + "`; data manifest sha256: `"
            + manifest_digest()[:16] + "` (`data_manifest/manifest.csv`).")


@dataclass(frozen=True)
class Tolerance:
    """How a results file computed by neural networks on demo data is compared across machines.

    Float columns must satisfy ``|produced - committed| <= atol + rtol * |committed|`` (numpy's
    ``isclose``); every other column must be equal. ``digests`` names columns holding digests of
    floating-point data (they change with any last-digit change), which are not compared.
    """

    rtol: float = 1e-6
    atol: float = 1e-12
    digests: tuple[str, ...] = ()


#: results files whose floats may differ between CPUs (networks trained or run on demo data, VDNA's
#: compiled L1 sums and the seeded random floor summed in SIMD order); every other results file must
#: match byte for byte
TOLERANCES: dict[str, Tolerance] = {
    "knowledge_cloud_demo": Tolerance(digests=("ranges_sha256",)),
    "knowledge_cloud_demo_selfcheck": Tolerance(digests=("ranges_sha256",)),
    "transfer_demo": Tolerance(),
    "transfer_demo_outcomes": Tolerance(),
    "benchmark_random_floor": Tolerance(),
}


def compare_results(produced: Path, reference: Path) -> list[str]:
    """Differences between two folders of results files; empty when they agree.

    Files in :data:`TOLERANCES` are compared by value with their tolerance, every other file byte
    for byte.

    Parameters
    ----------
    produced, reference : Path
        Folders of ``<stem>.csv`` results files (e.g. a fresh execution and the committed ``results/``).

    Returns
    -------
    list of str
        One line per missing, unexpected or differing file.
    """
    produced, reference = Path(produced), Path(reference)
    ours = {p.stem for p in produced.glob("*.csv")}
    theirs = {p.stem for p in reference.glob("*.csv")}
    problems = [f"{stem}.csv was not produced" for stem in sorted(theirs - ours)]
    problems += [f"{stem}.csv was produced but is not in {reference}" for stem in sorted(ours - theirs)]
    for stem in sorted(ours & theirs):
        new, old = produced / f"{stem}.csv", reference / f"{stem}.csv"
        if new.read_bytes() == old.read_bytes():
            continue
        tol = TOLERANCES.get(stem)
        problem = "differs (compared byte for byte)" if tol is None else _tolerant_difference(new, old, tol)
        if problem:
            problems.append(f"{stem}.csv {problem}")
    return problems


def _tolerant_difference(new: Path, old: Path, tol: Tolerance) -> str | None:
    """First difference beyond ``tol`` between two results files, or None."""
    import pandas as pd

    read = dict(keep_default_na=False, na_values=[""])
    a, b = pd.read_csv(new, **read), pd.read_csv(old, **read)
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return f"has columns {list(a.columns)} x {len(a)} rows, committed {list(b.columns)} x {len(b)} rows"
    for col in a.columns:
        if col in tol.digests:
            continue
        numeric = pd.api.types.is_numeric_dtype(a[col]) and pd.api.types.is_numeric_dtype(b[col])
        if numeric and (pd.api.types.is_float_dtype(a[col]) or pd.api.types.is_float_dtype(b[col])):
            x, y = a[col].to_numpy(dtype=float), b[col].to_numpy(dtype=float)
            bad = ~np.isclose(x, y, rtol=tol.rtol, atol=tol.atol, equal_nan=True)
        else:  # missing cells (empty in the file) are equal to each other
            x, y = a[col].astype(object), b[col].astype(object)
            both_missing = (x.isna() & y.isna()).to_numpy()
            bad = (x.astype(str) != y.astype(str)).to_numpy() & ~both_missing
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            return (f"differs in column {col!r}, row {i}: {a[col].iloc[i]!r} vs committed {b[col].iloc[i]!r} "
                    f"(rtol {tol.rtol:g}, atol {tol.atol:g}; {int(bad.sum())} rows differ)")
    return None
