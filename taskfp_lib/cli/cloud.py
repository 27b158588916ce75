"""``taskfp cloud``: a local knowledge cloud of task fingerprints."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._safety import csv_safe_frame, terminal_frame, terminal_text
from ._options import nonnegative_int, output_file
from ..vocabulary import DEFAULT_DISTANCE

DESCRIPTION = """\
A knowledge cloud holds fingerprints of earlier tasks together with what worked for them
(best architecture, a reference to the augmentation policy, whether the data is shareable).

Workflow (paper, Fig. 1):
  taskfp cloud init CLOUD                                  create an empty cloud (a directory)
  taskfp cloud add CLOUD task.npz --best-architecture convnext_tiny --augmentation-policy policies/task.json
                                                           contribute a fingerprint and its meta information
  taskfp cloud list CLOUD                                  what is in the cloud
  taskfp cloud query CLOUD my_task.npz -k 3                the k closest earlier tasks = the transfer sources
  taskfp cloud export CLOUD shared.zip                     share the cloud with another lab ...
  taskfp cloud import CLOUD shared.zip                     ... which imports it (validated; nothing is executed)
  taskfp cloud remove CLOUD TASK
All fingerprints of a cloud must come from the same extractor weights and reference-range file.
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser("cloud", help="knowledge cloud: init, add, list, query, remove, export, import",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cloud_command", metavar="OPERATION")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    p = sub.add_parser("init", help="create an empty knowledge cloud directory")
    p.add_argument("cloud", type=Path)
    p.set_defaults(func=_init)

    p = sub.add_parser("add", help="add fingerprint files with meta information")
    p.add_argument("cloud", type=Path)
    p.add_argument("fingerprints", nargs="+", type=Path)
    p.add_argument("--best-architecture", help="best model found for the task (e.g. a timm name)")
    p.add_argument("--augmentation-policy", help="reference (path/URL/id) to the task's augmentation policy")
    p.add_argument("--data-shareable", action="store_true", help="the images can be shared for co-training")
    p.add_argument("--contact")
    p.add_argument("--notes")
    p.add_argument("--overwrite", action="store_true", help="replace an entry with the same task name")
    p.set_defaults(func=_add)

    p = sub.add_parser("list", help="list the tasks in the cloud")
    p.add_argument("cloud", type=Path)
    p.add_argument("--csv", type=output_file, help="also write the listing as CSV")
    p.set_defaults(func=_list)

    p = sub.add_parser("remove", help="remove a task from the cloud")
    p.add_argument("cloud", type=Path)
    p.add_argument("task")
    p.set_defaults(func=_remove)

    p = sub.add_parser("query", help="rank the cloud's tasks as transfer sources for a fingerprint",
                       description="Rank the cloud's tasks by their distance to the query task (the target); "
                                   "the top k are the recommended transfer sources.")
    p.add_argument("cloud", type=Path)
    p.add_argument("fingerprint", type=Path, help="fingerprint of the new task")
    p.add_argument("-k", type=nonnegative_int, default=3, help="number of sources (paper: 3; 0 = all)")
    p.add_argument("--distance", default=DEFAULT_DISTANCE,
                   help="file stem or paper label (default: bKLD(small,target), the paper's recommendation)")
    p.add_argument("--exclude", nargs="*", default=[], help="cloud tasks to ignore (e.g. sharing images)")
    p.add_argument("--csv", type=output_file, help="also write the ranking as CSV (formula-like cells "
                                                    "neutralised with a leading ')")
    p.set_defaults(func=_query)

    p = sub.add_parser("export", help="write the cloud (or some tasks) to a zip archive for another lab")
    p.add_argument("cloud", type=Path)
    p.add_argument("archive", type=output_file)
    p.add_argument("--tasks", nargs="*", help="only these tasks")
    p.set_defaults(func=_export)

    p = sub.add_parser("import", help="import a shared archive (validated; nothing is executed)")
    p.add_argument("cloud", type=Path)
    p.add_argument("archive", type=Path)
    p.add_argument("--on-conflict", choices=["error", "skip", "replace"], default="error")
    p.set_defaults(func=_import)


def _open(path):
    from ..cloud import KnowledgeCloud

    return KnowledgeCloud(path)


def _init(args) -> int:
    from ..cloud import KnowledgeCloud

    KnowledgeCloud.create(args.cloud)
    print(f"created knowledge cloud {args.cloud}")
    return 0


def _add(args) -> int:
    from ..cloud import TaskMeta
    from ..fingerprints import Fingerprint

    cloud = _open(args.cloud)
    meta = TaskMeta.from_dict({"best_architecture": args.best_architecture, "augmentation_policy": args.augmentation_policy,
                               "data_shareable": args.data_shareable, "contact": args.contact, "notes": args.notes},
                              where="options")
    fps = [Fingerprint.load(f) for f in args.fingerprints]  # every file is checked before anything is added
    for name in cloud.add_many(fps, meta, overwrite=args.overwrite):
        print(f"added {terminal_text(repr(name))}")
    return 0


def _write_csv(df, path, **kwargs) -> None:
    from .._files import atomic_path

    with atomic_path(path, suffix=".csv") as tmp:
        csv_safe_frame(df).to_csv(tmp, index=False, **kwargs)


def _list(args) -> int:
    df = _open(args.cloud).list()
    if args.csv:
        _write_csv(df, args.csv)
    print(terminal_frame(df).to_string(index=False) if len(df) else "(empty knowledge cloud)")
    return 0


def _remove(args) -> int:
    _open(args.cloud).remove(args.task)
    print(f"removed {terminal_text(repr(args.task))}")
    return 0


def _query(args) -> int:
    from ..cloud.query import resolve_distance
    from ..cloud import query_cloud
    from ..fingerprints import Fingerprint

    spec = resolve_distance(args.distance)   # an unknown or feature-based distance fails before any loading
    cloud = _open(args.cloud)
    fp = Fingerprint.load(args.fingerprint)
    ranking, margin, warning = query_cloud(cloud, fp, distance=args.distance, k=args.k, exclude=args.exclude)
    for name, reason in ranking.attrs.get("quarantined", {}).items():
        print(terminal_text(f"taskfp cloud query: warning: entry {name!r} left out of the ranking: {reason}"),
              file=sys.stderr)
    if args.csv:
        _write_csv(ranking, args.csv, float_format="%.17g")
    if warning:
        print(terminal_text(warning))
    print(f"closest source tasks for the target {terminal_text(repr(fp.task))} by {spec.label} ({spec.name}; "
          "d(source, target), lower = closer):")
    cols = ["rank", "source", "distance", "best_architecture", "augmentation_policy", "data_shareable"]
    print(terminal_frame(ranking[cols]).to_string(index=False))
    print(margin.describe())
    return 0


def _export(args) -> int:
    path = _open(args.cloud).export(args.archive, names=args.tasks)
    print(f"wrote {terminal_text(path)}")
    return 0


def _import(args) -> int:
    done = _open(args.cloud).import_archive(args.archive, on_conflict=args.on_conflict)
    print(terminal_text(f"imported {len(done)} task(s): {', '.join(done)}"))
    return 0
