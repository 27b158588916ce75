"""Times of the distance benchmark on this machine: validation, the analysis, the development placement,
the whole CLI.

    python benchmarks/bench_benchmark.py [--json out.json] [--no-cli]

Goal (issue 5): ``taskfp benchmark my_distance.csv`` end to end (validation, papermill execution of
the report notebook with 1000 bootstraps, the placement among the 798 development variants,
single-page jupyter-book HTML) in under 60 s on an idle machine; the load average is reported with
the times because the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", help="write the times here")
    p.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run")
    args = p.parse_args(argv)
    times = {}
    t0 = time.perf_counter()
    from taskfp_lib import benchmark as bm
    from taskfp_lib.evaluation.outcomes import load_outcomes

    times["import_s"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "my_distance.csv"
        bm.random_distance(7).to_csv(csv)
        t = time.perf_counter()
        dist = bm.read_distance(csv)
        times["read_validate_s"] = time.perf_counter() - t
        t = time.perf_counter()
        outcomes = load_outcomes()
        times["load_outcomes_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ref = bm.reference_evaluations("paper", outcomes)
        times["reference_evaluation_8_selectors_s"] = time.perf_counter() - t
        t = time.perf_counter()
        bm.benchmark(dist, "My distance", outcomes=outcomes, reference=ref, validate=False)
        times["benchmark_analysis_s"] = time.perf_counter() - t
        t = time.perf_counter()
        bm.development_position(dist, "My distance")
        times["development_placement_s"] = time.perf_counter() - t
        if not args.no_cli:
            exe = Path(sys.executable).with_name("taskfp")
            t = time.perf_counter()
            subprocess.run([str(exe), "benchmark", str(csv), "--name", "My distance", "--out",
                            str(Path(tmp) / "report"), "-q"], check=True)
            times["cli_end_to_end_s"] = time.perf_counter() - t
    info = {"machine": platform.platform(), "cpus": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 1),
            "times": {k: round(v, 2) for k, v in times.items()}}
    print(json.dumps(info, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
