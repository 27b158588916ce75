from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from taskfp_lib.evaluation import ranking as R


def _table(scores: dict, n_targets=6, seed=0):
    """Evaluation rows: one scenario, 2 metrics x 3 aggregates x n_targets x 2 metas, score = f(selector)."""
    rng = np.random.default_rng(seed)
    rows = []
    for metric in ["AUROC", "BA"]:
        for agg in ["first", "second", "third"]:
            for t in range(n_targets):
                for meta in ["regret_score", "percentile"]:
                    for sel, fn in scores.items():
                        rows.append({"scenario": "Model Architecture", "selector": sel, "metric": metric,
                                     "aggregate": agg, "target": f"t{t}", "meta_metric": meta,
                                     "score": fn(rng)})
    return pd.DataFrame(rows)


def test_win_rates_with_ties():
    ev = _table({"A": lambda r: 1.0, "B": lambda r: 1.0, "C": lambda r: 0.0})
    w = R.win_rates(ev)
    assert w.loc["A", "Model Architecture"] == 1.0 and w.loc["B", "mean"] == 1.0 and w.loc["C", "mean"] == 0.0


def test_dominant_selector_always_ranks_first():
    ev = _table({"good": lambda r: 1 + r.random(), "mid": lambda r: 0.5 + 0.1 * r.random(), "bad": lambda r: r.random() * 0.1})
    sub = ev[ev.meta_metric == "regret_score"]
    res = R.bootstrap_ranking(sub, n_bootstrap=200, random_state=1).set_index("selector")
    assert res.loc["good", "mean_rank"] == 1 and res.loc["good", "std_rank"] == 0
    assert res.loc["bad", "mean_rank"] == 3 and res.loc["good", "rank_counts"] == {1.0: 200}
    rtm = R.rank_then_mean(ev, metas=["regret_score"], n_bootstrap=100, seed=3).set_index("selector")
    assert rtm.loc["good", "mean_rank"] == 1 and rtm.loc["mid", "mean_rank"] == 2


def test_bootstrap_is_seeded():
    ev = _table({s: (lambda r: r.random()) for s in "ABCD"}, seed=5)
    sub = ev[ev.meta_metric == "percentile"]
    a = R.bootstrap_ranking(sub, 300, 7)
    b = R.bootstrap_ranking(sub, 300, 7)
    c = R.bootstrap_ranking(sub, 300, 8)
    pd.testing.assert_frame_equal(a, b)
    assert not a["mean_rank"].equals(c["mean_rank"])
    assert a["mean_rank"].sum() == pytest.approx(1 + 2 + 3 + 4)  # ranks of 4 selectors


def test_bootstrap_expected_rank_of_exchangeable_selectors():
    ev = _table({s: (lambda r: r.random()) for s in "ABC"}, n_targets=40, seed=11)
    res = R.bootstrap_ranking(ev[ev.meta_metric == "regret_score"], 500, 0)
    assert res["mean_rank"].between(1, 3).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 6), st.integers(2, 9), st.integers(0, 10**6))
def test_kendall_pairs_equal_scipy_bitwise(n_vec, n, seed):
    v = np.random.default_rng(seed).integers(0, 3, (n_vec, n)).astype(float)
    ref = np.array([stats.kendalltau(a, b).statistic for a, b in combinations(v, 2)])
    np.testing.assert_array_equal(R._kendall_tau_b_pairs(v), ref)


def test_stability_of_identical_and_reversed_rankings():
    base = {"A": 3.0, "B": 2.0, "C": 1.0}
    ev = _table({s: (lambda r, v=v: v) for s, v in base.items()})
    assert R.setup_stability_score(ev, "target") == 1.0
    flip = ev.copy()
    rev = flip["meta_metric"] == "percentile"
    flip.loc[rev, "score"] = -flip.loc[rev, "score"]
    assert R.setup_stability_score(flip, "meta_metric") == -1.0
    assert R.setup_stability_score(flip, "target") == 1.0
    with pytest.raises(ValueError, match="varying"):
        R.setup_stability_score(ev, "selector")


def test_nan_scores_are_rejected():
    ev = _table({"A": lambda r: np.nan, "B": lambda r: 1.0})
    with pytest.raises(ValueError, match="NaN score"):
        R.bootstrap_ranking(ev, 10, 0)
