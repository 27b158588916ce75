"""Repository-revision analyses: MSD outcome construction, full-size targets, probes."""
import numpy as np
import pytest

from taskfp_lib.evaluation import ranking
from taskfp_lib.paper import msd, revision as RV


def test_msd_outcomes_from_team_correlations(published):
    results = msd.load_results()
    assert results.shape[1] == 34 and set(msd.DROPPED_TEAMS) <= set(results.index)
    corr = msd.team_correlations(results)
    assert corr.shape == (34, 34)
    np.testing.assert_allclose(np.diag(corr), 1.0)
    np.testing.assert_allclose(corr.to_numpy(), corr.to_numpy().T)
    assert len(msd.targets()) == 34 and sum(msd.REGIONS.values()) == 17
    out = msd.MSDOutcomes(corr)
    m = out.matrix(msd.SCENARIO, "Dice", "first")
    # BRATS region 1 as target, Liver as source: the mean over Liver's two Dice regions
    expected = np.mean([corr.loc[("Dataset003_Liver", "Dice", f"L{k}"), ("Dataset001_BrainTumour", "Dice", "L1")]
                        for k in (1, 2)])
    assert m.loc["Dataset003_Liver", "Dataset001_BrainTumour|Dice|L1"] == pytest.approx(expected)
    base = out.baseline(msd.SCENARIO, "NSD", "first", ["Dataset002_Heart|NSD|L1"])
    assert base.iloc[0] == pytest.approx(corr[("Dataset002_Heart", "NSD", "L1")].mean())


def test_msd_evaluations_have_34_cases_per_selector(published):
    ev = msd.evaluations()
    sizes = ev.groupby(["selector", "meta_metric"]).size()
    assert (sizes == 34).all() and ev["score"].notna().all()


def test_full_size_win_rates_cover_every_setup(published):
    ev = RV.full_size_evaluations()
    assert set(ev["scenario"]) == {"Model Architecture", "Co-Training Data"}
    rates = ranking.win_rates(ev)
    assert (rates[["Model Architecture", "Co-Training Data"]].sum() >= 1.0).all()  # ties may exceed 100 %
    n_setups = ev.groupby(["scenario", "metric", "aggregate", "target", "meta_metric"]).ngroups
    assert n_setups == 2 * 43 * 3 * 2 * 5


def test_task_map_is_seeded_and_complete(published):
    a = RV.task_map("VDNA", seed=3)
    b = RV.task_map("VDNA", seed=3)
    assert len(a) == 71 and a["task"].is_unique and np.isfinite(a[["x", "y"]].to_numpy()).all()
    np.testing.assert_array_equal(a[["x", "y"]].to_numpy(), b[["x", "y"]].to_numpy())
    heat = RV.affinity_heatmap("VDNA")
    assert heat.shape == (71, 127)
    np.testing.assert_allclose(heat.mean(axis=0), 0, atol=1e-12)  # z-scored per target column
