"""Shared fixtures (the environment is set by the repository's top-level conftest.py)."""
from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest


def _published_data_available() -> bool:
    from taskfp_lib.upstream.manifest import DataError, data_path

    try:
        data_path("cache/task_infos.csv")
        return True
    except DataError:
        return False


@pytest.fixture(scope="session")
def published():
    """Skip (locally) when the published files cannot be had; in CI (CI=true) their absence is an error."""
    if not _published_data_available():
        if os.environ.get("CI"):
            pytest.fail("the published data is not available in CI (mirror missing and no download)")
        pytest.skip("published data not available: set TASKFP_MIRROR or allow the download")
    return True


@pytest.fixture(scope="session")
def outcomes(published):
    from taskfp_lib.evaluation.outcomes import load_outcomes

    return load_outcomes()


@pytest.fixture(scope="session")
def paper_evaluations(outcomes):
    from taskfp_lib.paper.recipes import tripled_evaluations

    return tripled_evaluations("paper", outcomes)


@pytest.fixture(scope="session")
def task_infos(published):
    from taskfp_lib.upstream.readers import load_task_infos

    return load_task_infos()


@pytest.fixture(scope="session")
def executed_book(published, tmp_path_factory):
    """The notebook plan executed once per test session, its runs side by side, into a temporary folder.

    Serves both the results regeneration test (``tests/test_regeneration.py``) and the notebook
    output regression (``tests/test_notebooks.py``), so the suite executes every notebook once.
    Returns a namespace with ``notebooks`` (executed notebooks), ``results`` (results files) and
    ``report`` (:class:`taskfp_lib.paper.plan.PlanReport`: times and errors per run).
    """
    from taskfp_lib.paper import plan
    from taskfp_lib.upstream.manifest import REPO_ROOT

    root = tmp_path_factory.mktemp("book")
    timing = REPO_ROOT / "_build" / "notebook_times.json"  # written by `make book`: longest chains first
    durations = json.loads(timing.read_text()).get("runs", {}) if timing.is_file() else {}
    report = plan.execute(output_dir=root / "notebooks", results_dir=root / "results", durations=durations,
                          log=lambda m: None)
    return SimpleNamespace(notebooks=root / "notebooks", results=root / "results", report=report)
