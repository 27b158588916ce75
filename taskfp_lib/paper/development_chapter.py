"""The development-comparison chapter: its recipe, figures, tables and conclusions.

:func:`development_chapter` runs :func:`taskfp_lib.paper.development.development_comparison` and
returns its results tables (``dev_comparison``, ``dev_ensembles``) and figures; the other functions
draw and tabulate for the book page, in the book's visual language (:mod:`.plotting`: drawn for
the content width, saved at its resolution, matplotlib's global settings untouched).
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .development import (COLUMNS, METAS, OPTIONS, PAPER_SETTINGS, SCENARIO_KEYS, VARIETY_THRESHOLD,
                          DevelopmentComparison, best_variant, development_comparison, final_candidates, positions)
from .plotting import BOOK_WIDTH, META_LABELS, legend_above, styled
from .results import RecipeResult
from .variants import MANUAL_BASE

WIDTH = BOOK_WIDTH
OPTION_LABELS = {"sum": "sum", "sum_without_gain": "sum without gain", "tau_rank": "tau + rank",
                 "rank_based": "rank-based (mean rank, lower is better)"}
PAPER_COLOR = "#d62728"
FAMILY_ORDER = ["KLD", "JS", "L-p", "VDNA", "EMD-AVG", "COS", "LOG", "EXP", "MMD", "FID", MANUAL_BASE]


@dataclass
class DevelopmentChapter(RecipeResult):
    """:class:`~taskfp_lib.paper.results.RecipeResult` of the chapter, with the comparison it came from."""

    comparison: DevelopmentComparison | None = None


def development_chapter(ensembles: bool = True, progress: bool = False) -> DevelopmentChapter:
    """Repository notebook 1: the development comparison of the 798 distance variants.

    Tables ``dev_comparison`` (one row per variant) and ``dev_ensembles`` (one row per pair and
    weight, when ``ensembles``); figures ``variety``, ``by_family``, ``hyperparameters``,
    ``scenario_profile`` and ``ensembles``.
    """
    comparison = development_comparison(ensembles=ensembles, progress=progress)
    table = comparison.table()
    tables = {"dev_comparison": table}
    figures = {"variety": lambda: plot_variety(comparison), "by_family": lambda: plot_by_family(table),
               "hyperparameters": lambda: plot_hyperparameters(table),
               "scenario_profile": lambda: plot_scenario_profile(scenario_profile(comparison))}
    if comparison.ensembles is not None:
        tables["dev_ensembles"] = comparison.ensembles
        figures["ensembles"] = lambda: plot_ensembles(comparison.ensembles)
    return DevelopmentChapter(tables, figures, comparison=comparison)


def survivors(table: pd.DataFrame) -> pd.DataFrame:
    """Variants and survivors of the variety filter per family (columns), with the total."""
    counts = table.groupby("family", sort=False).agg(variants=("variant", "size"), kept=("kept", "sum"))
    counts = counts.reindex([f for f in FAMILY_ORDER if f in counts.index])
    counts.loc["all"] = counts.sum()
    return counts.T


def candidates_table(comparison: DevelopmentComparison) -> pd.DataFrame:
    """:func:`~taskfp_lib.paper.development.final_candidates` by ``sum``, plus the best MMD variant."""
    final = final_candidates(comparison)
    mmd = best_variant(comparison, "MMD")
    final.loc[len(final)] = {"candidate": mmd, "equals": "", "paper_label": "best MMD",
                             "position": int(comparison.positions.loc[mmd, "sum"]),
                             "sum": comparison.totals.loc[mmd, "sum"]}
    return final


def top_ensembles(ensembles: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` best ensembles by ``sum`` with their members' ``sum`` and their single-variant position."""
    return ensembles.sort_values("sum", ascending=False).head(n)[["ensemble", "sum", "sum_a", "sum_b", "position_sum"]]


def _family_palette() -> dict:
    return dict(zip(FAMILY_ORDER, sns.color_palette("tab10", 10) + [(0.4, 0.4, 0.4)]))


@styled
def plot_variety(comparison: DevelopmentComparison) -> plt.Figure:
    """Histogram of the variety of every variant, the filter threshold and how many pass it."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.0), constrained_layout=True)
    v = comparison.variety
    bins = (np.arange(0, 45) - 0.5) / 43
    ax.hist(v[v > VARIETY_THRESHOLD], bins=bins, color="#4c72b0", label=f"kept ({(v > VARIETY_THRESHOLD).sum()})")
    ax.hist(v[v <= VARIETY_THRESHOLD], bins=bins, color="#bbbbbb", label=f"dropped ({(v <= VARIETY_THRESHOLD).sum()})")
    ax.axvline(VARIETY_THRESHOLD, color="black", ls="--", lw=1)
    ax.set_xlim(0, min(1.0, v.max() + 0.05))
    ax.set(xlabel="variety = distinct closest sources / 43 validation targets", ylabel="variants")
    ax.legend(loc="upper left")
    return fig


def leaderboard_table(comparison: DevelopmentComparison, n: int = 10) -> pd.DataFrame:
    """The top ``n`` of every option side by side, plus the rows of the paper's three settings."""
    blocks = []
    for option in OPTIONS:
        board = comparison.leaderboard(option)
        rows = pd.concat([board.head(n), board[board["variant"].isin(PAPER_SETTINGS) & (board.index >= n)]])
        blocks.append(pd.DataFrame({"option": OPTION_LABELS[option], "position": rows["position"].to_numpy(),
                                    "variant": rows["variant"].to_numpy(), "value": rows[option].to_numpy(),
                                    "paper setting": rows["paper_label"].fillna("").to_numpy()}))
    return pd.concat(blocks, ignore_index=True)


def style_leaderboard(table: pd.DataFrame):
    """pandas Styler: the paper's settings in bold red, values with 3 decimals."""
    def paper(row):
        return ["color: #d62728; font-weight: bold" if row["paper setting"] else ""] * len(row)

    return (table.style.apply(paper, axis=1).format({"value": "{:.3f}"}).hide(axis="index")
            .set_table_attributes('class="dataframe"'))


#: label offsets (points) of the paper's settings, so that their labels never overlap
_LABEL_OFFSETS = dict(zip(PAPER_SETTINGS, [(9, 7), (9, -2), (9, -11)]))


def _mark_paper(ax, table: pd.DataFrame, x: str, y: str, x_of: dict):
    """Red stars with labels at the paper's three settings (``x_of``: category -> x position)."""
    for name, label in PAPER_SETTINGS.items():
        row = table[table["variant"] == name]
        if row.empty:
            continue
        xy = (x_of[row[x].iloc[0]], row[y].iloc[0])
        ax.scatter(*xy, marker="*", s=160, color=PAPER_COLOR, edgecolor="black", linewidth=0.6, zorder=5)
        ax.annotate(label, xy, xytext=_LABEL_OFFSETS[name], textcoords="offset points", fontsize=7,
                    color=PAPER_COLOR, va="center")


def _strip(ax, table: pd.DataFrame, category: str, order: list, value: str = "sum"):
    """Jittered points of ``value`` per category (x), coloured by family."""
    rng = np.random.default_rng(0)
    x_of = {c: i for i, c in enumerate(order)}
    palette = _family_palette()
    for family, g in table.groupby("family", sort=False):
        x = g[category].map(x_of).to_numpy(dtype=float) + rng.uniform(-0.3, 0.3, len(g))
        ax.scatter(x, g[value], s=9, alpha=0.7, color=palette.get(family, "grey"), label=family, linewidths=0)
    _mark_paper(ax, table, category, value, x_of)
    ax.set_xticks(range(len(order)), order)
    ax.set_xlim(-0.6, len(order) - 0.4)


@styled
def plot_by_family(table: pd.DataFrame, option: str = "sum") -> plt.Figure:
    """Every retained variant's option value by family (x), the paper's settings starred."""
    kept = table[table["kept"]]
    order = [f for f in FAMILY_ORDER if f in set(kept["family"])]
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6), constrained_layout=True)
    _strip(ax, kept, "family", order, option)
    ax.set(xlabel="family", ylabel=f"{OPTION_LABELS[option]} of relativised scores")
    counts = kept["family"].value_counts()
    ax.set_xticks(range(len(order)), [f"{f}\n({counts[f]})" for f in order], fontsize=8)
    return fig


def hyperparameter_view(table: pd.DataFrame) -> pd.DataFrame:
    """Retained variants with display categories for bins, weighting (by whom) and preprocessing."""
    t = table[table["kept"]].copy()
    t["bins_cat"] = [f"{int(b)} bins" if pd.notna(b) else ("averaged" if r == "averaged" else "other")
                     for b, r in zip(t["bins"], t["representation"])]
    by = {"S": "source", "T": "target", "B": "both"}
    t["weighting_cat"] = t["weighting"].map(lambda w: "none" if pd.isna(w) else f"{by.get(w[0], w[0])} ({w[1]})")
    t["preprocessing_cat"] = t["preprocessing"].fillna("none")
    return t


@styled
def plot_hyperparameters(table: pd.DataFrame, option: str = "sum") -> plt.Figure:
    """Retained variants' option value against bins, weighting and preprocessing (colour = family)."""
    t = hyperparameter_view(table)
    bins_order = [c for c in ["averaged", "5 bins", "100 bins", "1000 bins", "other"] if c in set(t["bins_cat"])]
    weight_order = ["none"] + sorted(c for c in set(t["weighting_cat"]) if c != "none")
    pp_order = ["none"] + sorted(c for c in set(t["preprocessing_cat"]) if c != "none")
    fig, axes = plt.subplots(3, 1, figsize=(WIDTH, 9.5), constrained_layout=True)
    for ax, (cat, order, label) in zip(axes, [("bins_cat", bins_order, "representation (bins per feature)"),
                                              ("weighting_cat", weight_order, "feature weighting: by (weight pp)"),
                                              ("preprocessing_cat", pp_order, "preprocessing (target, source)")]):
        _strip(ax, t, cat, order, option)
        ax.set(xlabel=label, ylabel=OPTION_LABELS[option])
        ax.tick_params(axis="x", labelsize=8, rotation=30 if len(order) > 8 else 0)
    handles, labels = axes[0].get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    legend = legend_above(fig, [seen[f] for f in FAMILY_ORDER if f in seen], ncol=6)
    for handle in legend.legend_handles:
        handle.set_sizes([30])
    return fig


def scenario_profile(comparison: DevelopmentComparison, n_top: int = 10) -> pd.DataFrame:
    """Relativised means of the top ``n_top`` variants by ``sum`` and the best variant of every other family."""
    board = comparison.leaderboard("sum")
    names = list(board["variant"].head(n_top))
    names += [g["variant"].iloc[0] for _, g in board.groupby("family", sort=False) if g["variant"].iloc[0] not in names]
    names += [n for n in PAPER_SETTINGS if n not in names]
    return comparison.relative.loc[names]


@styled
def plot_scenario_profile(profile: pd.DataFrame) -> plt.Figure:
    """Heatmap: variants (rows) x scenario and meta metric (columns) of relativised means (1 = best retained)."""
    fig, ax = plt.subplots(figsize=(WIDTH, 0.26 * len(profile) + 2.2), constrained_layout=True)
    sns.heatmap(profile, ax=ax, cmap="viridis", vmin=0, vmax=1, cbar_kws={"label": "relativised mean", "shrink": 0.6})
    if list(profile.columns) != COLUMNS:
        raise ValueError("expected the comparison's 20 columns in order")
    metas = [META_LABELS[m] for _ in SCENARIO_KEYS for m in METAS]
    ax.set_xticks(np.arange(len(profile.columns)) + 0.5, metas, rotation=90, fontsize=7)
    ax.set_yticks(np.arange(len(profile)) + 0.5, [f"{n} *" if n in PAPER_SETTINGS else n for n in profile.index],
                  fontsize=7)
    for i, scen in enumerate(SCENARIO_KEYS):
        ax.axvline(5 * i, color="white", lw=2)
        ax.text(5 * i + 2.5, -0.4, scen, ha="center", va="bottom", fontsize=8)
    ax.set(xlabel="", ylabel="")
    ax.grid(False)
    return fig


@styled
def plot_ensembles(ensembles: pd.DataFrame) -> plt.Figure:
    """Best weight of each pair: ensemble ``sum`` against its better member's ``sum``."""
    best = ensembles.sort_values("sum", ascending=False).drop_duplicates(["a", "b"])
    member = best[["sum_a", "sum_b"]].max(axis=1)
    fig, ax = plt.subplots(figsize=(WIDTH, 4.2), constrained_layout=True)
    for beats, color, label in [(True, "#2ca02c", "beats both members"), (False, "#999999", "does not")]:
        sel = best["beats_both"] == beats
        ax.scatter(member[sel], best.loc[sel, "sum"], s=14, color=color, label=f"{label} ({sel.sum()})")
    lo, hi = min(member.min(), best["sum"].min()), max(member.max(), best["sum"].max())
    ax.plot([lo, hi], [lo, hi], color="black", lw=1, ls="--")
    ax.set(xlabel="sum of the better member", ylabel="sum of the ensemble (best weight)")
    ax.legend(loc="upper left")
    return fig


def conclusions(comparison: DevelopmentComparison) -> str:
    """Whether the paper's choice follows from the data, in Markdown, computed from the comparison."""
    final = final_candidates(comparison)
    chosen = final["candidate"].tolist() == list(PAPER_SETTINGS)
    equals = "; ".join(f"{r.candidate} = {r.equals}" for r in final.itertuples() if r.equals)
    lines = [f"* **sum** (the option the authors kept): the first three distinct entries are "
             f"{', '.join(final['candidate'])} - " + ("exactly the paper's three settings" if chosen else
                                                      "not the paper's three settings")
             + (f" (identical scores: {equals})." if equals else ".")]
    for option in OPTIONS[1:]:
        board = comparison.leaderboard(option)
        paper = board[board["variant"].isin(PAPER_SETTINGS)]
        places = ", ".join(f"{PAPER_SETTINGS[v]} {p}" for v, p in zip(paper["variant"], paper["position"]))
        lines.append(f"* **{OPTION_LABELS[option]}**: leader {board['variant'].iloc[0]}; the paper's settings at "
                     f"positions {places} of {len(board)}.")
    kept = comparison.per_scenario.loc[comparison.kept]
    for scen, key in SCENARIO_KEYS.items():
        pos = positions(kept[f"sum_{key}"], kept[f"sum_{key}"]).loc[list(PAPER_SETTINGS)]
        lines.append(f"* {scen} alone (sum of its five relativised means): "
                     + ", ".join(f"{PAPER_SETTINGS[v]} {int(p)}" for v, p in pos.items()) + f" of {len(kept)}.")
    lines.append(f"* Best MMD variant by sum: {best_variant(comparison, 'MMD')}.")
    ens = comparison.ensembles
    if ens is not None:
        top = ens.sort_values("sum", ascending=False).iloc[0]
        pairs = ens.sort_values("sum", ascending=False).drop_duplicates(["a", "b"])
        lines.append(f"* Pair ensembles: the best, `{top['ensemble']}`, reaches sum {top['sum']:.3f} (best single "
                     f"variant {comparison.board_totals['sum'].max():.3f}); at its best weight, "
                     f"{int(pairs['beats_both'].sum())} of {len(pairs)} pairs beat both of their members.")
    return "\n".join(lines)


__all__ = ["candidates_table", "conclusions", "development_chapter", "DevelopmentChapter", "hyperparameter_view",
           "leaderboard_table", "plot_by_family", "plot_ensembles", "plot_hyperparameters", "plot_scenario_profile",
           "plot_variety", "scenario_profile", "style_leaderboard", "survivors", "top_ensembles"]
