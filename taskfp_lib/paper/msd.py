"""3-D segmentation study on the Medical Segmentation Decathlon (repository revision, notebook 13).

There are no transfer trainings here: the "outcome" of a source task for a target region is how
well the source's challenge results predict the target's, i.e. the mean Pearson correlation across
the challenge teams between the source regions and the target region.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..evaluation import evaluate, ranking
from ..evaluation.affinity import affinity_from_distance
from ..upstream.readers import load_distance, read_msd_results
from ..vocabulary import SELECTOR_SETS, get_selector
from . import plotting
from .results import RecipeResult

TASKS = ["Dataset001_BrainTumour", "Dataset002_Heart", "Dataset003_Liver", "Dataset004_Hippocampus",
         "Dataset005_Prostate", "Dataset006_Lung", "Dataset007_Pancreas", "Dataset008_HepaticVessel",
         "Dataset009_Spleen", "Dataset010_Colon"]
ABBREVIATIONS = dict(zip(["BRATS", "Heart", "Liver", "Hippocampus", "Prostate", "Lung", "Pancreas",
                          "Hepatic Vessel", "Spleen", "Colon"], TASKS))
REGIONS = dict(zip(TASKS, [3, 1, 2, 2, 2, 1, 2, 2, 1, 1]))
DROPPED_TEAMS = ("RegionTec", "EdwardMa12593")
METRICS = ("Dice", "NSD")
SCENARIO = "MSD segmentation"
#: the selectors of the study (MSD_cache/distances holds their files)
SELECTORS = SELECTOR_SETS["msd"]
#: probe suffix of the MSD distance files: 3-D MAE features mean-pooled over spatial dims 3, 2, 1 (320 features)
PROBE_SUFFIX = "3_2_1"


def distance_stem(selector: str) -> str:
    """File stem in ``MSD_cache/distances`` of a selector (Manual's keyword distance has no probe)."""
    stem = get_selector(selector).stem
    return stem if selector == "Manual" else f"{stem}-{PROBE_SUFFIX}"


def load_results(path=None) -> pd.DataFrame:
    """Challenge results: one row per team, columns (task, metric, region) with the tasks' dataset names."""
    df = read_msd_results(path)
    df.columns = pd.MultiIndex.from_tuples([(ABBREVIATIONS[t], m, r) for t, m, r in df.columns],
                                           names=["task", "metric", "region"])
    return df


def team_correlations(results: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation (34 x 34) of the result columns across the teams, two outlier teams dropped."""
    return results.drop(index=[t for t in DROPPED_TEAMS if t in results.index]).astype(float).corr(method="pearson")


def targets() -> list[str]:
    """Evaluation targets ``task|metric|region`` (Dice regions then NSD regions, task order)."""
    return [f"{t}|{m}|L{i}" for m in METRICS for t in TASKS for i in range(1, REGIONS[t] + 1)]


@dataclass
class MSDOutcomes:
    """Outcome provider with the interface :func:`taskfp_lib.evaluation.evaluate` expects.

    The outcome of source ``s`` for a target region is the mean over the source's regions of the
    Pearson correlation across the teams; the baseline is the mean of the target region's column.
    """

    corr: pd.DataFrame
    shrunk = {SCENARIO: False}
    validation = True

    def _cols(self, metric):
        return [t for t in targets() if t.split("|")[1] == metric]

    def matrix(self, scenario: str, metric: str, aggregate: str) -> pd.DataFrame:
        out = {}
        for t in self._cols(metric):
            task, _, region = t.split("|")
            col = self.corr[(task, metric, region)]
            out[t] = {s: np.mean([col[(s, metric, f"L{k}")] for k in range(1, REGIONS[s] + 1)]) for s in TASKS}
        return pd.DataFrame(out).loc[TASKS]

    def baseline(self, scenario: str, metric: str, aggregate: str, targets_) -> pd.Series:
        return pd.Series({t: self.corr[tuple(t.split("|"))].mean() for t in targets_})


def evaluations(selectors=SELECTORS) -> pd.DataFrame:
    """Meta metrics of the selectors on the 34 MSD cases (weightedtau, top-3 regret/percentile/improvement)."""
    outcomes = MSDOutcomes(team_correlations(load_results()))
    affinities = {s: affinity_from_distance(load_distance(distance_stem(s), cache="MSD_cache"), zscore_axis=0)
                  for s in selectors}
    frames = [evaluate(outcomes, affinities, aggregates=["first"], metrics=[m], scenarios=[SCENARIO],
                       top_metrics=["regret_score", "percentile", "improvement"], targets=outcomes._cols(m),
                       sources=TASKS,
                       valid_sources=lambda t: [s for s in TASKS if s != t.split("|")[0]],
                       target_ref=lambda t: t.split("|")[0]) for m in METRICS]
    return pd.concat(frames, ignore_index=True)


def msd_segmentation(seed: int = 42, n_bootstrap: int = 1000) -> RecipeResult:
    """Repository notebook 13: meta metrics and a bootstrap ranking per meta metric on the MSD tasks."""
    ev = evaluations()
    ranks = ranking.bootstrap_rankings(ev, n_bootstrap=n_bootstrap, seed=seed)
    return RecipeResult({"msd_evaluations": ev, "msd_bootstrap_ranks": ranks.drop(columns="rank_counts")},
                        {"grid": lambda: plotting.plot_bootstrap_blobs(ranks)})
