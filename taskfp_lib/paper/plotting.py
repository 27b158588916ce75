"""One function per figure type of the paper; each returns a matplotlib Figure."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..vocabulary import META_METRICS, RANKING_META_METRICS, SCENARIOS, scenario_order

META_LABELS = {name: m.label for name, m in META_METRICS.items()}
SCENARIO_COLORS = {label: s.colour for label, s in SCENARIOS.items()}


def _style():
    sns.set_theme(style="whitegrid", context="notebook")


def plot_shots(shots: pd.DataFrame) -> plt.Figure:
    """Fig. 4: (a) fraction of improved tasks, (b) AUROC improvement vs. number of shots, error bars = std."""
    _style()
    fig = plt.figure(figsize=(12, 7), constrained_layout=True)
    grid = fig.add_gridspec(2, 4)
    ax_a = fig.add_subplot(grid[0, :])
    a = shots[shots["panel"] == "a"]
    for scen, g in a.groupby("scenario", sort=False):
        ax_a.errorbar(g["shots"], g["mean"], yerr=g["std"], marker="o", capsize=3, label=scen,
                      color=SCENARIO_COLORS.get(scen))
    ax_a.set(xlabel="shots", ylabel="fraction of improved tasks (BA)", xticks=sorted(a["shots"].unique()))
    ax_a.legend(loc="lower right")
    ax_a.set_title("a", loc="left", fontweight="bold")
    b = shots[shots["panel"] == "b"]
    axes = [fig.add_subplot(grid[1, i]) for i in range(4)]
    for ax, scen in zip(axes, scenario_order(b["scenario"])):
        for sel, g in b[b["scenario"] == scen].groupby("selector", sort=False):
            ax.errorbar(g["shots"], g["mean"], yerr=g["std"], marker="o", capsize=3, label=sel)
        ax.axhline(0, color="black", lw=1, ls="--", label="No transfer")
        ax.set(title=scen, xlabel="shots", xticks=sorted(b["shots"].unique()))
    axes[0].set_ylabel("AUROC improvement")
    axes[0].set_title("b", loc="left", fontweight="bold")
    axes[-1].legend(fontsize="small")
    return fig


def plot_bootstrap_blobs(ranks: pd.DataFrame, metas: Sequence[str] = RANKING_META_METRICS) -> plt.Figure:
    """Fig. 5 (grid): one bubble plot per scenario x meta metric.

    Bubble area = how often a selector obtained a rank over the bootstraps; black x = mean rank with
    error bar = std rank.
    """
    _style()
    scenarios = scenario_order(ranks["scenario"])
    fig, axes = plt.subplots(len(scenarios), len(metas), figsize=(4 * len(metas), 3.6 * len(scenarios)),
                             squeeze=False, constrained_layout=True)
    n_sel = ranks["selector"].nunique()
    for i, scen in enumerate(scenarios):
        for j, meta in enumerate(metas):
            ax = axes[i, j]
            sub = ranks[(ranks["scenario"] == scen) & (ranks["meta_metric"] == meta)]
            sub = sub.sort_values("mean_rank", ascending=False).reset_index(drop=True)
            total = sum(sub["rank_counts"].iloc[0].values()) if len(sub) else 1
            for x, row in sub.iterrows():
                counts = row["rank_counts"]
                ax.scatter([x] * len(counts), list(counts.keys()), s=[400 * c / total for c in counts.values()],
                           alpha=0.5, color="tab:blue", linewidths=0)
                ax.errorbar(x, row["mean_rank"], yerr=row["std_rank"], fmt="x", color="black", capsize=2)
            ax.set_xticks(range(len(sub)), sub["selector"], rotation=60, ha="right", fontsize=8)
            ax.set_ylim(n_sel + 0.5, 0.5)
            ax.set_yticks(range(1, n_sel + 1))
            if i == 0:
                ax.set_title(META_LABELS[meta])
            if j == 0:
                ax.set_ylabel(f"{scen}\nrank")
    return fig


def plot_ranking_summary(summary: pd.DataFrame) -> plt.Figure:
    """Fig. 5 (summary): mean rank over the 16 panels with pandas std, best at the top."""
    _style()
    s = summary.sort_values("mean_rank", ascending=False)
    fig, ax = plt.subplots(figsize=(8, 3.5), constrained_layout=True)
    ax.errorbar(range(len(s)), s["mean_rank"], yerr=s["std"], fmt="o", capsize=4, color="black")
    ax.set_xticks(range(len(s)), s["selector"], rotation=30, ha="right")
    ax.invert_yaxis()
    ax.set_ylabel("mean rank over 16 panels")
    return fig


def plot_rank_then_mean(df: pd.DataFrame, metas: Sequence[str] = RANKING_META_METRICS) -> plt.Figure:
    """Supplementary Fig. 1: per meta metric and scenario, the bootstrap mean rank of each selector."""
    _style()
    fig, axes = plt.subplots(len(metas), 1, figsize=(9, 3 * len(metas)), sharex=True, constrained_layout=True)
    selectors = list(dict.fromkeys(df["selector"]))
    palette = dict(zip(selectors, sns.color_palette("tab10", len(selectors))))
    for ax, meta in zip(np.atleast_1d(axes), metas):
        sub = df[df["meta_metric"] == meta]
        scen = scenario_order(sub["scenario"])
        for k, sel in enumerate(selectors):
            g = sub[sub["selector"] == sel].set_index("scenario").loc[scen]
            y = np.arange(len(scen)) + (k - len(selectors) / 2) * 0.08
            ax.errorbar(g["mean_rank"], y, xerr=g["std"], fmt="o", color=palette[sel], label=sel, ms=4, capsize=2)
        ax.set_yticks(range(len(scen)), scen)
        ax.set_title(META_LABELS[meta])
    axes[-1].set_xlabel("mean rank (1 = best)")
    axes[0].legend(ncol=4, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, 1.6))
    return fig


def plot_sample_size(df: pd.DataFrame, meta: str = "percentile", metric: str = "BA",
                     chance: float | None = 0.75) -> plt.Figure:
    """Fig. 6: meta metric of the best of 3 suggestions vs. fingerprint sample size (log axis)."""
    _style()
    sub = df[(df["meta_metric"] == meta) & (df["metric"] == metric)]
    variants = list(dict.fromkeys(sub["variant"]))
    fig, axes = plt.subplots(1, len(variants), figsize=(4.5 * len(variants), 4), sharey=True, squeeze=False,
                             constrained_layout=True)
    for ax, variant in zip(axes[0], variants):
        for scen, g in sub[sub["variant"] == variant].groupby("scenario", sort=False):
            ax.errorbar(g["samples"], g["mean"], yerr=g["std"].fillna(0), marker="o", capsize=3, label=scen,
                        color=SCENARIO_COLORS.get(scen))
        if chance is not None:
            ax.axhline(chance, color="grey", ls="--", lw=1, label="random selection")
        ax.set(xscale="log", title=variant, xlabel="samples per fingerprint")
    axes[0, 0].set_ylabel(f"three-shot {META_LABELS[meta].lower()} ({metric})")
    axes[0, -1].legend(fontsize="small")
    return fig


def plot_win_rates(table: pd.DataFrame) -> plt.Figure:
    """Supplementary Table 4 as a heatmap (win rate in %)."""
    _style()
    wide = table.pivot_table(index="selector", columns="scenario", values="win_rate_percent", sort=False)
    wide = wide.sort_values("mean")
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(wide) + 1.5), constrained_layout=True)
    sns.heatmap(wide, annot=True, fmt=".2f", cmap="viridis", ax=ax, cbar_kws={"label": "win rate (%)"})
    ax.set(xlabel="", ylabel="")
    return fig


def plot_scenario_similarity(table: pd.DataFrame) -> plt.Figure:
    """Supplementary Table 3 as a heatmap of the mean weighted tau."""
    _style()
    wide = table.pivot_table(index="scenario_a", columns="scenario_b", values="mean", sort=False)
    fig, ax = plt.subplots(figsize=(6.5, 5), constrained_layout=True)
    sns.heatmap(wide, annot=True, fmt=".3f", cmap="vlag", center=0, ax=ax, cbar_kws={"label": "weighted tau"})
    ax.set(xlabel="", ylabel="")
    return fig


def plot_task_pool(pool: pd.DataFrame) -> plt.Figure:
    """Fig. 3 (data part): tasks per imaging domain and the distributions of the task properties."""
    _style()
    fig, axes = plt.subplots(1, 5, figsize=(20, 4.5), constrained_layout=True)
    counts = pool.groupby(["domain", "phase"]).size().unstack("phase").fillna(0)
    counts = counts.loc[counts.sum(axis=1).sort_values().index]
    palette = {"development": "tab:gray", "validation": "tab:blue"}
    counts.plot.barh(stacked=True, ax=axes[0], color=[palette[c] for c in counts.columns])
    axes[0].set(xlabel="tasks", ylabel="")
    for k, (ax, prop) in enumerate(zip(axes[1:], ["num_samples", "num_classes", "imbalance_ratios", "dimensions"])):
        sns.stripplot(data=pool, x=prop, y="phase", hue="phase", palette=palette, ax=ax,
                      log_scale=prop != "dimensions", jitter=0.25, legend=False)
        ax.set(ylabel="", xlabel=prop)
        if k:
            ax.set_yticklabels([])
    return fig


def plot_affinity_heatmap(affinity: pd.DataFrame, title: str = "") -> plt.Figure:
    """Heatmap of an affinity matrix (sources x targets)."""
    _style()
    fig, ax = plt.subplots(figsize=(12, 6), constrained_layout=True)
    sns.heatmap(affinity, cmap="mako", ax=ax, xticklabels=False, yticklabels=False, cbar_kws={"label": "affinity"})
    ax.set(title=title, xlabel="target tasks", ylabel="source tasks")
    return fig


def plot_meta_curves(df: pd.DataFrame, x: str, facet: str = "meta_metric", hue: str = "scenario",
                     xscale: str = "log") -> plt.Figure:
    """Mean +- std curves of a meta metric against a swept parameter (bins, samples)."""
    _style()
    facets = list(dict.fromkeys(df[facet]))
    fig, axes = plt.subplots(1, len(facets), figsize=(4.5 * len(facets), 4), squeeze=False, constrained_layout=True)
    for ax, f in zip(axes[0], facets):
        for h, g in df[df[facet] == f].groupby(hue, sort=False):
            ax.errorbar(g[x], g["mean"], yerr=g["std"].fillna(0), marker="o", capsize=3, label=h,
                        color=SCENARIO_COLORS.get(h))
        ax.set(xscale=xscale, title=str(META_LABELS.get(f, f)), xlabel=x)
    axes[0, -1].legend(fontsize="small")
    return fig


def plot_task_maps(maps: pd.DataFrame) -> plt.Figure:
    """t-SNE task maps (one panel per selector), coloured by imaging domain."""
    _style()
    selectors = list(dict.fromkeys(maps["selector"]))
    fig, axes = plt.subplots(1, len(selectors), figsize=(6 * len(selectors), 5.5), squeeze=False,
                             constrained_layout=True)
    domains = sorted(maps["domain"].dropna().unique())
    palette = dict(zip(domains, sns.color_palette("tab20", len(domains))))
    for ax, sel in zip(axes[0], selectors):
        sub = maps[maps["selector"] == sel]
        sns.scatterplot(data=sub, x="x", y="y", hue="domain", style="phase", palette=palette, ax=ax, s=60,
                        legend=ax is axes[0, -1])
        ax.set(title=sel, xlabel="", ylabel="", xticks=[], yticks=[])
    axes[0, -1].legend(fontsize="x-small", bbox_to_anchor=(1.02, 1), loc="upper left")
    return fig
