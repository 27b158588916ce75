"""The declared notebook plan of the book: notebook -> parameters -> files read -> files written.

Every book page that executes code is one :class:`Run` of a source notebook with papermill. Each run
declares the published files it reads (upstream path patterns of the data manifest), the results it
writes (``results/<name>.csv``) and the runs whose results it reads, in the manner of showyourwork.
The tests check the declaration against what the runs actually write.

``python -m taskfp_lib.paper.plan [NAME ...] [--output DIR] [--results DIR] [--timing FILE]`` executes
the plan: ``make book`` executes into ``_build/`` (the repository stays untouched), ``make
refresh-notebooks`` into ``notebooks/`` and ``results/`` (the committed reference outputs).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..upstream.manifest import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
OUTCOMES = "cache/exp/load_*_experiment%*%True.csv"
DEV_OUTCOMES = "cache/exp/load_*_experiment%*%False.csv"
TASK_INFOS = "cache/task_infos.csv"
_EXTERNAL = ("fig5_bootstrap_ranks", "fig5_summary", "table4_win_rates", "stability_scores", "supfig1_rank_then_mean")


@dataclass(frozen=True)
class Run:
    """One execution of a source notebook (a book page)."""

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
    Run("transfer_demo", "transfer_demo", writes=("transfer_demo",)),
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
    for run in PLAN:
        if run.name == name:
            return run
    raise KeyError(f"no run {name!r} in the notebook plan; known: {[r.name for r in PLAN]}")


def execute(names=None, output_dir: Path | None = None, results_dir: Path | None = None,
            notebook_dir: Path = NOTEBOOK_DIR, log=print) -> dict[str, float]:
    """Execute the plan (or the runs named in ``names``) in order; returns wall seconds per run.

    ``output_dir`` (default: in place) receives the executed notebooks; ``results_dir`` (default: the
    repository's results/) receives the results files, through the notebooks' ``results_dir`` parameter.
    """
    import papermill as pm

    for var, value in (("HF_HUB_OFFLINE", "1"), ("NO_ALBUMENTATIONS_UPDATE", "1")):
        os.environ.setdefault(var, value)
    output_dir = Path(output_dir or notebook_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    times = {}
    for run in PLAN:
        if names and run.name not in names:
            continue
        params = dict(run.parameters)
        if results_dir is not None:
            params["results_dir"] = str(results_dir)
        log(f"[taskfp.plan] executing {run.name} {params or ''}")
        t0 = time.perf_counter()
        pm.execute_notebook(str(notebook_dir / f"{run.source}.ipynb"), str(output_dir / f"{run.name}.ipynb"),
                            parameters=params, cwd=str(REPO_ROOT), kernel_name="python3", progress_bar=False,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])  # no TCP-transport warning
        times[run.name] = round(time.perf_counter() - t0, 2)
        log(f"[taskfp.plan] {run.name}: {times[run.name]} s")
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskfp_lib.paper.plan", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run names (default: all)")
    parser.add_argument("--output", type=Path, help="folder for the executed notebooks (default: notebooks/, in place)")
    parser.add_argument("--results", type=Path, help="folder for the results files (default: results/)")
    parser.add_argument("--timing", type=Path, help="write the wall time (s) of every run as JSON")
    args = parser.parse_args(argv)
    times = execute(args.names or None, output_dir=args.output, results_dir=args.results,
                    log=lambda m: print(m, flush=True))
    if args.timing:
        args.timing.parent.mkdir(parents=True, exist_ok=True)
        args.timing.write_text(json.dumps(times, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
