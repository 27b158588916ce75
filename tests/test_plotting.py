"""The book's visual language: one style per selector, figures sized for the book, no global side effects."""
import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from taskfp_lib.paper import plotting  # noqa: E402
from taskfp_lib.paper.plotting_tasks import short_task_name  # noqa: E402
from taskfp_lib.tasks import ALL_TASKS, DOMAIN_TAGS, domain_label  # noqa: E402
from taskfp_lib.vocabulary import PAPER_SCENARIOS, RANKING_META_METRICS, SCENARIOS, SELECTOR_SETS  # noqa: E402


def test_every_selector_has_its_own_colour_and_marker():
    names = set(SELECTOR_SETS["paper"]) | set(SELECTOR_SETS["revision"])
    styles = [plotting.SELECTOR_STYLES[n] for n in sorted(names)]
    assert len({c for c, _ in styles}) == len(styles) and len({m for _, m in styles}) == len(styles)


def test_further_measures_get_styles_of_their_own_in_order():
    styles = plotting.selector_styles(["Manual", "My distance", "bKLD(small,target)", "Other"])
    assert styles["Manual"] == plotting.SELECTOR_STYLES["Manual"]
    assert styles["My distance"] == plotting.EXTRA_STYLES[0] and styles["Other"] == plotting.EXTRA_STYLES[1]
    assert set(plotting.EXTRA_STYLES).isdisjoint(plotting.SELECTOR_STYLES.values())
    assert plotting.selector_order(["Other", "bKLD(small,target)", "Manual"]) == ["Manual", "bKLD(small,target)",
                                                                                  "Other"]


def test_scenario_and_domain_colours_come_from_one_place():
    assert plotting.SCENARIO_COLORS == {label: s.colour for label, s in SCENARIOS.items()}
    assert [plotting.scenario_colour(s) for s in PAPER_SCENARIOS] == [SCENARIOS[s].colour for s in PAPER_SCENARIOS]
    assert list(plotting.DOMAIN_COLOURS) == [domain_label(t) for t in DOMAIN_TAGS]
    assert len(set(plotting.DOMAIN_COLOURS.values())) == len(DOMAIN_TAGS)


def _ranks(selectors, scenarios=PAPER_SCENARIOS, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for scen in scenarios:
        for meta in RANKING_META_METRICS:
            order = rng.permutation(len(selectors)) + 1
            for sel, r in zip(selectors, order):
                rows.append({"scenario": scen, "meta_metric": meta, "selector": sel, "mean_rank": float(r),
                             "std_rank": 0.5, "rank_counts": {int(r): 900, int(min(r + 1, len(selectors))): 100}})
    return pd.DataFrame(rows)


def test_blob_grid_is_drawn_for_the_book_width_with_one_legend_and_no_global_change():
    before = dict(plt.rcParams)
    fig = plotting.plot_bootstrap_blobs(_ranks(list(SELECTOR_SETS["paper"])))
    assert fig.get_size_inches()[0] == pytest.approx(plotting.BOOK_WIDTH)
    assert fig.dpi == plotting.DPI and len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == plotting.selector_order(SELECTOR_SETS["paper"])
    # the paper's panel order: scenarios as rows, meta metrics as columns
    axes = np.array(fig.axes).reshape(4, 4)
    assert [a.get_title() for a in axes[0]] == [plotting.meta_label(m) for m in RANKING_META_METRICS]
    assert axes[2, 0].get_ylabel().startswith("Augmentation")
    plt.close(fig)
    assert dict(plt.rcParams) == before


def test_curve_and_task_figures_are_reachable_from_plotting():
    assert plotting.plot_shots.__module__.endswith("plotting_curves")
    assert plotting.plot_task_overview.__module__.endswith("plotting_tasks")
    with pytest.raises(AttributeError):
        plotting.no_such_figure  # noqa: B018


def test_short_task_names_fit_the_overview():
    names = [short_task_name(t) for t in ALL_TASKS]
    assert max(map(len, names)) <= 34 and len(set(names)) == len(names)
    assert short_task_name("chexpert_enlarged_cardiomediastinum") == "chexpert enl. cardiomediastinum"
