"""Executing the notebooks again regenerates exactly the committed results/ files."""
import filecmp

import pytest

from taskfp_lib.paper import plan as book
from taskfp_lib.upstream.manifest import REPO_ROOT


@pytest.mark.slow
def test_notebooks_regenerate_the_committed_results(published, tmp_path):
    results = tmp_path / "results"
    book.execute(output_dir=tmp_path / "notebooks", results_dir=results, log=lambda m: None)
    committed = sorted(p.name for p in (REPO_ROOT / "results").glob("*.csv"))
    produced = sorted(p.name for p in results.glob("*.csv"))
    assert produced == committed
    differing = [n for n in committed if not filecmp.cmp(results / n, REPO_ROOT / "results" / n, shallow=False)]
    assert not differing, f"regenerated results differ from the committed files: {differing}"
