"""Time the test suite, and the notebook checks executed once (now) against twice (before issue 15).

Usage: python benchmarks/bench_tests.py [--mode suite book] [--repeat 1] [--out FILE.json]

``suite``: the README's test command without the installs (``python -m pytest``): wall seconds, the
test counts, the slowest test files (setup included, from ``--durations``).
``book``: the notebook checks as they are now (``tests/test_notebooks.py`` and
``tests/test_regeneration.py``: the plan executed once, side by side) against the way they were
before (nbval re-executing every committed notebook, ``pytest --nbval-lax notebooks/``, plus the
regeneration test executing the plan again, one notebook after the other). Prints the ratio.

Each command runs in a fresh process; the load average is printed (quiet: well below the cores).
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _report import report

ROOT = Path(__file__).resolve().parents[1]
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
OLD_NBVAL = PYTEST + ["--nbval-lax", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "notebooks"]
OLD_REGENERATION = [sys.executable, "-m", "taskfp_lib.paper.plan", "--jobs", "1"]
NEW_BOOK = PYTEST + ["tests/test_notebooks.py", "tests/test_regeneration.py"]


def run(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    """Wall seconds and output of one command in the repository root."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"warning: {' '.join(cmd[2:6])} ... exited {proc.returncode}:\n{proc.stdout[-1500:]}", file=sys.stderr)
    return seconds, proc.stdout


def slowest_files(durations_text: str, top: int = 8) -> dict[str, float]:
    """Seconds per test file (call + setup + teardown) from pytest's ``--durations=0`` listing."""
    per_file: dict[str, float] = defaultdict(float)
    for sec, path in re.findall(r"^(\d+\.\d+)s \w+\s+(\S+?)::", durations_text, flags=re.MULTILINE):
        per_file[path] += float(sec)
    return dict(sorted(per_file.items(), key=lambda kv: -kv[1])[:top])


def bench_suite(repeat: int) -> dict:
    walls, outputs = [], []
    for _ in range(repeat):
        sec, text = run(PYTEST + ["--durations=0"])
        walls.append(sec)
        outputs.append(text)
    out = {"suite wall s": round(statistics.median(walls), 1),
           "suite summary": outputs[-1].strip().splitlines()[-1] if outputs[-1].strip() else ""}
    out |= {f"  {path} s": round(sec, 1) for path, sec in slowest_files(outputs[-1]).items()}
    return out


def bench_book(repeat: int) -> dict:
    old, new = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t_nbval, _ = run(OLD_NBVAL, env={"TASKFP_RESULTS_DIR": tmp + "/nbval"})
            t_regen, _ = run(OLD_REGENERATION + ["--output", tmp + "/nb", "--results", tmp + "/res"])
        old.append(t_nbval + t_regen)
        new.append(run(NEW_BOOK)[0])
    o, n = statistics.median(old), statistics.median(new)
    return {"book checks before (nbval + serial regeneration) s": round(o, 1),
            "book checks now (one parallel execution) s": round(n, 1), "book checks now / before": round(n / o, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", nargs="+", default=["suite", "book"], choices=["suite", "book"])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "bench_tests.json")
    args = parser.parse_args()
    out = {"cpus": os.cpu_count(), "loadavg start": os.getloadavg()[0]}
    if "suite" in args.mode:
        out |= bench_suite(args.repeat)
    if "book" in args.mode:
        out |= bench_book(args.repeat)
    out["loadavg end"] = os.getloadavg()[0]
    report(out, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
