"""Notebook output regression with nbval's own machinery, on the execution that the regeneration test uses.

Each run of the notebook plan is executed once per session (``executed_book`` in conftest.py); its
code cells marked for checking (tag ``nbval-check-output`` or comment ``# NBVAL_CHECK_OUTPUT``, the
markers of ``pytest --nbval-lax``) must give the outputs of the committed reference notebook
``notebooks/<run>.ipynb``, compared by nbval's ``IPyNbCell.compare_outputs`` after nbval's
stream coalescing and the regex sanitizers of ``tests/nbval_sanitize.cfg`` (images are not compared,
as in nbval). A cell that raises fails its run, as in nbval.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from types import SimpleNamespace

import nbformat
import pytest
from nbval.plugin import (IPyNbCell, coalesce_streams, find_comment_markers, find_metadata_tags,
                          get_sanitize_patterns, nocolors)

from taskfp_lib.paper.plan import PLAN
from taskfp_lib.upstream.manifest import REPO_ROOT

SANITIZE = REPO_ROOT / "tests" / "nbval_sanitize.cfg"
#: the output fields nbval does not compare (IPyNbFile.skip_compare without --nbdime)
SKIP_COMPARE = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")


class OutputComparison:
    """nbval's comparison of one cell's outputs (``IPyNbCell.compare_outputs``) outside a pytest collection."""

    colors = nocolors
    ihook = SimpleNamespace(pytest_assertrepr_compare=lambda **kw: [])  # nbval falls back to plain listings
    config = None
    sanitize = IPyNbCell.sanitize
    compare_outputs = IPyNbCell.compare_outputs
    format_output_compare = IPyNbCell.format_output_compare

    def __init__(self, patterns):
        self.parent = SimpleNamespace(sanitize_patterns=OrderedDict(patterns), skip_compare=SKIP_COMPARE)
        self.comparison_traceback = []


def is_checked(cell) -> bool:
    """Whether ``pytest --nbval-lax`` compares this code cell's outputs (tags and comment markers)."""
    options = dict(find_metadata_tags(cell.metadata))
    options.update(dict(find_comment_markers(cell.source)))
    return bool(options.get("check")) and not options.get("skip")


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


def output_differences(reference, executed, patterns) -> list[str]:
    """Checked cells of ``reference`` whose outputs in ``executed`` differ (after nbval's sanitizing).

    Parameters
    ----------
    reference, executed : nbformat.NotebookNode
        The committed notebook and a fresh execution of the same source (parameter cells injected by
        papermill are ignored).
    patterns : list of (str, str)
        Sanitizer regex/replacement pairs (nbval's ``get_sanitize_patterns``).

    Returns
    -------
    list of str
        One message per differing or stale cell (empty when all checked cells agree).
    """
    ref_cells, new_cells = _code_cells(reference), _code_cells(executed)
    if len(ref_cells) != len(new_cells):
        return [f"{len(new_cells)} code cells executed, {len(ref_cells)} in the committed notebook "
                "(stale reference: run `make refresh-notebooks`)"]
    problems = []
    for i, (ref, new) in enumerate(zip(ref_cells, new_cells)):
        if not is_checked(ref) or ref.execution_count is None:
            continue
        if ref.source != new.source:
            problems.append(f"cell {i}: source differs from the committed notebook (stale reference)")
            continue
        comparison = OutputComparison(patterns)
        ref_out = coalesce_streams(copy.deepcopy(ref.outputs))
        new_out = coalesce_streams(copy.deepcopy(new.outputs))
        if not comparison.compare_outputs(new_out, ref_out):
            problems.append(f"cell {i}: outputs differ\n{ref.source}\n" + "\n".join(map(str, comparison.comparison_traceback)))
    return problems


@pytest.fixture(scope="module")
def patterns():
    return get_sanitize_patterns(SANITIZE.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", [run.name for run in PLAN])
def test_checked_outputs_match_the_committed_notebook(executed_book, patterns, name):
    error = executed_book.report.errors.get(name)
    assert error is None, f"{name} did not execute: {error}"
    reference = nbformat.read(REPO_ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    executed = nbformat.read(executed_book.notebooks / f"{name}.ipynb", as_version=4)
    problems = output_differences(reference, executed, patterns)
    assert not problems, f"{name}:\n" + "\n\n".join(problems)


def _committed_with_checked_cell():
    for run in PLAN:
        nb = nbformat.read(REPO_ROOT / "notebooks" / f"{run.name}.ipynb", as_version=4)
        for i, cell in enumerate(_code_cells(nb)):
            if is_checked(cell) and cell.execution_count is not None and any("text" in o or "data" in o for o in cell.outputs):
                return nb, i
    raise AssertionError("no committed notebook has a checked cell with text output")


def _first_text(cell):
    for out in cell.outputs:
        if "text" in out:
            return out, "text"
        if "text/plain" in out.get("data", {}):
            return out.data, "text/plain"
    raise AssertionError("no text output")


def test_the_checks_cover_every_committed_notebook_with_markers():
    checked = sum(is_checked(c) for run in PLAN
                  for c in _code_cells(nbformat.read(REPO_ROOT / "notebooks" / f"{run.name}.ipynb", as_version=4)))
    assert checked >= 16   # the committed notebooks carry at least this many checked cells


def test_a_changed_checked_output_fails(patterns):
    reference, i = _committed_with_checked_cell()
    assert output_differences(reference, copy.deepcopy(reference), patterns) == []
    changed = copy.deepcopy(reference)
    holder, key = _first_text(_code_cells(changed)[i])
    holder[key] = holder[key] + "1"
    problems = output_differences(reference, changed, patterns)
    assert len(problems) == 1 and problems[0].startswith(f"cell {i}: outputs differ")


def test_sanitized_differences_and_unchecked_cells_pass(patterns):
    def nb(text, check=True):
        source = ("# NBVAL_CHECK_OUTPUT\n" if check else "") + "print(x)"
        cell = nbformat.v4.new_code_cell(source, execution_count=1,
                                         outputs=[nbformat.v4.new_output("stream", name="stdout", text=text)])
        return nbformat.v4.new_notebook(cells=[cell])

    assert output_differences(nb("at 0x7f00aa 0.12345678901234\n"), nb("at 0x55bb 0.12345678901299\n"), patterns) == []
    assert output_differences(nb("0.1\n"), nb("0.2\n"), patterns)
    assert output_differences(nb("0.1\n", check=False), nb("0.2\n", check=False), patterns) == []
    stale = nb("0.1\n")
    stale.cells[0].source += "  # edited"
    assert "stale" in output_differences(nb("0.1\n"), stale, patterns)[0]
