"""Small workloads with 1 vs 2 BLAS/OpenMP/torch threads, alone ("quiet") and beside busy processes ("loaded").

Usage: python benchmarks/bench_threads.py [--threads 1 2] [--busy 0 1] [--repeat 3] [--out FILE.json]

Workloads (issue 15), each timed in a fresh process started with ``thread_environment(n)``:

* ``fingerprint``: the transfer demo's fingerprint cell (random-init ResNet34 probe at 32 px, 300 draws
  of each of the four digits tasks, reference ranges and bKLD/FID distance matrices);
* ``tsne``: the task-map t-SNE of notebook 12 (71 tasks, precomputed distances), calling
  scikit-learn directly (the library's ``task_map`` fixes one thread) so that the process's count applies.

"Loaded" starts ``busy`` processes spinning on one core each for the duration of the measurement.
Prints the median seconds per (workload, threads, busy) and the ratio to one thread; writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _report import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from taskfp_lib._threads import thread_environment  # noqa: E402

FINGERPRINT = """
import time, tempfile
from pathlib import Path
from taskfp_lib.distances import distance_matrix
from taskfp_lib.fingerprints import FeatureExtractor, Fingerprint, build_reference_ranges, extract_features
from taskfp_lib.transfer import write_digit_tasks
tasks = ["digits_low_high", "digits_parity", "digits_mod3", "digits_round"]
dirs = write_digit_tasks(Path(tempfile.mkdtemp()) / "tasks", tasks, size=32, max_per_class=50, seed=0)
import torch
t0 = time.perf_counter()
extractor = FeatureExtractor("resnet34", pretrained=False, init_seed=0, image_size=32, device="cpu")
features = {n: extract_features(p, extractor, n=300, seed=0, progress=False)[0] for n, p in dirs.items()}
ranges = build_reference_ranges(features, extractor.identity, reference={"role": "bench"})
fps = {n: Fingerprint.from_features(f, ranges, task=n, bins=[100, 1000], seed=0) for n, f in features.items()}
for d in ("KLD-PP:NS-W:TS-100-BINS", "FID"):
    distance_matrix(d, fps)
print(time.perf_counter() - t0, torch.get_num_threads())
"""

TSNE = """
import time
import numpy as np
from sklearn.manifold import TSNE
from taskfp_lib.paper.revision import affinity_heatmap
from taskfp_lib.tasks import ALL_TASKS
d = -affinity_heatmap("KLD-PP:NN").loc[ALL_TASKS, ALL_TASKS].to_numpy(dtype=float)
d = (d + d.T) / 2
np.fill_diagonal(d, np.nan)
d = d - np.nanmin(d)
np.fill_diagonal(d, 0.0)
t0 = time.perf_counter()
TSNE(n_components=2, metric="precomputed", init="random", random_state=0, perplexity=15.0).fit_transform(d)
print(time.perf_counter() - t0, 0)
"""

WORKLOADS = {"fingerprint": FINGERPRINT, "tsne": TSNE}


def time_once(code: str, threads: int) -> float:
    """Seconds of the timed part of ``code`` in a fresh process with ``threads`` threads."""
    env = {**os.environ, **thread_environment(threads), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-2])


def busy_processes(n: int) -> list[subprocess.Popen]:
    """``n`` processes spinning on one core each (stopped by the caller)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--busy", nargs="+", type=int, default=[0, 1], help="busy processes beside the workload")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "bench_threads.json")
    args = parser.parse_args()
    out = {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()[0]}
    for name in args.workloads:
        for busy in args.busy:
            procs = busy_processes(busy)
            try:
                times = {n: statistics.median(time_once(WORKLOADS[name], n) for _ in range(args.repeat))
                         for n in args.threads}
            finally:
                for p in procs:
                    p.kill()
                    p.wait()
            for n, sec in times.items():
                out[f"{name} busy={busy} threads={n} s"] = round(sec, 3)
                out[f"{name} busy={busy} threads={n} / threads={args.threads[0]}"] = round(sec / times[args.threads[0]], 2)
    out["loadavg_end"] = os.getloadavg()[0]
    report(out, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
