"""Published vs. reproduced: every number the paper prints next to the value recomputed here.

:func:`compare` reads the results files the notebooks wrote (and, for the study-design counts, the
published files themselves) and puts each printed number (:mod:`taskfp_lib.paper.printed`) next to
the reproduced one at full precision, rounded the way the paper prints it, with the difference
computed from the full-precision value. The qualitative claims of Fig. 5 and Fig. 6 are checked as
assertions (:func:`fig5_claims`, :func:`fig6_claims`). Rows that do not match come first, each with
its cause.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..vocabulary import ARCHITECTURES, PAPER_SCENARIOS, SCENARIOS
from . import printed as P
from .results import RecipeResult, results_dir

COLUMNS = ["artefact", "quantity", "location", "published", "reproduced", "reproduced_as_printed", "difference",
           "rule", "status", "note"]
STATUS_ORDER = {"differs": 0, "fails": 1, "missing": 2, "match": 3, "holds": 4}
#: seeds of the Fig. 5 claim checks: the default and 20 others
CLAIM_SEEDS = (42,) + tuple(range(20))
#: the four Supp. Table 4 cells that differ from the printed table by exactly one of 1032 setups, and why
TABLE4_CAUSE = (
    "differs by exactly one of 1032 setups. Every setup that can flip this cell is an exact or last-bit tie "
    "between selectors that suggest the same three sources in a different order, so whether they tie depends "
    "on the order of a three-term sum. Summing in selection order (the authors' described procedure) "
    "reproduces the other 36 entries; every other summation order, rounding or form of the regret we tried "
    "changes 8-37 entries. An independent one-target-at-a-time implementation of that procedure (pandas and "
    "scipy, tests/oracles.py) gives the same 41,280 scores bit for bit (a test pins one repetition of them). "
    "The cause is not found. Changing the published distances at the 1e-6 level, the size of the change "
    "between the two data releases (scripts/table4_sensitivity.py: x(1 + 1e-6 N(0,1)), 4 seeded draws), "
    "matches the VDNA cell in 2 draws but never moves the P2L and FED cells, and it moves bKLD cells that "
    "match today.")
TABLE4_ONE_CASE = {("P2L", "Pretraining Data"), ("P2L", "Co-Training Data"), ("FED", "Augmentation Policy"),
                   ("VDNA", "Co-Training Data")}


def _row(artefact, quantity, location, published, reproduced, decimals, rule="rounded", note=""):
    """One number: printed value vs. the reproduced one, rounded (or truncated) to the printed precision."""
    if reproduced is None or (isinstance(reproduced, float) and math.isnan(reproduced)):
        return dict(zip(COLUMNS, [artefact, quantity, location, published, None, None, None, rule, "missing", note]))
    value = float(reproduced)
    scale = 10.0 ** decimals
    shown = math.trunc(value * scale + 1e-9) / scale if rule == "truncated" else round(value, decimals)
    status = "match" if abs(shown - float(published)) < 0.5 / scale else "differs"
    return dict(zip(COLUMNS, [artefact, quantity, location, published, value, shown, value - float(published),
                              rule, status, note]))


def _claim(artefact, quantity, location, holds: int, total: int, note=""):
    """A qualitative claim checked ``total`` times (seeds or settings); it holds when it holds every time."""
    status = "holds" if holds == total else "fails"
    return dict(zip(COLUMNS, [artefact, quantity, location, "claim", f"{holds}/{total}", None, None, "assertion",
                              status, note]))


def _read(directory: Path, name: str) -> pd.DataFrame | None:
    path = directory / f"{name}.csv"
    return pd.read_csv(path) if path.is_file() else None


def _counts(pool: pd.DataFrame | None) -> list[dict]:
    """The study-design counts and method constants, recomputed from the registry and the published files."""
    from ..evaluation import load_outcomes
    from ..tasks import ALL_TASKS, DEV_TASKS, VAL_TASKS
    from ..vocabulary import BKLD_VARIANTS, RANKING_META_METRICS, get_selector

    outcomes = load_outcomes()
    reps = sorted(set(outcomes.transfer[(PAPER_SCENARIOS[0], "BA")]["r"]))
    bins = sorted({int(get_selector(v).stem.split("-")[-2]) for v in BKLD_VARIANTS})
    medical = None if pool is None else int(pool["medical"].sum())
    domains = None if pool is None else pool.loc[~pool["domain"].isin(["natural images", "handwritings"]),
                                                 "domain"].nunique()
    setups = len(reps) * 2 * len(VAL_TASKS)
    values = [len(ALL_TASKS), len(DEV_TASKS), len(VAL_TASKS), domains, medical, len(PAPER_SCENARIOS), 2, len(reps),
              len(ARCHITECTURES), setups, setups * len(RANKING_META_METRICS), 1000,
              len(PAPER_SCENARIOS) * len(RANKING_META_METRICS), 3, 5, 10, len(BKLD_VARIANTS), 10000, 10,
              bins[0], bins[-1]]
    notes = {"medical imaging modalities": "the data's domain tags merge gastroscopy/colonoscopy and include "
                                           "laryngoscopy; the paper lists them the other way round",
             "bootstrap samples": "a parameter of this book (n_bootstrap)"}
    return [_row("Study design", q, loc, v, r, 0, note=notes.get(q, ""))
            for (q, loc, v), r in zip(P.COUNTS, values)]


def _fig3(stats: pd.DataFrame | None) -> list[dict]:
    if stats is None:
        return []
    s = stats.set_index("property")
    note = "the paper prints these statistics truncated, not rounded"
    return [_row("Fig. 3 statistics", f"{prop} {name}", "Methods - Data", v, s.loc[prop, name], dec, "truncated", note)
            for prop, (mn, q1, q3, mx, dec) in P.TASK_STATS.items()
            for name, v in zip(["min", "q1", "q3", "max"], [mn, q1, q3, mx])]


def _fig4(shots: pd.DataFrame | None, rel: pd.DataFrame | None) -> list[dict]:
    rows = []
    if shots is not None:
        a = shots[shots["panel"] == "a"].set_index(["scenario", "shots"])["mean"] * 100
        for scen in P.SCEN:
            rows.append(_row("Fig. 4a", f"improved tasks at 1 shot, {scen} (%)", "Results; Fig. 4",
                             P.FIRST_SHOT[scen], a[(scen, 1)], 0))
            rows.append(_row("Fig. 4a", f"improved tasks at 5 shots, {scen} (%)", "Results; Fig. 4",
                             P.FIVE_SHOT[scen], a[(scen, 5)], 0))
        rows.append(_row("Fig. 4a", "improved tasks, 'up to' (largest 5-shot fraction, %)", "Fig. 4 caption",
                         P.UP_TO_FIVE_SHOT, max(a[(s, 5)] for s in P.SCEN), 0))
    if rel is not None:
        r = rel.set_index("scenario")["relative_percent"]
        rows += [_row("Fig. 4b", f"relative increase over Manual, {s} (%)", "Results - outperforms manual",
                      P.RELATIVE_INCREASE[s], r[s], 0) for s in P.SCEN]
    return rows


def _tables(d: Path) -> list[dict]:
    """Stability scores, Supplementary Tables 1, 3 and 4."""
    rows = []
    stab = _read(d, "stability_scores")
    if stab is not None:
        st = stab[stab["selector_set"] == "paper"].set_index("component")["score"]
        rows += [_row("Stability", f"setup stability, varied {c}", "Results", v, st.get(c), 2)
                 for c, v in P.STABILITY.items()]
    t3 = _read(d, "table3_scenario_similarity")
    if t3 is not None:
        t = t3.set_index(["scenario_a", "scenario_b"])
        for (sa, sb), (m, s) in P.TABLE3.items():
            for a, b in ((sa, sb), (sb, sa)):
                rows.append(_row("Supp. Table 3", f"{a} vs {b} mean", "Supplementary Table 3", m, t.loc[(a, b), "mean"], 3))
                rows.append(_row("Supp. Table 3", f"{a} vs {b} std", "Supplementary Table 3", s, t.loc[(a, b), "std"], 3))
    rows += _table4(_read(d, "table4_win_rates"))
    t1 = _read(d, "table1_architectures")
    if t1 is not None:
        t = t1.set_index("timm_name")
        for name, (acc, params) in P.TABLE1.items():
            rows.append(_row("Supp. Table 1", f"{name} ImageNet top-1 (%)", "Supplementary Table 1", float(acc),
                             t.loc[name, "imagenet_top1"], len(acc.split(".")[1])))
            rows.append(_row("Supp. Table 1", f"{name} train params (M)", "Supplementary Table 1", params,
                             t.loc[name, "train_params_millions"], 1))
    return rows


def _table4(t4: pd.DataFrame | None) -> list[dict]:
    if t4 is None:
        return []
    w = t4[t4["selector_set"] == "paper"].set_index(["selector", "scenario"])["win_rate_percent"]
    rows = []
    for sel, values in P.TABLE4.items():
        for scen, v in zip(P.SCEN + ["mean"], values):
            known = (sel, scen) in TABLE4_ONE_CASE or (scen == "mean" and any((sel, s) in TABLE4_ONE_CASE
                                                                                for s in P.SCEN))
            note = ("the mean of a row with a cell that " + TABLE4_CAUSE) if known and scen == "mean" else \
                (TABLE4_CAUSE[0].upper() + TABLE4_CAUSE[1:] if known else "")
            rows.append(_row("Supp. Table 4", f"win rate {sel}, {scen} (%)", "Supplementary Table 4", v,
                             w[(sel, scen)], 2, note=note))
    return rows


def compare(directory: str | Path | None = None, claims: pd.DataFrame | None = None) -> pd.DataFrame:
    """Published vs. reproduced, one row per printed number or claim; non-matches first.

    Parameters
    ----------
    directory : path-like, optional
        The results folder (default: ``results/``).
    claims : DataFrame, optional
        Claim checks (:func:`fig5_claims` and :func:`fig6_claims` rows: claim, holds, total, note).
    """
    d = results_dir(directory)
    pool = _read(d, "task_pool")
    rows = _counts(pool) + _fig3(_read(d, "fig3_task_stats"))
    rows += _fig4(_read(d, "fig4_shots"), _read(d, "relative_increase")) + _tables(d)
    rows += _fig6(_read(d, "fig6_sample_size"))
    if claims is not None:
        rows += [_claim(r.artefact, r.claim, r.location, int(r.holds), int(r.total), r.note)
                 for r in claims.itertuples()]
    table = pd.DataFrame(rows, columns=COLUMNS)
    order = table["status"].map(STATUS_ORDER)
    return table.assign(_o=order).sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)


def _fig6(f6: pd.DataFrame | None) -> list[dict]:
    """Fig. 6's printed numbers: the random expectation and the pretraining percentile."""
    rows = [_row("Fig. 6", "expected best-of-3 percentile of random selection", "Results - robust",
                 P.RANDOM_BEST_OF_3, 3 / 4, 2,
                 note="the expected maximum of 3 uniform percentiles, k/(k+1); with the finite numbers of valid "
                      "sources and ties of the published outcomes it is 0.761 (benchmark page)")]
    if f6 is not None:
        sub = f6[(f6["selector_set"] == "paper") & (f6["meta_metric"] == "percentile") & (f6["metric"] == "BA")
                 & (f6["scenario"] == SCENARIOS["Pretraining Data"].label) & (f6["variant"] == "bKLD(small,target)")]
        rows += [_row("Fig. 6", f"pretraining best-of-3 percentile, bKLD(small,target), n={n}", "Results - robust",
                      P.FIG6_PRETRAINING, v, 2) for n, v in zip(sub["samples"], sub["mean"])]
    return rows


def published_vs_reproduced(directory: str | Path | None = None, seeds=CLAIM_SEEDS) -> RecipeResult:
    """The comparison page's recipe: claim checks (Fig. 5 over ``seeds``, Fig. 6) and the full comparison."""
    from .claims import fig5_claims, fig6_claims

    d = results_dir(directory)
    claims = pd.concat([fig5_claims(seeds), fig6_claims(_read(d, "fig6_sample_size"))], ignore_index=True)
    return RecipeResult({"published_vs_reproduced": compare(d, claims), "published_claims": claims})


__all__ = ["compare", "published_vs_reproduced", "COLUMNS", "CLAIM_SEEDS", "TABLE4_ONE_CASE"]
