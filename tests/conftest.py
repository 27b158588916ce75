"""Shared fixtures (the environment is set by the repository's top-level conftest.py)."""
from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
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


# --- the notebook plan, executed once per session, beside the rest of the suite ----------------------------
#
# Executing the book is most of the suite's time, but the test process only waits for its notebook kernels.
# It starts in a background thread as soon as the tests are collected, and the tests that read it run after
# the ordinary tests, so those run meanwhile; the tests that start their own pools of processes or servers
# (marker ``processes``) run last, once the notebooks no longer need the cores.
_BOOK: dict = {}


def _uses_book(item) -> bool:
    return "executed_book" in getattr(item, "fixturenames", ())


def _execute_book(root: Path):
    from taskfp_lib.paper import plan
    from taskfp_lib.upstream.manifest import REPO_ROOT

    timing = REPO_ROOT / "_build" / "notebook_times.json"  # written by `make book`: longest chains first
    durations = json.loads(timing.read_text()).get("runs", {}) if timing.is_file() else {}
    return plan.execute(output_dir=root / "notebooks", results_dir=root / "results", durations=durations,
                        log=lambda m: None)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    """Ordinary tests first, then the tests on the executed book, then those marked ``processes`` (stable
    order within each group), after any deselection."""
    def group(item):
        return 2 if item.get_closest_marker("processes") else 1 if _uses_book(item) else 0

    items[:] = sorted(items, key=group)  # sorted() is stable


def pytest_collection_finish(session):
    """Start executing the notebook plan in the background when a selected test needs it."""
    if session.config.option.collectonly or not any(_uses_book(it) for it in session.items):
        return
    if not _published_data_available():
        return  # the `published` fixture skips or fails those tests
    root = Path(tempfile.mkdtemp(prefix="taskfp-book-"))
    _BOOK["root"] = root

    def work():
        try:
            _BOOK["report"] = _execute_book(root)
        except BaseException as err:  # re-raised by the fixture, in the test that needs the book
            _BOOK["error"] = err

    _BOOK["thread"] = threading.Thread(target=work, name="executed-book", daemon=True)
    _BOOK["thread"].start()


def pytest_sessionfinish(session, exitstatus):
    """Stop a plan execution that no test waited for (an early stop); remove its folder after a passing run
    (after a failure it stays for inspection, and the terminal summary names it)."""
    thread = _BOOK.get("thread")
    if thread is not None and thread.is_alive():
        from taskfp_lib.federated.deploy import descendants

        workers = multiprocessing.active_children()  # the plan's worker processes
        family = [pid for w in workers for pid in descendants(w.pid)]  # kernels and what they started
        for pid in family:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for worker in workers:
            worker.terminate()
        thread.join(timeout=60)
    if "root" in _BOOK and exitstatus == 0:
        shutil.rmtree(_BOOK["root"], ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if "root" in _BOOK and exitstatus != 0 and _BOOK["root"].exists():
        terminalreporter.write_line(f"executed notebooks and results of this run: {_BOOK['root']}")


@pytest.fixture(scope="session")
def executed_book(published, tmp_path_factory):
    """The notebook plan executed once per test session, its runs side by side, into a temporary folder.

    Serves both the results regeneration test (``tests/test_regeneration.py``) and the notebook
    output regression (``tests/test_notebooks.py``), so the suite executes every notebook once. The
    execution started when the tests were collected (:func:`pytest_collection_finish`); this waits for it.
    Returns a namespace with ``notebooks`` (executed notebooks), ``results`` (results files) and
    ``report`` (:class:`taskfp_lib.paper.plan.PlanReport`: times and errors per run).
    """
    if "thread" in _BOOK:
        _BOOK["thread"].join()
        if "error" in _BOOK:
            raise _BOOK["error"]
        root, report = _BOOK["root"], _BOOK["report"]
    else:  # not started at collection (e.g. the fixture requested dynamically)
        root = tmp_path_factory.mktemp("book")
        report = _execute_book(root)
    return SimpleNamespace(notebooks=root / "notebooks", results=root / "results", report=report)
