"""Execute the compendium's notebooks in place with papermill (the book is built from their outputs).

Usage: python scripts/run_notebooks.py [NAME ...] [--timing FILE]

The order matters: the published-vs-reproduced page reads the results of the others. Notebooks
listed in VARIANTS are executed a second time with other parameters into their own file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import papermill as pm

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks"
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
OPTIONAL = ["knowledge_cloud_demo", "transfer_demo", "benchmark_report"]
LAST = [("07_published_vs_reproduced", "07_published_vs_reproduced", {})]


def all_runs():
    runs = list(RUNS)
    for extra in sorted(p.stem for p in NB.glob("[0-9][0-9]_*.ipynb")):
        if extra not in {r[0] for r in RUNS + LAST} and extra not in {r[1] for r in RUNS + LAST}:
            runs.append((extra, extra, {}))
    runs += [(n, n, {}) for n in OPTIONAL if (NB / f"{n}.ipynb").is_file()]
    return runs + LAST


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="output notebook names (default: all)")
    parser.add_argument("--timing", type=Path, help="write per-notebook wall times (s) as JSON")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    times = {}
    for src, out, params in all_runs():
        if args.names and out not in args.names:
            continue
        t0 = time.perf_counter()
        print(f"[run_notebooks] {out} {params or ''}", flush=True)
        pm.execute_notebook(str(NB / f"{src}.ipynb"), str(NB / f"{out}.ipynb"), parameters=params,
                            cwd=str(ROOT), kernel_name="python3", progress_bar=False)
        times[out] = round(time.perf_counter() - t0, 2)
        print(f"[run_notebooks] {out}: {times[out]} s", flush=True)
    if args.timing:
        args.timing.write_text(json.dumps(times, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
