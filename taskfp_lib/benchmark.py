"""Benchmark a new task distance against the paper's selectors on the published transfer outcomes.

The published outcomes (71 tasks, four transfer scenarios, three repetitions, two metrics) are a
ground truth: a new task-similarity measure becomes one more selector of the evaluation table
(:func:`taskfp_lib.evaluation.evaluate`) and receives the paper's full analysis next to the paper's
selectors: meta-metric tables, win rates, setup stability, bootstrap rankings, rank-then-mean, gain
curves, paired tests and a plain-language verdict per scenario.

Public API
----------
validate_distance        check a raw distance matrix (orientation, names, evaluated pairs, similarity) -> published layout.
read_distance            read a CSV in the published layout and validate it.
distance_from_callable   all-pairs matrix of a Python callable or a registered distance on per-task representations.
random_distance          a seeded uniform random distance (the sanity floor).
ensemble_distance        a weighted sum of z-scored published affinities, as a distance (worked example).
evaluated_pairs          which (source, target column) pairs the benchmark evaluates.
chance_scores            exact expected score of a uniformly random top-k selection, per setup.
expected_best_of_k       exact expectation of the best of k random draws without replacement.
paired_comparison        does selector A beat selector B over the 258 setups of each panel (bootstrap CI + Wilcoxon).
compare_distances        paired_comparison of two raw distance matrices.
scenario_positions       bootstrap of every selector's overall place per scenario (the verdict's interval).
benchmark                the whole analysis -> :class:`BenchmarkResult`.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from math import comb
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .evaluation import ranking
from .evaluation.affinity import affinity_from_distance, load_affinities
from .evaluation.meta_metrics import top_k_scores
from .evaluation.outcomes import Outcomes, load_outcomes
from .evaluation.selection import top_k_indices
from .evaluation.table import evaluate, evaluate_budgets, valid_mask
from .upstream.readers import read_distance_csv
from .vocabulary import PAPER_SCENARIOS as SCENARIOS, RANKING_META_METRICS, SELECTOR_SETS, TOP_META_METRICS, TRIPLED
from .tasks import ALL_TASKS, ALL_TASKS_INCLUDING_SHRUNK, SHRINK_SUFFIX, VAL_TASKS, base_name, shrunk_name, \
    to_old_style, valid_sources

#: selectors drawn next to the new measure in the gain curves (the two of the paper's Fig. 4b)
CURVE_REFERENCES = ("Manual", "bKLD(small,target)")
#: default ensemble of the worked example: equal weights of two published z-scored affinities
DEFAULT_ENSEMBLE = {"bKLD(small,target)": 0.5, "Manual": 0.5}
SIMILARITY_FLAG = "--similarity"
DISTANCE_FLAG = "--distance"
TRANSPOSE_FLAG = "--transpose"


class DistanceValidationError(ValueError):
    """A distance matrix that cannot be benchmarked as given; the message says what to change."""


# ------------------------------------------------------------------------------------------ pairs
def evaluated_pairs(targets: Sequence[str] = VAL_TASKS, target_ref: Callable[[str], str] = shrunk_name,
                    sources: Sequence[str] = ALL_TASKS,
                    columns: Sequence[str] = ALL_TASKS_INCLUDING_SHRUNK) -> pd.DataFrame:
    """Boolean matrix (sources x columns): is the pair read by the benchmark.

    The paper evaluates every scenario on shrunk targets, so a validation target ``t`` reads the
    column ``shrunk_name(t)`` at its valid sources (spec 1.4, 4.3). Other pairs (the diagonal,
    development targets, full-size columns of shrinkable targets) may be NaN.
    """
    mask = pd.DataFrame(False, index=list(sources), columns=list(columns))
    for t in targets:
        col = target_ref(t)
        if col in mask.columns:
            mask.loc[[s for s in valid_sources(t) if s in mask.index], col] = True
    return mask


def _fmt_names(names, limit: int = 6) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _suggest(name: str, pool: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ------------------------------------------------------------------------------------------ validation
def similarity_evidence(dist: pd.DataFrame) -> dict:
    """Where the self entries of a matrix sit within their columns.

    For each target column whose task is also a row (``t`` vs ``t``) and each shrunk column
    (``t`` vs ``t --shrink_train 800``), the self entry is compared with the column's other finite
    entries. A distance has its self entries at the column minima, a similarity at the maxima.

    Returns
    -------
    dict
        ``n`` (columns with a finite self entry), ``at_min`` and ``at_max`` (how many of them hold
        the self entry at the column minimum / maximum, strictly).
    """
    n = at_min = at_max = 0
    rows = {r: i for i, r in enumerate(dist.index)}
    values = dist.to_numpy(dtype=float)
    for j, col in enumerate(dist.columns):
        i = rows.get(base_name(col))
        if i is None:
            continue
        column = values[:, j]
        self_value = column[i]
        others = np.delete(column, i)
        others = others[np.isfinite(others)]
        if not np.isfinite(self_value) or others.size < 2:
            continue
        n += 1
        at_min += bool(self_value < others.min())
        at_max += bool(self_value > others.max())
    return {"n": n, "at_min": at_min, "at_max": at_max}


def validate_distance(dist: pd.DataFrame, *, similarity: bool | None = None, transpose: bool = False,
                      allow_partial: bool = False, k: int = 3, source: str = "distance matrix",
                      targets: Sequence[str] = VAL_TASKS) -> pd.DataFrame:
    """Check a raw distance matrix for the benchmark and return it in the published layout.

    Parameters
    ----------
    dist : DataFrame
        Rows = the 71 source tasks, columns = the 127 target names (the 71 tasks and the 56
        ``<task> --shrink_train 800`` variants; new-style ``+shrink_train?800`` tags are accepted).
        Lower = closer. Any row/column order.
    similarity : bool or None
        ``None`` (default): the matrix is a distance; if its self entries sit at the column maxima
        (a similarity), raise and name the flag. ``True``: the matrix is a similarity (higher =
        closer) and is converted to the distance ``max(S) + 1 - S`` (a negation shifted to stay
        positive; the affinity is the same as for ``-S``). ``False``: a distance, without the check.
    transpose : bool
        The matrix is given as targets x sources: transpose it first.
    allow_partial : bool
        Accept missing target columns as long as every evaluated column is there.
    k : int
        Budget of the evaluation (ties at the top-k cut-off are reported).
    source : str
        Name used in the error messages (e.g. the file path).
    targets : sequence of str
        Targets whose pairs are checked (default: the 43 validation targets; the development
        comparison adds the development targets).

    Returns
    -------
    DataFrame, shape (71, 127)
        float64 raw distances in the published order (missing columns, with ``allow_partial``, NaN).

    Raises
    ------
    DistanceValidationError
        Wrong orientation, missing/extra/duplicate task names, non-numeric values, NaN/inf or exact 0
        at an evaluated pair, a column that is constant over its valid sources, a tie at the top-k
        cut-off, or a matrix that looks like a similarity.
    """
    if not isinstance(dist, pd.DataFrame):
        raise DistanceValidationError(f"{source}: expected a pandas DataFrame, got {type(dist).__name__}")
    df = dist.T if transpose else dist
    df = df.copy()
    df.index = [to_old_style(str(i).strip()) for i in df.index]
    df.columns = [to_old_style(str(c).strip()) for c in df.columns]
    rows, cols = list(df.index), list(df.columns)
    source_names, target_names = set(ALL_TASKS), set(ALL_TASKS_INCLUDING_SHRUNK)

    # orientation: targets (with shrunk names) as rows and only the 71 tasks as columns
    shrunk_rows = [r for r in rows if r.endswith(SHRINK_SUFFIX)]
    if shrunk_rows and set(cols) <= source_names and not any(c.endswith(SHRINK_SUFFIX) for c in cols):
        raise DistanceValidationError(
            f"{source}: wrong orientation: the matrix has {len(rows)} rows including shrunk target names "
            f"(e.g. {shrunk_rows[0]!r}) and {len(cols)} columns that are all source tasks; the published layout "
            f"is rows = 71 source tasks, columns = 127 targets. Transpose it (pandas: df.T) or pass "
            f"{TRANSPOSE_FLAG} (transpose=True).")
    for axis, names in (("row", rows), ("column", cols)):
        dup = pd.Index(names)[pd.Index(names).duplicated()].unique().tolist()
        if dup:
            raise DistanceValidationError(f"{source}: duplicate {axis} name(s) {_fmt_names(dup)}")

    missing_rows = [t for t in ALL_TASKS if t not in set(rows)]
    extra_rows = [r for r in rows if r not in source_names]
    if missing_rows or extra_rows:
        parts = []
        if missing_rows:
            parts.append(f"missing source row(s) {_fmt_names(missing_rows)}")
        if extra_rows:
            hint = "" if not shrunk_rows else "; shrunk names are targets (columns), never sources (rows)"
            parts.append("unknown row name(s) " + ", ".join(repr(r) + _suggest(r, ALL_TASKS) for r in extra_rows[:6])
                         + (f", ... ({len(extra_rows)} in all)" if len(extra_rows) > 6 else "") + hint)
        raise DistanceValidationError(f"{source}: the rows must be the 71 source tasks of the paper: "
                                      + "; ".join(parts))
    extra_cols = [c for c in cols if c not in target_names]
    if extra_cols:
        raise DistanceValidationError(
            f"{source}: unknown target column name(s) "
            + ", ".join(repr(c) + _suggest(c, ALL_TASKS_INCLUDING_SHRUNK) for c in extra_cols[:6])
            + (f", ... ({len(extra_cols)} in all)" if len(extra_cols) > 6 else "")
            + "; columns must be the 71 tasks and their '<task> --shrink_train 800' variants")
    mask = evaluated_pairs(targets)
    needed = [c for c in ALL_TASKS_INCLUDING_SHRUNK if mask[c].any()]
    which = ("43 validation targets" if list(targets) == list(VAL_TASKS) else f"{len(targets)} evaluated targets")
    missing_cols = [c for c in ALL_TASKS_INCLUDING_SHRUNK if c not in set(cols)]
    missing_needed = [c for c in missing_cols if c in set(needed)]
    if missing_needed or (missing_cols and not allow_partial):
        extra = "" if missing_needed else " (none of them is evaluated: pass --allow-partial / allow_partial=True)"
        raise DistanceValidationError(
            f"{source}: missing target column(s) {_fmt_names(missing_cols)}{extra}; the benchmark reads "
            f"{len(needed)} columns (the shrunk variant of each of the {which} where one exists)")

    try:
        df = df.astype(np.float64)
    except (ValueError, TypeError) as err:
        raise DistanceValidationError(f"{source}: non-numeric values ({err})") from None
    df = df.reindex(index=ALL_TASKS, columns=ALL_TASKS_INCLUDING_SHRUNK)
    values = df.to_numpy()
    m = mask.to_numpy()

    bad = m & ~np.isfinite(values)
    if bad.any():
        pairs = [(df.index[i], df.columns[j]) for i, j in zip(*np.nonzero(bad))]
        raise DistanceValidationError(
            f"{source}: {len(pairs)} evaluated (source, target) pair(s) are NaN or infinite, e.g. "
            f"{_fmt_names(pairs, 4)}; every valid source of every evaluated target column needs a finite value "
            f"(the diagonal and never-evaluated pairs may be NaN)")
    for j in np.flatnonzero(m.any(axis=0)):
        col = values[m[:, j], j]
        if np.all(col == col[0]):
            raise DistanceValidationError(
                f"{source}: column {df.columns[j]!r} is constant ({col[0]!r}) over its {col.size} valid sources: "
                f"it cannot rank them")

    if similarity is None:
        ev = similarity_evidence(df)
        if ev["n"] >= 5 and ev["at_max"] > ev["n"] / 2 and ev["at_max"] > ev["at_min"]:
            raise DistanceValidationError(
                f"{source}: this looks like a similarity, not a distance: the self entries (task vs itself or its "
                f"shrunk variant) are the column maxima in {ev['at_max']} of {ev['n']} columns (minima in "
                f"{ev['at_min']}). If higher means closer, pass {SIMILARITY_FLAG} (similarity=True) to convert it; "
                f"if it really is a distance, pass {DISTANCE_FLAG} (similarity=False) to skip this check.")
    elif similarity:
        finite = values[np.isfinite(values)]
        df = (finite.max() + 1.0) - df  # rank-preserving negation, strictly positive
        values = df.to_numpy()

    zeros = m & (values == 0)
    if zeros.any():
        pairs = [(df.index[i], df.columns[j]) for i, j in zip(*np.nonzero(zeros))]
        raise DistanceValidationError(
            f"{source}: {len(pairs)} evaluated pair(s) are exactly 0, e.g. {_fmt_names(pairs, 3)}; the affinity "
            f"transform treats 0 as a self-distance and drops it. Add a positive constant to the whole matrix "
            f"(the global z-score makes this harmless).")

    aff = np.where(m, -values, np.nan)
    n_valid = m.sum(axis=0)
    full = np.flatnonzero(n_valid > k)
    if full.size:
        a = np.where(np.isnan(aff[:, full]), -np.inf, aff[:, full])
        order = np.argsort(-a, axis=0, kind="stable")
        cols_ = np.arange(full.size)
        kth, nxt = a[order[k - 1], cols_], a[order[k], cols_]
        tied = np.flatnonzero(kth == nxt)
        if tied.size:
            j = tied[0]
            tie_val = kth[j]
            names = [df.index[i] for i in np.flatnonzero(a[:, j] == tie_val)]
            raise DistanceValidationError(
                f"{source}: tie at the top-{k} cut-off in {tied.size} column(s), e.g. {df.columns[full[j]]!r}: "
                f"sources {_fmt_names(names, 4)} share the distance {-tie_val!r}; the selection would be ambiguous. "
                f"Break the ties (e.g. add a tiny task-specific offset).")
    return df


def read_distance(path, **kwargs) -> pd.DataFrame:
    """Read a distance CSV (published layout) and :func:`validate_distance` it (keyword arguments passed on)."""
    try:
        df = read_distance_csv(path)
    except ValueError as err:
        raise DistanceValidationError(str(err)) from None
    return validate_distance(df, source=str(path), **kwargs)


# ------------------------------------------------------------------------------------------ example measures
def random_distance(seed: int = 0) -> pd.DataFrame:
    """Uniform random distances in (1, 2) for all 71 x 127 pairs, 0 on the diagonal (published convention).

    A selector built on it picks 3 valid sources uniformly at random: the sanity floor whose expected
    scores are known exactly (:func:`chance_scores`, :func:`expected_best_of_k`).
    """
    rng = np.random.default_rng(seed)
    values = 1.0 + rng.random((len(ALL_TASKS), len(ALL_TASKS_INCLUDING_SHRUNK)))
    df = pd.DataFrame(values, index=list(ALL_TASKS), columns=list(ALL_TASKS_INCLUDING_SHRUNK))
    for t in ALL_TASKS:
        df.loc[t, t] = 0.0
    return df


def ensemble_distance(weights: Mapping[str, float] | None = None, zscore_axis: int | None = None,
                      files: dict | None = None) -> pd.DataFrame:
    """A new measure from published ones: ``-(sum_i w_i * affinity_i)``, shifted to stay positive.

    Each published distance is turned into its z-scored affinity (:func:`affinity_from_distance`),
    the affinities are summed with the weights, and the sum is negated into a distance (plus a
    constant so that no entry is 0). NaN where any input is NaN (the diagonal).

    Parameters
    ----------
    weights : mapping selector name -> weight
        Default :data:`DEFAULT_ENSEMBLE` (bKLD(small,target) and Manual, 0.5 each).
    """
    weights = dict(DEFAULT_ENSEMBLE if weights is None else weights)
    if not weights:
        raise ValueError("an ensemble needs at least one selector")
    affs = load_affinities(list(weights), zscore_axis=zscore_axis, files=files)
    total = None
    for name, w in weights.items():
        a = affs[name].reindex(index=ALL_TASKS, columns=ALL_TASKS_INCLUDING_SHRUNK) * float(w)
        total = a if total is None else total + a
    finite = total.to_numpy()[np.isfinite(total.to_numpy())]
    return (finite.max() + 1.0) - total


def distance_from_callable(distance, representations: Mapping[str, Any], *,
                           sources: Sequence[str] = ALL_TASKS,
                           targets: Sequence[str] = ALL_TASKS_INCLUDING_SHRUNK,
                           self_zero: bool = True) -> pd.DataFrame:
    """All-pairs raw distance matrix of a Python callable or of a registered distance.

    Parameters
    ----------
    distance : callable, str or DistanceSpec
        ``distance(source_reprs: list, target_reprs: list) -> array (n_sources, n_targets)``; or a
        name / :class:`taskfp_lib.distances.DistanceSpec` of the distance registry, computed with
        :func:`taskfp_lib.distances.distance_matrix` (then the representations are Fingerprints).
    representations : mapping task name -> representation
        One entry per source and target name (shrunk variants are separate tasks with their own
        representation). The fingerprints of the paper's 71 tasks are not published, so on this
        data only a callable on other representations (or small demonstrations) can be run.

    Returns
    -------
    DataFrame (sources x targets), ready for :func:`validate_distance`.
    """
    missing = [t for t in list(dict.fromkeys(list(sources) + list(targets))) if t not in representations]
    if missing:
        raise DistanceValidationError(f"no representation for task(s) {_fmt_names(missing)}")
    src = {s: representations[s] for s in sources}
    tgt = {t: representations[t] for t in targets}
    if callable(distance) and not isinstance(distance, str) and not hasattr(distance, "requires"):
        values = np.asarray(distance(list(src.values()), list(tgt.values())), dtype=np.float64)
        if values.shape != (len(src), len(tgt)):
            raise DistanceValidationError(f"the callable returned shape {values.shape}, expected "
                                          f"{(len(src), len(tgt))} (sources x targets)")
        df = pd.DataFrame(values, index=list(src), columns=list(tgt))
        if self_zero:
            for s in df.index:
                if s in df.columns:
                    df.loc[s, s] = 0.0
        return df
    from .distances import distance_matrix

    return distance_matrix(distance, src, tgt, self_zero=self_zero)


# ------------------------------------------------------------------------------------------ chance levels
def expected_best_of_k(values, k: int = 3) -> float:
    """Exact expectation of the largest of ``k`` values drawn without replacement (uniform subsets).

    With the values sorted ascending, the i-th (1-based) is the maximum of the subset with
    probability C(i-1, k-1) / C(n, k). Ties need no special care.
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = v.size
    if n < k:
        raise ValueError(f"need at least k={k} values, got {n}")
    weights = np.array([comb(i - 1, k - 1) for i in range(1, n + 1)], dtype=float) / comb(n, k)
    return float(weights @ v)


def chance_scores(outcomes: Outcomes, *, targets: Sequence[str] = VAL_TASKS, k: int = 3, mode: str = "avg",
                  aggregates: Sequence[str] = TRIPLED, metrics: Sequence[str] = ("AUROC", "BA"),
                  metas: Sequence[str] = TOP_META_METRICS) -> pd.DataFrame:
    """Exact expected score of a selector that picks ``k`` valid sources uniformly at random.

    ``mode="avg"``: the expectation of a mean over a uniform subset is the mean over all valid
    sources, for every top-k meta metric. ``mode="best"``: :func:`expected_best_of_k` of the
    per-source values (exact for ``percentile``, ``regret_score``, ``improvement`` and ``gain``, which are
    monotone in the outcome). Weightedtau is not included (its expectation under random affinities
    is close to, but not exactly, 0).

    Returns
    -------
    DataFrame
        scenario, metric, aggregate, target, meta_metric, score (same orientation as :func:`evaluate`).
    """
    targets = list(targets)
    mask = valid_mask(ALL_TASKS, targets)
    rows = []
    for agg in aggregates:
        for metric in metrics:
            for scen in SCENARIOS:
                o = outcomes.matrix(scen, metric, agg).reindex(index=ALL_TASKS, columns=targets).to_numpy()
                o = np.where(mask, o, np.nan)
                base = outcomes.baseline(scen, metric, agg, targets).to_numpy()
                n_valid = mask.sum(axis=0)
                everyone = np.full((n_valid.max(), len(targets)), -1)
                for j in range(len(targets)):
                    everyone[:n_valid[j], j] = np.flatnonzero(mask[:, j])
                if mode == "avg":
                    res = top_k_scores(o, everyone, base, "avg", metas)
                elif mode == "best":
                    # per-source values in one call: one block of columns per source, that source selected
                    n_src, n_tgt = o.shape
                    tiled = np.tile(o, (1, n_src))
                    sel = np.repeat(np.arange(n_src), n_tgt)
                    sel = np.where(mask.ravel(), sel, -1)[None, :]
                    single = top_k_scores(tiled, sel, np.tile(base, n_src), "avg", metas)
                    res = {}
                    for meta in metas:
                        per_source = single[meta].reshape(n_src, n_tgt)
                        res[meta] = np.array([expected_best_of_k(per_source[mask[:, j], j], k)
                                              for j in range(n_tgt)])
                else:
                    raise ValueError(f"mode must be 'avg' or 'best', got {mode!r}")
                for meta in metas:
                    rows.append(pd.DataFrame({"scenario": scen, "metric": metric, "aggregate": agg, "target": targets,
                                              "meta_metric": meta, "score": res[meta]}))
    return pd.concat(rows, ignore_index=True)


# ------------------------------------------------------------------------------------------ paired tests
def paired_comparison(evaluations: pd.DataFrame, a: str, b: str, *, metas: Sequence[str] = RANKING_META_METRICS,
                      n_bootstrap: int = 10000, seed: int = 42, resample: str = "setup",
                      alpha: float = 0.05) -> pd.DataFrame:
    """Does selector ``a`` beat selector ``b``? One row per (scenario, meta metric) panel.

    The setups (metric x repetition x target: 258 per panel) are paired. Reported: the mean
    difference ``a - b`` (scores higher-is-better, so > 0 favours ``a``) with a percentile bootstrap
    interval (``resample="setup"``: the setups, as the paper's bootstrap; ``"target"``: the 43
    targets with all their setups, which respects that a target's six setups share one selection),
    the probability of superiority P(a > b) + P(tie)/2, the counts of wins/ties/losses, the
    two-sided Wilcoxon signed-rank p-value (zero differences dropped; 1.0 when all are zero) and its
    Holm adjustment over the panels. ``verdict`` is ``a``, ``b`` or ``"no difference"`` at ``alpha``
    (Holm-adjusted p and an interval excluding 0).
    """
    if resample not in ("setup", "target"):
        raise ValueError(f"resample must be 'setup' or 'target', got {resample!r}")
    known = set(evaluations["selector"].unique())
    for name in (a, b):
        if name not in known:
            raise ValueError(f"selector {name!r} not in the evaluations")
    rng = np.random.default_rng(seed)
    keys = ["scenario", "meta_metric", "metric", "aggregate", "target"]
    sub = evaluations[evaluations["selector"].isin([a, b]) & evaluations["meta_metric"].isin(metas)]
    wide = sub.pivot_table(index=keys, columns="selector", values="score", aggfunc="first", sort=True)
    if a == b:
        wide = wide[[a]].rename(columns={a: "__a"}).assign(__b=lambda d: d["__a"])
    else:
        wide = wide[[a, b]].set_axis(["__a", "__b"], axis=1)
    if wide.isna().any().any():
        raise ValueError("the two selectors do not share all setups (NaN scores)")
    rows = []
    scenarios = [s for s in SCENARIOS if s in set(sub["scenario"].unique())]
    for scen in scenarios:
        for meta in metas:
            panel = wide.loc[(scen, meta)]
            d = (panel["__a"] - panel["__b"]).to_numpy()
            n = d.size
            if resample == "setup":
                idx = rng.integers(0, n, size=(n, n_bootstrap))
                boots = d[idx].mean(axis=0)
            else:
                per_target = pd.Series(d, index=panel.index.get_level_values("target")).groupby(level=0).mean()
                t = per_target.to_numpy()
                idx = rng.integers(0, t.size, size=(t.size, n_bootstrap))
                boots = t[idx].mean(axis=0)
            lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
            wins, ties, losses = int((d > 0).sum()), int((d == 0).sum()), int((d < 0).sum())
            if wins + losses == 0:
                p = 1.0
            else:
                p = float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
            sd = d.std(ddof=1) if n > 1 else np.nan
            rows.append({"scenario": scen, "meta_metric": meta, "a": a, "b": b, "n_setups": n,
                         "mean_a": panel["__a"].mean(), "mean_b": panel["__b"].mean(), "mean_diff": d.mean(),
                         "ci_low": lo, "ci_high": hi,
                         "effect_size_dz": d.mean() / sd if sd and np.isfinite(sd) and sd > 0 else 0.0,
                         "prob_superiority": (wins + 0.5 * ties) / n, "wins": wins, "ties": ties, "losses": losses,
                         "p_wilcoxon": p})
    out = pd.DataFrame(rows)
    out["p_holm"] = _holm(out["p_wilcoxon"].to_numpy())
    sig = (out["p_holm"] < alpha) & ((out["ci_low"] > 0) | (out["ci_high"] < 0))
    out["verdict"] = np.where(sig & (out["mean_diff"] > 0), a, np.where(sig & (out["mean_diff"] < 0), b,
                                                                          "no difference"))
    return out


def compare_distances(a: pd.DataFrame, b: pd.DataFrame, name_a: str = "A", name_b: str = "B", *,
                      outcomes: Outcomes | None = None, validate: bool = True, **kwargs) -> pd.DataFrame:
    """:func:`paired_comparison` of two raw distance matrices (each evaluated as the paper's selectors).

    ``kwargs`` go to :func:`paired_comparison` (``n_bootstrap``, ``seed``, ``resample``, ``alpha``).
    """
    if name_a == name_b:
        raise ValueError("the two measures need different names")
    outcomes = load_outcomes() if outcomes is None else outcomes
    if validate:
        a, b = validate_distance(a, source=name_a), validate_distance(b, source=name_b)
    ev = evaluate(outcomes, {name_a: affinity_from_distance(a), name_b: affinity_from_distance(b)},
                  corr_metrics=("weightedtau",))
    return paired_comparison(ev, name_a, name_b, **kwargs)


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


# ------------------------------------------------------------------------------------------ the benchmark
def evaluate_measure(distance: pd.DataFrame, name: str, outcomes: Outcomes, **kwargs) -> pd.DataFrame:
    """Evaluation rows (tripled, both metrics, all scenarios, top-3 avg, all meta metrics) of one raw distance."""
    return evaluate(outcomes, {name: affinity_from_distance(distance)}, **kwargs)


def reference_evaluations(selector_set: str = "paper", outcomes: Outcomes | None = None) -> pd.DataFrame:
    """Evaluation rows of the paper's selectors (computed once, reused for several new measures)."""
    outcomes = load_outcomes() if outcomes is None else outcomes
    return evaluate(outcomes, load_affinities(SELECTOR_SETS[selector_set]))


def meta_metric_table(evaluations: pd.DataFrame, chance: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean and std (ddof 1) of every selector's scores per scenario and meta metric, with its rank.

    ``rank`` = position of the mean within (scenario, meta metric), 1 = best. ``chance`` (from
    :func:`chance_scores`) adds the row ``random (expected)``, which is not ranked.
    """
    g = evaluations.groupby(["scenario", "meta_metric", "selector"], sort=False)["score"]
    out = g.agg(mean="mean", std="std", n="size").reset_index()
    out["rank"] = out.groupby(["scenario", "meta_metric"])["mean"].rank(ascending=False, method="min")
    if chance is not None:
        c = chance.groupby(["scenario", "meta_metric"], sort=False)["score"].agg(mean="mean", std="std", n="size")
        c = c.reset_index().assign(selector="random (expected)", rank=np.nan)
        out = pd.concat([out, c[out.columns]], ignore_index=True)
    return out


def gain_curves(outcomes: Outcomes, distance: pd.DataFrame, name: str,
                references: Sequence[str] = CURVE_REFERENCES, budgets=range(1, 6)) -> pd.DataFrame:
    """Fig. 4-style best-of-k curves for the new measure (+ references), in the layout of ``fig4_shots``.

    Panel ``a``: fraction of improved targets (gain, BA) of the new measure; panel ``b``: AUROC
    improvement of the references and the new measure. Mean and std (ddof 1) over the three
    repetitions of the per-repetition mean over the 43 targets.
    """
    affs = load_affinities(list(references)) if references else {}
    affs[name] = affinity_from_distance(distance)
    panels = {"a": ([name], "gain", "BA"), "b": (list(references) + [name], "improvement", "AUROC")}
    rows = []
    for panel, (selectors, meta, metric) in panels.items():
        ev = evaluate_budgets(outcomes, {s: affs[s] for s in selectors}, budgets, metrics=[metric],
                              top_metrics=[meta], corr_metrics=[], mode="best")
        per_rep = ev.groupby(["scenario", "selector", "shots", "aggregate"], sort=False)["score"].mean()
        st = per_rep.groupby(["scenario", "selector", "shots"], sort=False).agg(["mean", "std"]).reset_index()
        st.insert(0, "panel", panel)
        rows.append(st)
    return pd.concat(rows, ignore_index=True)[["panel", "scenario", "selector", "shots", "mean", "std"]]


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def scenario_positions(evaluations: pd.DataFrame, *, metas: Sequence[str] = RANKING_META_METRICS,
                       n_bootstrap: int = 1000, seed: int = 42) -> pd.DataFrame:
    """Bootstrap of each selector's overall position per scenario (1 = best).

    Per scenario, ONE (n_setups, n_bootstrap) index matrix resamples the setups (metric x repetition
    x target, shared by the meta metrics); per bootstrap and meta metric the selectors' mean scores are
    ranked (average ties), the ranks are averaged over the meta metrics, and the selectors are
    placed by that average (position 1 = best, ties averaged).

    Returns
    -------
    DataFrame
        scenario, selector, mean_rank (mean over bootstraps of the meta-averaged rank), position
        (place by mean_rank), position_low/position_high (2.5 %/97.5 % quantiles of the bootstrap
        positions, closest observation).
    """
    rng = np.random.default_rng(seed)
    sub = evaluations[evaluations["meta_metric"].isin(metas)]
    rows = []
    for scen in [s for s in SCENARIOS if s in set(sub["scenario"].unique())]:
        part = sub[sub["scenario"] == scen]
        names = list(dict.fromkeys(part["selector"]))
        wide = part.pivot_table(index=["meta_metric", "metric", "aggregate", "target"], columns="selector",
                                values="score", aggfunc="first", sort=True)[names]
        if wide.isna().any().any():
            raise ValueError(f"{scen}: NaN scores or unaligned setups")
        values = np.stack([wide.loc[m].to_numpy().T for m in metas], axis=1)  # (n_sel, n_meta, n_setups)
        n_setups = values.shape[2]
        idx = rng.integers(0, n_setups, size=(n_setups, n_bootstrap))
        means = values[:, :, idx].mean(axis=2)  # (n_sel, n_meta, n_bootstrap)
        ranks = stats.rankdata(-means, method="average", axis=0).mean(axis=1)  # (n_sel, n_bootstrap)
        positions = stats.rankdata(ranks, method="average", axis=0)
        mean_rank = ranks.mean(axis=1)
        place = stats.rankdata(mean_rank, method="min")
        for i, name in enumerate(names):
            rows.append({"scenario": scen, "selector": name, "mean_rank": mean_rank[i], "position": int(place[i]),
                         "position_low": float(np.quantile(positions[i], 0.025, method="nearest")),
                         "position_high": float(np.quantile(positions[i], 0.975, method="nearest"))})
    return pd.DataFrame(rows)


def _place(x: float) -> str:
    """1.0 -> '1st'; a tied place 6.5 -> '6th/7th'."""
    x = float(x)
    return _ordinal(int(x)) if x.is_integer() else f"{_ordinal(int(np.floor(x)))}/{_ordinal(int(np.ceil(x)))}"


def verdicts(positions: pd.DataFrame, ranks: pd.DataFrame, name: str,
             paired: pd.DataFrame | None = None) -> pd.DataFrame:
    """A plain-language verdict per scenario.

    Parameters
    ----------
    positions : DataFrame
        From :func:`scenario_positions` (the place of the measure and its 95 % bootstrap interval).
    ranks : DataFrame
        From :func:`taskfp_lib.ranking.bootstrap_rankings` (the per-meta-metric panels).
    paired : DataFrame, optional
        From :func:`paired_comparison` (the measure against every other selector).
    """
    rows = []
    for scen in [s for s in SCENARIOS if s in set(positions["scenario"])]:
        pos = positions[positions["scenario"] == scen].sort_values("mean_rank", kind="stable").set_index("selector")
        n_sel = len(pos)
        me = pos.loc[name]
        best_other = next(s for s in pos.index if s != name)
        panel = ranks[(ranks["scenario"] == scen) & (ranks["selector"] == name)].set_index("meta_metric")
        per_meta = "; ".join(f"{m} {panel.loc[m, 'mean_rank']:.1f} [{panel.loc[m, 'ci_low']:g}-"
                             f"{panel.loc[m, 'ci_high']:g}]" for m in panel.index)
        lo, hi = me["position_low"], me["position_high"]
        interval = f"always {_place(lo)}" if lo == hi else f"{_place(lo)} to {_place(hi)}"
        text = (f"**{scen}**: {name} ranks **{_ordinal(int(me['position']))} of {n_sel}** (95 % bootstrap interval "
                f"of its place: {interval}; mean rank {me['mean_rank']:.2f} averaged over the four meta metrics). "
                f"Per meta metric, mean rank [95 % interval]: {per_meta}. Best other selector: {best_other} "
                f"(mean rank {pos.loc[best_other, 'mean_rank']:.2f}).")
        row = {"scenario": scen, "position": int(me["position"]), "n_selectors": n_sel,
               "position_low": lo, "position_high": hi, "mean_rank": me["mean_rank"], "best_other": best_other}
        if paired is not None:
            p = paired[(paired["scenario"] == scen) & (paired["a"] == name)]
            if len(p):
                better = sorted(set(p.loc[p["verdict"] == name, "b"]))
                worse = sorted(set(p.loc[(p["verdict"] != name) & (p["verdict"] != "no difference"), "b"]))
                n_better = int((p["verdict"] == name).sum())
                n_worse = int(((p["verdict"] != name) & (p["verdict"] != "no difference")).sum())
                text += (f" Paired tests over the 258 setups: significantly better in {n_better} and worse in "
                         f"{n_worse} of {len(p)} (selector, meta metric) comparisons"
                         + (f"; better than {', '.join(better)} in at least one" if better else "")
                         + (f"; worse than {', '.join(worse)} in at least one" if worse else "") + ".")
                row.update(paired_better=n_better, paired_worse=n_worse, paired_total=len(p))
        row["verdict"] = text
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class BenchmarkResult:
    """Everything the benchmark report shows; every table is a tidy DataFrame (see :meth:`tables`)."""

    name: str
    selector_set: str
    evaluations: pd.DataFrame
    meta_table: pd.DataFrame
    win_rates: pd.DataFrame
    stability: pd.DataFrame
    ranks: pd.DataFrame
    summary: pd.DataFrame
    rank_then_mean: pd.DataFrame
    gain_curves: pd.DataFrame | None
    paired: pd.DataFrame
    verdicts: pd.DataFrame
    positions: pd.DataFrame
    parameters: dict = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Machine-readable outputs: file stem -> DataFrame (``rank_counts`` dropped from the ranks)."""
        out = {"benchmark_meta_metrics": self.meta_table, "benchmark_win_rates": self.win_rates,
               "benchmark_stability": self.stability,
               "benchmark_bootstrap_ranks": self.ranks.drop(columns="rank_counts"),
               "benchmark_ranking_summary": self.summary, "benchmark_rank_then_mean": self.rank_then_mean,
               "benchmark_paired": self.paired, "benchmark_verdicts": self.verdicts,
               "benchmark_positions": self.positions}
        if self.gain_curves is not None:
            out["benchmark_gain_curves"] = self.gain_curves
        return out


def benchmark(distance: pd.DataFrame, name: str = "My distance", *, selector_set: str = "paper",
              outcomes: Outcomes | None = None, reference: pd.DataFrame | None = None, n_bootstrap: int = 1000,
              seed: int = 42, n_bootstrap_paired: int = 2000, curves: bool = True, validate: bool = True,
              **validate_kwargs) -> BenchmarkResult:
    """Score a raw distance matrix against the paper's selectors with the paper's full analysis.

    Parameters
    ----------
    distance : DataFrame
        Raw distances in the published orientation (validated with :func:`validate_distance` unless
        ``validate=False``; ``validate_kwargs`` such as ``similarity=True`` are passed on).
    name : str
        Label of the new measure (must differ from the paper selectors' names).
    selector_set : {"paper", "revision"}
    reference : DataFrame, optional
        Precomputed :func:`reference_evaluations` of the selector set (saves ~5 s when several
        measures are benchmarked).
    n_bootstrap, seed : int
        Bootstraps of the rankings (one generator seeded once, as in the paper notebooks).
    n_bootstrap_paired : int
        Bootstraps of the paired comparisons (seed ``seed``).
    curves : bool
        Compute the gain curves (budgets 1-5).
    """
    if selector_set not in SELECTOR_SETS:
        raise ValueError(f"unknown selector set {selector_set!r}; choose from {sorted(SELECTOR_SETS)}")
    if name in SELECTOR_SETS[selector_set]:
        raise ValueError(f"name {name!r} is a selector of the {selector_set!r} set; choose another name")
    if validate:
        distance = validate_distance(distance, **validate_kwargs)
    outcomes = load_outcomes() if outcomes is None else outcomes
    ref = reference_evaluations(selector_set, outcomes) if reference is None else reference
    mine = evaluate_measure(distance, name, outcomes)
    ev = pd.concat([ref, mine], ignore_index=True)
    no_gain = ev[ev["meta_metric"] != "gain"].reset_index(drop=True)
    chance = chance_scores(outcomes)
    meta_table = meta_metric_table(ev, chance)
    rates = ranking.win_rates(no_gain) * 100
    wins = rates.reset_index().melt(id_vars="selector", var_name="scenario", value_name="win_rate_percent")
    stab = ranking.stability_scores(no_gain)
    stability = pd.DataFrame({"component": stab.index, "score": stab.to_numpy()})
    ranks = ranking.bootstrap_rankings(no_gain, n_bootstrap=n_bootstrap, seed=seed)
    summary = ranking.ranking_summary(ranks).reset_index()
    rtm = ranking.rank_then_mean(no_gain, n_bootstrap=n_bootstrap, seed=seed)
    paired = pd.concat([paired_comparison(ev, name, other, n_bootstrap=n_bootstrap_paired, seed=seed)
                        for other in SELECTOR_SETS[selector_set]], ignore_index=True)
    curves_df = gain_curves(outcomes, distance, name) if curves else None
    positions = scenario_positions(no_gain, n_bootstrap=n_bootstrap, seed=seed)
    verdict = verdicts(positions, ranks, name, paired)
    params = {"name": name, "selector_set": selector_set, "n_bootstrap": n_bootstrap, "seed": seed,
              "n_bootstrap_paired": n_bootstrap_paired}
    return BenchmarkResult(name, selector_set, ev, meta_table, wins, stability, ranks, summary, rtm, curves_df,
                           paired, verdict, positions, params)


__all__ = ["BenchmarkResult", "CURVE_REFERENCES", "DEFAULT_ENSEMBLE", "DistanceValidationError", "benchmark",
           "chance_scores", "compare_distances", "distance_from_callable", "ensemble_distance", "evaluate_measure", "evaluated_pairs",
           "expected_best_of_k", "gain_curves", "meta_metric_table", "paired_comparison", "random_distance",
           "read_distance", "reference_evaluations", "scenario_positions", "similarity_evidence", "validate_distance",
           "verdicts"]
