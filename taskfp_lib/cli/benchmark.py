"""``taskfp benchmark``: score a task distance against the paper's selectors, as an HTML report + CSVs.

    taskfp benchmark my_distance.csv --name "My distance"            # -> benchmark_report/
    taskfp benchmark --example random --name "Random" --out rnd/      # a worked example, no CSV needed

Steps: the CSV is read and validated here (a bad file fails in about a second with a precise
message), then ``notebooks/benchmark_report.ipynb`` is executed by papermill with the file as a
parameter into the output folder (which also receives the ``benchmark_*.csv`` tables), and the
executed notebook is rendered by ``jupyter-book build`` (single page, book theme, execution off)
into ``<out>/html/benchmark_report.html``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

NOTEBOOK = "benchmark_report.ipynb"
PAGE_CONFIG = """\
# single-page build of the benchmark report (written by `taskfp benchmark`)
title: "taskfp benchmark report"
author: "taskfp"
only_build_toc_files: false
execute:
  execute_notebooks: "off"
parse:
  myst_enable_extensions: [dollarmath, amsmath, colon_fence, deflist]
html:
  use_repository_button: false
sphinx:
  config:
    html_show_sourcelink: false
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
    p.add_argument("--out", default="benchmark_report", help="output folder (default: %(default)s)")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--similarity", dest="similarity", action="store_const", const=True, default=None,
                      help="the matrix is a similarity (higher = closer): convert it to a distance")
    kind.add_argument("--distance", dest="similarity", action="store_const", const=False,
                      help="the matrix is a distance: skip the similarity check")
    p.add_argument("--transpose", action="store_true", help="the matrix is targets x sources: transpose it")
    p.add_argument("--allow-partial", action="store_true",
                   help="accept missing target columns that the benchmark does not read")
    p.add_argument("--selector-set", default="paper", choices=["paper", "revision"])
    p.add_argument("--n-bootstrap", type=int, default=1000, help="bootstraps of the rankings (default: %(default)s)")
    p.add_argument("--seed", type=int, default=42, help="seed of the bootstraps (default: %(default)s)")
    p.add_argument("--random-seed", type=int, default=0, help="seed of the random distance (default: %(default)s)")
    p.add_argument("--no-random-floor", action="store_true", help="omit the random-distance sanity floor section")
    p.add_argument("--no-development", action="store_true",
                   help="omit the placement among the 798 variants of the development comparison (about 15 s)")
    p.add_argument("--no-html", action="store_true", help="only execute the notebook and write the CSVs")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def _say(args, msg: str) -> None:
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


def run(args) -> int:
    t0 = time.perf_counter()
    if (args.distance is None) == (args.example is None):
        raise ValueError("give either a distance CSV or --example ensemble|random")
    out = Path(args.out).resolve()
    csv = None
    if args.distance is not None:
        from ..benchmark import read_distance

        csv = Path(args.distance).resolve()
        if not csv.is_file():
            raise FileNotFoundError(f"{args.distance}: no such file")
        read_distance(csv, similarity=args.similarity, transpose=args.transpose,
                      allow_partial=args.allow_partial)  # fail fast, before the kernel starts
        _say(args, f"{args.distance}: valid distance matrix")
    name = args.name or (csv.stem if csv is not None else
                         {"ensemble": "Ensemble(bKLD,Manual)", "random": "Random"}[args.example])
    out.mkdir(parents=True, exist_ok=True)
    params = {"distance_csv": str(csv) if csv else None, "name": name, "example": args.example or "ensemble",
              "similarity": args.similarity, "transpose": bool(args.transpose),
              "allow_partial": bool(args.allow_partial), "selector_set": args.selector_set,
              "n_bootstrap": int(args.n_bootstrap), "seed": int(args.seed), "random_seed": int(args.random_seed),
              "random_floor": not args.no_random_floor, "development": not args.no_development,
              "results_dir": str(out), "write_evaluations": True}
    executed = out / NOTEBOOK
    _execute(notebook_path(), executed, params, out, args)
    _say(args, f"executed notebook: {executed} ({time.perf_counter() - t0:.1f} s)")
    if not args.no_html:
        page = _render(executed, out, args)
        _say(args, f"report: {page}")
    csvs = sorted(p.name for p in out.glob("benchmark_*.csv"))
    _say(args, f"{len(csvs)} CSV files in {out}: {', '.join(csvs)}")
    _say(args, f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _execute(src: Path, dest: Path, params: dict, cwd: Path, args) -> None:
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
        raise RuntimeError(f"the report notebook failed ({err.ename}: {err.evalue}); the partial notebook is "
                           f"{dest}") from None
    finally:
        if saved is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = saved


def _render(executed: Path, out: Path, args) -> Path:
    """``jupyter-book build <notebook>`` (single page, book theme, execution off) -> ``<out>/html/``."""
    config = out / "_page_config.yml"
    config.write_text(PAGE_CONFIG)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", executed.name, "--config", config.name]
    _say(args, "rendering HTML with jupyter-book ...")
    proc = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
    built = out / "_build" / "_page" / executed.stem / "html"
    if proc.returncode != 0 or not (built / f"{executed.stem}.html").is_file():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    html = out / "html"
    if html.exists():
        shutil.rmtree(html)
    shutil.move(str(built), str(html))
    shutil.rmtree(out / "_build", ignore_errors=True)
    config.unlink(missing_ok=True)
    return html / f"{executed.stem}.html"
