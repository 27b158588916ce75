"""Generic checks over every registry and over the library's structure (scikit-learn's test_common style).

* every record of the vocabulary is complete and consistent (selectors have published files, meta
  metrics score their oracle best in their stated direction, scenarios round-trip through the file
  naming);
* the paper's names are defined once: no other module carries a copy of a scenario list, a selector
  set or a selector's file stem;
* the measures of the renovation: no module over 500 lines, no function over 60 lines, no import
  cycle between subpackages (function-local imports included), no import of another package's
  private module.
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskfp_lib import vocabulary as V
from taskfp_lib.evaluation.meta_metrics import top_k_scores
from taskfp_lib.evaluation.weighted_tau import weightedtau_columns
from taskfp_lib.upstream.readers import outcome_filename

LIB = Path(__file__).resolve().parents[1] / "taskfp_lib"
MODULES = sorted(p for p in LIB.rglob("*.py"))


# --- registries ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("label", list(V.SELECTORS))
def test_every_selector_has_a_published_file(label):
    from taskfp_lib.upstream.manifest import manifest_files

    selector = V.SELECTORS[label]
    assert V.get_selector(label) is selector and V.get_selector(selector.stem) is selector
    assert f"cache/distances/{selector.stem}.csv" in set(manifest_files())


def test_selector_sets_and_variants_are_known():
    for name, members in V.SELECTOR_SETS.items():
        assert len(set(members)) == len(members) and set(members) <= set(V.SELECTORS), name
    assert set(V.BKLD_VARIANTS) <= set(V.SELECTORS)
    assert V.get_selector(V.DEFAULT_DISTANCE).label == "bKLD(small,target)"
    assert all(V.SELECTORS[s].sets for s in V.SELECTORS), "a selector that belongs to no set"


@pytest.mark.parametrize("name", list(V.META_METRICS))
def test_meta_metric_oracle_scores_best_in_its_direction(name):
    """Choosing the truly best sources scores better, in the metric's direction, than any other choice."""
    meta = V.META_METRICS[name]
    rng = np.random.default_rng(0)
    outcomes = rng.uniform(0.5, 0.95, size=(12, 30))  # 12 sources, 30 targets
    baseline = np.full(30, 0.7)
    oracle = np.argsort(-outcomes, axis=0, kind="stable")[:3]
    others = [np.argsort(rng.random((12, 30)), axis=0)[:3] for _ in range(5)]
    if meta.kind == "corr":
        best = weightedtau_columns(outcomes, outcomes)
        scores = [weightedtau_columns(rng.random((12, 30)), outcomes) for _ in range(5)]
    else:
        source = "regret_score" if name == "regret" else name
        score = lambda idx: top_k_scores(outcomes, idx, baseline, "avg", [source])[source]
        best, scores = score(oracle), [score(idx) for idx in others]
        if name == "regret":
            best, scores = V.paper_regret(best), [V.paper_regret(s) for s in scores]
    for s in scores:
        assert (best >= s).all() if meta.higher_is_better else (best <= s).all(), name
    assert meta.best([0.1, 0.9]) == (0.9 if meta.higher_is_better else 0.1)


@pytest.mark.parametrize("label", list(V.SCENARIOS))
def test_every_scenario_round_trips_through_the_file_naming(label, tmp_path):
    from taskfp_lib.evaluation import load_outcomes

    scen = V.SCENARIOS[label]
    assert V.get_scenario(scen.key) is scen and V.get_scenario(label) is scen
    name = outcome_filename(scen.key, "BA", True, True)
    assert name.startswith(f"load_{scen.key}_experiment%BA%") and name.endswith("%True.csv")
    assert ("%True%True" in name) == scen.has_shrunk_field
    rows = [{"r": r, "s": s, "t": "svhn", "p": 0.5 + 0.01 * r} for r in range(3) for s in ("mnist", "cifar")]
    for metric in V.METRICS:
        pd.DataFrame(rows).to_csv(tmp_path / outcome_filename(scen.key, metric, False, True))
        for shrunk in (True, False):
            pd.DataFrame({"svhn": [0.4, 0.5, 0.6]}).to_csv(tmp_path / outcome_filename(V.BASELINE_KEY, metric, False,
                                                                                      shrunk))
    out = load_outcomes(validation=False, scenarios=[label], directory=tmp_path)
    assert out.matrix(label, "BA", "mean").loc["mnist", "svhn"] == pytest.approx(0.51)


def test_scenario_records_are_distinct():
    scenarios = list(V.SCENARIOS.values())
    for attr in ("label", "key", "short", "abbreviation", "colour"):
        values = [getattr(s, attr) for s in scenarios]
        assert len(set(values)) == len(values), attr
    assert set(V.PAPER_SCENARIOS) <= set(V.SCENARIOS)
    with pytest.raises(ValueError, match="already registered"):
        V.register_scenario(V.Scenario("Model Architecture", "other", "X", "X.", True, "#000000"))


# --- one definition of each paper name ------------------------------------------------------------------

def _constants(tree):
    """String constants and sequence/dict literals of a module, docstrings excluded."""
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
               and id(n) not in docstrings]
    literals = [[e.value for e in (n.elts if not isinstance(n, ast.Dict) else n.keys)
                 if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                for n in ast.walk(tree) if isinstance(n, (ast.List, ast.Tuple, ast.Set, ast.Dict))]
    return strings, literals


#: modules allowed to spell paper names: the vocabulary, and the transcription of the paper's printed tables
#: (keyed by their printed row and column names)
NAME_HOMES = {"vocabulary.py", "paper/printed.py"}


def test_paper_names_have_one_definition():
    """No file stem of a selector outside the vocabulary (FED and FID are also labels), no list of scenario
    labels or keys, no selector set (4+ labels)."""
    labels = {s.label for s in V.SELECTORS.values()}
    stems = {s.stem for s in V.SELECTORS.values()} - labels
    scen = set(V.PAPER_SCENARIOS) | {s.key for s in V.SCENARIOS.values()}
    stray = []
    for path in MODULES:
        if str(path.relative_to(LIB)) in NAME_HOMES:
            continue
        strings, literals = _constants(ast.parse(path.read_text()))
        stray += [f"{path.relative_to(LIB)}: file stem {s!r}" for s in set(strings) & stems]
        for lit in literals:
            if len(set(lit) & scen) >= 2:
                stray.append(f"{path.relative_to(LIB)}: a scenario list {lit}")
            if len(set(lit) & labels) >= 4:
                stray.append(f"{path.relative_to(LIB)}: a selector set {lit}")
    assert not stray, "\n".join(stray)


# --- structure -----------------------------------------------------------------------------------------

def test_no_module_over_500_lines_and_no_function_over_60():
    long_modules = [f"{p.relative_to(LIB)} ({n})" for p in MODULES if (n := len(p.read_text().splitlines())) > 500]
    long_functions = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 60:
                    long_functions.append(f"{path.relative_to(LIB)}:{node.lineno} {node.name} ({n})")
    assert not long_modules and not long_functions, long_modules + long_functions


def _package_of(path: Path) -> str:
    rel = path.relative_to(LIB).parts
    return rel[0].removesuffix(".py") if len(rel) > 1 or rel[0] != "__init__.py" else "taskfp_lib"


def _imports(path: Path):
    """(imported top-level package of taskfp_lib, module name) of every import in ``path``, nested ones too."""
    pkg_parts = path.relative_to(LIB).with_suffix("").parts
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(pkg_parts[:len(pkg_parts) - node.level + (0 if path.name != "__init__.py" else 1)])
                target = base + (node.module.split(".") if node.module else [])
                names = [target + [a.name] for a in node.names] if not node.module else [target]
            elif node.module and node.module.startswith("taskfp_lib"):
                names = [node.module.split(".")[1:]]
            else:
                continue
            for parts in names:
                if parts:
                    yield parts[0].removesuffix(".py"), ".".join(parts)


def test_no_import_cycles_between_subpackages_and_no_private_imports():
    edges = {}
    private = []
    for path in MODULES:
        src = _package_of(path)
        for dst, module in _imports(path):
            if dst != src and (LIB / dst).is_dir() | (LIB / f"{dst}.py").is_file():
                edges.setdefault(src, set()).add(dst)
                if any(part.startswith("_") and not part.startswith("__") for part in module.split(".")[1:]):
                    private.append(f"{path.relative_to(LIB)} imports {module}")
    cycles = [(a, b) for a, targets in edges.items() for b in targets if a in edges.get(b, set())]
    assert not cycles, f"import cycles between subpackages: {sorted(set(map(tuple, map(sorted, cycles))))}"
    assert not private, private
