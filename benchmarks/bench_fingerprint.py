"""Fingerprint throughput: the pipeline against the fastest exact bare forward pass, and the
"ranges + 5 fingerprints" workflow before and after features were extracted once per task.

    python benchmarks/bench_fingerprint.py                         # resnet34, 224 px, CPU: throughput ratio
    python benchmarks/bench_fingerprint.py --workflow -n 200       # + ranges and 5 fingerprints, old vs new way
    python benchmarks/bench_fingerprint.py --device cuda --n 4096 --json out.json

Throughput (issue 15's target: pipeline >= 0.95 of the fastest exact bare forward). The bare pass runs
on ready-made tensors of the same preprocessed images (not random noise: on CPU the speed of a
forward pass depends on the values, e.g. denormal activations of a random network), once in
contiguous and once in channels-last memory format (and compiled with ``--compile``), all float32;
the pipeline (decode, resize, crop, flip, normalise, batch, forward) runs with the library's
defaults. Runs alternate so that all see the same machine load; the best of ``--repeats`` counts.

Workflow: the old way extracted every reference task twice (once for the ranges, once for its
fingerprint, same seed, hence the same draws) in contiguous memory format; the new way extracts
once (:func:`fingerprint_tasks`) in channels-last format. Both are timed here, in one process, with
the same thread count, as wall-clock and CPU seconds; the times for other -n are extrapolated
linearly from the measured images/s (the per-image cost does not depend on n; fixed costs such
as model creation are excluded from both).
"""
from __future__ import annotations

import argparse
import contextlib
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

from taskfp_lib.fingerprints import (FeatureExtractor, Fingerprint, ImageFolderTask, build_reference_ranges,
                                     extract_features, fingerprint_task, fingerprint_tasks)
from taskfp_lib.fingerprints.extract import _AugmentedDraws, extraction_threads, sample_plan, torch_threads

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


def timed(fn):
    """(wall seconds, CPU seconds of this process, result) of ``fn()``."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def bare_forward_once(extractor: FeatureExtractor, x: torch.Tensor, n: int, batch_size: int) -> float:
    t0 = time.perf_counter()
    done = 0
    while done < n:
        b = min(batch_size, n - done)
        extractor.forward(x[:b]).cpu()
        done += b
    sync(extractor.device)
    return time.perf_counter() - t0


@contextlib.contextmanager
def forward_timer(extractor: FeatureExtractor):
    """Accumulate the wall time the main thread spends inside ``extractor.forward`` (in a 1-element list):
    the rest of a pipeline run is waiting for decoding, i.e. decoding that the prefetch thread did not hide."""
    spent = [0.0]
    plain = extractor.forward

    def timed_forward(x):
        t0 = time.perf_counter()
        out = plain(x).cpu()
        spent[0] += time.perf_counter() - t0
        return out

    extractor.forward = timed_forward
    try:
        yield spent
    finally:
        del extractor.forward


def ready_batch(extractor: FeatureExtractor, folder: Path, batch_size: int) -> torch.Tensor:
    task = ImageFolderTask(folder)
    idx, aug = sample_plan(len(task), batch_size, seed=123)
    draws = _AugmentedDraws(task, idx, aug, extractor.make_transform(True))
    return torch.stack([draws[i][0] for i in range(batch_size)])


def throughput(args, folder: Path) -> dict:
    """Images/s of the bare forward (each exact variant) and of the pipeline; best of ``repeats``."""
    kw = dict(pretrained=args.pretrained, image_size=args.image_size, device=args.device)
    variants = {"contiguous": FeatureExtractor(args.model, channels_last=False, **kw),
                "channels_last": FeatureExtractor(args.model, channels_last=True, **kw)}
    if args.compile:
        variants["compiled_channels_last"] = FeatureExtractor(args.model, compile=True, **kw)
    pipe_ex = variants["compiled_channels_last" if args.compile else "channels_last"]
    x = ready_batch(pipe_ex, folder, args.batch_size)
    threads = extraction_threads(args.image_size, args.threads)
    best = {name: float("inf") for name in [*variants, "pipeline"]}
    feats, forward_share = None, float("nan")
    with torch_threads(threads):
        for ex in variants.values():
            ex.forward(x)  # warm-up (and compilation)
        for r in range(args.repeats):
            for name, ex in variants.items():
                best[name] = min(best[name], bare_forward_once(ex, x, args.n, args.batch_size))
            t0 = time.perf_counter()
            with forward_timer(pipe_ex) as in_forward:
                feats, _ = extract_features(folder, pipe_ex, n=args.n, seed=r, batch_size=args.batch_size,
                                            num_workers=args.workers, progress=False, threads=threads)
            sync(pipe_ex.device)
            took = time.perf_counter() - t0
            if took < best["pipeline"]:
                best["pipeline"], forward_share = took, in_forward[0] / took
    rates = {f"bare_{k}_images_per_s" if k != "pipeline" else "pipeline_images_per_s": args.n / v
             for k, v in best.items()}
    fastest = max(v for k, v in rates.items() if k.startswith("bare_"))
    ranges = build_reference_ranges(feats, pipe_ex.identity)
    w, _, _ = timed(lambda: Fingerprint.from_features(feats, ranges, task="bench", bins=(100, 1000), min_samples=1))
    return {**rates, "torch_threads": threads, "fastest_exact_bare_images_per_s": fastest,
            "pipeline_over_fastest_exact_bare": rates["pipeline_images_per_s"] / fastest,
            "pipeline_share_of_time_in_forward": forward_share,
            "binning_mean_cov_seconds_for_n": w}


def workflow(args, folders: list[Path]) -> dict:
    """Ranges over the tasks + one fingerprint per task: old way (extract twice, contiguous) vs new way."""
    kw = dict(pretrained=args.pretrained, image_size=args.image_size, device=args.device)
    old_ex = FeatureExtractor(args.model, channels_last=False, **kw)
    new_ex = FeatureExtractor(args.model, channels_last=True, **kw)
    common = dict(n=args.samples, seed=0, batch_size=args.batch_size, progress=False, threads=args.threads)

    def old_way():
        feats = {f.name: extract_features(f, old_ex, **common)[0] for f in folders}
        ranges = build_reference_ranges(feats, old_ex.identity)
        return ranges, {f.name: fingerprint_task(f, ranges, old_ex, **common) for f in folders}

    def new_way():
        return fingerprint_tasks({f.name: f for f in folders}, new_ex, **common)

    old_ex.forward(ready_batch(old_ex, folders[0], 2))
    new_ex.forward(ready_batch(new_ex, folders[0], 2))
    w_old, c_old, (r_old, fp_old) = timed(old_way)
    w_new, c_new, (r_new, fp_new) = timed(new_way)
    diff = max(float(np.abs(fp_old[k].mean - fp_new[k].mean).max() / max(np.abs(fp_old[k].mean).max(), 1e-30))
               for k in fp_old)
    out = {"workflow_tasks": len(folders), "workflow_n": args.samples,
           "before_wall_s": w_old, "before_cpu_s": c_old, "after_wall_s": w_new, "after_cpu_s": c_new,
           "after_over_before_wall": w_new / w_old, "max_rel_mean_difference_old_vs_new": diff}
    for n in (1000, 10_000):
        scale = n / args.samples
        out[f"extrapolated_n{n}_before_wall_min"] = w_old * scale / 60
        out[f"extrapolated_n{n}_after_wall_min"] = w_new * scale / 60
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet34")
    p.add_argument("--pretrained", action="store_true", help="timm ImageNet weights (default: random init; "
                                                             "throughput does not depend on the weights)")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--n", type=int, default=512, help="images per timed throughput run")
    p.add_argument("--distinct", type=int, default=128, help="distinct images in each synthetic task folder")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: the library's choice)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="also time a torch.compile'd probe")
    p.add_argument("--workflow", action="store_true", help="also time ranges + 5 fingerprints, old vs new way")
    p.add_argument("-n", "--samples", type=int, default=200, help="draws per task in the workflow timing")
    p.add_argument("--keep-denormals", action="store_true",
                   help="do not flush denormals (by default all passes run with torch.set_flush_denormal(True), "
                        "so that their speed does not depend on the image values)")
    p.add_argument("--json", type=Path, help="write the numbers as JSON")
    args = p.parse_args(argv)
    flushed = False if args.keep_denormals else torch.set_flush_denormal(True)
    out = {"model": args.model, "image_size": args.image_size, "device": args.device, "batch_size": args.batch_size,
           "n": args.n, "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
           "torch": torch.__version__, "flush_denormal": bool(flushed), "load_avg_1min_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        folders = [make_folder(Path(tmp) / f"task{i}", args.distinct, seed=i) for i in range(5)]
        out.update(throughput(args, folders[0]))
        if args.workflow:
            out.update(workflow(args, folders))
    out["load_avg_1min_end"] = os.getloadavg()[0]
    report(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
