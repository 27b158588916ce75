"""Speed of the evaluation table against the original per-target loop, and its growth with the task pool.

Usage: python benchmarks/bench_evaluation.py [--repeats N] [--skip-loop] [--scales 1,2,4] [--json FILE]

* ``loop``: a re-implementation of the authors' described procedure, one target at a time with pandas
  (nlargest, a Series per target, scipy's weightedtau per call) — the reference the issue measures
  against (about 26 s on a quiet 2-core machine for the paper's 41,280 rows).
* ``evaluate``: :func:`taskfp_lib.evaluation.evaluate` on the same inputs (bit-identical rows).
* ``scaling``: synthetic outcome and affinity matrices with ``f`` times the sources and targets
  (f^2 times the pairs), time and peak traced memory of ``evaluate``.

Prints medians of ``--repeats`` runs; the ratio loop / evaluate is the speed-up. No assertion: speed is
reported, never tested.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the oracle
from benchmarks._report import report  # noqa: E402


def original_loop(outcomes, affinities, targets, valid_sources, shrunk_name) -> pd.DataFrame:
    """The per-target loop as the authors describe it: aggregate > metric > scenario > selector > target,
    each (selector, target) scored by the test oracle ``tests/oracles.py:target_scores_naive``."""
    from oracles import target_scores_naive

    rows = []
    for agg in ("first", "second", "third"):
        for metric in ("AUROC", "BA"):
            for scen in outcomes.shrunk:
                exp = outcomes.matrix(scen, metric, agg)
                base = outcomes.baseline(scen, metric, agg, targets)
                for name, aff in affinities.items():
                    for t in targets:
                        valid = valid_sources(t)
                        scores = target_scores_naive(exp.loc[valid, t], aff.loc[valid, shrunk_name(t)], base[t])
                        rows += [(scen, name, metric, agg, t, meta, v) for meta, v in scores.items()]
    return pd.DataFrame(rows, columns=["scenario", "selector", "metric", "aggregate", "target", "meta_metric", "score"])


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class _SyntheticOutcomes:
    """Outcome provider of ``evaluate`` on random data: one scenario, three repetitions, both metrics."""

    shrunk = {"Synthetic": False}
    validation = True

    def __init__(self, sources, targets, seed=0):
        rng = np.random.default_rng(seed)
        self._m = {(m, a): pd.DataFrame(np.round(rng.uniform(0.5, 1, (len(sources), len(targets))), 3),
                                        index=sources, columns=targets)
                   for m in ("AUROC", "BA") for a in ("first", "second", "third")}
        self._b = pd.Series(0.7, index=targets)

    def matrix(self, scenario, metric, aggregate):
        return self._m[(metric, aggregate)]

    def baseline(self, scenario, metric, aggregate, targets):
        return self._b.loc[list(targets)]


def scaling(factor: int, repeats: int) -> tuple[float, float]:
    """Seconds and peak traced MiB of ``evaluate`` with 71*f sources and 43*f targets, 8 selectors."""
    from taskfp_lib.evaluation import evaluate

    sources = [f"s{i}" for i in range(71 * factor)]
    targets = [f"t{i}" for i in range(43 * factor)]
    rng = np.random.default_rng(1)
    affinities = {f"sel{k}": pd.DataFrame(rng.normal(size=(len(sources), len(targets))), index=sources,
                                          columns=targets) for k in range(8)}
    outcomes = _SyntheticOutcomes(sources, targets)
    valid = {t: [s for s in sources if s != "s" + t[1:]] for t in targets}
    call = lambda: evaluate(outcomes, affinities, scenarios=["Synthetic"], targets=targets, sources=sources,  # noqa
                            valid_sources=valid.__getitem__, target_ref=lambda t: t)
    seconds = _median_time(call, repeats)
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-loop", action="store_true", help="do not time the original loop (slow)")
    parser.add_argument("--scales", default="1,2,4", help="task-pool factors of the scaling runs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from taskfp_lib.evaluation import evaluate, load_affinities, load_outcomes
    from taskfp_lib.tasks import VAL_TASKS, shrunk_name, valid_sources
    from taskfp_lib.vocabulary import SELECTOR_SETS

    outcomes, affinities = load_outcomes(), load_affinities(SELECTOR_SETS["paper"])
    evaluate(outcomes, affinities)  # warm the outcome matrix cache as the loop's first call would
    out = {"evaluate_s": _median_time(lambda: evaluate(outcomes, affinities), args.repeats)}
    if not args.skip_loop:
        out["original_loop_s"] = _median_time(
            lambda: original_loop(outcomes, affinities, VAL_TASKS, valid_sources, shrunk_name), 1)
        out["speedup"] = out["original_loop_s"] / out["evaluate_s"]
    for f in (int(x) for x in args.scales.split(",")):
        seconds, peak = scaling(f, args.repeats)
        out[f"scale_{f}x_s"], out[f"scale_{f}x_peak_MiB"] = seconds, peak
    report(out, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
