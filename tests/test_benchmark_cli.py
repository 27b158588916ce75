"""Tests of ``taskfp benchmark``: one-line errors, the output folder that is never someone else's, and the
rendered report (verdict first, the user's measure and file, escaped names, scrolling tables, the year)."""
from __future__ import annotations

import datetime
import json

import numpy as np
import pandas as pd
import pytest

from taskfp_lib import benchmark as bm
from taskfp_lib.cli import benchmark as cli_benchmark
from taskfp_lib.cli import main


@pytest.fixture()
def dist():
    return bm.random_distance(0)


def _error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_cli_rejects_bad_file_fast(tmp_path, dist, capsys):
    path = tmp_path / "t.csv"
    dist.T.to_csv(path)
    assert main(["benchmark", str(path), "--out", str(tmp_path / "out")]) == 1
    err = _error_lines(capsys)
    assert len(err) == 1 and err[0].startswith("taskfp benchmark: error: ")
    assert "wrong orientation" in err[0] and "--transpose" in err[0]
    assert not (tmp_path / "out").exists()
    assert main(["benchmark", "--out", str(tmp_path / "out")]) == 1  # neither a CSV nor an example
    assert "give either a distance CSV or --example" in _error_lines(capsys)[0]


@pytest.mark.parametrize("argv, message", [
    (["--distance", "bogus"], "bogus: no such file"),
    (["--similarity", "no_such.csv"], "no_such.csv: no such file"),
    (["--example", "random", "--name", "esc\x1b[31m"], "measure name 'esc\\\\x1b[31m' must be at most 200 printable"),
    (["--example", "random", "--name", "FID"], "is a selector of the 'paper' set"),
    (["--example", "random", "--name", ""], "needs a non-empty name"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, argv, message):
    """Issue 11, item 8: every failure is one line naming the file or option, never a traceback."""
    assert main(["benchmark", *argv, "--out", str(tmp_path / "out")]) == 1
    err = _error_lines(capsys)
    assert len(err) == 1 and err[0].startswith("taskfp benchmark: error: ") and message in err[0], err
    assert "\x1b" not in err[0] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [["--n-bootstrap", "0"], ["--seed", "-1"], ["--example", "bogus"],
                                  ["--selector-set", "bogus"], ["--n-bootstrap", "ten"]])
def test_cli_bad_options_are_refused_by_argparse(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(["benchmark", "--example", "random", *argv, "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = _error_lines(capsys)
    assert err[-1].startswith("taskfp benchmark: error: argument") and "Traceback" not in " ".join(err)


def test_out_refuses_a_foreign_folder_and_touches_nothing(tmp_path, dist, capsys):
    """Issue 11, item 2: a book project's html/ and _build/ survive ``--out .``."""
    project = tmp_path / "book"
    for rel in ("html/index.html", "_build/html/page.html", "_config.yml"):
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(rel)
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    path = tmp_path / "d.csv"
    dist.to_csv(path)
    assert main(["benchmark", str(path), "--out", str(project)]) == 1
    err = _error_lines(capsys)
    assert len(err) == 1 and "not empty and was not written by taskfp benchmark" in err[0]
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
    assert all((project / rel).read_text() == rel for rel in ("html/index.html", "_build/html/page.html"))
    (tmp_path / "file").write_text("x")
    assert main(["benchmark", str(path), "--out", str(tmp_path / "file")]) == 1
    assert "not a folder" in _error_lines(capsys)[0]
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / cli_benchmark.MARKER).write_text("{not json")
    assert main(["benchmark", str(path), "--out", str(damaged)]) == 1
    assert "is damaged" in _error_lines(capsys)[0]


def test_install_replaces_only_its_own_files(tmp_path):
    built, out = tmp_path / "built", tmp_path / "out"
    (built / "html").mkdir(parents=True)
    (built / "html" / "page.html").write_text("new page")
    (built / "benchmark_verdicts.csv").write_text("new")
    assert cli_benchmark.owned_files(out) == set()
    cli_benchmark.install(built, out, ["benchmark_verdicts.csv", "html"], set())
    (out / "html" / "stale.html").write_text("old build output")
    (out / "my_notes.txt").write_text("mine")  # the user's file in the report folder
    owned = cli_benchmark.owned_files(out)
    assert owned == {"benchmark_verdicts.csv", "html"}
    (built / "html" / "page.html").write_text("newer page")
    cli_benchmark.install(built, out, ["benchmark_verdicts.csv", "html"], owned)
    assert (out / "html" / "page.html").read_text() == "newer page" and not (out / "html" / "stale.html").exists()
    assert (out / "my_notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == [cli_benchmark.MARKER, "benchmark_verdicts.csv", "html",
                                                     "my_notes.txt"]
    record = json.loads((out / cli_benchmark.MARKER).read_text())
    assert record["files"] == ["benchmark_verdicts.csv", "html"]
    (out / cli_benchmark.MARKER).write_text(json.dumps({"files": ["../escape", ".hidden", "ok.csv"]}))
    assert cli_benchmark.owned_files(out) == {"ok.csv"}  # a marker cannot claim files outside the folder


def test_hide_parameters(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters", "hide-input"]}, "source": ""},
                    {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "source": ""},
                    {"cell_type": "code", "metadata": {}, "source": ""}], "metadata": {}, "nbformat": 4,
          "nbformat_minor": 5}
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    cli_benchmark.hide_parameters(path)
    tags = [c["metadata"].get("tags", []) for c in json.loads(path.read_text())["cells"]]
    assert "remove-cell" in tags[0] and "remove-cell" in tags[1] and "remove-cell" not in tags[2]


def test_report_numbers_its_figures_and_links_the_csv_files_next_to_it(tmp_path):
    """The book page's numbers (Fig. B6, Table B11) become the report's own, counted from 1 per kind in the book's
    order; links to ../results/benchmark_*.csv point at the CSV files next to the report's notebook."""
    text = ("**Table B14.** as {ref}`Fig. B6 <fig-b6>`, [`benchmark_paired.csv`](../results/benchmark_paired.csv)\n"
            "[`x.csv`](../results/x.csv) and Table B110 stay")
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "**Fig. B2.** and **Table B11.**"},
                    {"cell_type": "markdown", "metadata": {}, "source": [text]},
                    {"cell_type": "code", "metadata": {}, "source": "# Fig. B2 in code stays", "outputs": [],
                     "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    cli_benchmark.hide_parameters(path)
    cells = json.loads(path.read_text())["cells"]
    assert cells[0]["source"] == "**Fig. 1.** and **Table 1.**"
    assert cells[1]["source"] == ("**Table 2.** as {ref}`Fig. 2 <fig-b6>`, [`benchmark_paired.csv`](benchmark_paired.csv)"
                                  "\n[`x.csv`](../results/x.csv) and Table 3 stay")
    assert cells[2]["source"] == "# Fig. B2 in code stays"


@pytest.mark.slow
def test_cli_end_to_end_with_hostile_names(tmp_path, published, capsys):
    """The whole report for a similarity passed as a distance (1/FID) under a hostile file name and measure
    name: escaped HTML, neutralised CSVs, the direction notes, verdict first, the user's file, the year."""
    from taskfp_lib.upstream.readers import load_distance

    path = tmp_path / "inv`fid<img src=x onerror=alert(1)>.csv"
    (1.0 / load_distance("FID")).to_csv(path)
    out = tmp_path / "report"
    name = '=1+2<script>alert("x")</script>'
    rc = main(["benchmark", str(path), "--name", name, "--out", str(out), "--n-bootstrap", "100"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "note: " in err and "--similarity" in err
    html = (out / "html" / "benchmark_report.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "sphinx-book-theme" in html and "<img" in html and "overflow-x:auto" in html
    assert f"Copyright {datetime.date.today().year}." in html and "2023" not in html
    assert "worked example" not in html and "example = " not in html and "ensemble of published" not in html
    assert html.index("Verdict") < html.index("Meta metrics per scenario") < html.index("Development phase")
    assert "looks like a similarity" in html and "--similarity" in html  # the undefined diagonal, siblings
    assert "Development phase" in html and "On the development tasks" in html
    assert "Fig. B" not in html and "Table B" not in html and "Fig. 1." in html and "Table 1." in html
    assert 'href="_downloads/' in html and "benchmark_verdicts.csv" in html  # the captions' data links work
    verdicts = pd.read_csv(out / "benchmark_verdicts.csv")
    assert (verdicts["measure"] == "'" + name).all() and len(verdicts) == 4
    ev = pd.read_csv(out / "benchmark_evaluations.csv")
    assert len(ev) == 4 * 2 * 3 * 43 * 5
    dev = pd.read_csv(out / "benchmark_development.csv")
    assert dev["option"].tolist() == ["sum", "sum_without_gain", "tau_rank", "rank_based"]
    assert (dev["n_retained"] == 634).all() and dev["position"].between(1, 635).all()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("benchmark_")) == [
        cli_benchmark.MARKER, "html"]
    assert {"benchmark_report.ipynb", "benchmark_random_floor.csv"} <= {p.name for p in out.iterdir()}
