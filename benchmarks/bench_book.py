"""Time the full book rebuild (install excluded): every notebook, then the HTML build.

Usage: python benchmarks/bench_book.py [--out FILE.json] [--skip-notebooks]

Also times the core evaluation (8 selectors x 4 scenarios x 2 metrics x 3 repetitions x 43 targets).
Prints a table and writes JSON. Executes the notebooks in place, like `make notebooks`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def time_evaluation() -> dict:
    from taskfp_lib.evaluation.affinity import load_affinities
    from taskfp_lib.vocabulary import SELECTOR_SETS
    from taskfp_lib.evaluation import evaluate
    from taskfp_lib.evaluation.outcomes import load_outcomes

    t0 = time.perf_counter()
    outcomes, affinities = load_outcomes(), load_affinities(SELECTOR_SETS["paper"])
    t1 = time.perf_counter()
    ev = evaluate(outcomes, affinities)
    t2 = time.perf_counter()
    return {"load_s": round(t1 - t0, 2), "evaluate_s": round(t2 - t1, 2), "rows": len(ev)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "bench_book.json")
    parser.add_argument("--skip-notebooks", action="store_true")
    args = parser.parse_args()
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "evaluation": time_evaluation()}
    total0 = time.perf_counter()
    if not args.skip_notebooks:
        from taskfp_lib.paper.plan import execute

        report["notebooks_s"] = execute(log=lambda m: None)
    t0 = time.perf_counter()
    jb = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jb), "build", str(ROOT), "--config", str(ROOT / "_config.yml"), "--toc",
                    str(ROOT / "book" / "_toc.yml"), "--warningiserror", "--keep-going", "--quiet"], check=True,
                   capture_output=True)
    report["html_s"] = round(time.perf_counter() - t0, 2)
    report["total_s"] = round(time.perf_counter() - total0, 2)
    for name, sec in report.get("notebooks_s", {}).items():
        print(f"{name:40s} {sec:8.2f} s")
    print(f"{'HTML build (execution off)':40s} {report['html_s']:8.2f} s")
    print(f"{'total book rebuild':40s} {report['total_s']:8.2f} s")
    print(f"evaluation of the paper's selector set: {report['evaluation']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
