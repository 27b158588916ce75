"""``taskfp benchmark``: score a task distance against the paper's selectors, as an HTML report + CSVs.

    taskfp benchmark my_distance.csv --name "My distance"            # -> benchmark_report/
    taskfp benchmark --example random --name "Random" --out rnd/      # a worked example, no CSV needed

Steps: the CSV is read and validated here (a bad file fails in about a second with a one-line
message), then ``notebooks/benchmark_report.ipynb`` is executed by papermill in a temporary folder
(which receives the ``benchmark_*.csv`` tables) and rendered by ``jupyter-book build`` (single
page, book theme, execution off). Only then are the results installed into the output folder.

The output folder is never emptied: taskfp creates it (or takes an empty one), records the files it
writes in :data:`MARKER`, and later runs replace only those files. A non-empty folder without the
marker belongs to someone else and is refused.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .._files import atomic_path, atomic_write_text
from .._safety import terminal_text
from ._options import nonnegative_int, positive_int

NOTEBOOK = "benchmark_report.ipynb"
#: the file that marks an output folder as written by ``taskfp benchmark`` (lists the files it owns)
MARKER = ".taskfp-benchmark.json"
HTML_DIR = "html"
PAGE_CONFIG = """\
# single-page build of the benchmark report (written by `taskfp benchmark`)
title: "taskfp benchmark report"
author: "taskfp"
copyright: "{year}"
only_build_toc_files: false
execute:
  execute_notebooks: "off"
parse:
  myst_enable_extensions: [dollarmath, amsmath, colon_fence, deflist]
html:
  use_repository_button: false
latex:
  use_jupyterbook_latex: false
sphinx:
  config:
    html_show_sourcelink: false
    numfig: false
    suppress_warnings: ["mystnb.unknown_mime_type"]
"""


def notebook_path() -> Path:
    """The report notebook of the repository checkout (``notebooks/benchmark_report.ipynb``)."""
    from ..upstream.manifest import REPO_ROOT

    path = Path(os.environ.get("TASKFP_BENCHMARK_NOTEBOOK", REPO_ROOT / "notebooks" / NOTEBOOK))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: report notebook not found (run from a taskfp checkout or set "
                                f"TASKFP_BENCHMARK_NOTEBOOK)")
    return path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "benchmark", help="benchmark a task distance against the paper's 71-task ground truth",
        description="Score a distance matrix (CSV, published layout: rows = 71 source tasks, columns = 127 target "
                    "names incl. '<task> --shrink_train 800') against the paper's task selectors on the published "
                    "transfer outcomes, and write an HTML report plus machine-readable CSVs.")
    p.add_argument("distance", nargs="?", help="distance CSV (lower = closer; see --similarity)")
    p.add_argument("--example", choices=["ensemble", "random"],
                   help="benchmark a worked example instead of a CSV (ensemble: 0.5 bKLD(small,target) + 0.5 Manual "
                        "z-scored affinities; random: seeded uniform random distance)")
    p.add_argument("--name", help="label of the measure (default: the file stem)")
    p.add_argument("--out", default="benchmark_report",
                   help="output folder: new, empty, or one written by an earlier `taskfp benchmark` (default: "
                        "%(default)s)")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--similarity", dest="similarity", action="store_const", const=True, default=None,
                      help="the matrix is a similarity (higher = closer): convert it to a distance")
    kind.add_argument("--distance", dest="similarity", action="store_const", const=False,
                      help="the matrix is a distance: skip the similarity check")
    p.add_argument("--transpose", action="store_true", help="the matrix is targets x sources: transpose it")
    p.add_argument("--allow-partial", action="store_true",
                   help="accept missing target columns that the benchmark does not read")
    p.add_argument("--selector-set", default="paper", choices=["paper", "revision"])
    p.add_argument("--n-bootstrap", type=positive_int, default=1000,
                   help="bootstraps of the rankings (default: %(default)s)")
    p.add_argument("--seed", type=nonnegative_int, default=42, help="seed of the bootstraps (default: %(default)s)")
    p.add_argument("--random-seed", type=nonnegative_int, default=0,
                   help="seed of the random distance (default: %(default)s)")
    p.add_argument("--no-random-floor", action="store_true", help="omit the random-distance sanity floor section")
    p.add_argument("--no-development", action="store_true",
                   help="omit the placement among the 798 variants of the development comparison (about 15 s)")
    p.add_argument("--no-html", action="store_true", help="only execute the notebook and write the CSVs")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def _say(args, msg: str) -> None:
    if not args.quiet:
        print(terminal_text(msg), file=sys.stderr, flush=True)


# --- the output folder ----------------------------------------------------------------------------------

def owned_files(out: Path) -> set[str]:
    """Names in ``out`` that an earlier ``taskfp benchmark`` wrote; empty for a new or empty folder.

    Raises
    ------
    ValueError
        ``out`` is a file, or a non-empty folder without :data:`MARKER` (someone else's).
    """
    if not out.exists():
        return set()
    if not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a folder")
    marker = out / MARKER
    if marker.is_file():
        try:
            record = json.loads(marker.read_text(encoding="utf-8")[:1_000_000])
            return {str(f) for f in record["files"] if Path(str(f)).name == str(f) and not str(f).startswith(".")}
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"--out {out}: {MARKER} is damaged; choose another folder") from None
    if any(out.iterdir()):
        raise ValueError(f"--out {out}: the folder is not empty and was not written by taskfp benchmark (no {MARKER}); "
                         f"choose a new or empty folder, nothing was changed")
    return set()


def _write_marker(out: Path, files: set[str]) -> None:
    atomic_write_text(out / MARKER, json.dumps({"written_by": "taskfp benchmark", "files": sorted(files)}, indent=1)
                      + "\n")


def _replace_dir(src: Path, dest: Path) -> None:
    """Put a copy of the folder ``src`` at ``dest`` (an own folder), swapping it in by renames."""
    staged = Path(tempfile.mkdtemp(prefix=f".{dest.name}.new-", dir=dest.parent))
    shutil.copytree(src, staged, dirs_exist_ok=True)
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        os.replace(dest, old)
    os.replace(staged, dest)
    shutil.rmtree(old, ignore_errors=True)


def install(built: Path, out: Path, names: list[str], owned: set[str]) -> list[Path]:
    """Copy ``names`` from ``built`` into ``out``, replacing only files that taskfp owns there.

    The marker is written first (listing the new files too), so an interrupted install leaves a
    folder that the next run recognises as its own.
    """
    out.mkdir(parents=True, exist_ok=True)
    _write_marker(out, owned | set(names))
    paths = []
    for name in names:
        src, dest = built / name, out / name
        if src.is_dir():
            _replace_dir(src, dest)
        else:
            with atomic_path(dest) as tmp:
                shutil.copyfile(src, tmp)
        paths.append(dest)
    return paths


# --- the run --------------------------------------------------------------------------------------------

def _check_inputs(args) -> tuple[Path | None, str, list[str]]:
    """Validate the CSV (fast, before any kernel starts) and the name: (csv path, name, notes)."""
    from ..benchmark import check_measure_name, read_distance

    if (args.distance is None) == (args.example is None):
        raise ValueError("give either a distance CSV or --example ensemble|random")
    csv, notes = None, []
    if args.distance is not None:
        csv = Path(args.distance).resolve()
        if not csv.is_file():
            raise FileNotFoundError(f"{args.distance}: no such file")
        read_distance(csv, similarity=args.similarity, transpose=args.transpose, allow_partial=args.allow_partial,
                      notes=notes)
    name = args.name if args.name is not None else (
        csv.stem if csv is not None else {"ensemble": "Ensemble(bKLD,Manual)", "random": "Random"}[args.example])
    return csv, check_measure_name(name, args.selector_set), notes


def run(args) -> int:
    t0 = time.perf_counter()
    out = Path(args.out).absolute()
    owned = owned_files(out)  # refuse someone else's folder before any work
    csv, name, notes = _check_inputs(args)
    if csv is not None:
        _say(args, f"{args.distance}: valid distance matrix")
    for note in notes:
        _say(args, f"note: {note}")
    params = {"distance_csv": str(csv) if csv else None, "name": name, "example": args.example,
              "similarity": args.similarity, "transpose": bool(args.transpose),
              "allow_partial": bool(args.allow_partial), "selector_set": args.selector_set,
              "n_bootstrap": int(args.n_bootstrap), "seed": int(args.seed), "random_seed": int(args.random_seed),
              "random_floor": not args.no_random_floor, "development": not args.no_development,
              "results_dir": ".", "write_evaluations": True}
    with tempfile.TemporaryDirectory(prefix="taskfp-benchmark-") as tmp:
        built = Path(tmp)
        for own in sorted(owned):  # earlier measures' rows stay in the shared CSV files
            if own.startswith("benchmark_") and own.endswith(".csv") and (out / own).is_file():
                shutil.copyfile(out / own, built / own)
        _execute(notebook_path(), built / NOTEBOOK, params, built, out, owned, args)
        _say(args, f"executed the report notebook ({time.perf_counter() - t0:.1f} s)")
        names = [NOTEBOOK] + sorted(p.name for p in built.glob("benchmark_*.csv"))
        if not args.no_html:
            _render(built / NOTEBOOK, built, args)
            names.append(HTML_DIR)
        install(built, out, names, owned)
    if not args.no_html:
        _say(args, f"report: {out / HTML_DIR / NOTEBOOK.replace('.ipynb', '.html')}")
    csvs = [n for n in names if n.endswith(".csv")]
    _say(args, f"{len(csvs)} CSV files in {out}: {', '.join(csvs)}")
    _say(args, f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _execute(src: Path, dest: Path, params: dict, cwd: Path, out: Path, owned: set[str], args) -> None:
    """Run the report notebook with papermill; on failure keep the partial notebook in ``out``."""
    import logging

    import papermill as pm

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.getLogger("papermill").setLevel(logging.WARNING)
    _say(args, f"executing {src.name} with papermill ...")
    # the kernel must display figures inline: an inherited MPLBACKEND=Agg (e.g. from the Makefile) would drop them
    saved = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        pm.execute_notebook(str(src), str(dest), parameters=params, cwd=str(cwd), progress_bar=False,
                            kernel_name="python3", log_output=False)
    except pm.PapermillExecutionError as err:
        install(cwd, out, [NOTEBOOK], owned)
        raise RuntimeError(f"the report notebook failed ({err.ename}: {err.evalue}); the partial notebook is "
                           f"{out / NOTEBOOK}") from None
    finally:
        if saved is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = saved


#: a figure or table number of the book page (``Fig. B3``, ``Table B12``); the report numbers its own from 1
BOOK_NUMBER = re.compile(r"\b(Fig\.|Table) B(\d+)\b")
#: a link of the book page to a results file (``../results/benchmark_paired.csv``)
RESULTS_LINK = re.compile(r"\(\.\./results/(benchmark_\w+\.csv)\)")


def report_numbers(texts: list[str]) -> dict[tuple[str, str], str]:
    """``(kind, book number) -> report number``: the book page's figures and tables counted from 1 per kind."""
    found: dict[str, set[int]] = {}
    for text in texts:
        for kind, number in BOOK_NUMBER.findall(text):
            found.setdefault(kind, set()).add(int(number))
    return {(kind, str(n)): str(i) for kind, ns in found.items() for i, n in enumerate(sorted(ns), start=1)}


def hide_parameters(notebook: Path) -> None:
    """Prepare the executed book page as a report of its own.

    The parameters cells are tagged ``remove-cell`` (the report shows results, not build settings);
    in the Markdown cells the links to ``../results/benchmark_*.csv`` point at the CSV files next to
    the notebook (the build copies them into the HTML folder), and the book's figure and table
    numbers (``Fig. B3``) become the report's own (``Fig. 2``).
    """
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    markdown = [c for c in nb["cells"] if c.get("cell_type") == "markdown"]
    texts = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in markdown]
    numbers = report_numbers(texts)
    for cell, text in zip(markdown, texts):
        text = RESULTS_LINK.sub(r"(\1)", text)
        cell["source"] = BOOK_NUMBER.sub(lambda m: f"{m[1]} {numbers[(m[1], m[2])]}", text)
    for cell in nb["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and "remove-cell" not in tags:
            tags.append("remove-cell")
    notebook.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def _render(executed: Path, folder: Path, args) -> Path:
    """``jupyter-book build <notebook>`` (single page, book theme, execution off) -> ``<folder>/html/``."""
    hide_parameters(executed)
    config = folder / "_page_config.yml"
    config.write_text(PAGE_CONFIG.format(year=datetime.date.today().year))
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", executed.name, "--config", config.name]
    _say(args, "rendering HTML with jupyter-book ...")
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    built = folder / "_build" / "_page" / executed.stem / "html"
    if proc.returncode != 0 or not (built / f"{executed.stem}.html").is_file():
        tail = " | ".join((proc.stdout + proc.stderr).splitlines()[-5:])
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}): {tail}")
    os.replace(built, folder / HTML_DIR)
    return folder / HTML_DIR / f"{executed.stem}.html"
