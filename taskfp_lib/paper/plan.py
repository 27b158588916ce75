"""The declared notebook plan of the book: notebook -> parameters -> files read -> files written.

Every book page that executes code is one :class:`Run` of a source notebook with papermill. Each run
declares the published files it reads (upstream path patterns of the data manifest), the results it
writes (``results/<name>.csv``) and the runs whose results it reads (``after``), in the manner of
showyourwork. The tests check the declaration against what the runs actually write. Adding a page is
one ``Run(...)`` line in :data:`PLAN`.

Execution (:func:`execute`) runs independent runs side by side, one queue per core, each kernel with
one BLAS/OpenMP/torch thread (:func:`taskfp_lib._threads.thread_environment`), and a run only after
the runs it reads from. The results do not depend on the schedule: every kernel has the same thread
count, and runs that write blocks of one shared results file (03 and 03b) update it under a lock in a
fixed block order (:func:`taskfp_lib.paper.results.write_results`).

The results files a run writes are compared with the committed ones by
:func:`taskfp_lib.paper.results.compare_results` (byte for byte, except the files in
:data:`taskfp_lib.paper.results.TOLERANCES`).

``python -m taskfp_lib.paper.plan [NAME ...] [--output DIR] [--results DIR] [--jobs N] [--timing FILE]``
executes the plan: ``make book`` executes into ``_build/`` (the repository stays untouched), ``make
refresh-notebooks`` into ``notebooks/`` and ``results/`` (the committed reference outputs).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from .._threads import SMALL, available_cores, thread_environment
from ..upstream.manifest import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
OUTCOMES = "cache/exp/load_*_experiment%*%True.csv"
DEV_OUTCOMES = "cache/exp/load_*_experiment%*%False.csv"
TASK_INFOS = "cache/task_infos.csv"
_EXTERNAL = ("fig5_bootstrap_ranks", "fig5_summary", "table4_win_rates", "stability_scores", "supfig1_rank_then_mean")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: environment of every kernel besides its thread limits
KERNEL_ENV = {"HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}


@dataclass(frozen=True)
class Run:
    """One execution of a source notebook (a book page).

    Attributes
    ----------
    name : str
        Page name: the executed notebook is ``<name>.ipynb`` (the committed reference
        ``notebooks/<name>.ipynb``).
    source : str
        Stem of the source notebook in ``notebooks/``.
    parameters : dict
        papermill parameters (``results_dir`` is added by :func:`execute`).
    reads : tuple of str
        Upstream path patterns of the published files read.
    writes : tuple of str
        Stems of the results files written (``results/<stem>.csv``).
    after : tuple of str
        Runs whose results this run reads; it starts after they have finished.
    """

    name: str
    source: str
    parameters: dict = field(default_factory=dict)
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


PLAN: tuple[Run, ...] = (
    Run("01_task_pool", "01_task_pool", reads=(TASK_INFOS,), writes=("fig3_task_stats", "task_pool", "fig3_tasks")),
    Run("01b_table2_datasets", "01b_table2_datasets", writes=("table2_datasets",)),
    Run("02_fig4_shots", "02_fig4_shots", reads=(TASK_INFOS, OUTCOMES, "cache/distances/SEMANTIC.csv",
                                                  "cache/distances/KLD-PP:NS-W:TS-100-BINS.csv"),
        writes=("fig4_shots", "relative_increase")),
    Run("03_external_validation", "03_external_validation", {"selector_set": "paper"},
        reads=(TASK_INFOS, OUTCOMES, "cache/distances/*.csv"), writes=_EXTERNAL),
    Run("03b_external_validation_revision", "03b_external_validation_revision", {"selector_set": "revision"},
        reads=(TASK_INFOS, OUTCOMES, "cache/distances/*.csv"), writes=_EXTERNAL),
    Run("04_table3_scenario_similarity", "04_table3_scenario_similarity", reads=(TASK_INFOS, OUTCOMES),
        writes=("table3_scenario_similarity",)),
    Run("05_fig6_sample_size", "05_fig6_sample_size", reads=(TASK_INFOS, OUTCOMES, "cache/distances/*-SAMPLES-*-SEED.csv"),
        writes=("fig6_sample_size",)),
    Run("06_table1_architectures", "06_table1_architectures", reads=("data/results-imagenet-*.csv",),
        writes=("table1_architectures",)),
    Run("08_bins_sweep", "08_bins_sweep", reads=(TASK_INFOS, OUTCOMES, "cache/distances/KLD-PP:NS*-BINS.csv"),
        writes=("bins_sweep",)),
    Run("09_full_size_targets", "09_full_size_targets", reads=(TASK_INFOS, "cache/exp/load_*%False%True.csv"),
        writes=("full_size_win_rates", "full_size_bootstrap_ranks", "full_size_rank_then_mean")),
    Run("10_probes", "10_probes", reads=(TASK_INFOS, OUTCOMES, "cache/distances/*-CLIP.csv"),
        writes=("probes_bootstrap_ranks", "probes_summary")),
    Run("11_msd_segmentation", "11_msd_segmentation", reads=("MSD_cache/*",),
        writes=("msd_evaluations", "msd_bootstrap_ranks")),
    Run("12_task_maps", "12_task_maps", reads=(TASK_INFOS, "cache/distances/KLD-PP:NN.csv"),
        writes=("task_maps_tsne",)),
    Run("13_development_comparison", "13_development_comparison",
        reads=(TASK_INFOS, DEV_OUTCOMES, "cache/distances/*.csv"), writes=("dev_comparison", "dev_ensembles")),
    Run("knowledge_cloud_demo", "knowledge_cloud_demo", writes=("knowledge_cloud_demo", "knowledge_cloud_demo_selfcheck")),
    Run("transfer_demo", "transfer_demo", writes=("transfer_demo", "transfer_demo_outcomes")),
    Run("meduniverse", "meduniverse", writes=("meduniverse_stages", "meduniverse_vs_fingerprints")),
    Run("benchmark_report", "benchmark_report", reads=(TASK_INFOS, OUTCOMES, DEV_OUTCOMES, "cache/distances/*.csv"),
        writes=("benchmark_meta_metrics", "benchmark_win_rates", "benchmark_stability", "benchmark_bootstrap_ranks",
                "benchmark_ranking_summary", "benchmark_rank_then_mean", "benchmark_positions", "benchmark_verdicts",
                "benchmark_paired", "benchmark_gain_curves", "benchmark_random_floor", "benchmark_development")),
    Run("07_published_vs_reproduced", "07_published_vs_reproduced", reads=(TASK_INFOS, OUTCOMES, "cache/distances/*.csv"),
        writes=("published_vs_reproduced", "published_claims"),
        after=("01_task_pool", "02_fig4_shots", "03_external_validation", "04_table3_scenario_similarity",
               "05_fig6_sample_size", "06_table1_architectures")),
)


def get_run(name: str) -> Run:
    """The run called ``name``."""
    for run in PLAN:
        if run.name == name:
            return run
    raise KeyError(f"no run {name!r} in the notebook plan; known: {[r.name for r in PLAN]}")


def check_plan(plan: tuple[Run, ...] = PLAN) -> None:
    """Raise ``ValueError`` for duplicate names, unknown ``after`` runs or a cycle among them."""
    names = [r.name for r in plan]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"notebook plan: duplicate run names {dupes}")
    for run in plan:
        unknown = [a for a in run.after if a not in names]
        if unknown:
            raise ValueError(f"notebook plan: run {run.name!r} is after unknown runs {unknown}")
    done: set[str] = set()
    pending = list(plan)
    while pending:
        ready = [r for r in pending if set(r.after) <= done]
        if not ready:
            raise ValueError(f"notebook plan: cycle among {[r.name for r in pending]}")
        done |= {r.name for r in ready}
        pending = [r for r in pending if r.name not in done]


def _priorities(runs: list[Run], durations: dict[str, float]) -> dict[str, float]:
    """Length of the longest chain of runs that starts with each run (estimated seconds; 1 s unknown)."""
    cost = {r.name: float(durations.get(r.name, 1.0)) for r in runs}
    selected = set(cost)
    memo: dict[str, float] = {}

    def chain(name: str) -> float:
        if name not in memo:
            followers = [r.name for r in runs if name in r.after]
            memo[name] = cost[name] + max((chain(f) for f in followers), default=0.0)
        return memo[name]

    return {name: chain(name) for name in selected}


def reference_durations(notebook_dir: Path = NOTEBOOK_DIR) -> dict[str, float]:
    """Seconds each run took when its committed reference notebook was executed (papermill's metadata)."""
    durations = {}
    for run in PLAN:
        path = Path(notebook_dir) / f"{run.name}.ipynb"
        try:
            seconds = json.loads(path.read_text(encoding="utf-8"))["metadata"]["papermill"]["duration"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(seconds, (int, float)) and seconds > 0:
            durations[run.name] = float(seconds)
    return durations


@dataclass
class PlanReport:
    """Outcome of :func:`execute`: wall seconds per run, the runs that failed and why, total wall time."""

    times: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0
    jobs: int = 1

    def raise_for_errors(self) -> None:
        """Raise ``RuntimeError`` naming every failed run."""
        if self.errors:
            lines = [f"{name}: {msg}" for name, msg in self.errors.items()]
            raise RuntimeError(f"{len(self.errors)} notebook run(s) failed:\n" + "\n".join(lines))


def _init_worker() -> None:
    """Worker process: the environment every kernel starts with (one thread per pool)."""
    os.environ.update(KERNEL_ENV)
    os.environ.update(thread_environment(SMALL))


def _execute_one(run: Run, notebook_dir: str, output_dir: str, results_dir: str | None) -> tuple[float, str | None]:
    """Execute one run with papermill; returns (wall seconds, error message or None)."""
    import papermill as pm
    from traitlets.config import Config

    params = dict(run.parameters)
    if results_dir is not None:
        params["results_dir"] = results_dir
    t0 = time.perf_counter()
    # IPC sockets in a private folder: no unencrypted TCP kernel ports, nothing left behind
    with tempfile.TemporaryDirectory(prefix="taskfp-kernel-") as sockets:
        config = Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(sockets, "kernel")}})
        # the kernel's own log (e.g. an interrupt at shutdown) stays out of the build log; cell errors still fail
        try:
            pm.execute_notebook(str(Path(notebook_dir) / f"{run.source}.ipynb"), str(Path(output_dir) / f"{run.name}.ipynb"),
                                parameters=params, cwd=str(REPO_ROOT), kernel_name="python3", progress_bar=False,
                                config=config, extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
        except Exception as exc:  # noqa: BLE001 - reported per run, the other runs go on
            message = _ANSI.sub("", str(exc)).strip().splitlines()
            return time.perf_counter() - t0, f"{type(exc).__name__}: " + " | ".join(message[-3:])[:2000]
    return time.perf_counter() - t0, None


def _select(names) -> list[Run]:
    check_plan()
    if names:
        unknown = sorted(set(names) - {r.name for r in PLAN})
        if unknown:
            raise KeyError(f"no run {unknown} in the notebook plan; known: {[r.name for r in PLAN]}")
    return [r for r in PLAN if not names or r.name in names]


def execute(names=None, output_dir: Path | None = None, results_dir: Path | None = None,
            notebook_dir: Path = NOTEBOOK_DIR, jobs: int | None = None, durations: dict | None = None,
            log=print) -> PlanReport:
    """Execute the plan (or the runs named in ``names``), ``jobs`` at a time; never raises for a failed run.

    Parameters
    ----------
    names : iterable of str, optional
        Runs to execute (default: all). Their ``after`` constraints hold among the selected runs.
    output_dir : Path, optional
        Folder of the executed notebooks (default: ``notebook_dir``, in place).
    results_dir : Path, optional
        Folder of the results files, passed to every notebook as its ``results_dir`` parameter
        (default: the repository's ``results/``).
    notebook_dir : Path
        Folder of the source notebooks.
    jobs : int, optional
        Runs executed at once (one kernel each, one thread per kernel); default: the cores available.
    durations : dict, optional
        Expected seconds per run (e.g. the previous ``--timing`` file), over those recorded in the
        committed reference notebooks (:func:`reference_durations`): the longest chain of runs
        starts first. Unknown runs count 1 s.
    log : callable
        Receives one line per started and finished run.

    Returns
    -------
    PlanReport
        Wall seconds per finished run and the error of every failed run (runs after a failed run
        are not executed and reported as failed too).
    """
    runs = _select(names)
    jobs = max(1, min(jobs or available_cores(), len(runs) or 1))
    output_dir = Path(output_dir or notebook_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if results_dir is not None:
        Path(results_dir).mkdir(parents=True, exist_ok=True)
    report = PlanReport(jobs=jobs)
    t_start = time.perf_counter()
    args = (str(notebook_dir), str(output_dir), None if results_dir is None else str(results_dir))
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker) as pool:
        estimates = reference_durations() | dict(durations or {})
        _schedule(pool, runs, args, _priorities(runs, estimates), report, log)
    report.wall_s = round(time.perf_counter() - t_start, 2)
    return report


def _schedule(pool, runs: list[Run], args: tuple, priority: dict[str, float], report: PlanReport, log) -> None:
    """Submit every run whose ``after`` runs have finished, highest priority first, until all are done."""
    pending = {r.name: r for r in runs}
    run_of = dict(pending)
    selected = set(pending)
    running: dict = {}
    done: set[str] = set()
    while pending or running:
        for name, run in list(pending.items()):
            waits = set(run.after) & selected
            failed = sorted(waits & set(report.errors))
            if failed:
                report.errors[name] = f"not executed: it runs after the failed run(s) {failed}"
                del pending[name]
        ready = sorted((n for n, r in pending.items() if set(r.after) & selected <= done),
                       key=lambda n: -priority[n])
        for name in ready[:max(0, report.jobs - len(running))]:
            log(f"[taskfp.plan] executing {name}")
            running[pool.submit(_execute_one, run_of[name], *args)] = name
            del pending[name]
        if not running:
            continue
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            name = running.pop(future)
            seconds, error = future.result()
            report.times[name] = round(seconds, 2)
            if error:
                report.errors[name] = error
                log(f"[taskfp.plan] {name} FAILED after {seconds:.1f} s: {error.splitlines()[0][:300]}")
            else:
                done.add(name)
                log(f"[taskfp.plan] {name}: {seconds:.1f} s ({len(done)}/{len(selected)})")


def main(argv=None) -> int:
    """Command line: execute the plan, print one line per run, write the times; 1 when a run failed."""
    parser = argparse.ArgumentParser(prog="python -m taskfp_lib.paper.plan", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run names (default: all)")
    parser.add_argument("--output", type=Path, help="folder for the executed notebooks (default: notebooks/, in place)")
    parser.add_argument("--results", type=Path, help="folder for the results files (default: results/)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="runs executed at once, one kernel with one thread each (default: the cores available)")
    parser.add_argument("--timing", type=Path, help="JSON file of the wall time (s) of every run: read to start the "
                                                    "longest chains first, then rewritten")
    args = parser.parse_args(argv)
    previous = {}
    if args.timing and args.timing.is_file():
        data = json.loads(args.timing.read_text())
        previous = data.get("runs", data) if isinstance(data, dict) else {}
    report = execute(args.names or None, output_dir=args.output, results_dir=args.results, jobs=args.jobs,
                     durations=previous, log=lambda m: print(m, flush=True))
    print(f"[taskfp.plan] {len(report.times)} runs in {report.wall_s:.1f} s with {report.jobs} queue(s) "
          f"(sum of run times {sum(report.times.values()):.1f} s)", flush=True)
    if args.timing:
        args.timing.parent.mkdir(parents=True, exist_ok=True)
        args.timing.write_text(json.dumps({"jobs": report.jobs, "wall_s": report.wall_s, "runs": report.times},
                                          indent=1) + "\n")
    try:
        report.raise_for_errors()
    except RuntimeError as exc:
        print(f"[taskfp.plan] {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
