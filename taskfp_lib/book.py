"""Execute the compendium's notebooks with papermill: the plan the book is built from.

``python -m taskfp_lib.book [NAME ...] [--timing FILE]`` executes every notebook in place (the
book is then built from their stored outputs, execution off). The order matters: the
published-vs-reproduced page reads the results of the others; some notebooks are executed a
second time with other parameters into their own file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .data import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
#: (source notebook, output notebook, parameters), in execution order
RUNS = [
    ("01_task_pool", "01_task_pool", {}),
    ("02_fig4_shots", "02_fig4_shots", {}),
    ("03_external_validation", "03_external_validation", {"selector_set": "paper"}),
    ("03_external_validation", "03b_external_validation_revision", {"selector_set": "revision"}),
    ("04_table3_scenario_similarity", "04_table3_scenario_similarity", {}),
    ("05_fig6_sample_size", "05_fig6_sample_size", {}),
    ("06_table1_architectures", "06_table1_architectures", {}),
]
#: demonstration notebooks, executed when present
DEMOS = ["knowledge_cloud_demo", "transfer_demo", "benchmark_report", "meduniverse"]
LAST = [("07_published_vs_reproduced", "07_published_vs_reproduced", {})]


def execution_plan(notebook_dir: Path = NOTEBOOK_DIR) -> list[tuple[str, str, dict]]:
    """All runs: the paper artefacts, further numbered notebooks, the demos, then the comparison page."""
    planned = {r[0] for r in RUNS + LAST} | {r[1] for r in RUNS + LAST}
    extra = [(n, n, {}) for n in sorted(p.stem for p in notebook_dir.glob("[0-9][0-9]_*.ipynb")) if n not in planned]
    demos = [(n, n, {}) for n in DEMOS if (notebook_dir / f"{n}.ipynb").is_file()]
    return RUNS + extra + demos + LAST


def execute(names=None, output_dir: Path | None = None, results_dir: Path | None = None,
            notebook_dir: Path = NOTEBOOK_DIR, log=print) -> dict[str, float]:
    """Execute the plan (or the runs whose output name is in ``names``); returns wall seconds per run.

    ``output_dir`` (default: in place) receives the executed notebooks; ``results_dir`` (default: the
    repository's results/) receives the results files, through the notebooks' ``results_dir`` parameter.
    """
    import papermill as pm

    for var, value in (("HF_HUB_OFFLINE", "1"), ("NO_ALBUMENTATIONS_UPDATE", "1")):
        os.environ.setdefault(var, value)
    output_dir = Path(output_dir or notebook_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    times = {}
    for src, out, params in execution_plan(notebook_dir):
        if names and out not in names:
            continue
        params = dict(params)
        if results_dir is not None:
            params["results_dir"] = str(results_dir)
        log(f"[taskfp.book] executing {out} {params or ''}")
        t0 = time.perf_counter()
        pm.execute_notebook(str(notebook_dir / f"{src}.ipynb"), str(output_dir / f"{out}.ipynb"), parameters=params,
                            cwd=str(REPO_ROOT), kernel_name="python3", progress_bar=False)
        times[out] = round(time.perf_counter() - t0, 2)
        log(f"[taskfp.book] {out}: {times[out]} s")
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskfp_lib.book", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="output notebook names (default: all)")
    parser.add_argument("--timing", type=Path, help="write the wall time (s) of every notebook as JSON")
    args = parser.parse_args(argv)
    times = execute(args.names or None, log=lambda m: print(m, flush=True))
    if args.timing:
        args.timing.parent.mkdir(parents=True, exist_ok=True)
        args.timing.write_text(json.dumps(times, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
