"""All-pairs distance times at the paper's size: 71 sources x 127 targets, 512 features.

    python benchmarks/bench_distances.py [--json out.json]

bKLD/VDNA use random histograms with 100 and 1000 bins; FID and Sinkhorn are timed per pair
(and extrapolated to 71 x 127), FED on 1e6-parameter embeddings.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from taskfp_lib.distances import (bkld_distance_matrix, fed_distance_matrix, fid_distance_matrix,
                                  kld_averaged_distance_matrix, sinkhorn_divergence, vdna_distance_matrix)
from taskfp_lib.distances.binned import histogram_stats

from _report import report  # noqa: E402  (benchmarks/_report.py)


def timed(fn, repeats: int):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sources", type=int, default=71)
    p.add_argument("--targets", type=int, default=127)
    p.add_argument("--features", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--fid-block", type=int, default=4, help="FID is timed on a block x block sub-matrix")
    p.add_argument("--sinkhorn-samples", type=int, default=1000)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    S, T, m = args.sources, args.targets, args.features
    out = {"sources": S, "targets": T, "features": m, "torch_threads": torch.get_num_threads(),
           "cpu_count": os.cpu_count(), "load_avg_1min": os.getloadavg()[0]}

    means_t, means_s = rng.random((T, m)), rng.random((S, m))
    for b in (100, 1000):
        P = rng.random((T, m, b))
        P /= P.sum(-1, keepdims=True)
        Q = rng.random((S, m, b))
        Q /= Q.sum(-1, keepdims=True)
        for w in ("uniform", "target_softmax", "source_normalized"):
            out[f"bkld_{w}_{b}_bins_s"] = timed(
                lambda: bkld_distance_matrix(P, Q, w, target_means=means_t, source_means=means_s), args.repeats)
        # per-task statistics (sum P log P, logsumexp) are computed once per fingerprint and cached
        t0 = time.perf_counter()
        plogp, _ = histogram_stats(P)
        _, lse = histogram_stats(Q)
        out[f"histogram_stats_{b}_bins_all_tasks_once_s"] = time.perf_counter() - t0
        for w in ("uniform", "target_softmax", "source_normalized"):
            out[f"bkld_{w}_{b}_bins_cached_stats_s"] = timed(
                lambda: bkld_distance_matrix(P, Q, w, target_means=means_t, source_means=means_s,
                                             target_plogp=plogp, source_lse=lse), args.repeats)
        out[f"vdna_{b}_bins_s"] = timed(lambda: vdna_distance_matrix(P, Q), 1)
        del P, Q
    out["p2l_s"] = timed(lambda: kld_averaged_distance_matrix(means_t, means_s), args.repeats)

    k = args.fid_block
    covs = []
    for _ in range(k):
        a = rng.normal(size=(2 * m, m))
        covs.append(np.cov(a, rowvar=False))
    covs = np.stack(covs)
    t_block = timed(lambda: fid_distance_matrix(means_t[:k], covs, means_s[:k], covs), 1)
    out["fid_per_pair_s"] = t_block / (k * k)
    out["fid_all_pairs_extrapolated_s"] = out["fid_per_pair_s"] * S * T

    emb_t = rng.random((T, 1_000_000), dtype=np.float32)
    emb_s = rng.random((S, 1_000_000), dtype=np.float32)
    out["fed_1e6_params_s"] = timed(lambda: fed_distance_matrix(emb_t, emb_s), 1)
    del emb_t, emb_s

    x = rng.normal(size=(args.sinkhorn_samples, m))
    y = rng.normal(size=(args.sinkhorn_samples, m)) + 0.1
    out["sinkhorn_per_pair_s"] = timed(lambda: sinkhorn_divergence(x, y, blur=0.01), 1)
    out["sinkhorn_samples"] = args.sinkhorn_samples

    report(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
