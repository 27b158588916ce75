"""Published vs. reproduced: every printed number of the paper next to the value recomputed here.

:func:`compare` reads the machine-readable results the notebooks wrote and puts each printed number
(:mod:`taskfp_lib.paper.printed`) next to the reproduced one at full precision and rounded to the
printed precision, with the difference.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .printed import (FIRST_SHOT, FIVE_SHOT, RELATIVE_INCREASE, SCEN, STABILITY, TABLE1, TABLE3, TABLE4,
                      TABLE4_KNOWN_ONE_CASE, TASK_STATS)
from .results import results_dir


def _row(artefact, quantity, location, published, reproduced, decimals, tolerance=None, note=""):
    """One comparison row; ``tolerance`` in units of the printed precision (default: exact after rounding)."""
    rounded = None if reproduced is None or np.isnan(reproduced) else round(float(reproduced), decimals)
    unit = 10.0 ** -decimals
    diff = None if rounded is None else rounded - float(published)
    if diff is None:
        status = "missing"
    elif abs(diff) < unit / 2:
        status = "match"
    elif tolerance is not None and abs(diff) <= tolerance * unit + 1e-12:
        status = "within tolerance"
    else:
        status = "differs"
    return {"artefact": artefact, "quantity": quantity, "location": location, "published": published,
            "reproduced": reproduced, "reproduced_rounded": rounded, "difference": diff, "status": status,
            "note": note}


def _read(directory: Path, name: str) -> pd.DataFrame | None:
    path = directory / f"{name}.csv"
    return pd.read_csv(path) if path.is_file() else None


def compare(directory: str | Path | None = None) -> pd.DataFrame:
    """Published vs. reproduced, one row per printed number (status: match / within tolerance / differs / missing)."""
    d = results_dir(directory)
    rows = []
    pool = _read(d, "task_pool")
    if pool is not None:
        rows += [
            _row("Task pool", "tasks", "Abstract; Methods - Data", 71, len(pool), 0),
            _row("Task pool", "development tasks", "Results; Fig. 3 caption", 28, (pool["phase"] == "development").sum(), 0),
            _row("Task pool", "validation tasks", "Results; Fig. 3 caption", 43, (pool["phase"] == "validation").sum(), 0),
            _row("Task pool", "medical tasks", "Methods - Data", 62, pool["medical"].sum(), 0),
            _row("Task pool", "medical imaging domains", "Abstract; Methods - Data", 12,
                 pool.loc[~pool["domain"].isin(["natural images", "handwritings"]), "domain"].nunique(), 0,
                 note="code tags merge gastroscopy/colonoscopy and include laryngoscopy"),
        ]
    stats = _read(d, "fig3_task_stats")
    if stats is not None:
        s = stats.set_index("property")
        for prop, (mn, q1, q3, mx, dec) in TASK_STATS.items():
            for name, val in zip(["min", "q1", "q3", "max"], [mn, q1, q3, mx]):
                rows.append(_row("Fig. 3 statistics", f"{prop} {name}", "Methods - Data", val, s.loc[prop, name], dec,
                                 tolerance=1, note="printed values partly truncated"))
    shots = _read(d, "fig4_shots")
    if shots is not None:
        a = shots[shots["panel"] == "a"].set_index(["scenario", "shots"])["mean"]
        for scen in SCEN:
            rows.append(_row("Fig. 4a", f"first-shot improved tasks, {scen} (%)", "Results; Fig. 4", FIRST_SHOT[scen],
                             a[(scen, 1)] * 100, 0))
            rows.append(_row("Fig. 4a", f"five-shot improved tasks, {scen} (%)", "Results; Fig. 4", FIVE_SHOT[scen],
                             a[(scen, 5)] * 100, 0))
    rel = _read(d, "relative_increase")
    if rel is not None:
        r = rel.set_index("scenario")["relative_percent"]
        rows += [_row("Fig. 4b", f"relative increase over Manual, {s} (%)", "Results - outperforms manual",
                      RELATIVE_INCREASE[s], r[s], 0) for s in SCEN]
    stab = _read(d, "stability_scores")
    if stab is not None:
        st = stab[stab["selector_set"] == "paper"].set_index("component")["score"]
        rows += [_row("Stability", f"setup stability, varied {c}", "Results", v, st.get(c, np.nan), 2)
                 for c, v in STABILITY.items()]
    t3 = _read(d, "table3_scenario_similarity")
    if t3 is not None:
        t = t3.set_index(["scenario_a", "scenario_b"])
        for (sa, sb), (m, s) in TABLE3.items():
            rows.append(_row("Supp. Table 3", f"{sa} vs {sb} mean", "Supplementary Table 3", m, t.loc[(sa, sb), "mean"], 3))
            rows.append(_row("Supp. Table 3", f"{sa} vs {sb} std", "Supplementary Table 3", s, t.loc[(sa, sb), "std"], 3))
    t4 = _read(d, "table4_win_rates")
    if t4 is not None:
        w = t4[t4["selector_set"] == "paper"].set_index(["selector", "scenario"])["win_rate_percent"]
        for sel, values in TABLE4.items():
            for scen, v in zip(SCEN + ["mean"], values):
                known = (sel, scen) in TABLE4_KNOWN_ONE_CASE or (
                    scen == "mean" and any((sel, sc) in TABLE4_KNOWN_ONE_CASE for sc in SCEN))
                one_case = 100 / 1032 / (4 if scen == "mean" else 1)  # in percentage points
                rows.append(_row("Supp. Table 4", f"win rate {sel}, {scen} (%)", "Supplementary Table 4", v,
                                 w[(sel, scen)], 2, tolerance=(one_case / 0.01 + 1) if known else None,
                                 note="up to one of 1032 cases differs (floating-point tie)" if known else ""))
    f6 = _read(d, "fig6_sample_size")
    if f6 is not None:
        sel = f6[(f6["meta_metric"] == "percentile") & (f6["metric"] == "BA") & (f6["scenario"] == "Pretraining Data")
                 & (f6["variant"] == "bKLD(small,target)")]
        rows += [_row("Fig. 6", f"pretraining best-of-3 percentile, bKLD(small,target), n={n}", "Results - robust",
                      0.88, v, 2) for n, v in zip(sel["samples"], sel["mean"])]
    t1 = _read(d, "table1_architectures")
    if t1 is not None:
        t = t1.set_index("timm_name")
        for name, (acc, params) in TABLE1.items():
            dec = len(acc.split(".")[1])
            rows.append(_row("Supp. Table 1", f"{name} ImageNet top-1 (%)", "Supplementary Table 1", float(acc),
                             t.loc[name, "imagenet_top1"], dec))
            rows.append(_row("Supp. Table 1", f"{name} train params (M)", "Supplementary Table 1", params,
                             t.loc[name, "train_params_millions"], 1))
    return pd.DataFrame(rows)
