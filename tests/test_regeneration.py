"""Executing the notebook plan regenerates the committed results/ files (byte for byte, or within the
declared tolerance for results computed by neural networks on demo data), whatever the schedule."""
import pandas as pd
import pytest

from taskfp_lib.paper import plan as book
from taskfp_lib.paper import results as results_mod
from taskfp_lib.paper.results import write_results
from taskfp_lib.upstream.manifest import REPO_ROOT


@pytest.mark.slow
def test_notebooks_regenerate_the_committed_results(executed_book):
    failed = {n: e for n, e in executed_book.report.errors.items()}
    assert not failed, f"notebook runs failed: {failed}"
    problems = results_mod.compare_results(executed_book.results, REPO_ROOT / "results")
    assert not problems, "regenerated results differ from the committed files:\n" + "\n".join(problems)


@pytest.mark.slow
def test_the_plan_declares_every_results_file_it_writes(executed_book):
    declared = {stem for run in book.PLAN for stem in run.writes}
    produced = {p.stem for p in executed_book.results.glob("*.csv")}
    assert produced == declared, {"undeclared": produced - declared, "not written": declared - produced}


def test_the_plan_is_consistent():
    book.check_plan()
    names = [r.name for r in book.PLAN]
    assert set(results_mod.TOLERANCES) <= {stem for r in book.PLAN for stem in r.writes}
    assert sorted(p.stem for p in (REPO_ROOT / "notebooks").glob("*.ipynb")) == sorted(names)
    assert all((REPO_ROOT / "notebooks" / f"{r.source}.ipynb").is_file() for r in book.PLAN)


@pytest.mark.parametrize("bad, message", [
    ((book.Run("a", "x"), book.Run("a", "y")), "duplicate"),
    ((book.Run("a", "x", after=("b",)),), "unknown"),
    ((book.Run("a", "x", after=("b",)), book.Run("b", "x", after=("a",))), "cycle"),
])
def test_check_plan_rejects_bad_declarations(bad, message):
    with pytest.raises(ValueError, match=message):
        book.check_plan(bad)


def test_longest_chains_start_first():
    runs = [book.Run("a", "x"), book.Run("b", "x"), book.Run("c", "x", after=("a",))]
    prio = book._priorities(runs, {"a": 2.0, "b": 5.0, "c": 4.0})
    assert prio == {"a": 6.0, "b": 5.0, "c": 4.0}
    # without durations, runs that others wait for come first
    assert book._priorities(runs, {}) == {"a": 2.0, "b": 1.0, "c": 1.0}


def _table(x):
    return pd.DataFrame({"name": ["p", "q"], "score": [0.1 + x, 2 / 3], "n": [1, 2], "digest": [f"{x!r}", "b"]})


def test_compare_results_is_exact_except_for_declared_tolerances(tmp_path, monkeypatch):
    ref, new = tmp_path / "ref", tmp_path / "new"
    for d in (ref, new):
        d.mkdir()
    write_results(_table(0.0), "exact", ref)
    write_results(_table(0.0), "tolerant", ref)
    write_results(_table(1e-13), "exact", new)       # a last-digit change
    write_results(_table(1e-13), "tolerant", new)
    monkeypatch.setitem(results_mod.TOLERANCES, "tolerant", results_mod.Tolerance(rtol=1e-9, digests=("digest",)))
    assert results_mod.compare_results(new, ref) == ["exact.csv differs (compared byte for byte)"]
    write_results(_table(1e-3), "tolerant", new)      # beyond the tolerance
    problems = results_mod.compare_results(new, ref)
    assert len(problems) == 2 and "column 'score', row 0" in problems[1]
    (ref / "exact.csv").unlink()
    (ref / "gone.csv").write_text("a\n1\n")
    assert results_mod.compare_results(new, ref)[:2] == ["gone.csv was not produced",
                                                  f"exact.csv was produced but is not in {ref}"]


def test_tolerant_comparison_treats_empty_cells_as_equal(tmp_path, monkeypatch):
    """An empty text column (read as missing) equals itself; a filled cell against an empty one differs."""
    ref, new = tmp_path / "ref", tmp_path / "new"
    for d in (ref, new):
        d.mkdir()
    monkeypatch.setitem(results_mod.TOLERANCES, "tolerant", results_mod.Tolerance(rtol=1e-9, digests=("digest",)))
    write_results(_table(0.0).assign(note=[None, None]), "tolerant", ref)
    write_results(_table(1e-13).assign(note=[None, None]), "tolerant", new)   # tolerant path, empty column
    assert results_mod.compare_results(new, ref) == []
    write_results(_table(1e-13).assign(note=["x", None]), "tolerant", new)
    problems = results_mod.compare_results(new, ref)
    assert len(problems) == 1 and "column 'note', row 0" in problems[0] and "1 rows differ" in problems[0]


def test_shared_results_blocks_do_not_depend_on_the_run_order(tmp_path):
    blocks = {s: pd.DataFrame({"selector_set": s, "v": [1 / 3 + i, 0.1 * i]}) for i, s in enumerate(("paper", "revision"))}
    texts = []
    for order in (("paper", "revision"), ("revision", "paper")):
        d = tmp_path / "-".join(order)
        for key in order:
            write_results(blocks[key], "shared", d, replace={"selector_set": key})
        write_results(blocks[order[0]], "shared", d, replace={"selector_set": order[0]})  # rewriting a block
        texts.append((d / "shared.csv").read_text())
    assert texts[0] == texts[1]
    assert texts[0].splitlines()[1].startswith("paper,0.3333333333333333")


def test_reference_durations_come_from_the_committed_notebooks(tmp_path):
    durations = book.reference_durations()
    assert set(durations) <= {r.name for r in book.PLAN} and all(s > 0 for s in durations.values())
    (tmp_path / "01_task_pool.ipynb").write_text('{"metadata": {"papermill": {"duration": 8.5}}, "cells": []}')
    (tmp_path / "02_fig4_shots.ipynb").write_text('{"metadata": {}}')
    assert book.reference_durations(tmp_path) == {"01_task_pool": 8.5}


def _notebook(path, code):
    import nbformat

    params = nbformat.v4.new_code_cell("results_dir = None", metadata={"tags": ["parameters"]})
    kernel = {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}}
    nbformat.write(nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(code)], metadata=kernel), path)


@pytest.mark.slow
def test_a_failed_run_is_reported_with_the_runs_after_it_and_the_others_go_on(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    _notebook(src / "ok.ipynb", "from pathlib import Path\nPath(results_dir, 'ok.csv').write_text('a\\n1\\n')")
    _notebook(src / "bad.ipynb", "raise ValueError('broken on purpose')")
    plan = (book.Run("ok", "ok", writes=("ok",)), book.Run("bad", "bad"), book.Run("later", "ok", after=("bad",)))
    monkeypatch.setattr(book, "PLAN", plan)
    report = book.execute(output_dir=tmp_path / "out", results_dir=tmp_path / "res", notebook_dir=src, jobs=2,
                          log=lambda m: None)
    assert set(report.times) == {"ok", "bad"} and report.jobs == 2
    assert set(report.errors) == {"bad", "later"}
    assert "broken on purpose" in report.errors["bad"] and "after the failed run(s) ['bad']" in report.errors["later"]
    assert (tmp_path / "res" / "ok.csv").read_text() == "a\n1\n"
    with pytest.raises(RuntimeError, match="2 notebook run"):
        report.raise_for_errors()


def _write_block_repeatedly(directory, key, times):
    for i in range(times):
        write_results(pd.DataFrame({"selector_set": [key] * 3, "i": [i] * 3}), "shared", directory,
                      replace={"selector_set": key})


def test_concurrent_block_writes_lose_no_block(tmp_path):
    import multiprocessing

    keys = ("paper", "revision", "extra1", "extra2")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_block_repeatedly, args=(tmp_path, k, 15)) for k in keys]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs)
    table = pd.read_csv(tmp_path / "shared.csv")
    assert table.groupby("selector_set")["i"].agg(list).to_dict() == {k: [14] * 3 for k in keys}
    assert list(table.selector_set.unique()[:2]) == ["paper", "revision"]
