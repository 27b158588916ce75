"""Recipes of the paper's figures and tables, one home each.

Every recipe reads the published files it needs and returns a
:class:`~taskfp_lib.paper.results.RecipeResult` (tables written to ``results/`` and the figures drawn
from them); the notebook of a book page calls exactly one recipe. The lower-level functions
(``tripled_evaluations``, ``fig4_shots_table``, ...) are what the recipes compose and what the
tests check against the numbers the paper prints.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from ..evaluation import evaluate, evaluate_budgets, load_affinities, load_outcomes
from ..evaluation import ranking
from ..evaluation.affinity import affinity_from_distance
from ..evaluation.outcomes import Outcomes
from ..tasks import (ALL_TASKS, DEV_TASKS, PAPER_IDS, domain_label, imaging_domain, is_shrinkable, task_group)
from ..upstream.manifest import ARXIV_COMMIT, UPSTREAM_COMMIT
from ..upstream.readers import load_distance, load_task_infos, sample_size_stem
from ..vocabulary import BKLD_VARIANTS, SELECTOR_SETS, SINGLE, get_selector, paper_regret
from . import plotting
from .results import RecipeResult

SAMPLE_SIZES = (10, 100, 1000)
FULL_SAMPLES = 10000
RESAMPLING_SEEDS = range(10)
#: upstream commit of the resampled distance files behind each selector set's Fig. 6: the paper's printed
#: figure was made from the files of the arXiv release; the authors regenerated them for the revision
FIG6_COMMITS = {"paper": ARXIV_COMMIT, "revision": UPSTREAM_COMMIT}


# --- Fig. 3: the task pool ------------------------------------------------------------------------


def task_pool_table(task_infos: pd.DataFrame) -> pd.DataFrame:
    """One row per task (dev then validation order): phase, paper id, properties, domain, group, medical flag."""
    rows = []
    for t in ALL_TASKS:
        info = task_infos.loc[t]
        rows.append({
            "name": t, "paper_id": PAPER_IDS[t], "phase": "development" if t in DEV_TASKS else "validation",
            "num_classes": int(info["num_classes"]), "num_samples": int(info["num_samples"]),
            "dimensions": int(info["dimensions"]), "imbalance_ratios": float(info["imbalance_ratios"]),
            "domain": domain_label(imaging_domain(info["keywords"])), "medical": "medical" in info["keywords"],
            "group": task_group(t) if task_group(t) != "xray" else None, "shrinkable": is_shrinkable(t),
        })
    return pd.DataFrame(rows)


def task_statistics(task_infos: pd.DataFrame,
                    properties=("num_samples", "num_classes", "imbalance_ratios", "dimensions")) -> pd.DataFrame:
    """pandas-describe statistics (min, q1, median, q3, max; linear quantiles) of task properties (Fig. 3)."""
    rows = []
    for p in properties:
        v = task_infos.loc[ALL_TASKS, p].astype(float)
        rows.append({"property": p, "min": v.min(), "q1": v.quantile(0.25), "median": v.median(),
                     "q3": v.quantile(0.75), "max": v.max(), "mean": v.mean(), "std": v.std(ddof=1)})
    return pd.DataFrame(rows)


def task_pool(task_infos: pd.DataFrame | None = None) -> RecipeResult:
    """Fig. 3 (data part): the 71 tasks and the statistics of their properties."""
    infos = load_task_infos() if task_infos is None else task_infos
    pool = task_pool_table(infos)
    stats = task_statistics(infos)[["property", "min", "q1", "median", "q3", "max"]]
    return RecipeResult({"fig3_task_stats": stats, "task_pool": pool},
                        {"fig3": lambda: plotting.plot_task_pool(pool)})


# --- Fig. 4: multi-shot transfer ------------------------------------------------------------------


#: Fig. 4's panels: panel -> (selectors, meta metric, metric)
FIG4_PANELS = {"a": (("bKLD(small,target)",), "gain", "BA"),
               "b": (("Manual", "bKLD(small,target)"), "improvement", "AUROC")}


def fig4_shots_table(outcomes: Outcomes | None = None, budgets=range(1, 6), *, panels: dict | None = None,
                     affinities: dict | None = None) -> pd.DataFrame:
    """Fig. 4: best-of-k transfer by number of shots.

    Panel ``a``: fraction of improved tasks (gain, BA) for bKLD(small,target); panel ``b``: AUROC
    improvement for Manual and bKLD(small,target). Mean and pandas std over the three repetitions
    of the per-repetition mean over the 43 targets.

    Parameters
    ----------
    panels : dict, optional
        Panel -> (selectors, meta metric, metric); default :data:`FIG4_PANELS` (a benchmarked
        measure is drawn by adding it to the panels).
    affinities : dict, optional
        Selector -> affinity matrix for selectors that have no published file; the others are read.
    """
    outcomes = load_outcomes() if outcomes is None else outcomes
    panels = FIG4_PANELS if panels is None else panels
    given = dict(affinities or {})
    rows = []
    for panel, (selectors, meta, metric) in panels.items():
        affs = {**load_affinities([s for s in selectors if s not in given]), **given}
        ev = evaluate_budgets(outcomes, {s: affs[s] for s in selectors}, budgets, metrics=[metric],
                              top_metrics=[meta], corr_metrics=[], mode="best")
        per_rep = ev.groupby(["scenario", "selector", "shots", "aggregate"], sort=False)["score"].mean()
        stats = per_rep.groupby(["scenario", "selector", "shots"], sort=False).agg(["mean", "std"]).reset_index()
        stats.insert(0, "panel", panel)
        rows.append(stats)
    return pd.concat(rows, ignore_index=True)[["panel", "scenario", "selector", "shots", "mean", "std"]]


def relative_increase(shots: pd.DataFrame) -> pd.DataFrame:
    """Relative performance increase of bKLD(small,target) over Manual, from Fig. 4b:
    :math:`(B - M)/M \\cdot 100` with the curves' means over the 1-5 shots."""
    b = shots[shots["panel"] == "b"].groupby(["scenario", "selector"], sort=False)["mean"].mean().unstack("selector")
    out = pd.DataFrame({"scenario": b.index, "manual_mean": b["Manual"].to_numpy(),
                        "bkld_mean": b["bKLD(small,target)"].to_numpy()})
    out["relative_percent"] = (out["bkld_mean"] - out["manual_mean"]) / out["manual_mean"] * 100
    out["absolute_points"] = (out["bkld_mean"] - out["manual_mean"]) * 100
    return out


def fig4_shots(budgets=range(1, 6), outcomes: Outcomes | None = None) -> RecipeResult:
    """Fig. 4 and the relative increase over manual selection."""
    shots = fig4_shots_table(outcomes, budgets)
    return RecipeResult({"fig4_shots": shots, "relative_increase": relative_increase(shots)},
                        {"fig4": lambda: plotting.plot_shots(shots)})


# --- Fig. 5, Supp. Table 4, stability, Supp. Fig. 1 -------------------------------------------------


def tripled_evaluations(selector_set: str = "paper", outcomes: Outcomes | None = None,
                        affinities: dict | None = None) -> pd.DataFrame:
    """The evaluation table behind Fig. 5, Table 4, the stability scores and Supp. Fig. 1.

    Three repetitions evaluated separately, both metrics, all scenarios, top-3 average, all five
    meta metrics (the rankings drop ``gain``).
    """
    outcomes = load_outcomes() if outcomes is None else outcomes
    affinities = load_affinities(SELECTOR_SETS[selector_set]) if affinities is None else affinities
    return evaluate(outcomes, affinities)


def without_gain(evaluations: pd.DataFrame) -> pd.DataFrame:
    return evaluations[evaluations["meta_metric"] != "gain"].reset_index(drop=True)


def table4_win_rates(evaluations: pd.DataFrame, selector_set: str) -> pd.DataFrame:
    """Supplementary Table 4 in long form: selector_set, selector, scenario (or ``mean``), win_rate_percent."""
    rates = ranking.win_rates(without_gain(evaluations)) * 100
    long = rates.reset_index().melt(id_vars="selector", var_name="scenario", value_name="win_rate_percent")
    long.insert(0, "selector_set", selector_set)
    return long


def stability_table(evaluations: pd.DataFrame, selector_set: str) -> pd.DataFrame:
    """Setup stability scores (Results, "outperforms previously suggested ones"): selector_set, component, score."""
    scores = ranking.stability_scores(without_gain(evaluations))
    return pd.DataFrame({"selector_set": selector_set, "component": scores.index, "score": scores.to_numpy()})


def fig5_rankings(evaluations: pd.DataFrame, selector_set: str, n_bootstrap: int = 1000,
                  seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fig. 5: bootstrap rankings of the 16 panels and their summary (seeded; the original was not)."""
    ranks = ranking.bootstrap_rankings(without_gain(evaluations), n_bootstrap=n_bootstrap, seed=seed)
    ranks.insert(0, "selector_set", selector_set)
    summary = ranking.ranking_summary(ranks).reset_index()
    summary.insert(0, "selector_set", selector_set)
    return ranks, summary


def supfig1_rank_then_mean(evaluations: pd.DataFrame, selector_set: str, n_bootstrap: int = 1000,
                           seed: int = 42) -> pd.DataFrame:
    """Supplementary Fig. 1: rank then mean (numpy Generator seeded once)."""
    out = ranking.rank_then_mean(without_gain(evaluations), n_bootstrap=n_bootstrap, seed=seed)
    out.insert(0, "selector_set", selector_set)
    return out[["selector_set", "meta_metric", "scenario", "selector", "mean_rank", "std"]]


def external_validation(selector_set: str = "paper", seed: int = 42, n_bootstrap: int = 1000,
                        outcomes: Outcomes | None = None) -> RecipeResult:
    """Fig. 5, Supplementary Table 4, the setup stability scores and Supplementary Fig. 1 of a selector set."""
    evaluations = tripled_evaluations(selector_set, outcomes)
    ranks, summary = fig5_rankings(evaluations, selector_set, n_bootstrap, seed)
    wins = table4_win_rates(evaluations, selector_set)
    tables = {"fig5_bootstrap_ranks": ranks.drop(columns="rank_counts"), "fig5_summary": summary,
              "table4_win_rates": wins, "stability_scores": stability_table(evaluations, selector_set),
              "supfig1_rank_then_mean": supfig1_rank_then_mean(evaluations, selector_set, n_bootstrap, seed)}
    figures = {"fig5_summary": lambda: plotting.plot_ranking_summary(summary),
               "fig5_grid": lambda: plotting.plot_bootstrap_blobs(ranks),
               "table4": lambda: plotting.plot_win_rates(wins),
               "supfig1": lambda: plotting.plot_rank_then_mean(tables["supfig1_rank_then_mean"])}
    return RecipeResult(tables, figures, replace={"selector_set": selector_set})


# --- Supp. Table 3: similarity of the scenarios -----------------------------------------------------


def table3_scenario_similarity(outcomes: Outcomes | None = None) -> RecipeResult:
    """Supplementary Table 3: weighted tau between the outcomes of two scenarios (mean, std ddof 0)."""
    outcomes = load_outcomes() if outcomes is None else outcomes
    table = ranking.scenario_similarity(outcomes)[["scenario_a", "scenario_b", "mean", "std"]]
    return RecipeResult({"table3_scenario_similarity": table},
                        {"table3": lambda: plotting.plot_scenario_similarity(table)})


# --- Fig. 6: sample-size robustness ---------------------------------------------------------------


def fig6_sample_size_table(selector_set: str = "paper", variants: Sequence[str] = BKLD_VARIANTS,
                           outcomes: Outcomes | None = None, sample_sizes=SAMPLE_SIZES, seeds=RESAMPLING_SEEDS,
                           progress: bool = True) -> pd.DataFrame:
    """Fig. 6: robustness of the bKLD variants to the fingerprint sample size.

    The resampled distance files (``<stem>-<n>-SAMPLES-<seed>-SEED``) come from the upstream commit of
    ``selector_set`` (:data:`FIG6_COMMITS`: the arXiv release for ``"paper"``, the revision for
    ``"revision"``); the 10,000-sample stems are the revision's files in both (the two releases agree
    on them to 1e-6). Single (mean-aggregated) evaluations, best-of-3, both metrics; per file the mean
    over the 43 targets, then mean and pandas std over the resampling seeds (std NaN for the full
    10,000). The regret rows hold the paper's ``regret`` (lower is better).
    """
    from tqdm.auto import tqdm

    commit = FIG6_COMMITS[selector_set]
    outcomes = load_outcomes() if outcomes is None else outcomes
    jobs = [(v, n, s) for v in variants for n in sample_sizes for s in seeds] + [(v, FULL_SAMPLES, 0) for v in variants]
    affinities = {}
    for variant, n, seed in tqdm(jobs, desc="Fig. 6 distance files", disable=not progress):
        stem = get_selector(variant).stem
        dist = load_distance(stem) if n == FULL_SAMPLES else load_distance(sample_size_stem(stem, n, seed), commit=commit)
        affinities[f"{variant}|{n}|{seed}"] = affinity_from_distance(dist)
    ev = evaluate(outcomes, affinities, aggregates=SINGLE, mode="best",
                  top_metrics=["regret_score", "percentile", "gain", "improvement"])
    df = ev.groupby(["selector", "scenario", "meta_metric", "metric"], sort=False)["score"].mean().reset_index()
    parts = df["selector"].str.split("|", expand=True)
    df["variant"], df["samples"], df["seed"] = parts[0], parts[1].astype(int), parts[2].astype(int)
    df = as_paper_regret(df)
    out = df.groupby(["variant", "scenario", "samples", "meta_metric", "metric"], sort=False)["score"] \
        .agg(["mean", "std"]).reset_index()
    out["full"] = out["samples"] == FULL_SAMPLES  # the resampled files first, then the full fingerprints
    out = in_order(out, {"full": [False, True], "variant": variants, "samples": [*sample_sizes, FULL_SAMPLES],
                         "metric": None, "scenario": None, "meta_metric": None}).drop(columns="full")
    out.insert(0, "selector_set", selector_set)
    return out


def in_order(df: pd.DataFrame, orders: dict) -> pd.DataFrame:
    """Rows sorted (stably) by the given column orders, in the given column precedence.

    ``orders`` maps a column to the sequence of its values in the wanted order, or to None for the
    order of first appearance.
    """
    keys = {}
    for col, order in orders.items():
        values = list(dict.fromkeys(df[col])) if order is None else list(order)
        keys[f"_k_{col}"] = df[col].map({v: i for i, v in enumerate(values)})
    tmp = df.assign(**keys).sort_values(list(keys), kind="stable")
    return tmp.drop(columns=list(keys)).reset_index(drop=True)


def as_paper_regret(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``regret_score`` turned into the paper's ``regret`` (1 - score, lower is better)."""
    df = df.copy()
    rows = df["meta_metric"] == "regret_score"
    df.loc[rows, "score"] = paper_regret(df.loc[rows, "score"])
    df.loc[rows, "meta_metric"] = "regret"
    return df


def fig6_sample_size(selector_sets: Sequence[str] = ("paper", "revision"), variants: Sequence[str] = BKLD_VARIANTS,
                     outcomes: Outcomes | None = None) -> RecipeResult:
    """Fig. 6 of the paper (arXiv-era resampled files) and of the revision (regenerated files)."""
    outcomes = load_outcomes() if outcomes is None else outcomes
    table = pd.concat([fig6_sample_size_table(s, variants, outcomes, progress=False) for s in selector_sets],
                      ignore_index=True)
    figures = {f"fig6_{s}": (lambda s=s: plotting.plot_sample_size(table[table["selector_set"] == s]))
               for s in selector_sets}
    return RecipeResult({"fig6_sample_size": table}, figures)


# --- Supp. Table 1: architectures -------------------------------------------------------------------


def table1_architectures() -> RecipeResult:
    """Supplementary Table 1: ImageNet top-1 (timm's result tables) and measured backbone parameters."""
    from .architectures import architecture_table

    return RecipeResult({"table1_architectures": architecture_table()})
