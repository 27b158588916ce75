"""The plain-language verdict per scenario: where the measure places, how sure that is, what the paired tests say.

The same sentence is written twice: as Markdown-like plain text into ``benchmark_verdicts.csv`` (the
names as they are) and as HTML for the report, where every name is escaped
(:func:`taskfp_lib._safety.html_text`): a measure's name comes from the user and is never
interpreted as markup.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from .._safety import html_text
from ..vocabulary import PAPER_SCENARIOS
from .paired import NO_DIFFERENCE


@dataclass(frozen=True)
class TextStyle:
    """How a verdict marks emphasis and shows a name."""

    strong: Callable[[str], str]
    name: Callable[[str], str]


#: plain text with Markdown emphasis, names verbatim (the CSV file)
PLAIN = TextStyle(lambda s: f"**{s}**", str)
#: HTML with every name escaped (the report)
HTML = TextStyle(lambda s: f"<strong>{s}</strong>", html_text)


def ordinal(n: int) -> str:
    """1 -> '1st', 12 -> '12th', 23 -> '23rd'."""
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def place(x: float) -> str:
    """1.0 -> '1st'; a tied place 6.5 -> '6th/7th'."""
    x = float(x)
    return ordinal(int(x)) if x.is_integer() else f"{ordinal(int(np.floor(x)))}/{ordinal(int(np.ceil(x)))}"


def _paired_counts(paired: pd.DataFrame | None, scen: str, name: str) -> dict | None:
    if paired is None:
        return None
    p = paired[(paired["scenario"] == scen) & (paired["a"] == name)]
    if not len(p):
        return None
    better = p["verdict"] == name
    worse = (p["verdict"] != name) & (p["verdict"] != NO_DIFFERENCE)
    return {"paired_better": int(better.sum()), "paired_worse": int(worse.sum()), "paired_total": len(p),
            "better_than": sorted(set(p.loc[better, "b"])), "worse_than": sorted(set(p.loc[worse, "b"]))}


def _facts(positions: pd.DataFrame, ranks: pd.DataFrame, name: str, paired, scen: str) -> dict:
    """Everything one scenario's verdict says, as values."""
    pos = positions[positions["scenario"] == scen].sort_values("mean_rank", kind="stable").set_index("selector")
    me = pos.loc[name]
    best_other = next(s for s in pos.index if s != name)
    panel = ranks[(ranks["scenario"] == scen) & (ranks["selector"] == name)].set_index("meta_metric")
    return {"scenario": scen, "position": int(me["position"]), "n_selectors": len(pos),
            "position_low": me["position_low"], "position_high": me["position_high"], "mean_rank": me["mean_rank"],
            "best_other": best_other, "best_other_rank": pos.loc[best_other, "mean_rank"], "per_meta": panel,
            "paired": _paired_counts(paired, scen, name)}


def verdict_text(f: dict, name: str, style: TextStyle = PLAIN) -> str:
    """One scenario's verdict sentence from :func:`_facts`, in ``style``."""
    n = style.name
    lo, hi = f["position_low"], f["position_high"]
    interval = f"always {place(lo)}" if lo == hi else f"{place(lo)} to {place(hi)}"
    per_meta = "; ".join(f"{n(m)} {r['mean_rank']:.1f} [{r['ci_low']:g}-{r['ci_high']:g}]"
                         for m, r in f["per_meta"].iterrows())
    rank = f"{ordinal(f['position'])} of {f['n_selectors']}"
    text = (f"{style.strong(n(f['scenario']))}: {n(name)} ranks {style.strong(rank)} "
            f"(95 % bootstrap interval of its place: {interval}; mean rank {f['mean_rank']:.2f} averaged over the four "
            f"meta metrics). Per meta metric, mean rank [95 % interval]: {per_meta}. Best other selector: "
            f"{n(f['best_other'])} (mean rank {f['best_other_rank']:.2f}).")
    p = f["paired"]
    if p:
        text += (f" Paired tests over the 258 setups: significantly better in {p['paired_better']} and worse in "
                 f"{p['paired_worse']} of {p['paired_total']} (selector, meta metric) comparisons"
                 + (f"; better than {', '.join(map(n, p['better_than']))} in at least one" if p["better_than"] else "")
                 + (f"; worse than {', '.join(map(n, p['worse_than']))} in at least one" if p["worse_than"] else "")
                 + ".")
    return text


def verdicts(positions: pd.DataFrame, ranks: pd.DataFrame, name: str, paired: pd.DataFrame | None = None,
             style: TextStyle = PLAIN) -> pd.DataFrame:
    """A plain-language verdict per scenario.

    Parameters
    ----------
    positions : DataFrame
        From :func:`~taskfp_lib.benchmark.paired.scenario_positions` (the place of the measure and
        its 95 % bootstrap interval).
    ranks : DataFrame
        From :func:`taskfp_lib.evaluation.ranking.bootstrap_rankings` (the per-meta-metric panels).
    paired : DataFrame, optional
        From :func:`~taskfp_lib.benchmark.paired.paired_comparison` (the measure against every other
        selector).
    style : TextStyle
        :data:`PLAIN` (the CSV) or :data:`HTML` (the report, names escaped).

    Returns
    -------
    DataFrame
        scenario, position, n_selectors, position_low, position_high, mean_rank, best_other,
        [paired_better, paired_worse, paired_total], verdict.
    """
    rows = []
    for scen in [s for s in PAPER_SCENARIOS if s in set(positions["scenario"])]:
        f = _facts(positions, ranks, name, paired, scen)
        row = {k: f[k] for k in ("scenario", "position", "n_selectors", "position_low", "position_high",
                                 "mean_rank", "best_other")}
        if f["paired"]:
            row.update({k: f["paired"][k] for k in ("paired_better", "paired_worse", "paired_total")})
        row["verdict"] = verdict_text(f, name, style)
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["HTML", "PLAIN", "TextStyle", "ordinal", "place", "verdict_text", "verdicts"]
