"""The recomputed artefacts equal the numbers the paper prints (published_values.md), at its precision."""
import numpy as np
import pandas as pd
import pytest

from taskfp_lib.paper import printed as P
from taskfp_lib.paper import recipes as A
from taskfp_lib.upstream.readers import load_distance
from taskfp_lib.distances.semantic import semantic_distance_matrix
from taskfp_lib.tasks import ALL_TASKS, ALL_TASKS_INCLUDING_SHRUNK


def test_semantic_distance_is_bit_identical_to_the_published_file(task_infos):
    ours = semantic_distance_matrix(task_infos, ALL_TASKS, ALL_TASKS_INCLUDING_SHRUNK)
    ref = load_distance("SEMANTIC")
    assert list(ref.index) == ALL_TASKS and list(ref.columns) == ALL_TASKS_INCLUDING_SHRUNK
    np.testing.assert_array_equal(ours.to_numpy(), ref.to_numpy())


def test_fig4_fractions_and_relative_increase(outcomes):
    shots = A.fig4_shots_table(outcomes)
    a = shots[shots.panel == "a"].set_index(["scenario", "shots"])["mean"]
    for scen in P.SCEN:
        assert round(a[(scen, 1)] * 100) == P.FIRST_SHOT[scen]
        assert round(a[(scen, 5)] * 100) == P.FIVE_SHOT[scen]
    rel = A.relative_increase(shots).set_index("scenario")["relative_percent"]
    for scen in P.SCEN:
        assert round(rel[scen]) == P.RELATIVE_INCREASE[scen]
    # error bars: pandas std over the 3 repetitions, all finite
    assert shots["std"].notna().all()


def test_stability_scores(paper_evaluations):
    st = A.stability_table(paper_evaluations, "paper").set_index("component")["score"]
    for comp, value in P.STABILITY.items():
        assert round(st[comp], 2) == value, comp


def test_win_rates_table4(paper_evaluations):
    w = A.table4_win_rates(paper_evaluations, "paper").set_index(["selector", "scenario"])["win_rate_percent"]
    one_case = 100 / 1032
    for sel, values in P.TABLE4.items():
        for scen, v in zip(P.SCEN, values):
            if (sel, scen) in P.TABLE4_KNOWN_ONE_CASE:
                assert abs(w[(sel, scen)] - v) <= one_case + 0.005, (sel, scen)
            else:
                assert round(w[(sel, scen)], 2) == v, (sel, scen)
    # every scenario has exactly 1032 setups: the rates of one selector are multiples of 1/1032
    counts = w.xs("Model Architecture", level="scenario") * 1032 / 100
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)


def test_table3_scenario_similarity(outcomes):
    t = A.table3_scenario_similarity(outcomes)["table3_scenario_similarity"].set_index(["scenario_a", "scenario_b"])
    for (sa, sb), (m, s) in P.TABLE3.items():
        for a, b in [(sa, sb), (sb, sa)]:  # symmetric
            assert round(t.loc[(a, b), "mean"], 3) == m and round(t.loc[(a, b), "std"], 3) == s
    for scen in P.SCEN:
        assert t.loc[(scen, scen), "mean"] == pytest.approx(1.0) and t.loc[(scen, scen), "std"] == pytest.approx(0.0)


def test_task_statistics_within_one_printed_unit(task_infos):
    stats = A.task_statistics(task_infos).set_index("property")
    for prop, (mn, q1, q3, mx, dec) in P.TASK_STATS.items():
        for name, v in zip(["min", "q1", "q3", "max"], [mn, q1, q3, mx]):
            assert abs(round(stats.loc[prop, name], dec) - v) <= 10 ** -dec + 1e-9, (prop, name)


@pytest.mark.parametrize("seed", [42, 0])
def test_fig5_qualitative_claims(paper_evaluations, seed):
    ranks, summary = A.fig5_rankings(paper_evaluations, "paper", seed=seed)
    top3 = set(summary.sort_values("mean_rank")["selector"].head(3))
    assert top3 == {"bKLD(small,target)", "bKLD(large,unweighted)", "bKLD(large,source)"}
    best = ranks.loc[ranks.groupby(["scenario", "meta_metric"])["mean_rank"].idxmin()]
    for scen, g in best.groupby("scenario"):
        counts = g["selector"].value_counts()
        assert counts.index[0].startswith("bKLD") and counts.iloc[0] >= 3, scen
    arch = ranks[ranks.scenario == "Model Architecture"].groupby("selector")["mean_rank"].mean()
    assert arch.idxmin() == "bKLD(large,source)"  # Discussion: source weighting helps in Arch


def test_rank_then_mean_is_deterministic(paper_evaluations):
    a = A.supfig1_rank_then_mean(paper_evaluations, "paper")
    b = A.supfig1_rank_then_mean(paper_evaluations, "paper")
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 4 * 4 * 8
    sums = a.groupby(["meta_metric", "scenario"])["mean_rank"].sum()
    np.testing.assert_allclose(sums, 36.0)  # ranks 1..8 of 8 selectors


def test_fig6_claims(outcomes):
    f6 = A.fig6_sample_size_table("paper", ["bKLD(small,target)"], outcomes, progress=False)
    pct = f6[(f6.meta_metric == "percentile") & (f6.metric == "BA")]
    pre = pct[pct.scenario == "Pretraining Data"]
    assert (pre["mean"].round(2) == 0.88).all()
    full = pct[pct.samples == 10000].set_index("scenario")["mean"]
    assert full.idxmin() == "Model Architecture"
    assert pct[pct.samples < 10000]["std"].notna().all() and pct[pct.samples == 10000]["std"].isna().all()


def test_table2_datasets_cover_the_71_tasks_once():
    t = A.table2_datasets_table()
    assert list(t["paper_id"]) == [f"T{i:02d}" for i in range(1, 72)]
    assert t["dataset"].nunique() == 34 == len(P.TABLE2_DATASETS)
    from taskfp_lib.tasks import PAPER_IDS
    assert all(PAPER_IDS[task] == pid for task, pid in zip(t["task"], t["paper_id"]))
    by_id = t.set_index("paper_id")
    assert by_id.loc["T38", "task"] == "chexpert_enlarged_cardiomediastinum" and by_id.loc["T38", "dataset"] == "CheXpert"
    assert by_id.loc["T62", "references"] == "81, 82" and by_id.loc["T53", "phase"] == "validation"
    assert (t["phase"] == "development").sum() == 28
