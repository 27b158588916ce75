"""Time of the development comparison (798 distance variants) on this machine, step by step.

    python benchmarks/bench_development.py [--cold] [--no-ensembles] [--json out.json]

Goal (issue 12): the whole comparison, loading the 798 distance files included, in under 60 s on
2 cores. Steps: loading (cached float64 arrays; ``--cold`` first parses every CSV into an empty
array cache, as on a fresh clone), affinities, variety filter, evaluation of the 798 variants,
summaries, pair ensembles, then the placement of one user distance. Wall and CPU seconds are both
printed: on a shared machine the CPU time is the better guide to the quiet wall time.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import report  # noqa: E402


def _cold_parse(out: dict) -> None:
    """Parse every variant CSV into an empty array cache (verified copies are kept)."""
    from taskfp_lib.paper import distance_arrays as A
    from taskfp_lib.paper.variants import development_variants, variant_file_stem

    stems = A.published_distance_stems()
    files = [variant_file_stem(v, stems) for v in development_variants(stems)]
    with tempfile.TemporaryDirectory() as tmp:
        real = A.array_cache_path
        A.array_cache_path = lambda sha: Path(tmp) / f"{sha}.npy"
        try:
            t, c = time.perf_counter(), time.process_time()
            A.load_distance_arrays(files, progress=False)
            out["cold_parse_798_csv_s"] = time.perf_counter() - t
            out["cold_parse_798_csv_cpu_s"] = time.process_time() - c
        finally:
            A.array_cache_path = real


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cold", action="store_true", help="also time parsing the 798 CSVs without the array cache")
    p.add_argument("--no-ensembles", action="store_true", help="skip the pair ensembles")
    p.add_argument("--json", type=Path, help="write the times here")
    args = p.parse_args(argv)
    out = {"machine": platform.platform(), "cpus": os.cpu_count(), "load_avg_1min_before": os.getloadavg()[0]}
    t = time.perf_counter()
    from taskfp_lib.evaluation import load_outcomes
    from taskfp_lib.paper import development as D
    from taskfp_lib.benchmark.development import development_position
    from taskfp_lib.paper.distance_arrays import distance_frame, distance_values

    out["import_s"] = time.perf_counter() - t
    if args.cold:
        _cold_parse(out)
    t = time.perf_counter()
    outcomes = load_outcomes(validation=False)
    out["load_outcomes_s"] = time.perf_counter() - t
    comparison = D.development_comparison(outcomes, ensembles=not args.no_ensembles, progress=False)
    out.update({f"comparison_{k}": v for k, v in comparison.timings.items()})
    out["selectors_evaluated"] = len(comparison.variants) + (0 if comparison.ensembles is None
                                                              else len(comparison.ensembles))
    t, c = time.perf_counter(), time.process_time()
    development_position(distance_frame(distance_values("KLD-PP:NS-W:TS-100-BINS")), "user", comparison=comparison,
                         outcomes=outcomes)
    out["user_position_s"], out["user_position_cpu_s"] = time.perf_counter() - t, time.process_time() - c
    out["load_avg_1min_after"] = os.getloadavg()[0]
    report(out, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
