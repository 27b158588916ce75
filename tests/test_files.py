"""The shared file helpers: atomic writes and content hashes."""
import hashlib

from taskfp_lib._files import atomic_write_text, file_sha256


def test_atomic_write_text(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    atomic_write_text(target, "hello")
    assert target.read_text() == "hello"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_file_sha256_matches_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    payload = bytes(range(256)) * 5000  # larger than one read chunk
    path.write_bytes(payload)
    assert file_sha256(path, chunk=4096) == hashlib.sha256(payload).hexdigest()


def test_code_version_is_dirty_only_for_changes_outside_the_runs_outputs(tmp_path, monkeypatch):
    import shutil
    import subprocess

    import pytest

    from taskfp_lib.paper import results

    if not shutil.which("git"):
        pytest.skip("git not installed")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(git + ["init", "-q", str(tmp_path)], check=True)
    for rel in ("lib.py", "notebooks/page.ipynb", "results/table.csv"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_text("v1\n")
    subprocess.run(git + ["add", "."], cwd=tmp_path, check=True)
    subprocess.run(git + ["commit", "-qm", "one"], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout.strip()
    monkeypatch.setattr(results, "REPO_ROOT", tmp_path)
    assert results.code_version().endswith(f"({head})")
    (tmp_path / "notebooks/page.ipynb").write_text("executed\n")   # papermill rewrites pages while the book runs
    (tmp_path / "results/table.csv").write_text("v2\n")
    assert results.code_version().endswith(f"({head})")
    (tmp_path / "lib.py").write_text("v2\n")
    assert results.code_version().endswith(f"({head}-dirty)")
