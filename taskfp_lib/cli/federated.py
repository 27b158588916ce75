"""``taskfp federated``: MedUniverse stage-wise federated learning on Flower.

Sub-commands
------------
* ``taskfp federated pretrain --tasks DIR ... -o mim.safetensors``: SimMIM pretraining of the base
  encoder on the tasks' pool splits.
* ``taskfp federated simulate --tasks DIR ... --initial mim.safetensors --run-dir W``: the whole
  federation in one process (Flower simulation engine).
* ``taskfp federated server --initial mim.safetensors --run-dir W [--host H] [--port P]``: the
  server of the deployment engine (SuperLink + the stage-wise ServerApp).
* ``taskfp federated client --superlink H:P --task-dir DIR``: one site (SuperNode + ClientApp).
* ``taskfp federated local --tasks DIR ... [--clients N] --run-dir W``: server and N client
  processes on loopback (pretrains the initial model when ``--initial`` is not given).
* ``taskfp federated status W``: the per-stage accuracy table of a run directory.

Options of the federation (``--stages``, ``--clients-per-stage``, ``--aggregation``, ...) are
shared; ``--option KEY=VALUE`` sets any other field of ``taskfp_lib.federated.config.FedConfig``.
"""
from __future__ import annotations

import argparse
from pathlib import Path



def _fed_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("federation (defaults: taskfp_lib.federated.config.FedConfig)")
    g.add_argument("--stages", type=int)
    g.add_argument("--clients-per-stage", type=int)
    g.add_argument("--aggregation", choices=("fedavg", "mean", "median"))
    g.add_argument("--selection", choices=("cycle", "random"))
    g.add_argument("--seed", type=int)
    g.add_argument("--no-evaluate", dest="evaluate", action="store_const", const=False,
                   help="skip the per-stage evaluation on every client")
    g.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="any FedConfig field, e.g. -o image_size=48 -o depth=4 (repeatable)")


def _config(args):
    from taskfp_lib.federated.config import FedConfig

    values: dict = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--option {item!r}: expected KEY=VALUE")
        values[key.strip()] = value.strip()
    for key in ("stages", "clients_per_stage", "aggregation", "selection", "seed", "evaluate"):
        if getattr(args, key, None) is not None:
            values[key] = getattr(args, key)
    return FedConfig.from_dict(values)


def pretrain_to_file(task_dirs, cfg, out, pool_dirs=(), progress: bool = True) -> list[float]:
    """MIM-pretrain on the tasks' pool splits plus whole ``pool_dirs`` and save the encoder; returns losses."""
    import numpy as np

    from taskfp_lib.federated.data import load_pool, load_unlabelled, to_tensor
    from taskfp_lib.federated.mim import encoder_state, pretrain_mim
    from taskfp_lib.federated.weights import MIM_FORMAT, save_checkpoint

    parts = [load_pool(task_dirs, cfg)] if task_dirs and cfg.pool_fraction > 0 else []
    parts += [load_unlabelled(pool_dirs, cfg.image_size)] if pool_dirs else []
    if not parts:
        raise ValueError("no MIM pool: give --pool folders, or --tasks with -o pool_fraction > 0")
    encoder, losses = pretrain_mim(to_tensor(np.concatenate(parts)), cfg, seed=cfg.seed, progress=progress)
    save_checkpoint(out, encoder_state(encoder), {"format": MIM_FORMAT, "config": cfg.to_dict(), "losses": losses,
                                                  "pool": [str(p) for p in list(task_dirs) + list(pool_dirs)]})
    return losses


def _pretrain(args) -> int:
    cfg = _config(args)
    losses = pretrain_to_file(args.tasks, cfg, args.out, args.pool, progress=not args.quiet)
    print(f"MIM loss {losses[0]:.4f} -> {losses[-1]:.4f} over {len(losses)} epochs; encoder written to {args.out}")
    return 0


def _initial(path, cfg):
    """The initial encoder, checked against the model options before anything starts."""
    from taskfp_lib.federated.apps import check_initial_model
    from taskfp_lib.federated.weights import MIM_FORMAT, load_checkpoint

    state, meta = load_checkpoint(path)
    if meta.get("format") != MIM_FORMAT:
        raise ValueError(f"{path}: not a MIM encoder written by taskfp federated pretrain")
    return check_initial_model(state, cfg)


def _print_run(run_dir) -> None:
    from taskfp_lib.federated.runstate import read_summary, stage_table

    table = stage_table(run_dir)
    if len(table):
        wide = table.pivot(index="task", columns="stage", values="accuracy")
        print(wide.to_string(float_format=lambda v: f"{v:.3f}"))
    summary = read_summary(run_dir)
    print(f"{summary['completed_stages']} stages; base model {summary['final_checkpoint']} "
          f"(sha256 {summary['base_sha256'][:16]}); refused updates: {len(summary['refused'])}")


def _simulate(args) -> int:
    from taskfp_lib.federated.engines import run_simulation_engine

    cfg = _config(args)
    run_simulation_engine(args.tasks, cfg, args.run_dir, _initial(args.initial, cfg), num_cpus=args.cpus,
                          quiet=args.quiet)
    _print_run(args.run_dir)
    return 0


def _server(args) -> int:
    from taskfp_lib.federated.deploy import run_server

    cfg = _config(args)
    _initial(args.initial, cfg)
    run_server(cfg, args.run_dir, args.initial, host=args.host, port=args.port, timeout=args.timeout)
    _print_run(args.run_dir)
    return 0


def _client(args) -> int:
    from taskfp_lib.federated.deploy import run_client

    return run_client(args.superlink, args.task_dir, port=args.port)


def _local(args) -> int:
    from taskfp_lib.federated.deploy import run_local

    tasks = list(args.tasks)[:args.clients] if args.clients else list(args.tasks)
    if args.clients and len(tasks) < args.clients:
        raise ValueError(f"--clients {args.clients} needs as many --tasks folders, got {len(tasks)}")
    cfg = _config(args)
    initial = args.initial
    if initial is None:
        initial = Path(args.run_dir) / "mim_encoder.safetensors"
        if not initial.is_file():
            pretrain_to_file(tasks, cfg, initial, args.pool, progress=not args.quiet)
    _initial(initial, cfg)
    run_local(tasks, cfg, args.run_dir, initial, timeout=args.timeout)
    _print_run(args.run_dir)
    return 0


def _status(args) -> int:
    _print_run(args.run_dir)
    return 0


def register(sub) -> None:
    parser = sub.add_parser("federated", help="MedUniverse stage-wise federated learning (Flower)",
                            description="Stage-wise federated learning of one encoder (MedUniverse, arXiv "
                                        "2407.14719) with Flower: MIM pretraining, simulation engine, and the "
                                        "deployment engine's server and client processes.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("pretrain", help="SimMIM pretraining of the initial encoder")
    p.add_argument("--tasks", nargs="+", default=[], help="task folders (their pool splits, -o pool_fraction)")
    p.add_argument("--pool", nargs="+", default=[], help="folders of unlabelled images (<folder>/<class>/<files>)")
    p.add_argument("--out", required=True, help="output .safetensors")
    p.set_defaults(func=_pretrain)
    s = actions.add_parser("simulate", help="run the federation in one process (simulation engine)")
    s.add_argument("--tasks", nargs="+", required=True, help="one client per task folder")
    s.add_argument("--cpus", type=int, help="CPUs for the simulated clients")
    v = actions.add_parser("server", help="deployment engine: SuperLink + stage-wise ServerApp")
    v.add_argument("--host", default="127.0.0.1", help="listen address (0.0.0.0 for other machines)")
    v.add_argument("--port", type=int, default=9091)
    c = actions.add_parser("client", help="deployment engine: one site (SuperNode + ClientApp)")
    c.add_argument("--superlink", required=True, help="HOST:PORT of the server")
    c.add_argument("--task-dir", required=True, help="this site's task folder <task>/<class>/<files>")
    c.add_argument("--port", type=int, default=0, help="local runtime API port (0: any free port)")
    c.set_defaults(func=_client)
    loc = actions.add_parser("local", help="server + N client processes on loopback")
    loc.add_argument("--tasks", nargs="+", required=True, help="task folders, one client each")
    loc.add_argument("--clients", type=int, help="use the first N task folders")
    loc.add_argument("--pool", nargs="+", default=[], help="MIM pool folders (when --initial is not given)")
    st = actions.add_parser("status", help="per-stage accuracy of a run directory")
    st.add_argument("run_dir")
    st.set_defaults(func=_status)
    for q, func in ((p, None), (s, _simulate), (v, _server), (loc, _local)):
        if q is not p:
            q.add_argument("--run-dir", required=True, help="stage checkpoints (resumed when present)")
            q.add_argument("--initial", required=q is not loc, help="MIM encoder from taskfp federated pretrain")
            q.set_defaults(func=func)
        if q in (v, loc):
            q.add_argument("--timeout", type=float, default=3600.0, help="seconds the whole run may take")
        q.add_argument("--quiet", action="store_true")
        _fed_options(q)
