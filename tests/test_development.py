"""The development comparison of the 798 distance variants (how the paper's bKLD settings were chosen)."""
import numpy as np
import pandas as pd
import pytest

from taskfp_lib.paper import development as D
from taskfp_lib.benchmark.development import development_position, development_targets

PAPER = ["KLD-PP:NS-W:TS-100-BINS", "KLD-PP:NS-1000-BINS", "KLD-PP:NS-W:SN-1000-BINS"]


def _means(values: dict) -> pd.DataFrame:
    """A synthetic means table: row -> one value per column, or a list of 20 values."""
    return pd.DataFrame({k: (v if isinstance(v, list) else [v] * len(D.COLUMNS)) for k, v in values.items()},
                        index=D.COLUMNS).T


# ------------------------------------------------------------------------------------------ pure steps
def test_relativise_and_options_closed_form():
    board = _means({"a": 0.0, "b": 1.0, "c": 0.5})
    relative, per, totals = D.score_rows(board, board)
    assert relative.loc["c"].eq(0.5).all() and relative.loc["b"].eq(1.0).all()
    # per scenario: sum of 5 relativised metas, 4 without gain, mean of tau and percentile
    assert per.loc["b", "sum_arch"] == 5 and per.loc["b", "sum_without_gain_pretrain"] == 4
    assert per.loc["c", "tau_rank_multi_task"] == 0.5
    assert totals.loc["b", "sum"] == 20 and totals.loc["c", "sum_without_gain"] == 8
    assert totals.loc["c", "tau_rank"] == 2
    assert totals["rank_based"].to_dict() == {"a": 3.0, "b": 1.0, "c": 2.0}


def test_placed_ranks_are_pandas_average_ranks_and_leave_the_board_unchanged():
    rng = np.random.default_rng(0)
    board = pd.DataFrame(rng.integers(0, 6, (30, len(D.COLUMNS))).astype(float), columns=D.COLUMNS)
    expected = board.rank(ascending=False, method="average").mean(axis=1)
    got = D.placed_ranks(board, board)
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())
    # a new row equal to row 7 takes exactly row 7's rank; a row above everything ranks first everywhere
    new = pd.DataFrame([board.loc[7].to_numpy(), np.full(len(D.COLUMNS), 99.0)], index=["twin", "top"],
                       columns=D.COLUMNS)
    placed = D.placed_ranks(new, board)
    assert placed["twin"] == got[7] and placed["top"] == 1.0
    pos = D.positions(pd.Series([board.iloc[:, 0].max(), -1.0]), board.iloc[:, 0])
    assert pos.tolist() == [1, 31]


def test_ensemble_affinity_is_a_globally_z_scored_weighted_sum():
    rng = np.random.default_rng(1)
    a = pd.DataFrame(rng.normal(size=(5, 4)), index=list("stuvw"), columns=list("ABCD"))
    b = pd.DataFrame(rng.normal(size=(5, 4)), index=list("stuvw"), columns=list("ABCD"))
    a.iloc[0, 0] = np.nan
    e = D.ensemble_affinity(a, b, 0.2)
    raw = 0.2 * a.to_numpy() + 0.8 * b.to_numpy()
    np.testing.assert_allclose(e.to_numpy(), (raw - np.nanmean(raw)) / np.nanstd(raw))
    assert np.isnan(e.iloc[0, 0]) and np.nanmean(e.to_numpy()) == pytest.approx(0, abs=1e-12)
    assert np.nanstd(e.to_numpy()) == pytest.approx(1)
    assert D.ensemble_label("X", "Y", 0.8) == "0.8*X + 0.2*Y"


# ------------------------------------------------------------------------------------------ cached arrays
def test_distance_arrays_are_cached_by_hash_and_rebuilt_when_corrupt(published, tmp_path, monkeypatch):
    from taskfp_lib.upstream.readers import load_distance
    from taskfp_lib.paper import distance_arrays as A

    monkeypatch.setattr(A, "data_dir", lambda: tmp_path)
    values = A.distance_values("FID")
    expected = load_distance("FID").reindex(index=A.distance_frame(values).index).to_numpy()
    np.testing.assert_array_equal(values, expected)
    cached = list((tmp_path / "derived" / "distance-arrays").glob("*.npy"))
    assert len(cached) == 1 and len(cached[0].stem) == 64
    cached[0].write_bytes(b"not an array")
    np.testing.assert_array_equal(A.distance_values("FID"), values)  # rebuilt from the CSV
    assert np.load(cached[0], allow_pickle=False).shape == A.SHAPE


def test_distance_csv_layout_is_checked(tmp_path):
    from taskfp_lib.paper.distance_arrays import distance_frame, parse_distance_csv

    df = distance_frame(np.ones((71, 127)))
    df = df.rename(columns={df.columns[5]: "not_a_task"})
    path = tmp_path / "bad.csv"
    df.to_csv(path)
    with pytest.raises(ValueError, match=r"bad.csv: column 5 is 'not_a_task', expected 'identify_nbi_infframes'"):
        parse_distance_csv(path)
    distance_frame(np.ones((71, 127))).iloc[:70].to_csv(path)
    with pytest.raises(ValueError, match=r"row 70 is '<none>'"):
        parse_distance_csv(path)


# ------------------------------------------------------------------------------------------ the comparison
@pytest.fixture(scope="module")
def comparison(published):
    return D.development_comparison(ensembles=False, progress=False)


@pytest.fixture(scope="module")
def dev_outcomes(published):
    from taskfp_lib.evaluation import load_outcomes

    return load_outcomes(validation=False)


def test_evaluation_of_a_selector_does_not_depend_on_its_companions(dev_outcomes):
    from taskfp_lib.evaluation import load_affinities

    affs = load_affinities(["FID", "Manual", "bKLD(small,target)"], zscore_axis=0)
    together = D.evaluate_development(affs, dev_outcomes)
    alone = D.evaluate_development({"Manual": affs["Manual"]}, dev_outcomes)
    pd.testing.assert_frame_equal(together[together["selector"] == "Manual"].reset_index(drop=True), alone,
                                  check_exact=True)


def test_variety_filter_keeps_634_variants(comparison):
    assert len(comparison.variants) == 798 and len(comparison.kept) == 634
    assert comparison.variety["KLD-PP:NS-W:TS-100-BINS"] == 15 / 43
    assert comparison.variety.min() == 1 / 43 and comparison.variety.max() == 24 / 43


def test_final_candidates_are_the_papers_three_settings(comparison):
    final = D.final_candidates(comparison)
    assert final["candidate"].tolist() == PAPER
    assert final["paper_label"].tolist() == ["bKLD(small,target)", "bKLD(large,unweighted)", "bKLD(large,source)"]
    assert final["equals"].tolist() == ["", "", "KLD-PP:NS-W:SW-1000-BINS"]
    assert final["position"].tolist() == [1, 2, 3]


def test_raw_source_weights_equal_normalised_ones(comparison, dev_outcomes):
    from taskfp_lib.paper.distance_arrays import distance_values

    sn, sw = "KLD-PP:NS-W:SN-1000-BINS", "KLD-PP:NS-W:SW-1000-BINS"
    d_sn, d_sw = distance_values(sn), distance_values(sw)
    assert not np.array_equal(d_sn, d_sw, equal_nan=True)  # the files differ in the last float32 digits ...
    np.testing.assert_allclose(d_sw, d_sn, rtol=1e-6)
    pd.testing.assert_series_equal(comparison.means.loc[sn], comparison.means.loc[sw], check_names=False,
                                   check_exact=True)  # ... and every score is the same
    assert comparison.positions.loc[sn].equals(comparison.positions.loc[sw])


def test_best_mmd_is_the_sinkhorn_divergence(comparison):
    assert D.best_variant(comparison, "MMD") == "MMD-geo-sinkhorn-0.01"
    assert comparison.files["MMD-geo-sinkhorn-0.01"] == "MMD-geo-sinkhorn-0.01"
    assert comparison.files["MMD-geo-sinkhorn-0.05"] == "MMD-geo-sinkhorn-0.05-10000-SAMPLES"


@pytest.mark.parametrize("variant, sum_, without_gain, tau_rank, rank_based", [
    ("KLD-PP:NS-W:TS-100-BINS", 14.610569208569327, 11.959589753242044, 2.8464172801966483, 179.225),
    ("KLD-PP:NS-1000-BINS", 14.347900395072726, 11.999118741943246, 2.8533427979070307, 187.575),
    ("KLD-PP:NS-W:SN-1000-BINS", 14.217633099332648, 10.841140027187402, 2.6510721485773643, 145.575),
    ("MMD-geo-sinkhorn-0.01", 11.045077456808489, 8.588316826134815, 2.231861028519062, 296.4),
    ("KLD-C-I-PP:NN-W:TS-100-BINS", 12.959449123331444, 10.368192553814007, 2.459934323410162, 143.625),
])
def test_pinned_leaderboard_values(comparison, variant, sum_, without_gain, tau_rank, rank_based):
    # full precision of this implementation; rel 1e-12 leaves room for a batched weighted tau only
    got = comparison.totals.loc[variant]
    assert got["sum"] == pytest.approx(sum_, rel=1e-12)
    assert got["sum_without_gain"] == pytest.approx(without_gain, rel=1e-12)
    assert got["tau_rank"] == pytest.approx(tau_rank, rel=1e-12)
    assert got["rank_based"] == rank_based


def test_leaderboards_and_table(comparison):
    board = comparison.leaderboard("rank_based")
    assert board["variant"].iloc[0] == "KLD-C-I-PP:NN-W:TS-100-BINS" and board["rank_based"].is_monotonic_increasing
    assert comparison.leaderboard("sum_without_gain")["variant"].iloc[0] == "KLD-PP:NS-1000-BINS"
    table = comparison.table()
    assert len(table) == 798 and table["kept"].sum() == 634
    assert {"variant", "family", "bins", "weighting", "preprocessing", "variety", "sum", "sum_without_gain",
            "tau_rank", "rank_based", "mean_arch_weightedtau", "rel_multi_task_gain"} <= set(table.columns)
    assert table.loc[~table["kept"], "position_sum"].isna().all()


def test_a_distance_equal_to_a_variant_lands_at_its_position(comparison, dev_outcomes):
    from taskfp_lib.paper.distance_arrays import distance_frame, distance_values

    for variant in ["KLD-PP:NS-W:TS-100-BINS", "JS-PP:NN-W:BS"]:
        place = development_position(distance_frame(distance_values(variant)), "mine", comparison=comparison,
                                     outcomes=dev_outcomes)
        assert place.kept and place.variety == comparison.variety[variant]
        s = place.summary.set_index("option")
        for option in D.OPTIONS:
            assert s.loc[option, "position"] == comparison.positions.loc[variant, option]
            assert s.loc[option, "value"] == comparison.totals.loc[variant, option]
        np.testing.assert_array_equal(place.relative.loc["mine"], comparison.relative.loc[variant])
    assert "sum **1** of 634" in development_position(
        distance_frame(distance_values(PAPER[0])), "mine", comparison=comparison, outcomes=dev_outcomes).text()


def test_position_validation_messages(comparison, dev_outcomes):
    from taskfp_lib.benchmark import DistanceValidationError
    from taskfp_lib.paper.distance_arrays import distance_frame, distance_values
    from taskfp_lib.tasks import shrunk_name, valid_sources

    dist = distance_frame(distance_values(PAPER[0]))
    with pytest.raises(DistanceValidationError, match=r"missing target column\(s\) 'svhn --shrink_train 800'.*"
                                                      r"of the 66 evaluated targets"):
        development_position(dist.drop(columns="svhn --shrink_train 800"), comparison=comparison,
                             allow_partial=True)
    assert len(development_targets()) == 66
    # a tie for the closest source of a validation target (not at the top-3 cut-off)
    tied = dist.copy()
    target = "mura_xr_wrist"
    col = tied.loc[valid_sources(target), shrunk_name(target)].sort_values()
    tied.loc[col.index[1], shrunk_name(target)] = col.iloc[0]
    with pytest.raises(DistanceValidationError, match=r"tie for the closest valid source.*mura_xr_wrist"):
        development_position(tied, "tied", comparison=comparison, outcomes=dev_outcomes)


def test_pair_ensembles_of_a_variant_with_itself_keep_its_scores(comparison, dev_outcomes):
    from taskfp_lib.paper.distance_arrays import distance_frame, distance_values

    names = ["KLD-PP:NS-1000-BINS", "FID"]
    affs = D.development_affinities({n: distance_frame(distance_values(n)) for n in names})
    affs["twin"] = affs[names[0]]
    table = D.evaluate_ensembles(affs, [names[0], "twin", "FID"], dev_outcomes, comparison.board, weights=(0.3,))
    assert table["ensemble"].tolist() == ["0.3*KLD-PP:NS-1000-BINS + 0.7*twin", "0.3*KLD-PP:NS-1000-BINS + 0.7*FID",
                                          "0.3*twin + 0.7*FID"]
    same = table.iloc[0]
    assert same["sum"] == pytest.approx(comparison.totals.loc[names[0], "sum"], rel=1e-12)
    assert same["position_sum"] == comparison.positions.loc[names[0], "sum"]
