"""The paper's vocabulary, defined once: scenarios, metrics, aggregates, meta metrics, selectors.

Every other module imports these records; none repeats a label, a file key or a direction.
Sources: Godau et al., "Beyond Knowledge Silos" (arXiv 2412.08763), Methods ("Knowledge transfer
scenarios", "Validation metrics", "Task fingerprinting") and Supplementary Tables 1 and 4.

Direction is part of the name (scikit-learn's convention): every meta metric of the evaluation
table is a *score*, higher is better (``regret_score`` = 1 - the paper's regret); the paper's
``regret`` itself is lower is better and appears only where the paper plots or tabulates it
(Fig. 6, the bin sweep). A task *distance* is lower-is-closer, an *affinity* higher-is-closer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# --- knowledge-transfer scenarios ------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A knowledge-transfer scenario (the paper's Fig. 1; Methods, "Scenario 1-4").

    Attributes
    ----------
    label : str
        Paper name, e.g. ``"Model Architecture"``.
    key : str
        Experiment key of the outcome files (``load_<key>_experiment%...csv``) and of the transfer grid.
    short, abbreviation : str
        ``"Arch"``; ``"M. A."`` (the supplementary tables).
    has_shrunk_field : bool
        Whether the outcome file names carry the SHRUNK field (pretraining and augmentation were run
        on shrunk targets only and their files have none).
    colour : str
        The scenario's colour in every figure.
    """

    label: str
    key: str
    short: str
    abbreviation: str
    has_shrunk_field: bool
    colour: str

    @property
    def upstream_label(self) -> str:
        """The key string of the upstream evaluation tables (``"Model<br>Architecture"``)."""
        return self.label.replace(" ", "<br>")


#: every scenario known to this installation, by label (the paper's four, plus any registered)
SCENARIOS: dict[str, Scenario] = {}


def register_scenario(scenario: Scenario) -> Scenario:
    """Make a scenario known (label and key must be new); returns it for use as a module constant."""
    for other in SCENARIOS.values():
        if other.label == scenario.label or other.key == scenario.key:
            raise ValueError(f"scenario {scenario.label!r} / key {scenario.key!r} is already registered")
    SCENARIOS[scenario.label] = scenario
    return scenario


ARCH = register_scenario(Scenario("Model Architecture", "arch", "Arch", "M. A.", True, "#0173b2"))
PRETRAIN = register_scenario(Scenario("Pretraining Data", "pretrain", "Pre", "P. D.", False, "#de8f05"))
AUGMENTATION = register_scenario(Scenario("Augmentation Policy", "augmentation", "Aug", "A. P.", False, "#029e73"))
COTRAINING = register_scenario(Scenario("Co-Training Data", "multi_task", "CoT", "C. D.", True, "#d55e00"))
#: the paper's four scenarios, in the paper's order (rows of Fig. 5, columns of Supp. Table 4)
PAPER_SCENARIOS: tuple[str, ...] = (ARCH.label, PRETRAIN.label, AUGMENTATION.label, COTRAINING.label)
#: experiment key of the single-task baselines (no transfer)
BASELINE_KEY = "baseline"


def get_scenario(name: str) -> Scenario:
    """Scenario record by label or experiment key."""
    for s in SCENARIOS.values():
        if name in (s.label, s.key):
            return s
    raise KeyError(f"unknown scenario {name!r}; known: {[s.label for s in SCENARIOS.values()]}")


def scenario_order(present) -> list[str]:
    """Scenario labels of ``present`` in the paper's order, then any other in order of appearance."""
    present = list(dict.fromkeys(present))
    return [s for s in PAPER_SCENARIOS if s in present] + [s for s in present if s not in PAPER_SCENARIOS]


# --- base metrics and repetition aggregates --------------------------------------------------------

#: base (performance) metrics of the transfer outcomes: balanced accuracy, macro AUROC
METRICS: tuple[str, ...] = ("BA", "AUROC")
#: loop order of the metrics in the evaluation table (defines the case alignment of the bootstrap)
EVALUATION_METRIC_ORDER: tuple[str, ...] = ("AUROC", "BA")
#: repetition aggregates: name -> repetition index (None = mean over the three repetitions)
AGGREGATES: dict[str, int | None] = {"first": 0, "second": 1, "third": 2, "mean": None}
#: each repetition evaluated on its own (Fig. 5, Supp. Table 4, stability, Supp. Fig. 1)
TRIPLED: tuple[str, ...] = ("first", "second", "third")
#: the mean over the repetitions (Fig. 6, bin sweep, development comparison)
SINGLE: tuple[str, ...] = ("mean",)


# --- meta metrics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetaMetric:
    """How good the sources suggested for a target are (Methods, "Validation metrics").

    Attributes
    ----------
    name : str
        Column value in the evaluation table and the results files.
    label : str
        The paper's name (figure and table labels).
    higher_is_better : bool
    kind : {"top", "corr", "derived"}
        Computed from the top-k selection, from the whole ranking of the sources, or derived from
        another meta metric.
    upstream : str or None
        The authors' name of the same quantity (``rank``, ``delta``, ...).
    """

    name: str
    label: str
    higher_is_better: bool
    kind: Literal["top", "corr", "derived"]
    upstream: str | None = None

    def best(self, values):
        """The best of ``values`` in this metric's direction (max or min)."""
        return max(values) if self.higher_is_better else min(values)


META_METRICS: dict[str, MetaMetric] = {m.name: m for m in (
    MetaMetric("regret_score", "Regret", True, "top", "regret"),
    MetaMetric("percentile", "Percentile", True, "top", "rank"),
    MetaMetric("improvement", "Improvement", True, "top", "delta"),
    MetaMetric("gain", "Gain", True, "top", "gain"),
    MetaMetric("weightedtau", "Weightedtau", True, "corr", "weightedtau"),
    MetaMetric("regret", "Regret", False, "derived", None),
)}
#: the top-k meta metrics of the evaluation table, in the paper's order
TOP_META_METRICS: tuple[str, ...] = ("regret_score", "percentile", "improvement", "gain")
#: the correlation meta metrics (budget independent)
CORR_META_METRICS: tuple[str, ...] = ("weightedtau",)
#: meta metrics of the rankings (Fig. 5 columns, Supp. Fig. 1 rows, Supp. Table 4), in the paper's order
RANKING_META_METRICS: tuple[str, ...] = ("regret_score", "percentile", "improvement", "weightedtau")


def paper_regret(regret_score):
    """The paper's regret :math:`(\\max_s O_s - p)/(1 - p)` (lower is better) from ``regret_score``."""
    return 1.0 - regret_score


def get_meta_metric(name: str) -> MetaMetric:
    try:
        return META_METRICS[name]
    except KeyError:
        raise KeyError(f"unknown meta metric {name!r}; known: {list(META_METRICS)}") from None


# --- task selectors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selector:
    """A task selector of the paper: a published distance matrix turned into source suggestions.

    Attributes
    ----------
    label : str
        The paper's name (Fig. 5, Supp. Table 4).
    stem : str
        File stem of its published distance matrix (``cache/distances/<stem>.csv``).
    upstream_label : str or None
        The repository revision's printable name, where it has one.
    """

    label: str
    stem: str
    upstream_label: str | None = None

    @property
    def sets(self) -> tuple[str, ...]:
        """The selector sets this selector belongs to."""
        return tuple(name for name, members in SELECTOR_SETS.items() if self.label in members)


SELECTORS: dict[str, Selector] = {s.label: s for s in (
    Selector("Manual", "SEMANTIC", "Manual"),
    Selector("VDNA", "VDNA-PP:NN-1000-BINS", "VDNA"),
    Selector("FED", "FED", "FED"),
    Selector("FID", "FID", "FID"),
    Selector("P2L", "KLD-PP:NN", "P2L (w/o size)"),
    Selector("Sinkhorn", "MMD-geo-sinkhorn-0.01", "Sinkhorn Divergence"),
    Selector("bKLD(small,target)", "KLD-PP:NS-W:TS-100-BINS", "bKLD (small)"),
    Selector("bKLD(large,unweighted)", "KLD-PP:NS-1000-BINS", "bKLD (large)"),
    Selector("bKLD(large,source)", "KLD-PP:NS-W:SN-1000-BINS", None),
)}
#: the seed paper's eight selectors (``paper``), the repository revision's (``revision``), the selectors
#: the revision recomputed with other probes (``probes``: no FED, whose Fisher embedding needs the
#: ResNet34) and those of the MSD segmentation study (``msd``); the order is the order of the rows of
#: the evaluation table
SELECTOR_SETS: dict[str, tuple[str, ...]] = {
    "paper": ("Manual", "VDNA", "FED", "FID", "P2L", "bKLD(small,target)", "bKLD(large,source)",
              "bKLD(large,unweighted)"),
    "revision": ("Manual", "VDNA", "FED", "FID", "P2L", "Sinkhorn", "bKLD(small,target)", "bKLD(large,unweighted)"),
    "probes": ("Manual", "VDNA", "FID", "P2L", "Sinkhorn", "bKLD(small,target)", "bKLD(large,unweighted)"),
    "msd": ("Manual", "VDNA", "FID", "P2L", "Sinkhorn", "bKLD(small,target)", "bKLD(large,unweighted)",
            "bKLD(large,source)"),
}
#: the three bKLD settings of the paper (Methods, "Task fingerprinting")
BKLD_VARIANTS: tuple[str, ...] = ("bKLD(small,target)", "bKLD(large,unweighted)", "bKLD(large,source)")
#: the distance used when none is named: bKLD(small,target), the paper's small fingerprint
DEFAULT_DISTANCE: str = SELECTORS["bKLD(small,target)"].stem


def get_selector(name: str) -> Selector:
    """Selector record by paper label, file stem or upstream label."""
    for s in SELECTORS.values():
        if name in (s.label, s.stem, s.upstream_label):
            return s
    raise KeyError(f"unknown selector {name!r}; known: {list(SELECTORS)}")


# --- architectures (Supplementary Table 1) ---------------------------------------------------------

#: the 20 candidate architectures of the Model Architecture scenario (timm names, paper order)
ARCHITECTURES: tuple[str, ...] = (
    "tf_efficientnet_b2_ns", "swsl_resnet50", "resnest50d", "ecaresnet50d", "ssl_resnext50_32x4d",
    "tf_efficientnet_b2_ap", "tf_efficientnet_b2", "cspdarknet53", "cspresnext50", "cspresnet50",
    "ese_vovnet39b", "mixnet_l", "regnety_032", "regnetx_032", "res2net50_26w_4s", "rexnet_100",
    "tf_efficientnet_cc_b0_4e", "skresnet34", "hrnet_w18", "mobilenetv3_large_100",
)
#: the baseline architecture of every transfer and the fingerprint backbone (ImageNet ResNet34)
BASELINE_ARCHITECTURE: str = "resnet34"
