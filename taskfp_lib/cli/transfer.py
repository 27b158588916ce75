"""``taskfp transfer``: run the transfer pipelines and the experiment grid.

Sub-commands
------------
* ``taskfp transfer demo-data OUT``: write small image-folder tasks from scikit-learn's digits.
* ``taskfp transfer run --scenario S --target DIR [--source DIR | --policy FILE]``: one training.
* ``taskfp transfer grid SPEC.json --workdir W [--scheduler ADDR | --local-cluster N]``: run the
  grid (resumable) and write the outcome files in the published layout to ``W/exp``.
* ``taskfp transfer status W``: finished / pending jobs per kind of the grid in work directory W.
* ``taskfp transfer outcomes W [--out DIR]``: (re)write the outcome files of that grid.
* ``taskfp transfer check-policies``: load every shipped augmentation policy under albumentations 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SCENARIO_CHOICES = ("baseline", "arch", "pretrain", "augmentation", "multi_task")


def _train_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("training recipe (defaults: the paper's)")
    g.add_argument("--arch", help="timm architecture (default resnet34)")
    g.add_argument("--image-size", type=int)
    g.add_argument("--epochs", type=int, dest="max_epochs")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--no-lr-find", dest="lr_find", action="store_const", const=False,
                   help="skip Lightning's learning-rate finder")
    g.add_argument("--no-pretrained", dest="pretrained", action="store_const", const=False,
                   help="random initialisation instead of ImageNet weights")
    g.add_argument("--weights-dir", help="folder with local ImageNet weights <arch>.safetensors/.pth (offline)")
    g.add_argument("--shrink-train", type=int)
    g.add_argument("--limit-train-batches", type=int)
    g.add_argument("--accelerator", help="cpu, gpu, auto (default)")
    g.add_argument("--precision", help="Lightning precision, e.g. 16-mixed on GPUs")
    g.add_argument("--threads", type=int, dest="num_threads", help="torch CPU threads")
    g.add_argument("--workers", type=int, dest="num_workers", help="DataLoader worker processes")


_TRAIN_KEYS = ("arch", "image_size", "max_epochs", "batch_size", "lr", "lr_find", "pretrained", "weights_dir",
               "shrink_train", "limit_train_batches", "accelerator", "precision", "num_threads", "num_workers")


def _train_config(args, base=None):
    from taskfp_lib.transfer.pipelines import TrainConfig

    changes = {k: getattr(args, k) for k in _TRAIN_KEYS if getattr(args, k, None) is not None}
    return (base or TrainConfig()).replace(**changes, progress=not getattr(args, "quiet", False))


def _demo_data(args) -> int:
    from taskfp_lib.transfer.demo import DIGIT_TASKS, write_digit_tasks

    names = args.tasks or list(DIGIT_TASKS)
    paths = write_digit_tasks(args.out, names, size=args.size, max_per_class=args.max_per_class, seed=args.seed)
    for name, path in paths.items():
        print(f"{name}\t{path}")
    return 0


def _run(args) -> int:
    from taskfp_lib.transfer import pipelines as P

    cfg = _train_config(args)
    if args.scenario in ("pretrain", "multi_task") and not args.source:
        raise ValueError(f"--scenario {args.scenario} needs --source DIR")
    if args.scenario == "augmentation":
        if args.policy:
            policy = args.policy
        elif args.policy_task:
            from taskfp_lib.transfer.policies import policy_file

            try:
                policy = str(policy_file(args.policy_task, args.repetition))
            except KeyError as err:
                raise ValueError(err.args[0]) from None
        else:
            raise ValueError("--scenario augmentation needs --policy FILE or --policy-task NAME")
        result = P.run_augmentation(policy, args.target, cfg, args.seed, source=args.policy_task, shrunk=args.shrunk)
    elif args.scenario == "baseline":
        result = P.run_baseline(args.target, cfg, args.seed, shrunk=args.shrunk)
    elif args.scenario == "arch":
        result = P.run_architecture(args.target, cfg.arch, cfg, args.seed, shrunk=args.shrunk)
    elif args.scenario == "pretrain":
        result = P.run_pretraining(args.source, args.target, cfg, args.seed, shrunk=args.shrunk)
    else:
        result = P.run_cotraining(args.source, args.target, cfg, args.seed, shrunk=args.shrunk)
    text = result.to_json()
    if args.out:
        from taskfp_lib._files import atomic_write_text

        atomic_write_text(Path(args.out), text + "\n")
    print(json.dumps({"scenario": result.scenario, "target": result.target, "source": result.source,
                      "arch": result.arch, "seed": result.seed, "shrunk": result.shrunk, **result.metrics}))
    return 0


def _spec(args):
    from taskfp_lib.transfer.grid import GridSpec

    spec = GridSpec.from_json(args.spec)
    overrides = {k: getattr(args, k) for k in _TRAIN_KEYS if getattr(args, k, None) is not None}
    if overrides:
        spec.train = spec.train.replace(**overrides)
    return spec


def _grid(args) -> int:
    from taskfp_lib.transfer.grid import run_grid, write_outcomes

    spec = _spec(args)
    client = cluster = None
    try:
        if args.scheduler or args.local_cluster:
            from distributed import Client, LocalCluster

            if args.scheduler:
                client = Client(args.scheduler)
            else:
                cluster = LocalCluster(n_workers=args.local_cluster, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
                client = Client(cluster)
        counts = run_grid(spec, args.workdir, client=client, progress=not args.quiet, max_jobs=args.max_jobs)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    print(json.dumps(counts))
    if counts["ran"] + counts["skipped"] == counts["total"]:
        for path in write_outcomes(spec, args.workdir, args.out):
            print(path)
    return 0


def _workdir_spec(args):
    """The effective specification a grid run recorded in its work directory."""
    from taskfp_lib.transfer.grid import GridSpec

    path = Path(args.workdir) / "grid.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no grid specification; run 'taskfp transfer grid SPEC --workdir "
                                f"{args.workdir}' first")
    return GridSpec.from_json(path)


def _status(args) -> int:
    from taskfp_lib.transfer.grid import job_status

    status = job_status(_workdir_spec(args), args.workdir)
    table = status.groupby("kind")["done"].agg(done="sum", total="size").astype(int)
    print(table.to_string())
    print(f"all\t{int(status['done'].sum())}/{len(status)}")
    return 0


def _outcomes(args) -> int:
    from taskfp_lib.transfer.grid import write_outcomes

    for path in write_outcomes(_workdir_spec(args), args.workdir, args.out):
        print(path)
    return 0


def _check_policies(args) -> int:
    from taskfp_lib.upstream.manifest import data_path
    from taskfp_lib.transfer.policies import load_policy, shipped_policy_relpaths

    rels = shipped_policy_relpaths()
    if not rels:
        raise FileNotFoundError("no shipped augmentation policies found (data manifest or TASKFP_MIRROR)")
    for i, rel in enumerate(rels, 1):
        load_policy(data_path(rel), image_size=args.image_size)
        if not args.quiet:
            print(f"\r{i}/{len(rels)} policies loaded", end="", file=sys.stderr)
    if not args.quiet:
        print(file=sys.stderr)
    print(f"{len(rels)} policies load under albumentations 2")
    return 0


def register(subparsers) -> None:
    """Add ``taskfp transfer`` and its sub-commands."""
    parser = subparsers.add_parser("transfer", help="knowledge-transfer pipelines and the experiment grid",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="transfer_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    p = sub.add_parser("demo-data", help="write small digits image tasks (offline demo data)")
    p.add_argument("out", help="output folder (one sub-folder per task)")
    p.add_argument("--tasks", nargs="+", help="task names (default: all)")
    p.add_argument("--size", type=int, default=32, help="image side length")
    p.add_argument("--max-per-class", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_demo_data)

    p = sub.add_parser("run", help="one training of a scenario")
    p.add_argument("--scenario", required=True, choices=SCENARIO_CHOICES)
    p.add_argument("--target", required=True, help="target task folder (one sub-folder per class)")
    p.add_argument("--source", help="source task folder (pretrain, multi_task)")
    p.add_argument("--policy", help="augmentation policy JSON (augmentation)")
    p.add_argument("--policy-task", help="use the authors' learned policy of this paper task (augmentation)")
    p.add_argument("--repetition", type=int, default=0, help="policy repetition 0-2 (with --policy-task)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shrunk", action="store_true", help="train on the shrunk target variant")
    p.add_argument("--out", help="write the full run record (JSON) here")
    p.add_argument("--quiet", action="store_true")
    _train_options(p)
    p.set_defaults(func=_run)

    p = sub.add_parser("grid", help="run the experiment grid (resumable) and write the outcome files")
    p.add_argument("spec", help="grid specification (JSON)")
    p.add_argument("--workdir", required=True, help="folder for run records, checkpoints and outcomes")
    p.add_argument("--out", help="folder for the outcome files (default WORKDIR/exp)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (e.g. tcp://host:8786)")
    p.add_argument("--local-cluster", type=int, metavar="N", help="run on a local Dask cluster of N workers")
    p.add_argument("--max-jobs", type=int, help="stop after N new jobs")
    p.add_argument("--quiet", action="store_true")
    _train_options(p)
    p.set_defaults(func=_grid)

    p = sub.add_parser("status", help="finished and pending jobs of a grid work directory")
    p.add_argument("workdir", help="work directory of 'taskfp transfer grid'")
    p.set_defaults(func=_status)

    p = sub.add_parser("outcomes", help="write the outcome files of a finished grid")
    p.add_argument("workdir", help="work directory of 'taskfp transfer grid'")
    p.add_argument("--out", help="folder for the outcome files (default WORKDIR/exp)")
    p.set_defaults(func=_outcomes)

    p = sub.add_parser("check-policies", help="load every shipped augmentation policy under albumentations 2")
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_check_policies)
