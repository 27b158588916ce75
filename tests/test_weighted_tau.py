"""The batched weighted tau equals scipy.stats.weightedtau bit for bit (ties, NaN pairs, constant input)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from taskfp_lib.evaluation.weighted_tau import weightedtau_columns


def _scipy(x, y):
    keep = ~(np.isnan(x) | np.isnan(y))
    return stats.weightedtau(x[keep], y[keep]).statistic if keep.sum() >= 2 else np.nan


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 40), b=st.integers(1, 6), decimals=st.sampled_from([None, 0, 1]),
       nan_fraction=st.sampled_from([0.0, 0.2]), seed=st.integers(0, 2**16))
def test_bit_identical_to_scipy(n, b, decimals, nan_fraction, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, b)), rng.normal(size=(n, b))
    if decimals is not None:  # many ties in both, including joint ties
        x, y = np.round(x, decimals), np.round(y, decimals)
    x[rng.random((n, b)) < nan_fraction] = np.nan
    got = weightedtau_columns(x, y)
    want = np.array([_scipy(x[:, c], y[:, c]) for c in range(b)])
    np.testing.assert_array_equal(got, want)


def test_closed_forms_and_degenerate_columns():
    x = np.arange(10.0)[:, None].repeat(4, axis=1)
    y = np.column_stack([x[:, 0], -x[:, 0], np.ones(10), np.full(10, np.nan)])
    tau = weightedtau_columns(x, y)
    assert tau[0] == 1.0 and tau[1] == pytest.approx(-1.0, abs=1e-15)  # identical and reversed rankings
    assert tau[1] == stats.weightedtau(x[:, 1], y[:, 1]).statistic  # scipy's -0.9999999999999998, bit for bit
    assert np.isnan(tau[2]) and np.isnan(tau[3])  # constant input; no pairs


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="same shape"):
        weightedtau_columns(np.zeros((3, 2)), np.zeros((3, 3)))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(100, 400), levels=st.sampled_from([None, 3, 40]), seed=st.integers(0, 2**16))
def test_bit_identical_to_scipy_on_long_columns(n, levels, seed):
    """Deep merge trees (up to 9 levels) and long tie runs: every exchange is added in scipy's order."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    if levels is not None:
        y = np.floor(rng.random((n, 3)) * levels)
    got = weightedtau_columns(x, y)
    np.testing.assert_array_equal(got, [_scipy(x[:, c], y[:, c]) for c in range(3)])


def test_every_paper_column_equals_scipy(paper_evaluations, outcomes):
    """The paper's weightedtau rows (first repetition, both metrics, all scenarios and selectors) against
    one scipy call per (selector, target), on the same valid sources and shrunk affinity columns."""
    from taskfp_lib.evaluation import load_affinities
    from taskfp_lib.paper.recipes import SELECTOR_SETS
    from taskfp_lib.tasks import shrunk_name, valid_sources

    affinities = load_affinities(SELECTOR_SETS["paper"])
    rows = paper_evaluations[(paper_evaluations["meta_metric"] == "weightedtau")
                             & (paper_evaluations["aggregate"] == "first")]
    assert len(rows) == 2 * 4 * 8 * 43
    for (scenario, metric), block in rows.groupby(["scenario", "metric"]):
        matrix = outcomes.matrix(scenario, metric, "first")
        for selector, target, score in zip(block["selector"], block["target"], block["score"]):
            valid = valid_sources(target)
            want = stats.weightedtau(affinities[selector].loc[valid, shrunk_name(target)].to_numpy(),
                                     matrix.loc[valid, target].to_numpy()).statistic
            assert score == want, (scenario, metric, selector, target)
