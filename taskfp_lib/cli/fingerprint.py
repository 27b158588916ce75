"""``taskfp fingerprint``: reference ranges, task fingerprints, inspection and distances."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._options import bin_count, nonnegative_int, output_file, positive_int, unit_float

DESCRIPTION = """\
Fingerprint a classification task without sharing its images.

Workflow (paper, Methods):
  0. once per feature extractor, a consortium builds the reference ranges from reference tasks
     (the paper: 5 %/95 % quantiles of ImageNet-ResNet34 features of 28 development tasks):
        taskfp fingerprint ranges REF_TASK_DIR [...] -o ranges.npz
  1. a lab fingerprints its private task (an image folder: one sub-folder per class):
        taskfp fingerprint create MY_TASK_DIR --ranges ranges.npz -o my_task.npz
     The fingerprint holds per-feature histograms, the mean and covariance of the probe features
     (and optionally a Fisher embedding) -- never a per-image feature.
  2. share the fingerprint with a knowledge cloud (`taskfp cloud add`) or query one (`taskfp cloud query`).
"""


def _add_extractor_args(p: argparse.ArgumentParser, from_ranges: bool) -> None:
    g = p.add_argument_group("feature extractor" + (" (default: the one the range file belongs to)" if from_ranges else ""))
    g.add_argument("--model", default=None if from_ranges else "resnet34", help="timm architecture (paper: resnet34)")
    g.add_argument("--checkpoint", type=Path, help="local weights file instead of timm hub weights")
    g.add_argument("--random-init", action="store_true",
                   help="random initialisation instead of ImageNet weights (tests/demos only)")
    g.add_argument("--init-seed", type=int, default=None, help="torch seed for --random-init (default 0)")
    g.add_argument("--image-size", type=positive_int, default=None if from_ranges else 224, help="crop size (paper: 224)")
    g.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    g.add_argument("--batch-size", type=positive_int, default=64)
    g.add_argument("--workers", type=nonnegative_int, default=0, help="data-loader worker processes (0: a prefetch thread)")


def _add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--samples", type=positive_int, default=10_000, help="images drawn with replacement (paper: 10,000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws and augmentations")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(subparsers) -> None:
    parser = subparsers.add_parser("fingerprint", help="fingerprint a task (reference ranges, create, info, distance)",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="fp_command", metavar="STEP")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    p = sub.add_parser("ranges", help="step 0: build the reference-range file of an extractor",
                       description="Extract features of reference tasks and store the per-feature 5 %/95 % "
                                   "quantiles (versioned, with sha256) for this extractor.")
    p.add_argument("tasks", nargs="+", type=Path, help="reference task folders (root/<class>/<image>)")
    p.add_argument("-o", "--output", type=output_file, required=True, help="range file to write (.npz)")
    p.add_argument("--quantiles", type=unit_float, nargs=2, default=(0.05, 0.95), metavar=("LOW", "HIGH"))
    _add_sampling_args(p)
    _add_extractor_args(p, from_ranges=False)
    p.set_defaults(func=_cmd_ranges)

    p = sub.add_parser("create", help="step 1: fingerprint a task folder",
                       description="Fingerprint an image-folder task with the extractor of a reference-range file.")
    p.add_argument("task", type=Path, help="task folder (root/<class>/<image>)")
    p.add_argument("--ranges", type=Path, required=True, help="reference-range file of the extractor")
    p.add_argument("-o", "--output", type=output_file, required=True, help="fingerprint file to write (.npz)")
    p.add_argument("--name", help="task name (default: the folder name)")
    p.add_argument("--bins", type=bin_count, nargs="+", default=[100, 1000], help="bin counts (paper: 100 and 1000)")
    p.add_argument("--fisher", action="store_true", help="also compute the Fisher embedding (FED baseline; large)")
    p.add_argument("--n-fisher", type=positive_int, default=100, help="images for the Fisher embedding")
    _add_sampling_args(p)
    _add_extractor_args(p, from_ranges=True)
    p.set_defaults(func=_cmd_create)

    p = sub.add_parser("info", help="validate fingerprint or range files and print their metadata")
    p.add_argument("files", nargs="+", type=Path)
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("distance", help="distance matrix between fingerprints (rows: sources, columns: targets)")
    p.add_argument("files", nargs="+", type=Path, help="fingerprint files (all are sources and targets)")
    p.add_argument("--distance", default="KLD-PP:NS-W:TS-100-BINS",
                   help="file stem or paper label (default bKLD(small,target))")
    p.add_argument("-o", "--output", type=output_file, help="write the matrix as CSV (published layout)")
    p.set_defaults(func=_cmd_distance)


def _extractor(args, ranges=None):
    from ..fingerprints import FeatureExtractor

    ident = dict(ranges.extractor) if ranges is not None else {}
    model = args.model or ident.get("name", "resnet34")
    image_size = args.image_size or ident.get("image_size", 224)
    weights = ident.get("weights", "")
    random_init = args.random_init or (ranges is not None and weights.startswith("random-init") and not args.checkpoint)
    init_seed = args.init_seed
    if init_seed is None:
        init_seed = int(weights.split("seed=")[1].split(":")[0]) if "seed=" in weights else 0
    if ranges is not None and weights.startswith("file:") and args.checkpoint is None:
        raise ValueError(f"the range file belongs to a checkpoint ({weights}); pass it with --checkpoint FILE")
    return FeatureExtractor(model, pretrained=not random_init, checkpoint=args.checkpoint, init_seed=init_seed,
                            image_size=image_size, device=args.device)


def _cmd_ranges(args) -> int:
    from ..fingerprints import build_reference_ranges, extract_features

    if not args.quantiles[0] < args.quantiles[1]:
        raise ValueError(f"--quantiles: LOW must be below HIGH, got {args.quantiles[0]} {args.quantiles[1]}")
    ex = _extractor(args)
    feats = {}
    for t in args.tasks:
        f, _ = extract_features(t, ex, n=args.samples, seed=args.seed, batch_size=args.batch_size,
                                num_workers=args.workers, progress=not args.quiet)
        feats[Path(t).name] = f
    ranges = build_reference_ranges(feats, ex.identity, quantiles=tuple(args.quantiles),
                                    reference={"seed": args.seed})
    ranges.save(args.output)
    print(f"wrote {args.output} (sha256 {ranges.sha256}, {ranges.n_features} features, "
          f"{len(feats)} reference tasks, extractor {ex.identity['name']} / {ex.identity['weights']})")
    return 0


def _cmd_create(args) -> int:
    from ..fingerprints import ReferenceRanges, fingerprint_task

    from .._safety import check_task_name

    check_task_name(args.name or Path(args.task).name, where="--name")   # before any extraction
    ranges = ReferenceRanges.load(args.ranges)
    ex = _extractor(args, ranges)
    fp = fingerprint_task(args.task, ranges, ex, n=args.samples, seed=args.seed, bins=args.bins,
                          batch_size=args.batch_size, num_workers=args.workers, with_fisher=args.fisher,
                          n_fisher=args.n_fisher, name=args.name, progress=not args.quiet)
    fp.save(args.output)
    print(f"wrote {args.output}: task {fp.task!r}, {fp.n_samples} samples, bins {list(fp.bins)}, "
          f"ranges {fp.ranges_sha256[:12]}")
    return 0


def _cmd_info(args) -> int:
    from ..fingerprints import Fingerprint, ReferenceRanges
    from ..fingerprints import FileFormatError

    out = []
    for f in args.files:
        try:
            out.append({"file": str(f), "kind": "fingerprint", **Fingerprint.load(f).summary()})
        except FileFormatError as err:
            if "expected format" not in str(err):
                raise
            r = ReferenceRanges.load(f)
            out.append({"file": str(f), "kind": "reference-ranges", "sha256": r.sha256, "extractor": r.extractor,
                        "quantiles": list(r.quantiles), "n_features": r.n_features, "reference": r.reference})
    json.dump(out, sys.stdout, indent=1, default=str)
    print()
    return 0


def _cmd_distance(args) -> int:
    from ..distances import distance_matrix, write_distance_csv
    from ..fingerprints import Fingerprint

    from ..cloud.query import resolve_distance

    resolve_distance(args.distance)      # unknown or feature-based distances fail before any loading
    fps = [Fingerprint.load(f) for f in args.files]
    D = distance_matrix(args.distance, fps)
    if args.output:
        write_distance_csv(D, args.output)
        print(f"wrote {args.output}")
    else:
        print(D.to_string())
    return 0
