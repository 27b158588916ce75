"""3-D segmentation study on the Medical Segmentation Decathlon (repository revision, spec 8 notebook 13).

There are no transfer trainings here: the "outcome" of a source task for a target region is how
well the source's challenge results predict the target's, i.e. the mean Pearson correlation across
the challenge teams between the source regions and the target region.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .affinity import affinity_from_distance, load_distance

TASKS = ["Dataset001_BrainTumour", "Dataset002_Heart", "Dataset003_Liver", "Dataset004_Hippocampus",
         "Dataset005_Prostate", "Dataset006_Lung", "Dataset007_Pancreas", "Dataset008_HepaticVessel",
         "Dataset009_Spleen", "Dataset010_Colon"]
ABBREVIATIONS = dict(zip(["BRATS", "Heart", "Liver", "Hippocampus", "Prostate", "Lung", "Pancreas",
                          "Hepatic Vessel", "Spleen", "Colon"], TASKS))
REGIONS = dict(zip(TASKS, [3, 1, 2, 2, 2, 1, 2, 2, 1, 1]))
DROPPED_TEAMS = ("RegionTec", "EdwardMa12593")
METRICS = ("Dice", "NSD")
SCENARIO = "MSD segmentation"
#: selector -> distance file stem in MSD_cache/distances
SELECTOR_FILES = {
    "Manual": "SEMANTIC", "VDNA": "VDNA-PP:NN-1000-BINS-3_2_1", "FID": "FID-3_2_1", "P2L": "KLD-PP:NN-3_2_1",
    "Sinkhorn": "MMD-geo-sinkhorn-0.01-3_2_1", "bKLD(small,target)": "KLD-PP:NS-W:TS-100-BINS-3_2_1",
    "bKLD(large,unweighted)": "KLD-PP:NS-1000-BINS-3_2_1", "bKLD(large,source)": "KLD-PP:NS-W:SN-1000-BINS-3_2_1",
}


def load_results(path=None) -> pd.DataFrame:
    """Challenge results: one row per team, columns (task, metric, region)."""
    if path is None:
        from .data import data_path

        path = data_path("MSD_cache/msd_results.csv")
    df = pd.read_csv(path, header=[0, 1, 2], index_col=0)
    df.index.name = "team"
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
    """Outcome provider with the interface :func:`taskfp_lib.evaluation.evaluate` expects."""

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


def evaluations(selectors=tuple(SELECTOR_FILES)) -> pd.DataFrame:
    """Meta metrics of the selectors on the 34 MSD cases (weightedtau, top-3 regret/percentile/improvement)."""
    from .evaluation import evaluate

    outcomes = MSDOutcomes(team_correlations(load_results()))
    affinities = {s: affinity_from_distance(load_distance(SELECTOR_FILES[s], cache="MSD_cache"), zscore_axis=0)
                  for s in selectors}
    frames = [evaluate(outcomes, affinities, aggregates=["first"], metrics=[m], scenarios=[SCENARIO],
                       top_metrics=["regret", "percentile", "improvement"], targets=outcomes._cols(m), sources=TASKS,
                       valid_sources=lambda t: [s for s in TASKS if s != t.split("|")[0]],
                       target_ref=lambda t: t.split("|")[0]) for m in METRICS]
    return pd.concat(frames, ignore_index=True)
