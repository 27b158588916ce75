import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from taskfp_lib.evaluation import meta_metrics as M
from taskfp_lib.vocabulary import paper_regret
from taskfp_lib.evaluation.affinity import affinity_from_distance
from taskfp_lib.evaluation.selection import SelectionTieError, top_k_indices, top_k_sources

O = pd.Series({"a": 0.60, "b": 0.90, "c": 0.70, "d": 0.80})


def test_percentile_closed_form():
    # ranks: a=1, c=2, d=3, b=4 of 4
    assert M.percentile_score(O, ["b", "d"]) == pytest.approx((4 + 3) / 2 / 4)
    assert M.percentile_score(O, ["a", "d"], mode="best") == pytest.approx(3 / 4)
    ties = pd.Series({"a": 0.5, "b": 0.5, "c": 0.9})
    assert M.percentile_score(ties, ["a"]) == pytest.approx(1.5 / 3)


def test_regret_closed_form():
    # paper regret (max O - p) / (1 - p); stored score = 1 - regret
    p = 0.7
    assert M.regret_score(O, ["c"]) == pytest.approx(1 - (0.9 - p) / (1 - p))
    assert M.regret_score(O, ["b"]) == 1.0
    assert paper_regret(M.regret_score(O, ["c"])) == pytest.approx((0.9 - p) / (1 - p))
    perfect = pd.Series({"a": 1.0, "b": 0.5})
    assert M.regret_score(perfect, ["a"]) == 0.0  # both gaps zero: the authors define the value as 0
    avg = M.regret_score(O, ["c", "a"])
    assert avg == pytest.approx(np.mean([1 - 0.2 / 0.3, 1 - 0.3 / 0.4]))
    assert M.regret_score(O, ["c", "a"], mode="best") == pytest.approx(1 - 0.2 / 0.3)


def test_improvement_and_gain():
    assert M.improvement_score(O, ["b", "a"], baseline=0.75) == pytest.approx(((0.9 - 0.75) + (0.6 - 0.75)) / 2)
    assert M.improvement_score(O, ["b", "a"], baseline=0.75, mode="best") == pytest.approx(0.15)
    assert M.gain_score(O, ["b", "a", "d"], baseline=0.75) == pytest.approx(2 / 3)
    assert M.gain_score(O, ["a"], baseline=0.6) == 0.0  # strictly better only
    with pytest.raises(ValueError, match="without an outcome"):
        M.gain_score(O, ["zz"], baseline=0.5)


def test_top_k_scores_match_per_target_functions():
    rng = np.random.default_rng(0)
    o = rng.uniform(0.5, 1.0, (12, 5))
    o[rng.random(o.shape) < 0.2] = np.nan
    aff = rng.normal(size=o.shape)
    aff[np.isnan(o)] = np.nan
    base = rng.uniform(0.5, 1.0, 5)
    idx = top_k_indices(aff, 3)
    for mode in M.MODES:
        vec = M.top_k_scores(o, idx, base, mode)
        for j in range(5):
            col = pd.Series(o[:, j], index=[f"s{i}" for i in range(12)]).dropna()
            sel = [f"s{i}" for i in idx[:, j]]
            assert vec["percentile"][j] == pytest.approx(M.percentile_score(col, sel, mode))
            assert vec["regret_score"][j] == pytest.approx(M.regret_score(col, sel, mode))
            assert vec["improvement"][j] == pytest.approx(M.improvement_score(col, sel, base[j], mode))
            assert vec["gain"][j] == pytest.approx(M.gain_score(col, sel, base[j], mode))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=3, max_size=30), st.integers(0, 10**6))
def test_weightedtau_equals_scipy_and_drops_nan(xs, seed):
    x = np.array(xs)
    y = np.random.default_rng(seed).permutation(x) + 0.1
    expected = stats.weightedtau(x, y).statistic
    got = M.weightedtau_score(np.append(x, np.nan), np.append(y, 1.0))
    assert (np.isnan(expected) and np.isnan(got)) or got == expected


def test_weightedtau_perfect_and_reversed():
    x = np.arange(10.0)
    assert M.weightedtau_score(x, x) == pytest.approx(1.0)
    assert M.weightedtau_score(x, -x) == pytest.approx(-1.0)
    assert np.isnan(M.weightedtau_score(x[:1], x[:1]))


def test_top_k_order_ties_and_nan():
    a = np.array([[0.1], [0.9], [np.nan], [0.5], [0.7]])
    assert top_k_indices(a, 2)[:, 0].tolist() == [1, 4]
    tied = np.array([[0.9], [0.5], [0.5], [0.1]])
    with pytest.raises(SelectionTieError, match="tie at the cut-off"):
        top_k_indices(tied, 2)
    assert top_k_indices(tied, 3)[:, 0].tolist() == [0, 1, 2]  # ties inside the selection: row order
    assert top_k_indices(np.array([[np.nan], [0.3]]), 3)[:, 0].tolist() == [1, -1, -1]
    s = pd.Series({"x": 1.0, "y": 3.0, "z": 2.0})
    assert top_k_sources(s, ["x", "y", "z"], 2) == ["y", "z"]
    with pytest.raises(ValueError, match="no affinity"):
        top_k_sources(s, ["w"], 1)


def test_affinity_transform():
    d = pd.DataFrame([[0.0, 2.0, 4.0], [1.0, 0.0, 3.0]], index=["a", "b"], columns=["a", "b", "c"])
    aff = affinity_from_distance(d)
    assert np.isnan(aff.loc["a", "a"]) and np.isnan(aff.loc["b", "b"])
    vals = aff.to_numpy()[~np.isnan(aff.to_numpy())]
    assert vals.mean() == pytest.approx(0) and vals.std() == pytest.approx(1)
    assert aff.loc["b", "a"] > aff.loc["a", "b"]  # closer = higher affinity
    col = affinity_from_distance(d, zscore_axis=0)
    assert col["c"].mean() == pytest.approx(0)
    # within a column both z-scorings order the sources identically
    assert (aff["c"].rank() == col["c"].rank()).all()
    with pytest.raises(ValueError):
        affinity_from_distance(d, zscore_axis=1)


@pytest.mark.parametrize("aggregate, mode, selectors", [
    ("second", "avg", None),                                            # Table 4, stability, Fig. 5, Supp. Fig. 1
    ("mean", "best", ("bKLD(small,target)", "bKLD(large,unweighted)")),  # Fig. 6 (the 10,000-sample stems)
])
def test_vectorised_evaluation_is_bit_identical_to_the_per_target_loop(published, outcomes, aggregate, mode, selectors):
    """The library's evaluation against an independent pandas loop over the published files (tests/oracles.py):
    every score of every scenario, metric, selector and target equal bit for bit."""
    from oracles import evaluation_loop_naive

    from taskfp_lib.evaluation import evaluate
    from taskfp_lib.evaluation.affinity import load_affinities
    from taskfp_lib.tasks import VAL_TASKS, shrunk_name, valid_sources
    from taskfp_lib.upstream.readers import distance_path, outcome_path
    from taskfp_lib.vocabulary import SELECTOR_SETS, get_selector

    names = selectors or SELECTOR_SETS["paper"]
    ours = evaluate(outcomes, load_affinities(names), aggregates=[aggregate], mode=mode)
    exp_dir = outcome_path("load_baseline_experiment%BA%True%True.csv").parent
    loop = evaluation_loop_naive(exp_dir, {n: distance_path(get_selector(n).stem) for n in names}, aggregate,
                                 VAL_TASKS, valid_sources, shrunk_name, mode=mode)
    key = ["scenario", "selector", "metric", "aggregate", "target", "meta_metric"]
    merged = ours.merge(loop, on=key, how="outer", suffixes=("", "_loop"), indicator=True)
    assert (merged["_merge"] == "both").all() and len(merged) == len(ours) == 4 * 2 * len(names) * 43 * 5
    differ = merged[merged["score"].to_numpy() != merged["score_loop"].to_numpy()]
    assert differ.empty, differ.head().to_string()
