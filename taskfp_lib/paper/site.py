"""The book's HTML: stage sources, executed pages and results in one folder, then build it (Jupyter Book 1).

``make book`` executes the notebook plan into ``_build/site`` (:mod:`.plan`) and then calls
``python -m taskfp_lib.paper.site _build/site --html _build/html``: the book sources and
``_config.yml`` are copied into the site, committed notebooks and results fill in what the plan
did not execute, the results are placed where the pages link them (``results/``, next to
``notebooks/``, as in the repository) and where the HTML serves them (``book/_static/results``),
papermill's injected-parameters cells and test markers are hidden (:func:`prepare_notebook`), and
the HTML is built with warnings as errors. Nothing in the repository is modified.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from ..upstream.manifest import REPO_ROOT

#: the folders and files of the repository the book is built from
SOURCES = ("book", "_config.yml")


def _copy_new(src: Path, dst: Path, pattern: str, overwrite: bool) -> list[Path]:
    dst.mkdir(parents=True, exist_ok=True)
    copied = []
    for path in sorted(src.glob(pattern)):
        target = dst / path.name
        if overwrite or not target.exists():
            shutil.copy2(path, target)
            copied.append(target)
    return copied


#: a line that only carries a marker of the notebook regression tests (``# NBVAL_CHECK_OUTPUT``)
TEST_MARKER = re.compile(r"^[ \t]*#[ \t]*NBVAL_[A-Z_]+[ \t]*\n?", re.MULTILINE)


def prepare_notebook(path: Path) -> bool:
    """Prepare a staged page for readers; True if it changed.

    Papermill's ``injected-parameters`` cell (it holds build paths) is tagged ``remove-cell`` (the
    page's own parameters cell stays, collapsed), and lines that only carry a test marker
    (``# NBVAL_CHECK_OUTPUT``) are dropped from the shown code. Only the staged copy changes.
    """
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
            changed = True
        if cell.cell_type == "code" and TEST_MARKER.search(cell.source):
            cell.source = TEST_MARKER.sub("", cell.source)
            changed = True
    if changed:
        nbformat.write(nb, path)
    return changed


def stage(site: Path, notebooks: Path | None = None, results: Path | None = None, overwrite: bool = False) -> Path:
    """Copy the book sources into ``site`` and complete its executed pages and results files.

    ``notebooks`` (default: the committed ``notebooks/``) and ``results`` (default: ``results/``)
    fill in the pages and files the site does not have yet (all of them with ``overwrite``).
    Returns ``site``.
    """
    site = Path(site)
    site.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        src, dst = REPO_ROOT / name, site / name
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
        else:
            shutil.copy2(src, dst)
    _copy_new(Path(notebooks or REPO_ROOT / "notebooks"), site / "notebooks", "*.ipynb", overwrite)
    static_results = site / "book" / "_static" / "results"
    _copy_new(Path(results or REPO_ROOT / "results"), static_results, "*.csv", overwrite)
    _copy_new(static_results, site / "results", "*.csv", overwrite=True)
    for path in sorted((site / "notebooks").glob("*.ipynb")):
        prepare_notebook(path)
    return site


def build(site: Path, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Build the staged ``site`` into ``site/_build/html`` (execution off, warnings are errors, keep going)."""
    site = Path(site).resolve()
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb), "build", str(site), "--config", str(site / "_config.yml"), "--toc", str(site / "book" / "_toc.yml"),
           "--path-output", str(site), "--warningiserror", "--keep-going"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskfp_lib.paper.site", description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the folder to stage the book in (e.g. _build/site)")
    parser.add_argument("--html", type=Path, help="copy the built HTML here (e.g. _build/html)")
    args = parser.parse_args(argv)
    stage(args.site)
    proc = build(args.site)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode:
        return proc.returncode
    if args.html:
        shutil.rmtree(args.html, ignore_errors=True)
        shutil.copytree(args.site / "_build" / "html", args.html)
        print(f"book: {args.html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
