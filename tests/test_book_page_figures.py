"""Figures of the book's own-data, benchmark, federated and development pages: drawn for the book's width in its
visual language, from the committed results files, without changing matplotlib's global settings."""
import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from taskfp_lib.paper import plotting  # noqa: E402
from taskfp_lib.upstream.manifest import REPO_ROOT  # noqa: E402

RESULTS = REPO_ROOT / "results"


def _book_sized(fig) -> None:
    assert fig.get_size_inches()[0] == pytest.approx(plotting.BOOK_WIDTH)
    assert fig.dpi == plotting.DPI
    plt.close(fig)


def test_development_figures_keep_global_settings():
    from taskfp_lib.paper import development_chapter as chapter

    before = dict(plt.rcParams)
    table = pd.read_csv(RESULTS / "dev_comparison.csv")
    for fig in (chapter.plot_by_family(table), chapter.plot_hyperparameters(table)):
        _book_sized(fig)
    assert dict(plt.rcParams) == before  # no seaborn theme left behind
    leaders = pd.DataFrame({"position": [1, 2], "variant": ["a", "b"], "value": [2.0, 1.0],
                            "paper setting": ["bKLD(small,target)", ""]})
    html = chapter.style_leaderboard(leaders).to_html()
    css = html.split("</style>")[0]
    assert 'class="dataframe"' in html and "#d62728" in css  # the book's table style; the paper's row in red:
    assert "row0_col3" in css and "row1_col0" not in css


class _Outcomes:
    """Two sources, one target: outcome s -> 0.5 + 0.1 * index, baseline 0.55 (BA) and 0.65 (AUROC)."""

    def matrix(self, scenario, metric, aggregate):
        return pd.DataFrame({"t": [0.5, 0.6, np.nan]}, index=["s0", "s1", "t"]) + (metric == "AUROC") * 0.1

    def baseline(self, scenario, metric, aggregate, targets):
        return pd.Series({"t": 0.55 + (metric == "AUROC") * 0.1})


def test_transfer_demo_outcome_table_and_figure():
    from taskfp_lib.transfer import outcome_table, plot_outcomes

    before = dict(plt.rcParams)
    table = outcome_table(_Outcomes(), ["t"], ["Model Architecture", "Pretraining Data"])
    assert len(table) == 2 * 2 * 2 and set(table["source"]) == {"s0", "s1"}  # the target itself is not a source
    row = table[(table.metric == "AUROC") & (table.source == "s1")].iloc[0]
    assert row["outcome"] == pytest.approx(0.7) and row["baseline"] == pytest.approx(0.65)
    fig = plot_outcomes(table)
    assert len(fig.axes) == 4 and fig.axes[0].get_title() == "Model Architecture"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["t"]
    _book_sized(fig)
    assert dict(plt.rcParams) == before


def test_meduniverse_figures_from_the_results_files():
    from taskfp_lib.federated.plots import book_figures

    figures = book_figures(pd.read_csv(RESULTS / "meduniverse_stages.csv"),
                           pd.read_csv(RESULTS / "meduniverse_vs_fingerprints.csv"))
    assert list(figures) == ["protocol", "stage_gains", "comparison"]
    bars = figures["comparison"].axes[0].patches
    assert len(bars) == 3 * 8  # three approaches per client task
    for fig in figures.values():
        _book_sized(fig)


class _Fingerprint:
    """A stand-in with the one method the heatmaps read: ``histogram(bins)`` of shape (features, bins)."""

    def __init__(self, shift: int):
        self.task = f"t{shift}"
        self._h = np.roll(np.eye(4, 100), shift * 10, axis=1)

    def histogram(self, bins):
        return self._h


def test_knowledge_cloud_demo_figures():
    from taskfp_lib.cloud.demo import plot_fingerprints, plot_rankings

    before = dict(plt.rcParams)
    rankings = pd.DataFrame({"label": ["A"] * 3 + ["B"] * 3 + ["C"] * 3, "rank": [1, 2, 3] * 3,
                             "source": ["x", "y", "z", "z", "y", "x", "x", "y", "z"],
                             "distance": [0.1, 0.2, 0.3, 1e-2, 1e3, np.inf, np.inf, np.inf, np.finfo(float).max]})
    fig = plot_rankings(rankings, ["A", "B", "C"], k=1, random_probe=True)
    a, b, c, empty = fig.axes[:4]
    assert [t.get_text() for t in a.get_yticklabels()] == ["z", "y", "x"]  # rank 1 at the top
    assert [p.get_facecolor()[:3] for p in a.patches][-1] == pytest.approx((1.0, 0.498, 0.055), abs=1e-3)  # top-1
    assert b.get_xlabel() == "log10 distance" and "inf" in [t.get_text() for t in b.texts]
    assert c.get_xlabel() == "every distance infinite" and [t.get_text() for t in c.texts] == ["inf"] * 3
    assert not empty.get_visible()  # three distances in a 2 x 2 grid
    _book_sized(fig)
    fps = {f"q{i}": _Fingerprint(i) for i in range(3)}
    fig = plot_fingerprints(fps, fps["q0"])
    assert [ax.get_title() for ax in fig.axes[:3]] == ["q0", "q1", "q2"]
    _book_sized(fig)
    assert dict(plt.rcParams) == before


def test_knowledge_cloud_demo_tables_for_reading():
    from taskfp_lib.cloud.demo import CloudDemo
    from taskfp_lib.vocabulary import DEFAULT_DISTANCE

    labels = ["bKLD(small,target)", "FID"]
    rankings = pd.DataFrame({"distance_name": [DEFAULT_DISTANCE] * 2 + ["FID"] * 2, "label": np.repeat(labels, 2),
                             "rank": [1, 2, 1, 2], "source": ["a", "b", "b", "a"], "distance": [1.0, 2.0, 3.0, 3.0]})
    margins = pd.DataFrame({"distance": labels, "relative_margin": [0.5, np.nan], "degenerate": [np.nan, "all-equal"]})
    checks = pd.DataFrame({"task": ["a", "b", "a", "b"], "distance": np.repeat(labels, 2),
                           "copy_nearest": [True, True, False, True], "relative_margin": [0.1, 0.3, -0.2, np.nan]})
    demo = CloudDemo(tasks=None, cloud=None, cloud_fps={"a": None, "b": None}, query=None, rankings=rankings,
                     margins=margins, checks=checks, distances=[DEFAULT_DISTANCE, "FID"], k=1, stamp={}, warning=None)
    top = demo.shown_top_sources()
    assert top.to_dict("index") == {"bKLD(small,target)": {"top-1 sources": "a", "relative margin": "50.00 %",
                                                           "degenerate": ""},
                                    "FID": {"top-1 sources": "b", "relative margin": "n/a", "degenerate": "all-equal"}}
    summary = demo.shown_self_check_summary()
    assert summary["copy nearest to its original"].tolist() == ["2 of 2", "1 of 2"]
    assert summary["median relative margin"].tolist() == ["20.00 %", "-20.00 %"]  # the NaN margin is left out
    assert list(demo.ranking_table().columns) == ["bKLD(small, target)", "FID"]  # wraps on a narrow page
    assert demo.ranking_table().loc[1].tolist() == ["a", "b"]
