"""Fingerprint throughput vs. the bare backbone forward pass on the same machine.

The fingerprint pipeline (decode, resize, random crop + flip, normalise, batch, forward, then
binning) should reach at least 80 % of the images/s of the bare forward pass on ready-made tensors.

    python benchmarks/bench_fingerprint.py                       # resnet34, 224 px, CPU
    python benchmarks/bench_fingerprint.py --device cuda --n 4096 --workers 8 --json out.json
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np
import torch
from PIL import Image

from taskfp_lib.fingerprints import (FeatureExtractor, Fingerprint, build_reference_ranges, extract_features)

from _report import report  # noqa: E402  (benchmarks/_report.py)


def make_folder(root: Path, count: int, seed: int = 0) -> Path:
    """``count`` JPEG images (smooth random content, 320x256) in two classes."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        d = root / f"class_{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 255, size=(16, 20, 3), dtype=np.uint8)
        Image.fromarray(small).resize((320, 256), Image.BILINEAR).save(d / f"{i:05d}.jpg", quality=90)
    return root


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def bare_forward_once(extractor: FeatureExtractor, x: torch.Tensor, n: int, batch_size: int) -> float:
    t0 = time.perf_counter()
    done = 0
    while done < n:
        b = min(batch_size, n - done)
        extractor.forward(x[:b]).cpu()
        done += b
    sync(extractor.device)
    return time.perf_counter() - t0


def pipeline_once(extractor: FeatureExtractor, folder: Path, n: int, batch_size: int, workers: int, seed: int):
    t0 = time.perf_counter()
    feats, _ = extract_features(folder, extractor, n=n, seed=seed, batch_size=batch_size, num_workers=workers,
                                progress=False)
    sync(extractor.device)
    return time.perf_counter() - t0, feats


def measure(extractor: FeatureExtractor, folder: Path, n: int, batch_size: int, workers: int, repeats: int):
    """Best-of-``repeats`` rates; bare and pipeline runs alternate so that both see the same machine load."""
    # the bare pass gets ready-made tensors of the same preprocessed images (not random noise: the speed of a
    # CPU forward pass depends on the values, e.g. denormal activations of a randomly initialised network)
    from taskfp_lib.fingerprints.extract import _AugmentedDraws, sample_plan
    from taskfp_lib.fingerprints.images import ImageFolderTask

    task = ImageFolderTask(folder)
    idx, aug = sample_plan(len(task), batch_size, seed=123)
    draws = _AugmentedDraws(task, idx, aug, extractor.make_transform(True))
    x = torch.stack([draws[i][0] for i in range(batch_size)])
    extractor.forward(x)  # warm-up
    extract_features(folder, extractor, n=batch_size, seed=0, batch_size=batch_size, num_workers=workers,
                     progress=False)
    best_bare = best_pipe = float("inf")
    feats = None
    for r in range(repeats):
        best_bare = min(best_bare, bare_forward_once(extractor, x, n, batch_size))
        t, feats = pipeline_once(extractor, folder, n, batch_size, workers, seed=r)
        best_pipe = min(best_pipe, t)
    return n / best_bare, n / best_pipe, feats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet34")
    p.add_argument("--pretrained", action="store_true", help="timm ImageNet weights (default: random init; "
                                                             "throughput does not depend on the weights)")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--n", type=int, default=512, help="images per timed run")
    p.add_argument("--distinct", type=int, default=128, help="distinct images in the synthetic task folder")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--keep-denormals", action="store_true",
                   help="do not flush denormals (by default both passes run with torch.set_flush_denormal(True), "
                        "so that their speed does not depend on the image values)")
    p.add_argument("--json", type=Path, help="write the numbers as JSON")
    args = p.parse_args(argv)
    flushed = False if args.keep_denormals else torch.set_flush_denormal(True)

    ex = FeatureExtractor(args.model, pretrained=args.pretrained, image_size=args.image_size, device=args.device)
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(Path(tmp) / "task", args.distinct)
        bare, fp_rate, feats = measure(ex, folder, args.n, args.batch_size, args.workers, args.repeats)
    ranges = build_reference_ranges(feats, ex.identity)
    t0 = time.perf_counter()
    Fingerprint.from_features(feats, ranges, task="bench", bins=(100, 1000), min_samples=1)
    binning = time.perf_counter() - t0
    out = {
        "model": args.model, "image_size": args.image_size, "device": args.device, "batch_size": args.batch_size,
        "workers": args.workers, "n": args.n, "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
        "load_avg_1min": os.getloadavg()[0], "flush_denormal": bool(flushed),
        "bare_forward_images_per_s": bare, "fingerprint_pipeline_images_per_s": fp_rate,
        "pipeline_over_bare": fp_rate / bare,
        "binning_mean_cov_seconds_for_n": binning,
        "binning_images_per_s": args.n / binning,
    }
    report(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
