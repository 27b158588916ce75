"""The project's entry points stay true: README commands, CI script, pins, CLI."""
import re
import subprocess
import sys

import yaml

from taskfp_lib.upstream.manifest import REPO_ROOT


def _pins(lines):
    return sorted(l.strip() for l in lines if re.match(r"^[A-Za-z0-9_.\-]+(\[[a-z,]+\])?==", l.strip()))


def test_environment_yml_agrees_with_requirements():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    req = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    assert _pins(pip) == _pins(req)
    assert "python=3.11" in env["dependencies"]
    lock = {l.split("==")[0].lower(): l.strip() for l in (REPO_ROOT / "requirements-lock.txt").read_text().splitlines()
            if "==" in l}
    for pin in _pins(req):
        name, version = re.sub(r"\[.*\]", "", pin).split("==")
        assert lock[name.lower()] == f"{name}=={version}", f"{pin} differs from requirements-lock.txt"
    torch = [p for p in _pins(req) if p.startswith(("torch==", "torchvision=="))]
    assert torch == ["torch==2.14.1", "torchvision==0.29.1"]


def test_readme_first_lines_and_ci_call_the_test_command():
    head = (REPO_ROOT / "README.md").read_text().splitlines()[:15]
    text = "\n".join(head)
    assert "make book" in text and "make test" in text
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_cli_help_and_data_path(published):
    out = subprocess.run([sys.executable, "-m", "taskfp_lib.cli", "--help"], capture_output=True, text=True, check=True)
    assert "data" in out.stdout
    out = subprocess.run([sys.executable, "-m", "taskfp_lib.cli", "data", "path", "cache/task_infos.csv"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("cache/task_infos.csv")
    bad = subprocess.run([sys.executable, "-m", "taskfp_lib.cli", "data", "path", "cache/nope.csv"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "cache/nope.csv@064ddd8: not in the data manifest" in bad.stderr
