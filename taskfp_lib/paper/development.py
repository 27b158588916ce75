"""The development comparison: how the paper's three bKLD settings were chosen.

The paper picks its binned-KLD settings in "exploratory experiments on the development tasks"
(Sec. 2.2). The authors' repository holds that comparison: 798 task-distance variants
(:func:`taskfp_lib.paper.variants.development_variants`) scored on the development targets. The
steps, each a function here:

1. **Variety filter** (:func:`variety`): the share of distinct top-1 sources over the 43 validation
   targets (shrunk columns, valid sources); variants with variety <= 0.25 keep suggesting the same
   few sources and are dropped.
2. **Evaluation** (:func:`evaluate_development`): the book's evaluation table
   (:func:`taskfp_lib.evaluation.table.evaluate`) on the development targets, outcomes averaged over the
   repetitions, BA and AUROC, weighted tau plus top-3 average regret, percentile, improvement, gain;
   affinities z-scored per target column.
3. **Means** (:func:`scenario_means`): per variant, scenario and meta metric, the mean (and the
   sample std) over the (target, metric) rows.
4. **Relativisation** (:func:`relativise`): :math:`(x - \\min)/(\\max - \\min)` per (scenario, meta
   metric) over the retained variants (regret as the stored higher-is-better score).
5. **Options** (:func:`option_scores`): per scenario ``sum`` = regret + improvement + tau + gain +
   percentile, ``sum_without_gain``, ``tau_rank`` = (tau + percentile)/2; each summed over the four
   scenarios. The alternative ``rank_based`` (:func:`placed_ranks`) averages the 20 ranks of the means.
6. **Side analyses**: pair ensembles (:func:`ensemble_affinity`, :func:`evaluate_ensembles`), the best
   variant of a family (:func:`best_variant`) and the final candidates (:func:`final_candidates`).

:func:`development_comparison` runs all of it; :func:`taskfp_lib.benchmark.development.development_position`
places a new distance matrix among the 798 variants.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import reduce
from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd

from ..evaluation.affinity import affinity_from_distance
from ..evaluation.outcomes import Outcomes, load_outcomes
from ..evaluation.selection import SelectionTieError, top_k_indices
from ..evaluation.table import evaluate, valid_mask
from ..tasks import ALL_TASKS, VAL_TASKS, shrunk_name
from ..vocabulary import (BKLD_VARIANTS, CORR_META_METRICS, PAPER_SCENARIOS, SCENARIOS, SELECTORS, SINGLE,
                          TOP_META_METRICS)
from .distance_arrays import distance_frame, load_distance_arrays, progress_bar, published_distance_stems
from .variants import (DEVELOPMENT_FAMILY_COUNTS, N_DEVELOPMENT_VARIANTS, VariantName, development_variants,
                       family_counts, hyperparameters, parse_variant, variant_file_stem)

VARIETY_THRESHOLD = 0.25
#: the paper's scenarios (labels) and the keys of their columns
SCENARIO_KEYS = {label: SCENARIOS[label].key for label in PAPER_SCENARIOS}
#: meta metrics of the comparison's columns (the evaluation table's order)
METAS = (*CORR_META_METRICS, *TOP_META_METRICS)
#: the options and the meta metrics each one sums, in the order of the paper's sum
OPTION_METAS = {"sum": ("regret_score", "improvement", "weightedtau", "gain", "percentile"),
                "sum_without_gain": ("regret_score", "improvement", "weightedtau", "percentile"),
                "tau_rank": ("weightedtau", "percentile")}
OPTIONS = (*OPTION_METAS, "rank_based")
#: the paper's three bKLD settings (seed-paper labels)
PAPER_SETTINGS = {SELECTORS[label].stem: label for label in BKLD_VARIANTS}
#: the evaluation settings of the comparison (passed to :func:`taskfp_lib.evaluation.evaluate`)
DEV_EVALUATION = {"aggregates": SINGLE, "corr_metrics": CORR_META_METRICS, "top_metrics": TOP_META_METRICS,
                  "k": 3, "mode": "avg"}
ENSEMBLE_WEIGHTS = (0.2, 0.4, 0.6, 0.8)
ENSEMBLE_TOP = 20
#: ensemble members besides the top variants: published selectors and simple baselines
ENSEMBLE_EXTRAS = (SELECTORS["FED"].stem, "MMD-10000-SAMPLES", SELECTORS["VDNA"].stem, SELECTORS["FID"].stem,
                   "EMD-AVG-PP:NN", SELECTORS["P2L"].stem, "COS-PP:NN", "L-1-NORM", "L-2-NORM")
EVALUATION_CHUNK = 100


def column_key(scenario: str, meta: str) -> str:
    """Flat column name of a (scenario label, meta metric) pair, e.g. ``arch_weightedtau``."""
    return f"{SCENARIO_KEYS[scenario]}_{meta}"


COLUMNS = [column_key(s, m) for s in SCENARIO_KEYS for m in METAS]


# ------------------------------------------------------------------------------------------ steps
def development_affinities(distances: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Affinities z-scored per target column (spec 4.1 with ``zscore_axis=0``) of raw distances."""
    return {name: affinity_from_distance(d, zscore_axis=0) for name, d in distances.items()}


def variety(affinities: dict[str, pd.DataFrame], targets: Sequence[str] = VAL_TASKS) -> pd.Series:
    """Share of distinct top-1 sources over the targets (higher = more varied suggestions).

    For every target ``t`` the single best valid source of the column ``shrunk_name(t)`` is selected
    (:func:`taskfp_lib.evaluation.selection.top_k_indices` with k = 1: a tie for the first place raises);
    variety = number of distinct selected sources / number of targets.

    Returns
    -------
    Series
        Selector name -> variety in (0, 1].
    """
    targets = list(targets)
    mask = valid_mask(ALL_TASKS, targets)
    cols = [shrunk_name(t) for t in targets]
    out = {}
    for name, aff in affinities.items():
        a = np.where(mask, aff.reindex(index=ALL_TASKS)[cols].to_numpy(dtype=float), np.nan)
        try:
            best = top_k_indices(a, 1)[0]
        except SelectionTieError as err:
            tied = [c for j, c in enumerate(cols) if np.sum(a[:, j] == np.nanmax(a[:, j])) > 1]
            raise SelectionTieError(f"selector {name!r}: tie for the closest valid source of the target column(s) "
                                    f"{tied[:3]} ({err})") from None
        out[name] = len(set(best[best >= 0].tolist())) / len(targets)
    return pd.Series(out, dtype=float, name="variety")


def evaluate_development(affinities: dict[str, pd.DataFrame], outcomes: Outcomes) -> pd.DataFrame:
    """The evaluation table of the comparison: :func:`taskfp_lib.evaluation.evaluate` with :data:`DEV_EVALUATION`."""
    if outcomes.validation:
        raise ValueError("the development comparison needs the development outcomes (load_outcomes(validation=False))")
    return evaluate(outcomes, affinities, **DEV_EVALUATION)


def scenario_means(evaluations: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean and sample std (ddof 1) of each selector's scores per (scenario, meta metric).

    Returns
    -------
    (means, stds) : DataFrames
        Index = selectors (order of appearance), columns = :data:`COLUMNS` (``<scenario>_<meta>``).
    """
    if evaluations["score"].isna().any():
        bad = evaluations.loc[evaluations["score"].isna(), "selector"].unique().tolist()
        raise ValueError(f"selector(s) {bad[:3]} have NaN scores; they cannot be compared")
    g = evaluations.groupby(["selector", "scenario", "meta_metric"], sort=False)["score"]
    order = list(dict.fromkeys(evaluations["selector"]))
    out = []
    for stat in (g.mean(), g.std()):
        wide = stat.unstack(["scenario", "meta_metric"])
        wide.columns = [column_key(s, m) for s, m in wide.columns]
        out.append(wide.reindex(index=order, columns=COLUMNS))
    return out[0], out[1]


def relativise(means: pd.DataFrame, low: pd.Series, high: pd.Series) -> pd.DataFrame:
    """:math:`(x - \\text{low})/(\\text{high} - \\text{low})` per column (0 = worst, 1 = best retained variant)."""
    return (means - low) / (high - low)


def option_scores(relative: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The three options per scenario and summed over the scenarios.

    Returns
    -------
    (per_scenario, totals) : DataFrames
        ``per_scenario`` has the columns ``<option>_<scenario key>``; ``totals`` the columns ``sum``,
        ``sum_without_gain`` and ``tau_rank`` (each the sum of its four scenario values).
    """
    per, totals = {}, {}
    for option, metas in OPTION_METAS.items():
        values = []
        for scen, key in SCENARIO_KEYS.items():
            v = reduce(lambda x, y: x + y, [relative[column_key(scen, m)] for m in metas])
            v = v / 2 if option == "tau_rank" else v
            per[f"{option}_{key}"] = v
            values.append(v)
        totals[option] = reduce(lambda x, y: x + y, values)
    return pd.DataFrame(per), pd.DataFrame(totals)


def placed_ranks(means: pd.DataFrame, reference: pd.DataFrame) -> pd.Series:
    """The rank-based option: the mean over the 20 columns of each row's rank among ``reference``.

    In every column a value ranks ``1 + (number of reference values that are higher)``; a value equal
    to some reference values takes their average rank. For the rows of ``reference`` itself this is
    pandas' average rank (1 = best), so the leaderboard is unchanged by rows placed into it.
    """
    ranks = np.empty(means.shape)
    for j, col in enumerate(means.columns):
        ref = np.sort(reference[col].to_numpy(dtype=float))
        x = means[col].to_numpy(dtype=float)
        above = ref.size - np.searchsorted(ref, x, side="right")
        equal = np.searchsorted(ref, x, side="right") - np.searchsorted(ref, x, side="left")
        ranks[:, j] = 1.0 + above + np.maximum(equal - 1, 0) / 2.0
    return pd.Series(ranks.mean(axis=1), index=means.index, name="rank_based")


def positions(values: pd.Series, reference: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """1 + the number of reference values strictly better than each value (ties share a position)."""
    ref = np.sort(reference.to_numpy(dtype=float))
    x = values.to_numpy(dtype=float)
    better = ref.size - np.searchsorted(ref, x, side="right") if higher_is_better else np.searchsorted(ref, x)
    return pd.Series(1 + better, index=values.index)


def score_rows(means: pd.DataFrame, board: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Relativised values, per-scenario options and option totals of any rows, on the scale of ``board``.

    ``board`` holds the means of the retained variants: their per-column minimum and maximum are the
    relativisation scale and their values the reference of the rank-based option. Each output row
    depends only on its own means, so a row equal to a board row gets exactly that row's values.
    """
    relative = relativise(means, board.min(), board.max())
    per_scenario, totals = option_scores(relative)
    totals["rank_based"] = placed_ranks(means, board)
    return relative, per_scenario, totals


def option_positions(totals: pd.DataFrame, board_totals: pd.DataFrame) -> pd.DataFrame:
    """Position of each row on each option's leaderboard (1 = best; ``rank_based``: lower is better)."""
    return pd.DataFrame({o: positions(totals[o], board_totals[o], higher_is_better=(o != "rank_based"))
                         for o in OPTIONS})


def development_means(names: Sequence[str], affinity_of, outcomes: Outcomes, progress: bool = False,
                      desc: str = "evaluate variants") -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`scenario_means` of the development evaluation of many selectors, chunk by chunk.

    ``affinity_of(name)`` returns a selector's affinity matrix; it is called for one chunk of
    :data:`EVALUATION_CHUNK` selectors at a time, so only one chunk of matrices and evaluation rows
    is held in memory. Each selector's rows, and hence its means, do not depend on the chunking.
    """
    names = list(names)
    means, stds = [], []
    for i in progress_bar(range(0, len(names), EVALUATION_CHUNK), progress, desc=desc, unit="chunk"):
        chunk = {n: affinity_of(n) for n in names[i:i + EVALUATION_CHUNK]}
        m, s = scenario_means(evaluate_development(chunk, outcomes))
        means.append(m)
        stds.append(s)
    return pd.concat(means), pd.concat(stds)


# ------------------------------------------------------------------------------------------ ensembles
def ensemble_affinity(a: pd.DataFrame, b: pd.DataFrame, weight: float) -> pd.DataFrame:
    """Affinity of the pair ensemble :math:`w\\,a + (1 - w)\\,b`, z-scored again over the whole matrix.

    Parameters
    ----------
    a, b : DataFrame, shape (n_sources, n_targets)
        Column-z-scored affinities (same labels).
    weight : float
        Weight ``w`` of ``a``.

    Returns
    -------
    DataFrame
        :math:`(e - \\mathrm{mean}(e))/\\mathrm{std}(e)` of :math:`e = w a + (1 - w) b`, NaN omitted,
        population std; NaN where either input is NaN.
    """
    e = weight * a.to_numpy(dtype=float) + (1.0 - weight) * b.reindex(index=a.index, columns=a.columns).to_numpy(
        dtype=float)
    return pd.DataFrame((e - np.nanmean(e)) / np.nanstd(e), index=a.index, columns=a.columns)


def ensemble_label(a: str, b: str, weight: float) -> str:
    return f"{weight:g}*{a} + {round(1.0 - weight, 12):g}*{b}"


def ensemble_members(totals: pd.DataFrame, n_top: int = ENSEMBLE_TOP,
                     extras: Sequence[str] = ENSEMBLE_EXTRAS) -> list[str]:
    """The ``n_top`` retained variants by ``sum`` (ties by name), then the extra selectors (duplicates dropped)."""
    top = totals["sum"].sort_index().sort_values(ascending=False, kind="stable").index[:n_top]
    return list(dict.fromkeys([*top, *extras]))


def evaluate_ensembles(affinities: dict[str, pd.DataFrame], members: Sequence[str], outcomes: Outcomes,
                       board: pd.DataFrame, weights: Sequence[float] = ENSEMBLE_WEIGHTS,
                       progress: bool = False) -> pd.DataFrame:
    """Every pair of ``members`` at every weight, scored like a variant on the board's scale.

    Returns
    -------
    DataFrame
        One row per (pair, weight): ``a, b, weight_a, weight_b``, the option totals and positions
        (against the retained single variants), ``<scenario>_<meta>`` means (``mean_*``) and relativised
        values (``rel_*``).
    """
    jobs = {ensemble_label(a, b, w): (a, b, w) for a, b in combinations(members, 2) for w in weights}
    means, _ = development_means(list(jobs), lambda n: ensemble_affinity(affinities[jobs[n][0]],
                                                                         affinities[jobs[n][1]], jobs[n][2]),
                                 outcomes, progress, desc="evaluate ensembles")
    relative, _, totals = score_rows(means, board)
    _, _, board_totals = score_rows(board, board)
    pos = option_positions(totals, board_totals).add_prefix("position_")
    head = pd.DataFrame([{"a": a, "b": b, "weight_a": w, "weight_b": round(1.0 - w, 12)} for a, b, w in jobs.values()],
                        index=list(jobs))
    out = pd.concat([head, totals, pos, means.add_prefix("mean_"), relative.add_prefix("rel_")], axis=1)
    return out.reset_index(names="ensemble")


# ------------------------------------------------------------------------------------------ the comparison
@dataclass
class DevelopmentComparison:
    """Means of every variant and everything derived from them (see :func:`development_comparison`).

    Attributes
    ----------
    variants : list of VariantName
        The compared variants (798), sorted by name.
    files : dict
        Variant name -> stem of the published file read for it.
    variety : Series
        Variant name -> variety over the 43 validation targets.
    means, stds : DataFrame
        Variant name x :data:`COLUMNS`: mean and sample std over the (target, metric) rows.
    relative, per_scenario, totals, positions : DataFrame
        Derived in ``__post_init__``: relativised means, options per scenario, option totals (every
        variant, on the retained variants' scale) and leaderboard positions (retained variants only).
    ensembles : DataFrame or None
        :func:`evaluate_ensembles` with the members' own ``sum``.
    timings : dict
        Wall and CPU seconds per step (``<step>_s``, ``<step>_cpu_s``).
    """

    variants: list
    files: dict
    variety: pd.Series
    means: pd.DataFrame
    stds: pd.DataFrame
    threshold: float = VARIETY_THRESHOLD
    ensembles: pd.DataFrame | None = None
    timings: dict = field(default_factory=dict)

    def __post_init__(self):
        self.kept = [v.name for v in self.variants if self.variety[v.name] > self.threshold]
        self.board = self.means.loc[self.kept]
        self.relative, self.per_scenario, self.totals = score_rows(self.means, self.board)
        self.board_totals = self.totals.loc[self.kept]
        positions = option_positions(self.totals, self.board_totals).astype(float)
        positions.loc[~positions.index.isin(self.kept)] = np.nan
        self.positions = positions

    def place(self, means: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Relativised values, per-scenario options, totals and positions of new rows of means."""
        relative, per_scenario, totals = score_rows(means, self.board)
        return relative, per_scenario, totals, option_positions(totals, self.board_totals)

    def leaderboard(self, option: str = "sum") -> pd.DataFrame:
        """Retained variants by position on one option: position, variant, paper label, family, the options."""
        if option not in OPTIONS:
            raise ValueError(f"unknown option {option!r}; choose from {OPTIONS}")
        board = pd.DataFrame({"position": self.positions.loc[self.kept, option].astype(int), "variant": self.kept})
        board["paper_label"] = board["variant"].map(PAPER_SETTINGS)
        board["family"] = [parse_variant(n).family for n in self.kept]
        board = pd.concat([board, self.board_totals[list(OPTIONS)]], axis=1)
        return board.sort_values(["position", "variant"], kind="stable").reset_index(drop=True)

    def table(self) -> pd.DataFrame:
        """One row per variant: name, file, parsed settings, variety, kept, means, stds, relativised
        values, per-scenario options, option totals and positions (``results/dev_comparison.csv``)."""
        names = [v.name for v in self.variants]
        head = pd.DataFrame([{"variant": v.name, "file": self.files[v.name], **hyperparameters(v)}
                             for v in self.variants], index=names)
        head["variety"] = self.variety.loc[names]
        head["kept"] = head.index.isin(self.kept)
        parts = [head, self.totals[list(OPTIONS)], self.positions.add_prefix("position_").astype("Int64"),
                 self.means.add_prefix("mean_"), self.stds.add_prefix("std_"), self.relative.add_prefix("rel_"),
                 self.per_scenario]
        return pd.concat([p.loc[names] for p in parts], axis=1).reset_index(drop=True)


def best_variant(comparison: DevelopmentComparison, family: str, option: str = "sum") -> str:
    """The retained variant of a family with the best position on an option (ties: first by name)."""
    board = comparison.leaderboard(option)
    rows = board[board["family"] == family]
    if rows.empty:
        raise ValueError(f"no retained variant of the family {family!r}")
    return str(rows.iloc[0]["variant"])


def final_candidates(comparison: DevelopmentComparison, n: int = 3, option: str = "sum") -> pd.DataFrame:
    """The first ``n`` distinct entries of a leaderboard (the paper keeps the top three by ``sum``).

    Variants whose 20 means are identical (e.g. raw and L1-normalised source weights, ``W:SW`` and
    ``W:SN``, which give the same normalised weights) count as one candidate, named by the first of
    them by name; the others are listed in ``equals``.
    """
    board = comparison.leaderboard(option)
    groups: dict[tuple, list[str]] = {}
    for name in board["variant"]:
        key = tuple(comparison.means.loc[name].to_numpy().tolist())
        if key in groups or len(groups) < n:
            groups.setdefault(key, []).append(name)
    rows = []
    for names in groups.values():
        first, *others = sorted(names)
        rows.append({"candidate": first, "equals": "; ".join(others), "paper_label": PAPER_SETTINGS.get(first),
                     "position": int(comparison.positions.loc[first, option]),
                     option: comparison.totals.loc[first, option]})
    return pd.DataFrame(rows)


def development_comparison(outcomes: Outcomes | None = None, *, variants: Sequence[str] | None = None,
                           ensembles: bool = True, progress: bool = True) -> DevelopmentComparison:
    """The whole development comparison (spec 8, "1_develop_comparison") from the published files.

    Parameters
    ----------
    outcomes : Outcomes, optional
        Development outcomes (default ``load_outcomes(validation=False)``).
    variants : sequence of str, optional
        A subset of the 798 variant names (default: all, checked against the published family counts).
    ensembles : bool
        Also evaluate the pair ensembles (about 1400 more selectors).
    progress : bool
        Progress bars for the loading and the evaluations.

    Returns
    -------
    DevelopmentComparison
        With ``timings``: wall and CPU seconds per step (``<step>_s``, ``<step>_cpu_s``).
    """
    watch = _Stopwatch()
    stems = published_distance_stems()
    if variants is None:
        chosen = development_variants(stems)
        _check_counts(chosen)
    else:
        chosen = [parse_variant(n) for n in variants]
    files = {v.name: variant_file_stem(v, stems) for v in chosen}
    values = load_distance_arrays(list(files.values()), progress=progress)
    watch.lap("load_distances")
    affinities = development_affinities({v.name: distance_frame(values[i]) for i, v in enumerate(chosen)})
    watch.lap("affinities")
    var = variety(affinities)
    watch.lap("variety")
    outcomes = load_outcomes(validation=False) if outcomes is None else outcomes
    means, stds = development_means(list(affinities), affinities.__getitem__, outcomes, progress)
    watch.lap("evaluate")
    comparison = DevelopmentComparison(chosen, files, var, means, stds, timings=watch.times)
    watch.lap("summarise")
    if ensembles:
        comparison.ensembles = _ensembles(comparison, affinities, outcomes, progress)
        watch.lap("ensembles")
    watch.total()
    return comparison


class _Stopwatch:
    """Wall and CPU seconds of consecutive steps."""

    def __init__(self):
        self.start = self.last = (time.perf_counter(), time.process_time())
        self.times: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = (time.perf_counter(), time.process_time())
        self.times[f"{step}_s"], self.times[f"{step}_cpu_s"] = now[0] - self.last[0], now[1] - self.last[1]
        self.last = now

    def total(self) -> None:
        self.times["total_s"] = time.perf_counter() - self.start[0]
        self.times["total_cpu_s"] = time.process_time() - self.start[1]


def _check_counts(variants: list[VariantName]) -> None:
    counts = family_counts(variants)
    if counts != DEVELOPMENT_FAMILY_COUNTS:
        raise ValueError(f"the data manifest yields {len(variants)} development variants {counts}; the published "
                         f"comparison has {N_DEVELOPMENT_VARIANTS} {DEVELOPMENT_FAMILY_COUNTS} (is the manifest "
                         f"complete? regenerate it with scripts/make_manifest.py)")


def _ensembles(comparison: DevelopmentComparison, affinities: dict, outcomes: Outcomes,
               progress: bool) -> pd.DataFrame:
    """Pair ensembles plus the members' own ``sum`` (members outside the 798 are evaluated here)."""
    members = ensemble_members(comparison.board_totals)
    missing = [m for m in members if m not in affinities]
    affinities = affinities | development_affinities(
        {m: distance_frame(v) for m, v in zip(missing, load_distance_arrays(missing, progress=False))})
    extra_means, _ = development_means(missing, affinities.__getitem__, outcomes)
    member_sum = pd.concat([comparison.totals["sum"], comparison.place(extra_means)[2]["sum"]])
    table = evaluate_ensembles(affinities, members, outcomes, comparison.board, progress=progress)
    table.insert(5, "sum_a", table["a"].map(member_sum).to_numpy())
    table.insert(6, "sum_b", table["b"].map(member_sum).to_numpy())
    table.insert(7, "beats_both", (table["sum"] > table[["sum_a", "sum_b"]].max(axis=1)).to_numpy())
    return table
