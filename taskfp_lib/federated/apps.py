"""The Flower ``ServerApp`` and ``ClientApp`` of the MedUniverse federation.

Both engines run the same two apps. In the simulation engine they are built with their settings
(:func:`make_server_app`, :func:`make_client_app`); in the deployment engine the module-level
:data:`server_app` and :data:`client_app` read them from Flower's run config (the options of
:class:`~taskfp_lib.federated.config.FedConfig` plus ``run-dir`` and ``initial-model``) and, on
each client, from the SuperNode's node config (``task-dir``: the site's private task folder).

What a client sends: when queried, its task name, class count and split sizes; after training,
the fine-tuned *encoder* and a few numbers (training samples, loss, accuracy). The head, the
images and the labels stay on the site.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import ServerApp

from .config import FedConfig
from .data import ClientData, load_client
from .strategy import BASE, CONFIG, ENCODER, HEAD, METRICS, StageWiseStrategy
from .weights import BadUpdateError, from_record, load_checkpoint, to_record, validate_update

__all__ = ["make_server_app", "make_client_app", "server_app", "client_app", "settings_from_run_config",
           "check_initial_model", "EXTRA_RUN_KEYS"]

LOG = logging.getLogger("taskfp.federated")
#: run-config keys besides the FedConfig options
EXTRA_RUN_KEYS = ("run-dir", "initial-model")


def settings_from_run_config(run_config: Mapping) -> tuple[FedConfig, dict[str, str]]:
    """Split a Flower run config into the :class:`FedConfig` and the extra keys (``run-dir`` ...)."""
    extra = {k: str(run_config[k]) for k in EXTRA_RUN_KEYS if k in run_config}
    cfg = FedConfig.from_dict({k: v for k, v in run_config.items() if k not in EXTRA_RUN_KEYS})
    return cfg, extra


def check_initial_model(state: Mapping[str, np.ndarray], cfg: FedConfig) -> dict[str, np.ndarray]:
    """Refuse an initial model that does not fit the configured encoder (one-line error)."""
    from .mim import create_encoder, encoder_state

    try:
        validate_update(state, encoder_state(create_encoder(cfg)), "initial model")
    except BadUpdateError as err:
        raise ValueError(f"{err} (check the model options against the pretrained encoder)") from None
    return {k: np.asarray(v) for k, v in state.items()}


# ---------------------------------------------------------------------------------------------- server
def make_server_app(cfg: FedConfig | None = None, run_dir: str | os.PathLike | None = None,
                    initial: Mapping[str, np.ndarray] | None = None) -> ServerApp:
    """The stage-wise server; settings not given are read from the run config at run time."""
    app = ServerApp()

    @app.main()
    def main(grid, context: Context) -> None:
        run_cfg, extra = (cfg, {}) if cfg is not None else settings_from_run_config(context.run_config)
        directory = run_dir if run_dir is not None else extra.get("run-dir")
        if not directory:
            raise ValueError("the server needs a run directory (run config 'run-dir')")
        if initial is not None:
            state = dict(initial)
        elif extra.get("initial-model"):
            state = load_checkpoint(extra["initial-model"])[0]
        else:
            raise ValueError("the server needs an initial model (run config 'initial-model')")
        strategy = StageWiseStrategy(run_cfg, directory)
        strategy.start(grid, to_record(check_initial_model(state, run_cfg)))

    return app


# ---------------------------------------------------------------------------------------------- client
def _task_dir(context: Context, task_dirs: Sequence[str] | None) -> str:
    node = context.node_config
    if "task-dir" in node:
        return str(node["task-dir"])
    if task_dirs is not None and "partition-id" in node:
        return str(task_dirs[int(node["partition-id"])])
    raise ValueError("the client has no task: start the SuperNode with --node-config \"task-dir='...'\"")


def _client(context: Context, cfg: FedConfig | None, task_dirs) -> tuple[FedConfig, ClientData]:
    run_cfg = cfg if cfg is not None else settings_from_run_config(context.run_config)[0]
    return run_cfg, load_client(_task_dir(context, task_dirs), run_cfg)


def _finetune_reply(msg: Message, run_cfg: FedConfig, data: ClientData):
    """Fine-tune the received base model and head; returns the result (weights stay local)."""
    import torch

    from .finetune import finetune

    torch.set_num_threads(1)
    base, head = from_record(msg.content[BASE]), from_record(msg.content[HEAD])
    expected = (data.num_classes, run_cfg.embed_dim)
    if set(head) != {"weight", "bias"} or head["weight"].shape != expected or head["bias"].shape != expected[:1]:
        shape = tuple(head["weight"].shape) if "weight" in head else None
        raise ValueError(f"client {data.name}: received a head of shape {shape}, expected {expected} "
                         f"({data.num_classes} classes, {run_cfg.embed_dim} features)")
    seed = int(msg.content[CONFIG]["seed"])
    return finetune(base, head, data.x_train, data.y_train, data.x_test, data.y_test, run_cfg, seed)


def make_client_app(cfg: FedConfig | None = None, task_dirs: Sequence[str | os.PathLike] | None = None,
                    tamper: Callable[[str, RecordDict], RecordDict] | None = None) -> ClientApp:
    """The client: answers the query, fine-tunes for training and for evaluation.

    Parameters
    ----------
    cfg : FedConfig, optional
        Default: read from the run config.
    task_dirs : sequence of paths, optional
        Simulation: the task of virtual node ``partition-id``. Deployment: the node config's
        ``task-dir`` is used.
    tamper : callable, optional
        Tests only: ``tamper(task, reply_content) -> content`` alters a training reply (to check
        that the server refuses bad updates).
    """
    app = ClientApp()
    dirs = [str(d) for d in task_dirs] if task_dirs is not None else None

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        _, data = _client(context, cfg, dirs)
        info = ConfigRecord({"task": data.name, "num-classes": data.num_classes, "num-train": len(data.y_train),
                             "num-test": len(data.y_test)})
        return Message(RecordDict({CONFIG: info}), reply_to=msg)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        run_cfg, data = _client(context, cfg, dirs)
        res = _finetune_reply(msg, run_cfg, data)
        metrics = MetricRecord({"num-examples": res.n_train, "train-loss": float(np.mean(res.losses[-5:])),
                                "accuracy": res.accuracy})
        content = RecordDict({ENCODER: to_record(res.encoder), METRICS: metrics})
        if tamper is not None:
            content = tamper(data.name, content)
        return Message(content, reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        run_cfg, data = _client(context, cfg, dirs)
        res = _finetune_reply(msg, run_cfg, data)
        metrics = MetricRecord({"num-examples": res.n_test, "accuracy": res.accuracy,
                                "balanced-accuracy": res.balanced_accuracy})
        return Message(RecordDict({METRICS: metrics}), reply_to=msg)

    return app


#: the apps the deployment engine loads (``taskfp_lib.federated.apps:server_app`` / ``:client_app``)
server_app = make_server_app()
client_app = make_client_app()

