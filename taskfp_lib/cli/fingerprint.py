"""``taskfp fingerprint``: reference ranges, task fingerprints, self-check, inspection and distances."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .._safety import terminal_frame, terminal_text
from ._options import bin_count, nonnegative_int, output_file, positive_int, unit_float
from ..federated.config import MIM_PROBE_PREFIX
from ..vocabulary import DEFAULT_DISTANCE, SELECTORS

DESCRIPTION = """\
Fingerprint a classification task without sharing its images.

A task is a folder with one sub-folder per class; files may be PNG/JPEG/TIFF, DICOM or NIfTI
(volumes give one image per slice: --slices; CT/MR intensities: --preset).

Workflow (paper, Methods):
  0. once per feature extractor, a consortium builds the reference ranges from reference tasks
     (the paper: 5 %/95 % quantiles of ImageNet-ResNet34 features of 28 development tasks);
     --fingerprints also writes the reference tasks' fingerprints from the same features:
        taskfp fingerprint ranges REF_TASK_DIR [...] -o ranges.npz --fingerprints fps/
  1. a lab fingerprints its private task:
        taskfp fingerprint create MY_TASK_DIR --ranges ranges.npz -o my_task.npz
     The fingerprint holds per-feature histograms, the mean and covariance of the probe features
     (and optionally a Fisher embedding) -- never a per-image feature.
  2. share the fingerprint with a knowledge cloud (`taskfp cloud add`) or query one (`taskfp cloud query`).

Probe weights: the paper's probe is timm's resnet34 with ImageNet weights, hub repository
timm/resnet34.a1_in1k, file model.safetensors. Offline, download that file once
(https://huggingface.co/timm/resnet34.a1_in1k/resolve/main/model.safetensors) and pass it or its
folder with --checkpoint; --random-init is for tests and demonstrations only (its distances are
not the paper's method, and every output says so).

Cost: the default -n 10,000 draws per task at 224 px take about 4-6 min per task on 2 CPU cores
(seconds on a GPU, used automatically); the expected time is printed before a long run starts.
"""


def _add_extractor_args(p: argparse.ArgumentParser, from_ranges: bool) -> None:
    g = p.add_argument_group("feature extractor" + (" (default: the one the range file belongs to)" if from_ranges else ""))
    g.add_argument("--model", default=None if from_ranges else "resnet34", help="timm architecture (paper: resnet34)")
    g.add_argument("--checkpoint", type=Path, metavar="PATH",
                   help="local weights file or folder instead of the hub (.safetensors or a torch state_dict; "
                        "the paper's probe: model.safetensors of timm/resnet34.a1_in1k)")
    g.add_argument("--random-init", action="store_true",
                   help="random initialisation instead of ImageNet weights (tests/demos only; outputs warn)")
    g.add_argument("--init-seed", type=int, default=None, help="torch seed for --random-init (default 0)")
    g.add_argument("--mim-encoder", type=Path, metavar="PATH",
                   help="alternative probe that works offline: a MIM encoder file from `taskfp federated pretrain` "
                        "(mean of ReLU(ViT tokens); not the paper's probe, and outputs say so)")
    g.add_argument("--image-size", type=positive_int, default=None if from_ranges else 224, help="crop size (paper: 224)")
    g.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu, cuda, cuda:1, ...")
    g.add_argument("--batch-size", type=positive_int, default=64)
    g.add_argument("--workers", type=nonnegative_int, default=0, help="data-loader worker processes (0: a prefetch thread)")
    g.add_argument("--threads", type=positive_int, default=None,
                   help="torch threads (default: 1 for crops <= 64 px, else $TASKFP_THREADS or all cores)")
    g.add_argument("--compile", action="store_true", help="torch.compile the probe (pays off for long runs)")
    g.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="contiguous instead of channels-last convolutions (same features to float tolerance)")
    g.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                   help="bfloat16 autocast is faster but its fingerprints compare only with bfloat16 ones")


def _add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--samples", type=positive_int, default=10_000,
                   help="images drawn with replacement per task (default and paper: 10,000, about 4-6 min per task "
                        "at 224 px on 2 CPU cores, seconds on a GPU; the expected time is printed first; try 1,000 "
                        "on a CPU)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws and augmentations")
    p.add_argument("--preset", default=None,
                   help="intensity preset: auto (default), minmax, ct:brain, ct:soft-tissue, ct:lung, ct:bone, "
                        "window:C/W, mr:p1-p99; recorded, and fingerprints read differently are not compared")
    p.add_argument("--slices", default=None,
                   help="slices of volumes, e.g. 'which=middle' or 'axis=2,which=0.25-0.75,stride=2' (default all)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(subparsers) -> None:
    parser = subparsers.add_parser("fingerprint", help="fingerprint a task (reference ranges, create, info, distance)",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="fp_command", metavar="STEP")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    p = sub.add_parser("ranges", help="step 0: build the reference-range file of an extractor",
                       description="Extract features of reference tasks (once per task) and store the per-feature "
                                   "5 %/95 % quantiles (versioned, with sha256) for this extractor; with "
                                   "--fingerprints, also the reference tasks' fingerprints from the same features.")
    p.add_argument("tasks", nargs="+", type=Path, help="reference task folders (root/<class>/<image>)")
    p.add_argument("-o", "--output", type=output_file, required=True, help="range file to write (.npz)")
    p.add_argument("--fingerprints", type=Path, metavar="DIR", help="also write <task>.npz fingerprints into DIR")
    p.add_argument("--bins", type=bin_count, nargs="+", default=[100, 1000], help="bin counts (paper: 100 and 1000)")
    p.add_argument("--quantiles", type=unit_float, nargs=2, default=(0.05, 0.95), metavar=("LOW", "HIGH"))
    _add_self_check_args(p, against=False)
    _add_sampling_args(p)
    _add_extractor_args(p, from_ranges=False)
    p.set_defaults(func=_cmd_ranges)

    p = sub.add_parser("create", help="step 1: fingerprint a task folder",
                       description="Fingerprint a task folder with the extractor of a reference-range file.")
    p.add_argument("task", type=Path, help="task folder (root/<class>/<files>)")
    p.add_argument("--ranges", type=Path, required=True, help="reference-range file of the extractor")
    p.add_argument("-o", "--output", type=output_file, required=True, help="fingerprint file to write (.npz)")
    p.add_argument("--name", help="task name (default: the folder name)")
    p.add_argument("--bins", type=bin_count, nargs="+", default=[100, 1000], help="bin counts (paper: 100 and 1000)")
    p.add_argument("--fisher", action="store_true", help="also compute the Fisher embedding (FED baseline; large)")
    p.add_argument("--n-fisher", type=positive_int, default=100, help="images for the Fisher embedding")
    _add_self_check_args(p, against=True)
    _add_sampling_args(p)
    _add_extractor_args(p, from_ranges=True)
    p.set_defaults(func=_cmd_create)

    p = sub.add_parser("demo-data", help="write the bundled medical demo tasks (DICOM, NIfTI, PNG; offline)",
                       description="Write eight small seeded demo tasks built from images that ship inside "
                                   "pydicom, pydicom-data, nibabel and scikit-image: CT and MR by body region "
                                   "(DICOM), MR brain slabs (NIfTI volumes), radiographs (DICOM MONOCHROME1), "
                                   "ultrasound, textures, faces, microscopy (PNG). For trying the workflow; "
                                   "no benchmark.")
    p.add_argument("out", type=Path, help="output folder (one task folder per task)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=int, default=64, help="side of the images in pixels (16-512)")
    p.add_argument("--per-class", type=int, default=60, help="images per class")
    p.add_argument("--tasks", nargs="+", help="only these tasks (default: all)")
    p.add_argument("--overwrite", action="store_true", help="replace task folders this command wrote before")
    p.set_defaults(func=_cmd_demo_data)

    p = sub.add_parser("info", help="validate fingerprint or range files and print their metadata")
    p.add_argument("files", nargs="+", type=Path)
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("distance", help="distance matrix between fingerprints (rows: sources, columns: targets)")
    p.add_argument("files", nargs="+", type=Path, help="fingerprint files (all are sources and targets)")
    p.add_argument("--distance", default=DEFAULT_DISTANCE,
                   help="file stem or paper label (default bKLD(small,target))")
    p.add_argument("-o", "--output", type=Path, help="write the matrix as CSV (published layout)")
    p.set_defaults(func=_cmd_distance)


def _add_self_check_args(p: argparse.ArgumentParser, against: bool) -> None:
    g = p.add_argument_group("self-check (re-fingerprint with another seed: is the copy nearest to the original?)")
    g.add_argument("--self-check", action="store_true",
                   help="re-fingerprint " + ("the task" if against else "every task") + " with seed+1 and report "
                        "whether the copy's nearest source is the original, and by what margin")
    if against:
        g.add_argument("--against", type=Path, nargs="+", default=[], metavar="PATH",
                       help="competing sources for --self-check: fingerprint files or a knowledge-cloud folder")
    g.add_argument("--check-distances", nargs="+", default=[DEFAULT_DISTANCE, SELECTORS["VDNA"].stem, SELECTORS["FID"].stem],
                   metavar="DISTANCE", help="distances of the self-check (default: bKLD(small,target), VDNA, FID)")


def _extractor(args, ranges=None):
    from ..fingerprints import FeatureExtractor

    ident = dict(ranges.extractor) if ranges is not None else {}
    if args.mim_encoder is not None or str(ident.get("name", "")).startswith(MIM_PROBE_PREFIX):
        return _mim_probe(args, ident)
    model = args.model or ident.get("name", "resnet34")
    image_size = args.image_size or ident.get("image_size", 224)
    weights = ident.get("weights", "")
    random_init = args.random_init or (ranges is not None and weights.startswith("random-init") and not args.checkpoint)
    init_seed = args.init_seed
    if init_seed is None:
        init_seed = int(weights.split("seed=")[1].split(":")[0]) if "seed=" in weights else 0
    if ranges is not None and weights.startswith("file:") and args.checkpoint is None:
        raise ValueError(f"the range file belongs to a checkpoint ({weights}); pass it with --checkpoint PATH")
    return FeatureExtractor(model, pretrained=not random_init, checkpoint=args.checkpoint, init_seed=init_seed,
                            image_size=image_size, device=args.device, channels_last=args.channels_last,
                            compile=args.compile, precision=args.precision)


def _mim_probe(args, ident: dict):
    """The federated chapter's MIM encoder as the probe (``--mim-encoder``); the fingerprint pipeline
    refuses it when the range file belongs to another encoder."""
    if args.mim_encoder is None:
        raise ValueError(f"the range file belongs to a MIM encoder ({ident.get('weights')}); "
                         "pass it with --mim-encoder PATH")
    clash = [o for o, v in (("--checkpoint", args.checkpoint), ("--random-init", args.random_init)) if v]
    if clash:  # the encoder file fixes architecture and crop size (--model and --image-size are not used)
        raise ValueError(f"--mim-encoder sets the probe; drop {', '.join(clash)}")
    from ..federated.compare import MIMProbe

    return MIMProbe.from_checkpoint(args.mim_encoder)


def _reading(args) -> dict:
    from ..fingerprints.images import parse_slices
    from ..imaging import parse_preset

    return {"preset": parse_preset(args.preset), "slices": parse_slices(args.slices)}


def _announce(args, ex, task, total: int) -> None:
    from ..fingerprints.extract import announce_expected_time

    if not args.quiet:
        announce_expected_time(task, ex, total, batch_size=args.batch_size, threads=args.threads)


def _print_check(table) -> None:
    """Self-check table and the probe line (if any)."""
    import pandas as pd

    if table.attrs.get("warning"):
        print(terminal_text(table.attrs["warning"]))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    ok = int(table["copy_nearest"].sum())
    print(f"self-check: the re-sampled copy was nearest to its original in {ok} of {len(table)} checks "
          "(margin = distance to the nearest other task minus distance to the original; > 0 is good)")


def _cmd_ranges(args) -> int:
    from ..fingerprints import fingerprint_tasks
    from ..fingerprints.images import as_task

    if not args.quantiles[0] < args.quantiles[1]:
        raise ValueError(f"--quantiles: LOW must be below HIGH, got {args.quantiles[0]} {args.quantiles[1]}")
    ex = _extractor(args)
    reading = _reading(args)
    tasks = {Path(t).name: as_task(t, **reading) for t in args.tasks}
    _announce(args, ex, next(iter(tasks.values())), args.samples * len(tasks) * (2 if args.self_check else 1))
    ranges, fps = fingerprint_tasks(tasks, ex, n=args.samples, seed=args.seed, bins=args.bins,
                                    quantiles=tuple(args.quantiles), batch_size=args.batch_size,
                                    num_workers=args.workers, progress=not args.quiet, threads=args.threads)
    ranges.save(args.output)
    print(f"wrote {args.output} (sha256 {ranges.sha256}, {ranges.n_features} features, "
          f"{len(tasks)} reference tasks, extractor {ex.identity['name']} / {ex.identity['weights']})")
    if args.fingerprints:
        args.fingerprints.mkdir(parents=True, exist_ok=True)
        for name, fp in fps.items():
            fp.save(args.fingerprints / f"{name}.npz")
        print(f"wrote {len(fps)} fingerprints into {args.fingerprints} (from the same features)")
    if args.self_check:
        _self_check_all(args, ex, ranges, tasks, fps)
    return 0


def _self_check_all(args, ex, ranges, tasks, fps) -> None:
    import pandas as pd

    from ..cloud import self_check

    tables = [self_check(task, ranges, ex, fps, original=fps[name], seed=args.seed, n=args.samples, bins=args.bins,
                         distances=args.check_distances, batch_size=args.batch_size, num_workers=args.workers,
                         progress=not args.quiet, threads=args.threads) for name, task in tasks.items()]
    table = pd.concat(tables, ignore_index=True)
    table.attrs["warning"] = tables[0].attrs.get("warning")
    _print_check(table)


def _sources(paths) -> dict:
    from ..cloud import KnowledgeCloud
    from ..fingerprints import Fingerprint

    out = {}
    for p in paths:
        fps = KnowledgeCloud(p).fingerprints() if Path(p).is_dir() else {None: Fingerprint.load(p)}
        out.update({fp.task: fp for fp in fps.values()})
    return out


def _cmd_create(args) -> int:
    from .._safety import check_task_name
    from ..cloud import self_check
    from ..fingerprints import ReferenceRanges, fingerprint_task

    check_task_name(args.name or Path(args.task).name, where="--name")   # before any extraction
    if args.self_check and not args.against:
        raise ValueError("--self-check needs competing sources: --against FINGERPRINT.npz ... or a cloud folder")
    ranges = ReferenceRanges.load(args.ranges)
    ex = _extractor(args, ranges)
    others = _sources(args.against) if args.self_check else {}
    _announce(args, ex, args.task, args.samples * (2 if args.self_check else 1))
    kw = dict(batch_size=args.batch_size, num_workers=args.workers, progress=not args.quiet, threads=args.threads,
              **_reading(args))
    fp = fingerprint_task(args.task, ranges, ex, n=args.samples, seed=args.seed, bins=args.bins,
                          with_fisher=args.fisher, n_fisher=args.n_fisher, name=args.name, **kw)
    fp.save(args.output)
    print(f"wrote {args.output}: task {fp.task!r}, {fp.n_samples} samples, bins {list(fp.bins)}, "
          f"ranges {fp.ranges_sha256[:12]}, preset {fp.reading['preset']['id']}, probe {fp.probe['source']}")
    if args.self_check:
        _print_check(self_check(args.task, ranges, ex, others, original=fp, seed=args.seed, n=args.samples,
                                bins=args.bins, distances=args.check_distances, **kw))
    return 0


def _cmd_demo_data(args) -> int:
    from ..imaging import DEMO_TASKS, build_demo_tasks

    paths = build_demo_tasks(args.out, seed=args.seed, image_size=args.image_size, per_class=args.per_class,
                             tasks=args.tasks, overwrite=args.overwrite)
    for name, path in paths.items():
        spec = DEMO_TASKS.get(name)
        what = f"{spec.domain}, {spec.fmt} (preset if read alone: {spec.preset}): {spec.description}" if spec else "pool"
        print(f"{str(path):32s} {what}")
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
    from ..distances import distance_matrix, get_distance, write_distance_csv
    from ..cloud.query import resolve_distance
    from ..fingerprints import Fingerprint, probe_warning

    resolve_distance(args.distance)      # unknown or feature-based distances fail before any loading
    fps = [Fingerprint.load(f) for f in args.files]
    D = distance_matrix(args.distance, fps)
    warning = probe_warning(fps)
    if warning:
        print(terminal_text(warning))
    if args.output:
        write_distance_csv(D, args.output)
        print(f"wrote {args.output} (rows: sources, columns: targets)")
    else:
        spec = get_distance(args.distance)
        print(f"{spec.label}: rows are sources, columns are targets" + ("" if spec.symmetric else
                                                                         " (asymmetric: d(source, target))"))
        print(terminal_frame(D).rename_axis(index="source", columns="target").to_string())
    return 0
