"""All-pairs distance times at the paper's size (71 sources x 127 targets, 512 features), as ratios.

    python benchmarks/bench_distances.py [--repeats 5] [--threads 1] [--json out.json]

Each kernel is timed against the float64 matrix product of the same shapes, measured right before
and after it in the same run (so a busy machine affects both alike); the printed ratio is the median
over ``--repeats`` of kernel / mean(product before, product after). Targets (issue 15): bKLD without
cached statistics within 2x of the product, VDNA within 4x, P2L one product, FED one cast per chunk.
FID and Sinkhorn are timed per pair. The floor (``--floors``) prices the transcendental functions of
uncached bKLD with torch's vectorised float64 kernels, as a ratio to the same product: a log of every
target value and an exp of every source value (T·m·b and S·m·b of them), measured on cache-resident
chunks (the best case for memory) and extrapolated. The library's target term runs below that price:
its compiled pass computes the log in registers, fused with the product and the sums (bkld.py).
``--floors`` also prints ``streaming_vdna``: one streaming
torch elementwise operation per (source, target, feature, bin) term, S·T·m·b of them. That is what an
unblocked kernel pays, not a bound: the register-blocked VDNA kernel, which reuses every loaded value
four times from registers, runs below it. ``load_avg_1min`` before and after says whether the machine
was quiet (about 0 on an idle machine; other jobs on the same cores add about 1 each).
"""
from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np
import torch

from taskfp_lib.distances import (bkld_distance_matrix, fed_distance_matrix, fid_distance_matrix,
                                  histogram_stats, kld_averaged_distance_matrix, sinkhorn_divergence,
                                  vdna_distance_matrix)

from _report import report  # noqa: E402  (benchmarks/_report.py)

WEIGHTINGS = ("uniform", "target_softmax", "source_normalized")


def _once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def ratio(fn, bound, repeats: int) -> tuple[float, float]:
    """Median over repeats of time(fn) / mean(time(bound) before and after), and the median time of fn."""
    fn(), bound()                                     # warm-up
    ratios, times = [], []
    for _ in range(repeats):
        before = _once(bound)
        t = _once(fn)
        after = _once(bound)
        ratios.append(t / (0.5 * (before + after)))
        times.append(t)
    return float(np.median(ratios)), float(np.median(times))


def _hists(rng, n, m, b):
    h = rng.random((n, m, b))
    return h / h.sum(-1, keepdims=True)


def bench_binned(out: dict, S: int, T: int, m: int, repeats: int, rng) -> None:
    means_s, means_t = rng.random((S, m)), rng.random((T, m))
    for b in (100, 1000):
        Q, P = _hists(rng, S, m, b), _hists(rng, T, m, b)
        A, B = torch.from_numpy(Q.reshape(S, -1)), torch.from_numpy(P.reshape(T, -1))

        def product():
            return A @ B.T

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for w in WEIGHTINGS:
            out[f"bkld_{w}_{b}_bins_ratio"], out[f"bkld_{w}_{b}_bins_s"] = ratio(
                lambda: bkld_distance_matrix(Q, P, w, source_means=means_s, target_means=means_t), product, repeats)
        out[f"bkld_{b}_bins_peak_extra_MB"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
        t0 = time.perf_counter()
        _, lse = histogram_stats(Q)
        plogp, _ = histogram_stats(P)
        out[f"histogram_stats_{b}_bins_all_tasks_once_s"] = time.perf_counter() - t0
        for w in WEIGHTINGS:
            out[f"bkld_{w}_{b}_bins_cached_stats_ratio"], _ = ratio(
                lambda: bkld_distance_matrix(Q, P, w, source_means=means_s, target_means=means_t, source_lse=lse,
                                             target_plogp=plogp), product, repeats)
        out[f"vdna_{b}_bins_ratio"], out[f"vdna_{b}_bins_s"] = ratio(
            lambda: vdna_distance_matrix(Q, P), product, max(1, repeats // 2))
        out[f"matmul_{b}_bins_s"] = float(np.median([_once(product) for _ in range(repeats)]))
        del P, Q, A, B
    As, At = torch.from_numpy(means_s), torch.from_numpy(means_t)
    out["p2l_ratio"], out["p2l_s"] = ratio(lambda: kld_averaged_distance_matrix(means_s, means_t),
                                           lambda: As @ At.T, repeats * 20)


def _per_value(op, repeats: int, chunk: int = 1 << 15) -> float:
    """Seconds per value of ``op(x, y, out)`` on cache-resident float64 chunks of ``chunk`` values (median)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(chunk, generator=g, dtype=torch.float64) + 0.5
    y = torch.rand(chunk, generator=g, dtype=torch.float64)
    buf = torch.empty_like(x)
    loops = 200
    op(x, y, buf)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(loops):
            op(x, y, buf)
        times.append((time.perf_counter() - t0) / (loops * chunk))
    return float(np.median(times))


def bench_floors(out: dict, S: int, T: int, m: int, repeats: int) -> None:
    """The price of the bKLD statistics with torch's kernels and the streaming cost of VDNA, as ratios to the float64 product."""
    log_s = _per_value(lambda x, y, buf: torch.log(x, out=buf), repeats)
    exp_s = _per_value(lambda x, y, buf: torch.exp(y, out=buf), repeats)
    sub_s = _per_value(lambda x, y, buf: torch.sub(x, y, out=buf), repeats)
    out["floor_log_ns_per_value"], out["floor_exp_ns_per_value"] = log_s * 1e9, exp_s * 1e9
    out["floor_elementwise_ns_per_value"] = sub_s * 1e9
    for b in (100, 1000):
        A = torch.rand(S, m * b, dtype=torch.float64)
        B = torch.rand(T, m * b, dtype=torch.float64)
        product = float(np.median([_once(lambda: A @ B.T) for _ in range(repeats)]))
        del A, B
        stats = m * b * (T * log_s + S * exp_s)
        l1 = S * T * m * b * sub_s
        out[f"floor_bkld_stats_{b}_bins_s"], out[f"floor_bkld_stats_{b}_bins_ratio"] = stats, stats / product
        out[f"streaming_vdna_{b}_bins_s"], out[f"streaming_vdna_{b}_bins_ratio"] = l1, l1 / product
        out[f"floor_matmul_{b}_bins_s"] = product


def bench_other(out: dict, S: int, T: int, m: int, args, rng) -> None:
    k = args.fid_block
    covs = np.stack([np.cov(rng.normal(size=(2 * m, m)), rowvar=False) for _ in range(k)])
    means = rng.random((k, m))
    out["fid_per_pair_s"] = _once(lambda: fid_distance_matrix(means, covs, means, covs)) / (k * k)
    out["fid_all_pairs_extrapolated_s"] = out["fid_per_pair_s"] * S * T

    n = args.fed_params
    emb_s, emb_t = rng.random((S, n), dtype=np.float32), rng.random((T, n), dtype=np.float32)
    A, B = torch.from_numpy(emb_s.astype(np.float64)), torch.from_numpy(emb_t.astype(np.float64))
    out["fed_ratio"], out["fed_s"] = ratio(lambda: fed_distance_matrix(emb_s, emb_t), lambda: A @ B.T,
                                           max(1, args.repeats // 2))
    del emb_s, emb_t, A, B

    x = rng.normal(size=(args.sinkhorn_samples, m))
    y = rng.normal(size=(args.sinkhorn_samples, m)) + 0.1
    out["sinkhorn_per_pair_s"] = _once(lambda: sinkhorn_divergence(x, y, blur=0.01))
    out["sinkhorn_samples"] = args.sinkhorn_samples


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sources", type=int, default=71)
    p.add_argument("--targets", type=int, default=127)
    p.add_argument("--features", type=int, default=512)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch threads (one per job on a shared machine)")
    p.add_argument("--fid-block", type=int, default=4, help="FID is timed on a block x block sub-matrix")
    p.add_argument("--fed-params", type=int, default=1_000_000)
    p.add_argument("--sinkhorn-samples", type=int, default=1000)
    p.add_argument("--skip-other", action="store_true", help="only bKLD, VDNA and P2L")
    p.add_argument("--floors", action="store_true",
                   help="also the lower bound of bKLD's statistics and the streaming cost of VDNA")
    p.add_argument("--floors-only", action="store_true", help="only those")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    S, T, m = args.sources, args.targets, args.features
    out = {"sources": S, "targets": T, "features": m, "torch_threads": torch.get_num_threads(),
           "cpu_count": os.cpu_count(), "load_avg_1min_before": os.getloadavg()[0]}
    if args.floors or args.floors_only:
        bench_floors(out, S, T, m, args.repeats)
    if not args.floors_only:
        bench_binned(out, S, T, m, args.repeats, rng)
    if not (args.skip_other or args.floors_only):
        bench_other(out, S, T, m, args, rng)
    out["load_avg_1min_after"] = os.getloadavg()[0]
    report(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
