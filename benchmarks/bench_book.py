"""Time the book rebuild (install excluded): the notebook plan serial vs in parallel, per notebook, then the HTML.

Usage: python benchmarks/bench_book.py [--jobs 1 2] [--repeat 1] [--skip-html] [--out FILE.json]

Each ``--jobs`` value executes the whole plan (taskfp_lib/paper/plan.py) into a temporary folder
(nothing tracked is touched), one kernel with one thread per queue; the first value is the
reference of the ratios (default: 1 = one notebook after the other). Prints per-notebook seconds
for every jobs value, the wall time, the ratio to the serial wall time and the sum of the notebook
times, the HTML build (execution off) of the last execution, the evaluation of the paper's selector
set, and the load average before and after
(the machine is quiet when it stays well below the number of cores). Writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from taskfp_lib._threads import available_cores  # noqa: E402
from taskfp_lib.paper.plan import execute  # noqa: E402
from taskfp_lib.paper.results import compare_results  # noqa: E402


def time_evaluation() -> dict:
    """Seconds to load and evaluate the paper's selector set (8 selectors x 4 scenarios x 2 metrics x 3 x 43)."""
    from taskfp_lib.evaluation import evaluate
    from taskfp_lib.evaluation.affinity import load_affinities
    from taskfp_lib.evaluation.outcomes import load_outcomes
    from taskfp_lib.vocabulary import SELECTOR_SETS

    t0 = time.perf_counter()
    outcomes, affinities = load_outcomes(), load_affinities(SELECTOR_SETS["paper"])
    t1 = time.perf_counter()
    ev = evaluate(outcomes, affinities)
    return {"load_s": round(t1 - t0, 2), "evaluate_s": round(time.perf_counter() - t1, 2), "rows": len(ev)}


def time_plan(jobs: int, work: Path) -> dict:
    """Execute the plan with ``jobs`` queues into ``work``; wall and per-run seconds, failures, result check."""
    report = execute(output_dir=work / "notebooks", results_dir=work / "results", jobs=jobs, log=lambda m: None)
    return {"wall_s": report.wall_s, "runs_s": report.times, "sum_runs_s": round(sum(report.times.values()), 2),
            "errors": report.errors, "results_differ": compare_results(work / "results", ROOT / "results")}


def time_html(work: Path) -> float:
    """Seconds of the HTML build (execution off) from the executed notebooks, as ``make html`` stages it."""
    site = work / "site"
    (site / "book" / "_static").mkdir(parents=True)
    shutil.copytree(ROOT / "book", site / "book", dirs_exist_ok=True)
    shutil.copy(ROOT / "_config.yml", site)
    shutil.copytree(work / "notebooks", site / "notebooks")
    shutil.copytree(work / "results", site / "book" / "_static" / "results")
    jb = Path(sys.executable).parent / "jupyter-book"
    t0 = time.perf_counter()
    subprocess.run([str(jb), "build", str(site), "--config", str(site / "_config.yml"), "--toc",
                    str(site / "book" / "_toc.yml"), "--path-output", str(site), "--warningiserror", "--keep-going",
                    "--quiet"], check=True, capture_output=True)
    return round(time.perf_counter() - t0, 2)


def print_table(runs: dict[int, list[dict]]) -> None:
    """Per-notebook median seconds, one column per jobs value, then wall times and ratios."""
    jobs = list(runs)
    names = list(runs[jobs[0]][0]["runs_s"])
    print(f"{'notebook':40s}" + "".join(f"{f'jobs={j}':>12s}" for j in jobs))
    for name in names:
        cells = [statistics.median(r["runs_s"].get(name, float("nan")) for r in runs[j]) for j in jobs]
        print(f"{name:40s}" + "".join(f"{c:12.2f}" for c in cells))
    walls = {j: statistics.median(r["wall_s"] for r in runs[j]) for j in jobs}
    for key, label in (("sum_runs_s", "sum of notebook times"),):
        print(f"{label:40s}" + "".join(f"{statistics.median(r[key] for r in runs[j]):12.2f}" for j in jobs))
    print(f"{'wall time':40s}" + "".join(f"{walls[j]:12.2f}" for j in jobs))
    print(f"{'wall / wall(jobs=' + str(jobs[0]) + ')':40s}" + "".join(f"{walls[j] / walls[jobs[0]]:12.2f}" for j in jobs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", nargs="+", type=int, default=[1, available_cores()])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-html", action="store_true")
    parser.add_argument("--skip-evaluation", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "bench_book.json")
    args = parser.parse_args()
    out = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
           "loadavg_start": os.getloadavg()}
    runs: dict[int, list[dict]] = {j: [] for j in args.jobs}
    with tempfile.TemporaryDirectory(prefix="taskfp-bench-book-") as tmp:
        for rep in range(args.repeat):
            for jobs in args.jobs:   # interleaved, so that a change of load hits every setting alike
                work = Path(tmp) / f"jobs{jobs}-{rep}"
                runs[jobs].append(time_plan(jobs, work))
        if not args.skip_html:
            out["html_s"] = time_html(work)
    if not args.skip_evaluation:
        out["evaluation"] = time_evaluation()
    out["loadavg_end"] = os.getloadavg()
    out["plan"] = {str(j): r for j, r in runs.items()}
    print_table(runs)
    if "html_s" in out:
        print(f"{'HTML build (execution off)':40s} {out['html_s']:11.2f}")
    if "evaluation" in out:
        print(f"evaluation of the paper's selector set: {out['evaluation']}")
    print(f"load average (1, 5, 15 min) before {out['loadavg_start']}, after {out['loadavg_end']}")
    for j, rs in runs.items():
        for r in rs:
            if r["errors"] or r["results_differ"]:
                print(f"jobs={j}: failed runs {r['errors']}; results differing {r['results_differ']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
