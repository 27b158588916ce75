"""Recipes of the repository revision's analyses beyond the paper.

The authors' repository (revision 064ddd8) adds a bin sweep, full-size targets, alternative probes
(CLIP, DINO, MAE) and affinity heatmaps with task maps; the MSD 3-D segmentation study lives in
:mod:`taskfp_lib.paper.msd`. None of these has printed numbers in the paper.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._threads import SMALL, limited_threads
from ..evaluation import evaluate, load_affinities, load_outcomes, ranking
from ..evaluation.affinity import affinity_from_distance
from ..evaluation.outcomes import Outcomes
from ..tasks import ALL_TASKS, DEV_TASKS, domain_label, imaging_domain
from ..upstream.readers import load_distance, load_task_infos
from ..vocabulary import ARCH, COTRAINING, RANKING_META_METRICS, SELECTOR_SETS, SINGLE, get_selector
from . import plotting, plotting_curves, plotting_tasks
from .recipes import as_paper_regret, in_order, supfig1_rank_then_mean, without_gain
from .results import RecipeResult

BIN_COUNTS = (10, 25, 50, 75, 100, 250, 500, 750, 1000)
BIN_FAMILIES = {"bKLD(unweighted)": "KLD-PP:NS", "bKLD(target)": "KLD-PP:NS-W:TS", "bKLD(source)": "KLD-PP:NS-W:SN"}
PROBES = ("CLIP", "DINO", "MAE")
PROBE_SELECTORS = SELECTOR_SETS["probes"]
HEATMAP_SELECTORS = ("P2L", "VDNA", "bKLD(small,target)")
FULL_SIZE_SCENARIOS = (ARCH.label, COTRAINING.label)


def bins_sweep_table(outcomes: Outcomes | None = None, families: dict = BIN_FAMILIES, bins=BIN_COUNTS) -> pd.DataFrame:
    """The bKLD families for 10..1000 bins.

    Single (mean-aggregated) evaluations, top-3 average, regret/percentile/gain/improvement and
    weightedtau; per (scenario, file, meta metric) the mean and pandas std over the 43 targets x 2
    metrics. The regret rows hold the paper's ``regret`` (lower is better).
    """
    outcomes = load_outcomes() if outcomes is None else outcomes
    affinities = {f"{family}|{b}": affinity_from_distance(load_distance(f"{stem}-{b}-BINS"))
                  for family, stem in families.items() for b in bins}
    ev = evaluate(outcomes, affinities, aggregates=SINGLE, top_metrics=["regret_score", "percentile", "gain",
                                                                          "improvement"])
    ev = as_paper_regret(ev)
    g = ev.groupby(["selector", "scenario", "meta_metric"], sort=False)["score"].agg(["mean", "std"]).reset_index()
    parts = g.pop("selector").str.split("|", expand=True)
    g.insert(0, "bins", parts[1].astype(int))
    g.insert(0, "variant", parts[0])
    return in_order(g, {"variant": list(families), "bins": list(bins), "scenario": None, "meta_metric": None})


def bins_sweep(outcomes: Outcomes | None = None) -> RecipeResult:
    """Repository notebook 4: the bin sweep of the three bKLD weightings."""
    sweep = bins_sweep_table(outcomes)
    metas = ["weightedtau", "percentile", "regret"]
    figures = {"bins": lambda: plotting_curves.plot_curve_grid(sweep[sweep["meta_metric"].isin(metas)], x="bins",
                                                               rows="variant", col_order=metas,
                                                               xlabel="bins per feature")}
    return RecipeResult({"bins_sweep": sweep}, figures)


def full_size_evaluations(selector_set: str = "paper") -> pd.DataFrame:
    """Arch and CoT evaluated on the full-size (not shrunk) targets, repetitions separately."""
    outcomes = load_outcomes(scenarios=FULL_SIZE_SCENARIOS, shrunk={s: False for s in FULL_SIZE_SCENARIOS})
    return evaluate(outcomes, load_affinities(SELECTOR_SETS[selector_set]), scenarios=FULL_SIZE_SCENARIOS)


def full_size_targets(selector_set: str = "paper", seed: int = 42, n_bootstrap: int = 1000) -> RecipeResult:
    """Repository notebook 7: win rates (with gain), bootstrap rankings and rank-then-mean on full-size targets."""
    evaluations = full_size_evaluations(selector_set)
    wins = ranking.win_rates(evaluations) * 100
    long = wins.reset_index().melt(id_vars="selector", var_name="scenario", value_name="win_rate_percent")
    ranks = ranking.bootstrap_rankings(without_gain(evaluations), n_bootstrap=n_bootstrap, seed=seed)
    rtm = supfig1_rank_then_mean(evaluations, selector_set, n_bootstrap, seed).drop(columns="selector_set")
    tables = {"full_size_win_rates": long, "full_size_bootstrap_ranks": ranks.drop(columns="rank_counts"),
              "full_size_rank_then_mean": rtm}
    return RecipeResult(tables, {"grid": lambda: plotting.plot_bootstrap_blobs(ranks),
                                 "rank_then_mean": lambda: plotting.plot_rank_then_mean(rtm)})


def probe_rankings(outcomes: Outcomes | None = None, probes=PROBES, n_bootstrap: int = 1000, seed: int = 42,
                   selectors=PROBE_SELECTORS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The selectors recomputed with CLIP, DINO and MAE features (repository notebook 14).

    Tripled evaluations (top-3 regret/percentile/improvement, weightedtau) per probe; one bootstrap
    ranking per scenario x meta metric x probe (one generator, seeded once); the summary is the mean
    and pandas std of each selector's mean ranks over all rankings.
    """
    outcomes = load_outcomes() if outcomes is None else outcomes
    rng = np.random.default_rng(seed)
    frames = []
    for probe in probes:
        files = {s: (get_selector(s).stem if s == "Manual" else f"{get_selector(s).stem}-{probe}") for s in selectors}
        ev = evaluate(outcomes, load_affinities(selectors, files=files),
                      top_metrics=["regret_score", "percentile", "improvement"])
        ranks = ranking.bootstrap_rankings(ev, metas=RANKING_META_METRICS, n_bootstrap=n_bootstrap, seed=rng)
        ranks.insert(0, "probe", probe)
        frames.append(ranks)
    ranks = pd.concat(frames, ignore_index=True)
    return ranks, ranking.ranking_summary(ranks).reset_index()


def probes(seed: int = 42, n_bootstrap: int = 1000) -> RecipeResult:
    """Repository notebook 14 as a recipe."""
    ranks, summary = probe_rankings(n_bootstrap=n_bootstrap, seed=seed)
    figures = {"summary": lambda: plotting.plot_ranking_summary(summary, "mean rank over the 48 panels")}
    figures |= {f"grid_{p}": (lambda g=g, p=p: plotting.plot_bootstrap_blobs(g, title=f"{p} features"))
                for p, g in ranks.groupby("probe", sort=False)}
    return RecipeResult({"probes_bootstrap_ranks": ranks.drop(columns="rank_counts"), "probes_summary": summary},
                        figures)


def affinity_heatmap(selector: str) -> pd.DataFrame:
    """The column-z-scored affinity matrix (71 sources x 127 targets) of a paper selector."""
    return affinity_from_distance(load_distance(get_selector(selector).stem), zscore_axis=0)


def task_map(selector: str, seed: int = 0, perplexity: float = 15.0, task_infos: pd.DataFrame | None = None
             ) -> pd.DataFrame:
    """2-D t-SNE map of the 71 tasks from the square part of a published distance matrix.

    The 71 x 71 part of the column-z-scored distances (the negated heatmap values, so that every
    target column has the same scale) is symmetrised (mean of both directions; bKLD is asymmetric),
    shifted to be non-negative with a zero diagonal, and embedded with scikit-learn's t-SNE on these
    precomputed distances (random initialisation with an explicit seed), with one thread: a small
    workload, and a thread count fixed so that the gradient sums in one order on every machine.
    """
    from sklearn.manifold import TSNE

    d = -affinity_heatmap(selector).loc[ALL_TASKS, ALL_TASKS].to_numpy(dtype=float)
    d = (d + d.T) / 2
    np.fill_diagonal(d, np.nan)
    d = d - np.nanmin(d)
    np.fill_diagonal(d, 0.0)
    with limited_threads(SMALL):
        xy = TSNE(n_components=2, metric="precomputed", init="random", random_state=seed,
                  perplexity=perplexity).fit_transform(d)
    infos = load_task_infos() if task_infos is None else task_infos
    return pd.DataFrame({"selector": selector, "task": ALL_TASKS, "x": xy[:, 0], "y": xy[:, 1],
                         "phase": ["development" if t in DEV_TASKS else "validation" for t in ALL_TASKS],
                         "domain": [domain_label(imaging_domain(infos.loc[t, "keywords"])) for t in ALL_TASKS]})


def task_maps(seed: int = 0) -> RecipeResult:
    """Repository notebook 12 (reproducible part): affinity heatmaps and t-SNE task maps."""
    infos = load_task_infos()
    maps = pd.concat([task_map(s, seed=seed, task_infos=infos) for s in HEATMAP_SELECTORS], ignore_index=True)
    figures = {"heatmaps": lambda: plotting_tasks.plot_affinity_heatmaps({s: affinity_heatmap(s)
                                                                          for s in HEATMAP_SELECTORS}),
               "task_maps": lambda: plotting_tasks.plot_task_maps(maps)}
    return RecipeResult({"task_maps_tsne": maps}, figures)
