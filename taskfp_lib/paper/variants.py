"""Names of the published task-distance variants, parsed into their parts (and built back).

Every distance file of the authors' cache is named by the settings that produced it::

    <BASE>[-C][-I][-PP:<T><S>][-A:<alpha>][-W:<by><wpp>][-<b>-BINS][-<n>-SAMPLES[-<seed>-SEED]][-<PROBE>]

with BASE one of ``KLD``, ``JS``, ``VDNA``, ``EMD-AVG``, ``COS``, ``L-<p>-NORM``, ``LOG-S:<a>-T:<b>``,
``EXP-S:<a>-T:<b>``, ``FID``, ``FED``, ``SEMANTIC``, ``MMD[-<kernel>-<blur>]`` and the oracle
``OPTIMAL-<scenario>-<aggregate>-<metric>``. :func:`parse_variant` turns a name into a frozen
:class:`VariantName` whose :attr:`~VariantName.name` gives the same string back; nothing else in
the library splits these names.

The development comparison of the paper ("exploratory experiments on the development tasks",
Sec. 2.2 of the paper) searched 798 variants; :func:`development_variants` derives that list
from the published file names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Iterable

from ..vocabulary import SELECTORS

#: base of the keyword distance (the Manual selector's file; it has no settings)
MANUAL_BASE = SELECTORS["Manual"].stem

#: the distance families, with the number of variants each contributes to the development comparison
DEVELOPMENT_FAMILY_COUNTS: dict[str, int] = {
    "KLD": 476, "L-p": 105, "JS": 52, "MMD": 49, "VDNA": 42, "EXP": 25, "LOG": 25, "EMD-AVG": 14, "COS": 8,
    "FID": 1, MANUAL_BASE: 1,
}
N_DEVELOPMENT_VARIANTS = sum(DEVELOPMENT_FAMILY_COUNTS.values())  # 798
#: preprocessing letters: L1 normalisation, softmax, uniform smoothing (with -A:<alpha>)
PREPROCESSING = {"N": "L1-normalised", "S": "softmax", "U": "uniform smoothing"}
#: whose mean features weight the per-feature terms: source, target, both (average), provided vector
WEIGHT_BY = {"S": "source", "T": "target", "B": "both", "P": "provided"}
#: how the weight vector is preprocessed: L1-normalised, softmax, raw, uniform smoothing
WEIGHT_PREPROCESSING = {"N": "L1-normalised", "S": "softmax", "W": "raw", "U": "uniform smoothing"}
PROBES = ("CLIP", "DINO", "MAE", "3_2_1")
#: bin counts that only the bin sweep (repository notebook 4) uses, for its three bKLD stems
BIN_SWEEP_ONLY = frozenset({10, 25, 50, 75, 250, 500, 750})
BIN_SWEEP_STEMS = frozenset({"KLD-PP:NS", "KLD-PP:NS-W:TS", "KLD-PP:NS-W:SN"})
#: the resampled MMD files (``-10000-SAMPLES``) stand in for the plain MMD files that were never published
MMD_SUBSTITUTE_SAMPLES = 10000

_SIMPLE = ("KLD", "JS", "VDNA", "EMD-AVG", "COS", "FID", "FED", MANUAL_BASE)
BASES = _SIMPLE + ("L-NORM", "LOG", "EXP", "MMD", "OPTIMAL")
_FAMILY = {"L-NORM": "L-p"}
_NUM = r"(?:0|[1-9]\d*)(?:\.\d+)?"
_INT = r"(?:0|[1-9]\d*)"
_POS = r"[1-9]\d*"
_PATTERN = re.compile(rf"""
    (?:(?P<simple>{'|'.join(_SIMPLE)})
      |L-(?P<p>{_POS})-NORM
      |(?P<logexp>LOG|EXP)-S:(?P<s>{_INT})-T:(?P<t>{_INT})
      |MMD(?:-(?P<kernel>geo-[a-z]+|[a-z]+)-(?P<blur>{_NUM}))?)
    (?P<clip>-C)?(?P<inverted>-I)?
    (?:-PP:(?P<tpp>[NSU])(?P<spp>[NSU]))?
    (?:-A:(?P<alpha>{_NUM}))?
    (?:-W:(?P<wby>[STBP])(?P<wpp>[NSWU]))?
    (?:-(?P<bins>{_POS})-BINS)?
    (?:-(?P<samples>{_POS})-SAMPLES(?:-(?P<seed>{_INT})-SEED)?)?
    (?:-(?P<probe>{'|'.join(PROBES)}))?
""", re.VERBOSE)
_OPTIMAL = re.compile(r"OPTIMAL-(?P<scenario>.+)-(?P<aggregate>first|second|third|mean)-(?P<metric>BA|AUROC)")


@dataclass(frozen=True)
class VariantName:
    """One task-distance variant (a published file stem), field by field.

    Attributes
    ----------
    base : str
        One of :data:`BASES` (``L-NORM`` stands for ``L-<p>-NORM``).
    norm_p : int or None
        ``p`` of ``L-<p>-NORM``.
    source_exponent, target_exponent : int or None
        ``a`` and ``b`` of ``LOG-S:<a>-T:<b>`` / ``EXP-S:<a>-T:<b>``.
    kernel, blur : str or None
        MMD kernel (``gaussian``, ``cauchy``, ``coral``, ``geo-<loss>``) and blur, as written.
    clip, inverted : bool
        ``-C`` (clip both distributions at 1e-4) and ``-I`` (KLD(source || target)).
    target_pp, source_pp : str or None
        Preprocessing letters of ``-PP:<T><S>`` (:data:`PREPROCESSING`).
    alpha : str or None
        Uniform-smoothing weight of ``-A:<alpha>``, as written.
    weight_by, weight_pp : str or None
        ``-W:<by><wpp>`` (:data:`WEIGHT_BY`, :data:`WEIGHT_PREPROCESSING`).
    bins : int or None
        Bins per feature of a binned fingerprint (None: averaged features or not a fingerprint).
    samples, seed : int or None
        ``-<n>-SAMPLES[-<seed>-SEED]``: fingerprints from ``n`` resampled feature vectors.
    probe : str or None
        Feature extractor other than the ImageNet ResNet34 (:data:`PROBES`).
    optimal_scenario, optimal_aggregate, optimal_metric : str or None
        The fields of ``OPTIMAL-<scenario>-<aggregate>-<metric>``.
    """

    base: str
    norm_p: int | None = None
    source_exponent: int | None = None
    target_exponent: int | None = None
    kernel: str | None = None
    blur: str | None = None
    clip: bool = False
    inverted: bool = False
    target_pp: str | None = None
    source_pp: str | None = None
    alpha: str | None = None
    weight_by: str | None = None
    weight_pp: str | None = None
    bins: int | None = None
    samples: int | None = None
    seed: int | None = None
    probe: str | None = None
    optimal_scenario: str | None = None
    optimal_aggregate: str | None = None
    optimal_metric: str | None = None

    def __post_init__(self):
        problem = _inconsistency(self)
        if problem:
            raise ValueError(f"inconsistent distance variant: {problem}")

    @property
    def name(self) -> str:
        """The file stem, e.g. ``KLD-PP:NS-W:TS-100-BINS``."""
        if self.base == "OPTIMAL":
            return f"OPTIMAL-{self.optimal_scenario}-{self.optimal_aggregate}-{self.optimal_metric}"
        parts = [self._head()]
        parts += ["-C"] if self.clip else []
        parts += ["-I"] if self.inverted else []
        parts += [f"-PP:{self.preprocessing}"] if self.target_pp else []
        parts += [f"-A:{self.alpha}"] if self.alpha is not None else []
        parts += [f"-W:{self.weighting}"] if self.weight_by else []
        parts += [f"-{self.bins}-BINS"] if self.bins is not None else []
        parts += [f"-{self.samples}-SAMPLES"] if self.samples is not None else []
        parts += [f"-{self.seed}-SEED"] if self.seed is not None else []
        parts += [f"-{self.probe}"] if self.probe else []
        return "".join(parts)

    def _head(self) -> str:
        if self.base == "L-NORM":
            return f"L-{self.norm_p}-NORM"
        if self.base in ("LOG", "EXP"):
            return f"{self.base}-S:{self.source_exponent}-T:{self.target_exponent}"
        if self.base == "MMD" and self.kernel is not None:
            return f"MMD-{self.kernel}-{self.blur}"
        return self.base

    def __str__(self) -> str:
        return self.name

    @property
    def family(self) -> str:
        """Family of the comparison's count table (``L-p`` for the three L-p norms)."""
        return _FAMILY.get(self.base, self.base)

    @property
    def preprocessing(self) -> str | None:
        """``<T><S>`` of ``-PP:`` (e.g. ``"NS"``), None when both representations are used as they are."""
        return None if self.target_pp is None else self.target_pp + self.source_pp

    @property
    def weighting(self) -> str | None:
        """``<by><wpp>`` of ``-W:`` (e.g. ``"TS"``), None for unweighted variants."""
        return None if self.weight_by is None else self.weight_by + self.weight_pp

    @property
    def stem(self) -> str:
        """The name without the resampling and probe suffixes (the full-sample ResNet34 variant)."""
        return replace(self, samples=None, seed=None, probe=None).name

    def replace(self, **changes) -> "VariantName":
        """A copy with some fields changed (checked like a new record)."""
        return replace(self, **changes)


def _inconsistency(v: VariantName) -> str | None:
    """What is wrong with a field combination (None if nothing)."""
    checks = [
        (v.base in BASES, f"unknown base {v.base!r}"),
        ((v.norm_p is not None) == (v.base == "L-NORM"), "norm_p belongs to L-<p>-NORM"),
        ((v.source_exponent is not None) == (v.target_exponent is not None) == (v.base in ("LOG", "EXP")),
         "S:/T: exponents belong to LOG/EXP"),
        ((v.kernel is None) == (v.blur is None) and (v.kernel is None or v.base == "MMD"),
         "kernel and blur go together, for MMD"),
        ((v.target_pp is None) == (v.source_pp is None), "PP needs a target and a source letter"),
        ((v.weight_by is None) == (v.weight_pp is None), "W needs a 'by' and a preprocessing letter"),
        ((v.alpha is not None) == ("U" in (v.target_pp or "") + (v.source_pp or "")),
         "A:<alpha> goes with uniform smoothing (U) preprocessing"),
        (v.seed is None or v.samples is not None, "SEED needs SAMPLES"),
        (all(x in (None, *PREPROCESSING) for x in (v.target_pp, v.source_pp)), "unknown PP letter"),
        (v.weight_by in (None, *WEIGHT_BY) and v.weight_pp in (None, *WEIGHT_PREPROCESSING), "unknown W letter"),
        (v.probe in (None, *PROBES), f"unknown probe {v.probe!r}"),
        (all(x is None or (isinstance(x, int) and not isinstance(x, bool) and x >= 0)
             for x in (v.norm_p, v.source_exponent, v.target_exponent, v.bins, v.samples, v.seed)),
         "counts must be non-negative integers"),
        (all(x is None or re.fullmatch(_NUM, x) for x in (v.alpha, v.blur)), "alpha/blur must be decimal strings"),
        (v.kernel is None or re.fullmatch(r"geo-[a-z]+|[a-z]+", v.kernel), "kernel must be lower-case letters"),
    ]
    optimal = (v.optimal_scenario, v.optimal_aggregate, v.optimal_metric)
    if v.base == "OPTIMAL":
        plain = VariantName.__dataclass_fields__
        others = [f for f in plain if f not in ("base", "optimal_scenario", "optimal_aggregate", "optimal_metric")
                  and getattr(v, f) != plain[f].default]
        checks.append((None not in optimal and not others, "OPTIMAL takes exactly scenario, aggregate and metric"))
    else:
        checks.append((optimal == (None, None, None), "optimal_* fields belong to OPTIMAL"))
    return next((msg for ok, msg in checks if not ok), None)


def parse_variant(name: str) -> VariantName:
    """Parse a distance file stem into a :class:`VariantName` (``.name`` returns ``name`` exactly).

    Raises
    ------
    ValueError
        The name does not follow the grammar (or uses a non-canonical spelling such as ``-0100-BINS``).
    """
    if not isinstance(name, str) or not name or len(name) > 200:
        raise ValueError(f"not a distance variant name: {name!r}")
    m = _OPTIMAL.fullmatch(name) or _PATTERN.fullmatch(name)
    if m is None:
        raise ValueError(f"not a distance variant name: {name!r} (expected <BASE>[-C][-I][-PP:<T><S>]"
                         f"[-A:<alpha>][-W:<by><wpp>][-<b>-BINS][-<n>-SAMPLES[-<seed>-SEED]][-<PROBE>])")
    try:
        v = _from_match(m)
    except ValueError as err:
        raise ValueError(f"{name!r}: {err}") from None
    if v.name != name:  # the grammar is unambiguous; this guards it
        raise ValueError(f"distance variant name {name!r} does not round-trip (parsed as {v.name!r})")
    return v


def _from_match(m: re.Match) -> VariantName:
    if m.re is _OPTIMAL:
        return VariantName("OPTIMAL", optimal_scenario=m["scenario"], optimal_aggregate=m["aggregate"],
                           optimal_metric=m["metric"])

    def num(key):
        return None if m[key] is None else int(m[key])

    base = m["simple"] or ("L-NORM" if m["p"] else m["logexp"] or "MMD")
    return VariantName(
        base, norm_p=num("p"), source_exponent=num("s"), target_exponent=num("t"), kernel=m["kernel"],
        blur=m["blur"], clip=bool(m["clip"]), inverted=bool(m["inverted"]), target_pp=m["tpp"], source_pp=m["spp"],
        alpha=m["alpha"], weight_by=m["wby"], weight_pp=m["wpp"], bins=num("bins"), samples=num("samples"),
        seed=num("seed"), probe=m["probe"])


def is_bin_sweep_only(v: VariantName) -> bool:
    """Whether the variant belongs to the bin sweep (repository notebook 4) but not to the comparison."""
    return v.bins in BIN_SWEEP_ONLY and replace(v, bins=None).name in BIN_SWEEP_STEMS


def development_variants(stems: Iterable[str]) -> list[VariantName]:
    """The variants of the development comparison, from the published distance-file stems.

    The comparison reads every plain variant (no resampling, no other probe), except ``FED``, the
    oracle ``OPTIMAL-*`` files and the bin-sweep-only files, plus every MMD variant
    ``MMD-<kernel>-<blur>`` that is published only as ``<name>-10000-SAMPLES`` (39 of the 49).

    Parameters
    ----------
    stems : iterable of str
        Stems of the files in ``cache/distances/`` (e.g. from the data manifest).

    Returns
    -------
    list of VariantName
        Sorted by name; 798 for the published files.
    """
    found = set()
    for stem in stems:
        v = parse_variant(stem)
        if v.base == "MMD" and v.kernel is not None and v.samples == MMD_SUBSTITUTE_SAMPLES and v.seed is None \
                and v.probe is None:
            found.add(replace(v, samples=None))
        elif v.samples is None and v.probe is None and v.base not in ("FED", "OPTIMAL") and not is_bin_sweep_only(v):
            found.add(v)
    return sorted(found, key=lambda v: v.name)


def variant_file_stem(v: VariantName, stems: Iterable[str]) -> str:
    """The published file that holds a development variant: its own, else the ``-10000-SAMPLES`` stand-in."""
    stems = set(stems)
    if v.name in stems:
        return v.name
    substitute = replace(v, samples=MMD_SUBSTITUTE_SAMPLES).name
    if v.base == "MMD" and substitute in stems:
        return substitute
    raise ValueError(f"no published distance file for the variant {v.name!r}")


def family_counts(variants: Iterable[VariantName]) -> dict[str, int]:
    """Number of variants per family, in the order of :data:`DEVELOPMENT_FAMILY_COUNTS`."""
    counts: dict[str, int] = {}
    for v in variants:
        counts[v.family] = counts.get(v.family, 0) + 1
    order = list(DEVELOPMENT_FAMILY_COUNTS)
    return dict(sorted(counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def hyperparameters(v: VariantName) -> dict:
    """The parsed settings of a variant as a flat record (one row of the comparison table)."""
    return {"family": v.family, "norm_p": v.norm_p, "clip": v.clip, "inverted": v.inverted,
            "preprocessing": v.preprocessing, "alpha": v.alpha, "weighting": v.weighting, "bins": v.bins,
            "kernel": v.kernel, "blur": v.blur, "source_exponent": v.source_exponent,
            "target_exponent": v.target_exponent, "representation": representation(v)}


def representation(v: VariantName) -> str:
    """What the variant compares: binned or averaged features, full features, moments, Fisher, tags."""
    if v.bins is not None:
        return "binned"
    return {"MMD": "full features", "FID": "mean and covariance", "FED": "Fisher information",
            MANUAL_BASE: "keywords", "OPTIMAL": "measured transfer"}.get(v.base, "averaged")


__all__ = ["BASES", "DEVELOPMENT_FAMILY_COUNTS", "N_DEVELOPMENT_VARIANTS", "PREPROCESSING", "PROBES", "MANUAL_BASE",
           "VariantName", "WEIGHT_BY", "WEIGHT_PREPROCESSING", "development_variants", "family_counts",
           "hyperparameters", "is_bin_sweep_only", "parse_variant", "representation", "variant_file_stem"]
