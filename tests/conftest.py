"""Shared fixtures (the environment is set by the repository's top-level conftest.py)."""
from __future__ import annotations

import os

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
