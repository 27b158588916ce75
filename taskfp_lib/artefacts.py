"""Recipes of the paper's figures and tables (spec 7), each returning a tidy DataFrame.

The notebooks call these functions and plot or print their results; the tests compare them with
the numbers the paper prints.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from . import ranking
from .affinity import BKLD_VARIANTS, SELECTOR_FILES, SELECTOR_SETS, affinity_from_distance, load_affinities, \
    load_distance, sample_size_stem
from .evaluation import evaluate, evaluate_budgets
from .metrics import paper_regret
from .data import ARXIV_COMMIT, UPSTREAM_COMMIT
from .outcomes import Outcomes, load_outcomes
from .tasks import (ALL_TASKS, DEV_TASKS, domain_label, imaging_domain, load_task_infos, task_pool_table,
                    task_statistics)

SAMPLE_SIZES = (10, 100, 1000)
FULL_SAMPLES = 10000
RESAMPLING_SEEDS = range(10)


def tripled_evaluations(selector_set: str = "paper", outcomes: Outcomes | None = None,
                        affinities: dict | None = None) -> pd.DataFrame:
    """The evaluation table behind Fig. 5, Table 4, the stability scores and Supp. Fig. 1.

    Three repetitions evaluated separately, both metrics, all scenarios, top-3 average, all five
    meta metrics (drop ``gain`` for the rankings).
    """
    outcomes = load_outcomes() if outcomes is None else outcomes
    affinities = load_affinities(SELECTOR_SETS[selector_set]) if affinities is None else affinities
    return evaluate(outcomes, affinities)


def without_gain(evaluations: pd.DataFrame) -> pd.DataFrame:
    return evaluations[evaluations["meta_metric"] != "gain"].reset_index(drop=True)


def fig4_shots(outcomes: Outcomes | None = None, budgets=range(1, 6)) -> pd.DataFrame:
    """Fig. 4: best-of-k transfer by number of shots (spec 7.1).

    Panel ``a``: fraction of improved tasks (gain, BA) for bKLD(small,target); panel ``b``: AUROC
    improvement for Manual and bKLD(small,target). Mean and pandas std over the three repetitions
    of the per-repetition mean over the 43 targets.
    """
    outcomes = load_outcomes() if outcomes is None else outcomes
    panels = {"a": (["bKLD(small,target)"], "gain", "BA"), "b": (["Manual", "bKLD(small,target)"], "improvement", "AUROC")}
    rows = []
    for panel, (selectors, meta, metric) in panels.items():
        ev = evaluate_budgets(outcomes, load_affinities(selectors), budgets, metrics=[metric], top_metrics=[meta],
                              corr_metrics=[], mode="best")
        per_rep = ev.groupby(["scenario", "selector", "shots", "aggregate"], sort=False)["score"].mean()
        stats = per_rep.groupby(["scenario", "selector", "shots"], sort=False).agg(["mean", "std"]).reset_index()
        stats.insert(0, "panel", panel)
        rows.append(stats)
    return pd.concat(rows, ignore_index=True)[["panel", "scenario", "selector", "shots", "mean", "std"]]


def relative_increase(shots: pd.DataFrame) -> pd.DataFrame:
    """Relative performance increase of bKLD(small,target) over Manual (spec 7.1), from Fig. 4b."""
    b = shots[shots["panel"] == "b"].groupby(["scenario", "selector"], sort=False)["mean"].mean().unstack("selector")
    out = pd.DataFrame({"scenario": b.index, "manual_mean": b["Manual"].to_numpy(),
                        "bkld_mean": b["bKLD(small,target)"].to_numpy()})
    out["relative_percent"] = (out["bkld_mean"] - out["manual_mean"]) / out["manual_mean"] * 100
    out["absolute_points"] = (out["bkld_mean"] - out["manual_mean"]) * 100
    return out


def table4_win_rates(evaluations: pd.DataFrame, selector_set: str) -> pd.DataFrame:
    """Supplementary Table 4 in long form: selector_set, selector, scenario (or ``mean``), win_rate_percent."""
    rates = ranking.win_rates(without_gain(evaluations)) * 100
    long = rates.reset_index().melt(id_vars="selector", var_name="scenario", value_name="win_rate_percent")
    long.insert(0, "selector_set", selector_set)
    return long


def stability_table(evaluations: pd.DataFrame, selector_set: str) -> pd.DataFrame:
    """Setup stability scores (spec 7.2): selector_set, component, score."""
    scores = ranking.stability_scores(without_gain(evaluations))
    return pd.DataFrame({"selector_set": selector_set, "component": scores.index, "score": scores.to_numpy()})


def fig5_rankings(evaluations: pd.DataFrame, selector_set: str, n_bootstrap: int = 1000,
                  seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fig. 5: bootstrap rankings of the 16 panels and their summary (spec 7.3)."""
    ranks = ranking.bootstrap_rankings(without_gain(evaluations), n_bootstrap=n_bootstrap, seed=seed)
    ranks.insert(0, "selector_set", selector_set)
    summary = ranking.ranking_summary(ranks).reset_index()
    summary.insert(0, "selector_set", selector_set)
    return ranks, summary


def supfig1_rank_then_mean(evaluations: pd.DataFrame, selector_set: str, n_bootstrap: int = 1000,
                           seed: int = 42) -> pd.DataFrame:
    """Supplementary Fig. 1 (spec 7.4)."""
    out = ranking.rank_then_mean(without_gain(evaluations), n_bootstrap=n_bootstrap, seed=seed)
    out.insert(0, "selector_set", selector_set)
    return out[["selector_set", "meta_metric", "scenario", "selector", "mean_rank", "std"]]


def table3_scenario_similarity(outcomes: Outcomes | None = None) -> pd.DataFrame:
    """Supplementary Table 3 (spec 7.6): scenario_a, scenario_b, mean, std."""
    outcomes = load_outcomes() if outcomes is None else outcomes
    return ranking.scenario_similarity(outcomes)[["scenario_a", "scenario_b", "mean", "std"]]


#: upstream commit of the resampled distance files behind each selector set's Fig. 6: the paper's printed
#: figure was made from the files of the arXiv release; the authors regenerated them for the revision
FIG6_COMMITS = {"paper": ARXIV_COMMIT, "revision": UPSTREAM_COMMIT}


def fig6_sample_size(selector_set: str = "paper", variants: Sequence[str] = BKLD_VARIANTS,
                     outcomes: Outcomes | None = None, sample_sizes=SAMPLE_SIZES, seeds=RESAMPLING_SEEDS,
                     progress: bool = True) -> pd.DataFrame:
    """Fig. 6: robustness of the bKLD variants to the fingerprint sample size (spec 7.7).

    The resampled distance files (``<stem>-<n>-SAMPLES-<seed>-SEED``) come from the upstream commit of
    ``selector_set`` (:data:`FIG6_COMMITS`: the arXiv release for ``"paper"``, the revision for
    ``"revision"``); the 10,000-sample stems are the revision's files in both (the two releases agree
    on them to 1e-6). Single (mean-aggregated) evaluations, best-of-3, both metrics; per file the mean
    over the 43 targets, then mean and pandas std over the resampling seeds (std NaN for the full
    10,000). ``regret`` values are the paper's regret (lower is better).
    """
    from tqdm.auto import tqdm

    commit = FIG6_COMMITS[selector_set]
    outcomes = load_outcomes() if outcomes is None else outcomes
    jobs = [(v, n, s) for v in variants for n in sample_sizes for s in seeds] + [(v, FULL_SAMPLES, 0) for v in variants]
    affinities = {}
    for variant, n, seed in tqdm(jobs, desc="Fig. 6 distance files", disable=not progress):
        stem = SELECTOR_FILES[variant]
        dist = load_distance(stem) if n == FULL_SAMPLES else load_distance(sample_size_stem(stem, n, seed), commit=commit)
        affinities[f"{variant}|{n}|{seed}"] = affinity_from_distance(dist)
    ev = evaluate(outcomes, affinities, aggregates=["mean"], mode="best",
                  top_metrics=["regret", "percentile", "gain", "improvement"])
    df = ev.groupby(["selector", "scenario", "meta_metric", "metric"], sort=False)["score"].mean().reset_index()
    parts = df["selector"].str.split("|", expand=True)
    df["variant"], df["samples"], df["seed"] = parts[0], parts[1].astype(int), parts[2].astype(int)
    regret = df["meta_metric"] == "regret"
    df.loc[regret, "score"] = paper_regret(df.loc[regret, "score"])
    out = df.groupby(["variant", "scenario", "samples", "meta_metric", "metric"], sort=False)["score"] \
        .agg(["mean", "std"]).reset_index()
    out.insert(0, "selector_set", selector_set)
    return out


def fig3_task_statistics(task_infos: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fig. 3 statistics: min, q1, median, q3, max of the task properties (spec 7.8)."""
    task_infos = load_task_infos() if task_infos is None else task_infos
    return task_statistics(task_infos)[["property", "min", "q1", "median", "q3", "max"]]


def task_pool(task_infos: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per task with its phase, domain, group and properties (Fig. 3 data)."""
    task_infos = load_task_infos() if task_infos is None else task_infos
    return task_pool_table(task_infos)




# --- repository-revision extras (spec 8) -----------------------------------------------------------------

BIN_COUNTS = (10, 25, 50, 75, 100, 250, 500, 750, 1000)
BIN_FAMILIES = {"bKLD(unweighted)": "KLD-PP:NS", "bKLD(target)": "KLD-PP:NS-W:TS", "bKLD(source)": "KLD-PP:NS-W:SN"}
PROBES = ("CLIP", "DINO", "MAE")
PROBE_SELECTORS = ["Manual", "VDNA", "FID", "P2L", "Sinkhorn", "bKLD(small,target)", "bKLD(large,unweighted)"]


def bins_sweep(outcomes: Outcomes | None = None, families: dict = BIN_FAMILIES, bins=BIN_COUNTS,
               progress: bool = True) -> pd.DataFrame:
    """Notebook 4 of the repository: the bKLD families for 10..1000 bins.

    Single (mean-aggregated) evaluations, top-3 average, regret/percentile/gain/improvement and
    weightedtau; per (scenario, file, meta metric) the mean and pandas std over the 43 targets x 2
    metrics. ``regret`` is the paper's regret (lower is better).
    """
    from tqdm.auto import tqdm

    outcomes = load_outcomes() if outcomes is None else outcomes
    frames = []
    for family, stem in tqdm([(f, s) for f, s in families.items()], desc="bin families", disable=not progress):
        for b in bins:
            aff = {family: affinity_from_distance(load_distance(f"{stem}-{b}-BINS"))}
            ev = evaluate(outcomes, aff, aggregates=["mean"], top_metrics=["regret", "percentile", "gain", "improvement"])
            regret = ev["meta_metric"] == "regret"
            ev.loc[regret, "score"] = paper_regret(ev.loc[regret, "score"])
            g = ev.groupby(["scenario", "meta_metric"], sort=False)["score"].agg(["mean", "std"]).reset_index()
            g.insert(0, "bins", b)
            g.insert(0, "variant", family)
            frames.append(g)
    return pd.concat(frames, ignore_index=True)


def full_size_evaluations(selector_set: str = "paper") -> pd.DataFrame:
    """Notebook 7 of the repository: Arch and CoT evaluated on the full-size (not shrunk) targets."""
    scenarios = ["Model Architecture", "Co-Training Data"]
    outcomes = load_outcomes(scenarios=scenarios, shrunk={s: False for s in scenarios})
    return evaluate(outcomes, load_affinities(SELECTOR_SETS[selector_set]), scenarios=scenarios)


def probe_rankings(outcomes: Outcomes | None = None, probes=PROBES, n_bootstrap: int = 1000, seed: int = 42,
                   selectors=PROBE_SELECTORS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Notebook 14 of the repository: the selectors recomputed with CLIP, DINO and MAE features.

    Tripled evaluations (top-3 regret/percentile/improvement, weightedtau) per probe; one bootstrap
    ranking per scenario x meta metric x probe (one generator, seeded once); the summary is the mean
    and pandas std of each selector's mean ranks over all rankings.
    """
    outcomes = load_outcomes() if outcomes is None else outcomes
    rng = np.random.default_rng(seed)
    frames = []
    for probe in probes:
        files = {s: (SELECTOR_FILES[s] if s == "Manual" else f"{SELECTOR_FILES[s]}-{probe}") for s in selectors}
        ev = evaluate(outcomes, load_affinities(selectors, files=files),
                      top_metrics=["regret", "percentile", "improvement"])
        ranks = ranking.bootstrap_rankings(ev, metas=["regret", "percentile", "improvement", "weightedtau"],
                                           n_bootstrap=n_bootstrap, seed=rng)
        ranks.insert(0, "probe", probe)
        frames.append(ranks)
    ranks = pd.concat(frames, ignore_index=True)
    return ranks, ranking.ranking_summary(ranks).reset_index()


HEATMAP_SELECTORS = ("P2L", "VDNA", "bKLD(small,target)")


def affinity_heatmap(selector: str) -> pd.DataFrame:
    """Notebook 12 of the repository: the column-z-scored affinity matrix (71 sources x 127 targets)."""
    return affinity_from_distance(load_distance(SELECTOR_FILES[selector]), zscore_axis=0)


def task_map(selector: str, seed: int = 0, perplexity: float = 15.0) -> pd.DataFrame:
    """2-D t-SNE map of the 71 tasks from the square part of a published distance matrix.

    The 71 x 71 part of the column-z-scored distances (the negated heatmap values, so that every
    target column has the same scale) is symmetrised (mean of both directions; bKLD is asymmetric),
    shifted to be non-negative with a zero diagonal, and embedded with scikit-learn's t-SNE on these
    precomputed distances (random initialisation with an explicit seed).
    """
    from sklearn.manifold import TSNE

    d = -affinity_heatmap(selector).loc[ALL_TASKS, ALL_TASKS].to_numpy(dtype=float)
    d = (d + d.T) / 2
    np.fill_diagonal(d, np.nan)
    d = d - np.nanmin(d)
    np.fill_diagonal(d, 0.0)
    xy = TSNE(n_components=2, metric="precomputed", init="random", random_state=seed,
              perplexity=perplexity).fit_transform(d)
    infos = load_task_infos()
    return pd.DataFrame({"selector": selector, "task": ALL_TASKS, "x": xy[:, 0], "y": xy[:, 1],
                         "phase": ["development" if t in DEV_TASKS else "validation" for t in ALL_TASKS],
                         "domain": [domain_label(imaging_domain(infos.loc[t, "keywords"])) for t in ALL_TASKS]})
