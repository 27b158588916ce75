"""Tests of the taskfp_lib.benchmark package: input validation (each check), the direction of a matrix,
chance levels, the random sanity floor, the CSV path, callables, paired comparisons, selection overlaps,
the analysis through the paper's recipes and the escaping of the measure's name (the CLI and the report
are in tests/test_benchmark_cli.py)."""
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
    np.testing.assert_allclose(bm.holm(np.array([0.01, 0.04, 0.03, 0.5])), [0.04, 0.09, 0.09, 0.5])


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
    assert bm.place(1.0) == "1st" and bm.place(6.5) == "6th/7th" and bm.place(12.0) == "12th"


def test_compare_distances(outcomes):
    from taskfp_lib.upstream.readers import load_distance

    bkld = load_distance(BKLD_STEM)
    same = bm.compare_distances(bkld, bkld * 2.0, "bKLD", "2 x bKLD", outcomes=outcomes, n_bootstrap=300)
    assert (same["mean_diff"] == 0).all() and (same["verdict"] == "no difference").all()
    res = bm.compare_distances(bkld, bm.random_distance(0), "bKLD", "random", outcomes=outcomes, n_bootstrap=300)
    assert (res.loc[res["scenario"] == "Pretraining Data", "verdict"] == "bKLD").all()
    with pytest.raises(ValueError, match="different names"):
        bm.compare_distances(bkld, bkld, "x", "x", outcomes=outcomes)


# ------------------------------------------------------------------------------------------ the checks
def test_validation_is_a_list_of_small_named_checks():
    import inspect

    from taskfp_lib.benchmark import validation

    assert [c.__name__ for c in bm.CHECKS][:2] == ["check_orientation", "check_unique_names"]
    for check in bm.CHECKS:
        assert check.__name__.startswith("check_") and check.__doc__
        assert len(inspect.getsource(check).splitlines()) <= 30, check.__name__
    assert bm.CHECKS[-1] is validation.check_no_top_k_tie


def test_tie_check_uses_the_selection_of_the_evaluation(dist, monkeypatch):
    """The top-k tie check is the evaluation's own (taskfp_lib.evaluation.selection.top_k_indices)."""
    from taskfp_lib.benchmark import validation
    from taskfp_lib.evaluation.selection import SelectionTieError

    def always_tied(affinity, k):
        raise SelectionTieError("tie")

    monkeypatch.setattr(validation, "top_k_indices", always_tied)
    with pytest.raises(bm.DistanceValidationError, match="tie at the top-3 cut-off in 43 column"):
        bm.validate_distance(dist)


def test_only_evaluated_pairs_of_the_given_targets_are_checked(dist):
    dev = "svhn"  # a development target: not read by default, read when it is a target
    broken = dist.copy()
    broken.loc[valid_sources(dev)[0], shrunk_name(dev)] = np.nan
    bm.validate_distance(broken)
    with pytest.raises(bm.DistanceValidationError, match=r"1 evaluated .*NaN.*'svhn --shrink_train 800'"):
        bm.validate_distance(broken, targets=[*VAL_TASKS, dev])


def test_undefined_diagonal_becomes_nan_and_keeps_the_affinities(published):
    """1/FID has an infinite diagonal: outside the evaluated pairs it becomes NaN, so the global z-score
    (and every affinity) stays defined; the evaluated pairs are unchanged."""
    from taskfp_lib.upstream.readers import load_distance

    inv = 1.0 / load_distance("FID")
    out = bm.validate_distance(inv, similarity=False)
    assert np.isinf(inv.to_numpy()).sum() == 71 and not np.isinf(out.to_numpy()).any()
    assert np.isnan(np.diag(out.loc[:, ALL_TASKS].to_numpy())).all()
    m = bm.evaluated_pairs().to_numpy()
    np.testing.assert_array_equal(out.to_numpy()[m], inv.to_numpy()[m])


# ------------------------------------------------------------------------------------------ direction
def test_similarity_with_an_undefined_diagonal_gets_a_note_naming_the_flag(published):
    """Issue 11, item 7: 1/FID has no usable self entry; the image-sharing siblings give it away."""
    from taskfp_lib.upstream.readers import load_distance

    fid = load_distance("FID")
    ev = bm.similarity_evidence(1.0 / fid)
    assert ev.n == 0 and not ev.refuse and ev.n_siblings == 468 and ev.sibling_percentile > 0.9
    notes = []
    bm.validate_distance(1.0 / fid, notes=notes)
    assert len(notes) == 1 and "--similarity" in notes[0] and "looks like a similarity" in notes[0]
    notes = []
    bm.validate_distance(fid, notes=notes)  # self entries at the column minima: a distance, nothing to say
    assert notes == [] and bm.similarity_evidence(fid).at_min == 71
    notes = []
    bm.validate_distance(1.0 / fid, similarity=False, notes=notes)  # declared a distance: no check, no note
    assert notes == []
    converted = bm.validate_distance(1.0 / fid, similarity=True)
    pd.testing.assert_frame_equal(converted.rank(), (fid.replace(0, np.nan)).rank())


def test_undefined_diagonal_of_a_distance_gets_the_neutral_note(dist):
    no_self = dist.copy()
    for t in ALL_TASKS:
        no_self.loc[t, list({t, shrunk_name(t)})] = np.inf  # the diagonal and the task against its shrunk variant
    notes = []
    bm.validate_distance(no_self, notes=notes)
    assert len(notes) == 1 and "could not be checked" in notes[0] and "--similarity" in notes[0]
    assert "looks like a similarity" not in notes[0]  # random: siblings in the middle of their columns


def test_below_chance_note():
    from taskfp_lib.benchmark.direction import below_chance_note

    scen = ["Model Architecture", "Pretraining Data"]
    rows = [{"scenario": s, "meta_metric": "percentile", "selector": sel, "mean": m}
            for s in scen for sel, m in (("mine", 0.40), (bm.CHANCE_LABEL, 0.50), ("FID", 0.6))]
    table = pd.DataFrame(rows)
    note = below_chance_note(table, "mine", bm.CHANCE_LABEL)
    assert "below a random choice of sources in all 2 scenarios" in note and "0.100" in note and "--similarity" in note
    table.loc[0, "mean"] = 0.55  # above chance in one scenario: no note
    assert below_chance_note(table, "mine", bm.CHANCE_LABEL) is None


# ------------------------------------------------------------------------------------------ overlaps
def test_selection_overlap_finds_a_monotone_transform(published):
    from taskfp_lib.evaluation.affinity import affinity_from_distance, load_affinities
    from taskfp_lib.upstream.readers import load_distance
    from taskfp_lib.vocabulary import SELECTOR_SETS

    affs = load_affinities(SELECTOR_SETS["paper"])
    affs["sqrt FID"] = affinity_from_distance(load_distance("FID") ** 0.5 + 1.0)
    ov = bm.selection_overlap(affs, "sqrt FID")
    assert ov.iloc[0]["selector"] == "FID" and ov.iloc[0]["identical_targets"] == 43
    assert ov.iloc[0]["shared_sources"] == 3.0 and (ov.iloc[1:]["identical_targets"] < 43).all()
    note = bm.overlap_note(ov, "sqrt FID")
    assert "coincide with those of FID for all 43 targets" in note
    affs["random"] = affinity_from_distance(bm.random_distance(0))
    rnd = bm.selection_overlap({k: v for k, v in affs.items() if k != "sqrt FID"}, "random")
    assert bm.overlap_note(rnd, "random") is None and rnd["identical_targets"].max() < 10


# ------------------------------------------------------------------------------------------ the paper's recipes
def test_gain_curves_are_fig4_with_the_measure_added(outcomes):
    """The benchmark's curves come from the paper's recipe: the references' rows equal Fig. 4b's."""
    from taskfp_lib.paper.recipes import fig4_shots_table

    curves = bm.gain_curves(outcomes, bm.random_distance(0), "Random")
    fig4 = fig4_shots_table(outcomes)
    assert set(curves.loc[curves["panel"] == "a", "selector"]) == {"Random"}
    ref = curves[(curves["panel"] == "b") & (curves["selector"] != "Random")].reset_index(drop=True)
    pd.testing.assert_frame_equal(ref, fig4[fig4["panel"] == "b"].reset_index(drop=True))


def test_random_floor_reproduces_the_committed_results(outcomes, paper_evaluations):
    from taskfp_lib.paper.results import REPO_ROOT

    floor = bm.random_floor(paper_evaluations, outcomes, 0)
    committed = pd.read_csv(REPO_ROOT / "results" / "benchmark_random_floor.csv")
    pd.testing.assert_frame_equal(floor.reset_index(drop=True), committed, check_exact=False, rtol=1e-12)


# ------------------------------------------------------------------------------------------ names
@pytest.mark.parametrize("bad", ["", "  ", "tab\there", "esc\x1b[31mred", "x" * 201, "FID", "random (expected)"])
def test_measure_names_that_cannot_label_a_measure(bad):
    with pytest.raises(ValueError, match="name"):
        bm.check_measure_name(bad)


def test_hostile_names_are_written_inert(outcomes, paper_evaluations, tmp_path):
    """Issue 11, item 1: a formula name is neutralised in every CSV, a script name escaped in the HTML."""
    from taskfp_lib.benchmark import render

    name = '=HYPERLINK("http://evil","x")<script>alert(1)</script>'
    res = bm.benchmark(bm.random_distance(0), name, outcomes=outcomes, reference=paper_evaluations,
                       n_bootstrap=50, n_bootstrap_paired=50, curves=False)
    paths = res.write(tmp_path, evaluations=True)
    assert len(paths) == 10
    for path in paths:
        text = path.read_text()
        assert "\n=" not in text and ",=" not in text and '"=' not in text, path.name
        measure = pd.read_csv(path)["measure"]
        assert (measure == "'" + name).all(), path.name
    res.write(tmp_path)  # a second run replaces the measure's block instead of appending to it
    assert len(pd.read_csv(tmp_path / "benchmark_verdicts.csv")) == 4
    shown = str(render.verdict(res)) + str(render.intro(name, "paper", 8)) + str(render.notes([name]))
    shown += str(render.wide_table(res.summary))
    assert "<script" not in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    assert render.figure_label("$a$") == r"\$a\$" and len(render.figure_label("y" * 99)) == 28


def test_intro_names_the_file_and_never_the_worked_example():
    from taskfp_lib.benchmark import render

    path = "/data/x`<img src=x onerror=alert(1)>.csv"
    text = str(render.intro("mine", "paper", 8, distance_csv=path))
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text and "`" in text
    assert "worked example" not in text and "ensemble" not in text.lower()
    example = str(render.intro("Ensemble", "paper", 8, example="ensemble", ensemble_weights={"Manual": 0.5}))
    assert "worked example" in example and "taskfp benchmark my_distance.csv" in example


def test_read_distance_refuses_oversized_and_irregular_files(tmp_path, monkeypatch):
    from taskfp_lib.benchmark import validation

    path = tmp_path / "big.csv"
    path.write_text("x" * 2000)
    monkeypatch.setattr(validation, "MAX_CSV_BYTES", 1000)
    with pytest.raises(bm.DistanceValidationError, match=r"big.csv: 2000 bytes, more than the 1000 bytes"):
        bm.read_distance(path)
    with pytest.raises(bm.DistanceValidationError, match="not a regular file"):
        bm.read_distance(tmp_path)
