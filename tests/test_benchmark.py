"""Tests of taskfp_lib.benchmark: input validation, chance levels, the random sanity floor, the CSV path,
paired comparisons, callables and the CLI."""
from __future__ import annotations

import itertools
import os
from math import comb

import numpy as np
import pandas as pd
import pytest

from taskfp_lib import benchmark as bm
from taskfp_lib.tasks import ALL_TASKS, ALL_TASKS_INCLUDING_SHRUNK, NEW_STYLE_SHRINK_SUFFIX, SHRINK_SUFFIX, \
    VAL_TASKS, shrunk_name, valid_sources

BKLD = "bKLD(small,target)"
BKLD_STEM = "KLD-PP:NS-W:TS-100-BINS"


@pytest.fixture()
def dist():
    return bm.random_distance(0)


def _evaluated_example():
    """One evaluated pair (valid source, target column) and one pair that is never evaluated."""
    t = VAL_TASKS[2]
    return valid_sources(t)[0], shrunk_name(t)


# ------------------------------------------------------------------------------------------ validation
def test_valid_random_distance_passes_in_published_order(dist):
    shuffled = dist.sample(frac=1.0, random_state=1).sample(frac=1.0, axis=1, random_state=2)
    out = bm.validate_distance(shuffled)
    assert list(out.index) == ALL_TASKS and list(out.columns) == ALL_TASKS_INCLUDING_SHRUNK
    pd.testing.assert_frame_equal(out, dist)


def test_transposed_matrix_is_reported_and_flag_fixes_it(dist):
    with pytest.raises(bm.DistanceValidationError, match=r"wrong orientation.*--transpose"):
        bm.validate_distance(dist.T)
    pd.testing.assert_frame_equal(bm.validate_distance(dist.T, transpose=True), dist)


def test_missing_and_unknown_rows_are_named(dist):
    with pytest.raises(bm.DistanceValidationError, match=r"missing source row\(s\) 'svhn'"):
        bm.validate_distance(dist.drop(index="svhn"))
    typo = dist.rename(index={"svhn": "svhm"})
    with pytest.raises(bm.DistanceValidationError, match=r"unknown row name\(s\) 'svhm' \(did you mean 'svhn'\?\)"):
        bm.validate_distance(typo)


def test_unknown_and_missing_columns(dist):
    with pytest.raises(bm.DistanceValidationError, match=r"unknown target column.*'my_task'"):
        bm.validate_distance(dist.assign(my_task=1.5))
    unread = "svhn"  # a development task: its column is never read
    with pytest.raises(bm.DistanceValidationError, match=r"missing target column\(s\) 'svhn'.*--allow-partial"):
        bm.validate_distance(dist.drop(columns=unread))
    out = bm.validate_distance(dist.drop(columns=unread), allow_partial=True)
    assert out[unread].isna().all() and out.shape == (71, 127)
    needed = shrunk_name(VAL_TASKS[0])
    with pytest.raises(bm.DistanceValidationError, match="missing target column"):
        bm.validate_distance(dist.drop(columns=needed), allow_partial=True)


def test_duplicate_names(dist):
    dup = pd.concat([dist, dist.iloc[[0]]])
    with pytest.raises(bm.DistanceValidationError, match="duplicate row name"):
        bm.validate_distance(dup)


def test_new_style_shrink_tags_are_accepted(dist):
    renamed = dist.rename(columns=lambda c: c.replace(SHRINK_SUFFIX, NEW_STYLE_SHRINK_SUFFIX))
    pd.testing.assert_frame_equal(bm.validate_distance(renamed), dist)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_evaluated_pair_is_named(dist, bad):
    s, col = _evaluated_example()
    broken = dist.copy()
    broken.loc[s, col] = bad
    with pytest.raises(bm.DistanceValidationError, match=rf"1 evaluated .*NaN or infinite.*{s}"):
        bm.validate_distance(broken)


def test_nan_allowed_where_nothing_is_evaluated(dist):
    ok = dist.copy()
    for t in ALL_TASKS:
        ok.loc[t, t] = np.nan
    ok.loc[:, "svhn"] = np.nan  # development target column
    t = VAL_TASKS[2]
    ok.loc[t, t] = np.nan
    ok.loc[t, shrunk_name(t)] = np.nan  # a task is never its own source
    bm.validate_distance(ok)


def test_constant_column(dist):
    col = shrunk_name(VAL_TASKS[5])
    const = dist.copy()
    const[col] = 0.7
    with pytest.raises(bm.DistanceValidationError, match=r"constant .* cannot rank"):
        bm.validate_distance(const)


def test_exact_zero_at_evaluated_pair(dist):
    s, col = _evaluated_example()
    z = dist.copy()
    z.loc[s, col] = 0.0
    with pytest.raises(bm.DistanceValidationError, match=r"exactly 0.*positive constant"):
        bm.validate_distance(z)


def test_tie_at_cut_off(dist):
    t = VAL_TASKS[3]
    col = shrunk_name(t)
    tie = dist.copy()
    best = tie.loc[valid_sources(t), col].nsmallest(3)
    tie.loc[tie.loc[valid_sources(t), col].nsmallest(4).index[-1], col] = best.iloc[-1]
    with pytest.raises(bm.DistanceValidationError, match=r"tie at the top-3 cut-off"):
        bm.validate_distance(tie)


def test_non_numeric(dist):
    bad = dist.astype(object)
    bad.iloc[3, 5] = "far"
    with pytest.raises(bm.DistanceValidationError, match="non-numeric"):
        bm.validate_distance(bad)


def test_similarity_is_detected_and_flags_convert(dist):
    sim = 3.0 - dist  # self entries (3.0) are the column maxima
    with pytest.raises(bm.DistanceValidationError, match=r"similarity.*--similarity.*--distance"):
        bm.validate_distance(sim)
    converted = bm.validate_distance(sim, similarity=True)
    assert np.isfinite(converted.to_numpy()).all() and (converted.to_numpy() > 0).all()
    # the conversion is a negation up to a constant: the affinities (global z-score) of -S, the order of the distance
    from taskfp_lib.evaluation.affinity import affinity_from_distance

    a = affinity_from_distance(converted)
    pd.testing.assert_frame_equal(a, affinity_from_distance(-sim), atol=1e-12, check_exact=False)
    pd.testing.assert_frame_equal(converted.rank(), dist.rank())
    bm.validate_distance(sim, similarity=False)  # explicitly a distance: no check


def test_published_distances_pass(published):
    from taskfp_lib.upstream.readers import load_distance
    from taskfp_lib.vocabulary import SELECTORS

    for stem in (s.stem for s in SELECTORS.values()):
        bm.validate_distance(load_distance(stem), source=stem)


def test_read_distance_csv(tmp_path, dist):
    path = tmp_path / "d.csv"
    dist.rename(columns=lambda c: c.replace(SHRINK_SUFFIX, NEW_STYLE_SHRINK_SUFFIX)).to_csv(path)
    pd.testing.assert_frame_equal(bm.read_distance(path), dist)
    path.write_text("not,a\ncsv")
    with pytest.raises(bm.DistanceValidationError):
        bm.read_distance(path)


# ------------------------------------------------------------------------------------------ chance levels
def test_expected_best_of_k_brute_force():
    rng = np.random.default_rng(3)
    for n in (3, 4, 7, 11):
        v = rng.integers(0, 5, n).astype(float)  # with ties
        brute = np.mean([max(v[list(c)]) for c in itertools.combinations(range(n), 3)])
        assert bm.expected_best_of_k(v, 3) == pytest.approx(brute, rel=1e-12)
    n = 40  # percentile ranks 1/n..1 without ties: 3(n+1)/(4n)
    assert bm.expected_best_of_k(np.arange(1, n + 1) / n, 3) == pytest.approx(0.75 * (n + 1) / n)


def _per_target_variance(pct: np.ndarray) -> float:
    """Exact variance of the mean over setups of the best-of-3 percentile for one target.

    ``pct``: (n_valid, n_setups) percentile of every valid source in every setup; the random
    selection (one uniform 3-subset) is shared by all setups of the target.
    """
    n = pct.shape[0]
    idx = np.array(list(itertools.combinations(range(n), 3)))
    values = pct[idx].max(axis=1).mean(axis=1)  # (C(n,3),)
    assert values.size == comb(n, 3)
    return float(values.var())


def test_random_distance_lands_at_chance(outcomes):
    """The best-of-3 percentile of random distances matches the exact expectation (about 0.75).

    For a target, the three suggestions are one uniform 3-subset of its valid sources, the same in
    all 24 setups (4 scenarios x 2 metrics x 3 repetitions, all on the shrunk column). The exact
    variance of the overall mean follows from enumerating all subsets per target; seeds are
    independent, and the tolerance is 4 standard deviations of the mean over the seeds.
    """
    from taskfp_lib.evaluation.affinity import affinity_from_distance
    from taskfp_lib.evaluation import evaluate

    seeds = range(5)
    affs = {f"random{s}": affinity_from_distance(bm.random_distance(s)) for s in seeds}
    ev = evaluate(outcomes, affs, mode="best", top_metrics=["percentile"], corr_metrics=[])
    observed = ev.groupby("selector")["score"].mean()
    assert len(ev) == 5 * 43 * 24

    expected_rows = bm.chance_scores(outcomes, mode="best", metas=("percentile",))
    expected = expected_rows["score"].mean()
    assert 0.75 < expected < 0.77  # 0.75 (n+1)/n for n ~ 28-70 valid sources, plus ties

    # exact per-source percentiles -> exact variance of the overall mean of one seed
    from taskfp_lib.evaluation.meta_metrics import percentile_ranks
    from taskfp_lib.evaluation import valid_mask
    from taskfp_lib.vocabulary import PAPER_SCENARIOS as SCENARIOS, TRIPLED

    mask = valid_mask(ALL_TASKS, VAL_TASKS)
    per_setup = []
    for agg in TRIPLED:
        for metric in ("AUROC", "BA"):
            for scen in SCENARIOS:
                o = outcomes.matrix(scen, metric, agg).reindex(index=ALL_TASKS, columns=VAL_TASKS).to_numpy()
                per_setup.append(percentile_ranks(np.where(mask, o, np.nan)))
    stack = np.stack(per_setup, axis=-1)  # (71, 43, 24)
    var_t = [_per_target_variance(stack[mask[:, j], j, :]) for j in range(len(VAL_TASKS))]
    sd_one_seed = np.sqrt(np.sum(var_t)) / len(VAL_TASKS)
    sd_mean = sd_one_seed / np.sqrt(len(seeds))
    assert 0.003 < sd_one_seed < 0.05  # 0.0083 on the published outcomes
    assert abs(observed.mean() - expected) < 4 * sd_mean, (observed.to_dict(), expected, sd_mean)
    # and every single seed within 4 sd of one seed
    assert (abs(observed - expected) < 4 * sd_one_seed).all()


def test_chance_avg_is_the_mean_over_valid_sources(outcomes):
    c = bm.chance_scores(outcomes, aggregates=["first"], metrics=["BA"], metas=("improvement", "percentile"))
    scen = "Pretraining Data"
    t = VAL_TASKS[0]
    o = outcomes.matrix(scen, "BA", "first").loc[valid_sources(t), t]
    base = outcomes.baseline(scen, "BA", "first", [t]).iloc[0]
    got = c.set_index(["scenario", "target", "meta_metric"])["score"]
    assert got[(scen, t, "improvement")] == pytest.approx((o - base).mean())
    assert got[(scen, t, "percentile")] == pytest.approx((o.rank() / o.size).mean())


# ------------------------------------------------------------------------------------------ CSV path
def test_published_distance_via_csv_reproduces_library_evaluation(tmp_path, outcomes, paper_evaluations):
    from taskfp_lib.upstream.readers import load_distance

    path = tmp_path / "bkld.csv"
    load_distance(BKLD_STEM).to_csv(path)
    mine = bm.evaluate_measure(bm.read_distance(path), BKLD, outcomes).reset_index(drop=True)
    lib = paper_evaluations[paper_evaluations["selector"] == BKLD].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, lib, check_exact=True)


def test_registered_distance_via_callable_path_reproduces_manual(published):
    """The registry path: the Manual distance computed by the library equals the published SEMANTIC file."""
    from taskfp_lib.upstream.readers import load_distance

    d = bm.distance_from_callable("Manual", {t: t for t in ALL_TASKS_INCLUDING_SHRUNK})
    pd.testing.assert_frame_equal(bm.validate_distance(d), bm.validate_distance(load_distance("SEMANTIC")),
                                  check_exact=True)


def test_python_callable_on_small_representations():
    """A plain callable on per-task vectors (synthetic here: the paper's fingerprints are not published)."""
    rng = np.random.default_rng(0)
    reps = {t: rng.normal(size=8) for t in ALL_TASKS_INCLUDING_SHRUNK}

    def euclid(sources, targets):
        s, t = np.stack(sources), np.stack(targets)
        return np.sqrt(((s[:, None, :] - t[None, :, :]) ** 2).sum(-1)) + 1.0

    d = bm.distance_from_callable(euclid, reps)
    out = bm.validate_distance(d)
    assert out.loc["svhn", "svhn"] == 0.0
    s, t = ALL_TASKS[3], ALL_TASKS_INCLUDING_SHRUNK[90]
    assert out.loc[s, t] == pytest.approx(np.linalg.norm(reps[s] - reps[t]) + 1.0)
    with pytest.raises(bm.DistanceValidationError, match="no representation"):
        bm.distance_from_callable(euclid, {t: reps[t] for t in ALL_TASKS})
    with pytest.raises(bm.DistanceValidationError, match="shape"):
        bm.distance_from_callable(lambda s, t: np.zeros((2, 2)), reps)


# ------------------------------------------------------------------------------------------ paired tests
@pytest.fixture(scope="module")
def with_random(outcomes, paper_evaluations):
    rows = bm.evaluate_measure(bm.random_distance(0), "Random", outcomes)
    return pd.concat([paper_evaluations, rows], ignore_index=True)


def test_paired_measure_against_itself(with_random):
    res = bm.paired_comparison(with_random, BKLD, BKLD, n_bootstrap=500)
    assert len(res) == 16 and (res["n_setups"] == 258).all()
    assert (res["mean_diff"] == 0).all() and (res["ci_low"] == 0).all() and (res["ci_high"] == 0).all()
    assert (res["p_wilcoxon"] == 1.0).all() and (res["verdict"] == "no difference").all()
    assert (res["prob_superiority"] == 0.5).all()


@pytest.mark.parametrize("resample", ["setup", "target"])
def test_paired_bkld_beats_random(with_random, resample):
    res = bm.paired_comparison(with_random, BKLD, "Random", resample=resample, seed=1)
    pre = res[res["scenario"] == "Pretraining Data"]
    assert (pre["verdict"] == BKLD).all(), pre
    assert (pre["ci_low"] > 0).all() and (pre["p_holm"] < 1e-3).all()
    assert not (res["verdict"] == "Random").any()
    flipped = bm.paired_comparison(with_random, "Random", BKLD, resample=resample, seed=1)
    np.testing.assert_allclose(flipped["mean_diff"], -res["mean_diff"])
    assert (flipped["verdict"] == res["verdict"]).all()


def test_holm():
    np.testing.assert_allclose(bm._holm(np.array([0.01, 0.04, 0.03, 0.5])), [0.04, 0.09, 0.09, 0.5])


# ------------------------------------------------------------------------------------------ whole benchmark
def test_benchmark_result_tables(outcomes, paper_evaluations):
    res = bm.benchmark(bm.random_distance(0), "Random", outcomes=outcomes, reference=paper_evaluations,
                       n_bootstrap=100, n_bootstrap_paired=200, curves=False)
    assert set(res.evaluations["selector"]) == set(paper_evaluations["selector"]) | {"Random"}
    assert len(res.verdicts) == 4 and res.verdicts["verdict"].str.contains("Random ranks").all()
    assert (res.verdicts["position"].between(1, 9)).all()
    assert len(res.positions) == 4 * 9 and "benchmark_positions" in res.tables()
    assert len(res.summary) == 9 and len(res.stability) == 5
    assert len(res.paired) == 8 * 16
    chance = res.meta_table[res.meta_table["selector"] == "random (expected)"]
    assert set(chance["meta_metric"]) == {"regret_score", "percentile", "improvement", "gain"}
    for stem, df in res.tables().items():
        assert stem.startswith("benchmark_") and len(df)
    with pytest.raises(ValueError, match="is a selector"):
        bm.benchmark(bm.random_distance(0), "FID", outcomes=outcomes, reference=paper_evaluations)


# ------------------------------------------------------------------------------------------ CLI
def test_cli_rejects_bad_file_fast(tmp_path, dist, capsys):
    from taskfp_lib.cli import main

    path = tmp_path / "t.csv"
    dist.T.to_csv(path)
    assert main(["benchmark", str(path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "wrong orientation" in err and "--transpose" in err
    assert not (tmp_path / "out").exists()
    assert main(["benchmark", "--out", str(tmp_path / "out")]) == 1  # neither a CSV nor an example


@pytest.mark.slow
def test_cli_end_to_end(tmp_path, published):
    from taskfp_lib.cli import main

    path = tmp_path / "my_distance.csv"
    (3.0 - bm.random_distance(1)).to_csv(path)  # a similarity, declared as such
    out = tmp_path / "report"
    rc = main(["benchmark", str(path), "--name", "My similarity", "--similarity", "--out", str(out),
               "--n-bootstrap", "100", "--no-random-floor", "-q"])
    assert rc == 0
    assert (out / "html" / "benchmark_report.html").is_file()
    html = (out / "html" / "benchmark_report.html").read_text()
    assert "My similarity ranks" in html and "sphinx-book-theme" in html and "<img" in html
    verdicts = pd.read_csv(out / "benchmark_verdicts.csv")
    assert (verdicts["measure"] == "My similarity").all() and len(verdicts) == 4
    ev = pd.read_csv(out / "benchmark_evaluations.csv")
    assert len(ev) == 4 * 2 * 3 * 43 * 5
    dev = pd.read_csv(out / "benchmark_development.csv")  # the place among the 798 development variants
    assert dev["option"].tolist() == ["sum", "sum_without_gain", "tau_rank", "rank_based"]
    assert (dev["n_retained"] == 634).all() and dev["position"].between(1, 635).all()
    assert "Development phase" in html
    assert not (out / "_build").exists()


def test_monotone_transform_scores_like_the_original(tmp_path, outcomes, paper_evaluations):
    """sqrt(FID) + 1 (examples/make_example_csv.py) selects exactly as FID: identical evaluation rows."""
    from taskfp_lib.upstream.readers import load_distance

    path = tmp_path / "sqrt_fid.csv"
    (load_distance("FID") ** 0.5 + 1.0).to_csv(path)
    mine = bm.evaluate_measure(bm.read_distance(path), "FID", outcomes).reset_index(drop=True)
    lib = paper_evaluations[paper_evaluations["selector"] == "FID"].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, lib, check_exact=False, rtol=1e-12)


def test_scenario_positions(paper_evaluations):
    ev = paper_evaluations[paper_evaluations["meta_metric"] != "gain"]
    pos = bm.scenario_positions(ev, n_bootstrap=300, seed=0)
    assert len(pos) == 4 * 8
    for _, g in pos.groupby("scenario"):
        assert sorted(g["position"]) == list(range(1, 9))  # no exact ties of the mean rank here
        assert ((g["position_low"] <= g["position"]) & (g["position"] <= g["position_high"])).all()
    pre = pos[pos["scenario"] == "Pretraining Data"].set_index("selector")
    assert pre.loc[BKLD, "position"] == 1  # the paper's best selector for pretraining
    again = bm.scenario_positions(ev, n_bootstrap=300, seed=0)
    pd.testing.assert_frame_equal(pos, again)
    assert bm._place(1.0) == "1st" and bm._place(6.5) == "6th/7th" and bm._place(12.0) == "12th"


def test_compare_distances(outcomes):
    from taskfp_lib.upstream.readers import load_distance

    bkld = load_distance(BKLD_STEM)
    same = bm.compare_distances(bkld, bkld * 2.0, "bKLD", "2 x bKLD", outcomes=outcomes, n_bootstrap=300)
    assert (same["mean_diff"] == 0).all() and (same["verdict"] == "no difference").all()
    res = bm.compare_distances(bkld, bm.random_distance(0), "bKLD", "random", outcomes=outcomes, n_bootstrap=300)
    assert (res.loc[res["scenario"] == "Pretraining Data", "verdict"] == "bKLD").all()
    with pytest.raises(ValueError, match="different names"):
        bm.compare_distances(bkld, bkld, "x", "x", outcomes=outcomes)
