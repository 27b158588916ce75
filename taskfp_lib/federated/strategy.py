"""The MedUniverse server as a Flower :class:`~flwr.serverapp.strategy.Strategy`: stage = round.

Protocol (Radwan, Osman, Shehata, arXiv 2407.14719, Sec. 3; the numbers refer to the steps of the
chapter's protocol figure):

1. the base model is the MIM-pretrained encoder (``initial_arrays``);
2. every client is *queried* once for its task name and number of classes; for a training
   request the server sends the current base model plus a randomly initialised linear head of
   that size (seeded by run seed, stage and task);
3. the client fine-tunes both and returns **the encoder only**: the head never leaves the site
   (a reply that carries any other array is refused);
4. a stage closes after exactly ``clients_per_stage`` clients returned valid models (a refused or
   failed client is replaced by the next client of the stage's order); the accepted encoders are
   aggregated (:func:`~taskfp_lib.federated.weights.aggregate`) into the next base model;
5. evaluation: every client fine-tunes each stage's base model with a stage-independent head and
   reports accuracy on its held-out split (stage 0 = the MIM baseline).

After each stage the base model and that stage's records are written atomically to
``run_dir/stage_<s>.safetensors``; :meth:`StageWiseStrategy.start` continues a killed run at the
stage it reached.
"""
from __future__ import annotations

import hashlib
import logging
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp.strategy import Result, Strategy

from .config import FedConfig
from .weights import BadUpdateError, aggregate, from_record, init_head, to_record, validate_update
from . import runstate

__all__ = ["ClientInfo", "StageError", "StageWiseStrategy", "stage_order", "task_key", "finetune_seed",
           "stage_head"]

LOG = logging.getLogger("taskfp.federated")
#: record names of the messages (the client app uses the same)
BASE, HEAD, ENCODER, CONFIG, METRICS = "base", "head", "encoder", "config", "metrics"


class StageError(RuntimeError):
    """A stage could not close (too few valid client models) or the federation is inconsistent."""


@dataclass(frozen=True)
class ClientInfo:
    """What a client discloses when queried: task name, classes and split sizes."""

    node_id: int
    task: str
    num_classes: int
    num_train: int
    num_test: int


@dataclass
class Accepted:
    """A validated client update."""

    task: str
    encoder: dict[str, np.ndarray]
    num_examples: int
    metrics: dict[str, float]


def task_key(task: str) -> int:
    """A stable integer for a task name (CRC-32), used in seeds so they do not depend on node ids."""
    return zlib.crc32(task.encode("utf-8"))


def finetune_seed(seed: int, stage: int, task: str) -> int:
    """Seed of a client's fine-tuning in ``stage`` (0: every evaluation), from sha256(seed:stage:task)."""
    digest = hashlib.sha256(f"{int(seed)}:{int(stage)}:{task}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def stage_head(cfg: FedConfig, task: str, num_classes: int, stage: int) -> dict[str, np.ndarray]:
    """The head the server sends ``task`` in ``stage`` (0: the stage-independent evaluation head)."""
    return init_head(cfg.embed_dim, num_classes, [cfg.seed, task_key(task), int(stage)])


def stage_order(tasks: Iterable[str], stage: int, cfg: FedConfig) -> list[str]:
    """All tasks in the order in which stage ``stage`` (1-based) asks them to train.

    The first ``clients_per_stage`` are the stage's clients; the rest replace refused ones.
    ``cycle``: a seeded permutation of the sorted names, rotated by ``(stage - 1) * clients_per_stage``;
    ``random``: a permutation seeded by (seed, stage).
    """
    names = sorted(tasks)
    if cfg.selection == "cycle":
        perm = np.random.default_rng(cfg.seed).permutation(len(names))
        start = ((stage - 1) * cfg.clients_per_stage) % max(1, len(names))
        perm = np.roll(perm, -start)
    else:
        perm = np.random.default_rng([cfg.seed, stage]).permutation(len(names))
    return [names[i] for i in perm]


class StageWiseStrategy(Strategy):
    """Stage-wise accumulation of client encoders into one base model (MedUniverse).

    Parameters
    ----------
    cfg : FedConfig
        ``stages``, ``clients_per_stage``, ``aggregation``, ``selection``, ``evaluate``, ``seed``,
        ``min_nodes``, ``timeout``.
    run_dir : path
        Stage checkpoints and ``stages.csv`` (created if missing).
    """

    def __init__(self, cfg: FedConfig, run_dir):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.clients: dict[int, ClientInfo] = {}
        self.base: dict[str, np.ndarray] = {}
        self.refused: list[str] = []
        self.evaluations: dict[int, list[dict]] = {}

    # ------------------------------------------------------------------ Flower Strategy interface
    def summary(self) -> None:
        c = self.cfg
        LOG.info("StageWiseStrategy: %d stages, %d clients per stage, aggregation %s, selection %s, seed %d",
                 c.stages, c.clients_per_stage, c.aggregation, c.selection, c.seed)

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid) -> list[Message]:
        """Training requests for the stage's first ``clients_per_stage`` clients (base + fresh head)."""
        order = stage_order(self._by_task(), server_round, self.cfg)
        return self._train_messages(server_round, arrays, order[:self.cfg.clients_per_stage])

    def aggregate_train(self, server_round: int, replies: Iterable[Message]):
        """Validate every reply (refusing bad ones) and aggregate the accepted encoders."""
        accepted = self._accept_all(server_round, replies)
        if not accepted:
            return None, None
        return to_record(self._combine(accepted)), MetricRecord({"accepted": len(accepted)})

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid) -> list[Message]:
        """Evaluation requests for every client: base + a stage-independent head."""
        if not self.cfg.evaluate:
            return []
        messages = []
        for task, info in sorted(self._by_task().items()):
            head = stage_head(self.cfg, task, info.num_classes, 0)
            cfg_rec = ConfigRecord({"stage": server_round, "seed": finetune_seed(self.cfg.seed, 0, task),
                                    "task": task})
            content = RecordDict({BASE: arrays, HEAD: to_record(head), CONFIG: cfg_rec})
            messages.append(Message(content=content, dst_node_id=info.node_id, message_type=MessageType.EVALUATE))
        return messages

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        """Per-task held-out accuracy of the stage's base model; returns the mean."""
        rows = []
        for reply in replies:
            info = self.clients.get(reply.metadata.src_node_id)
            if reply.has_error() or info is None or METRICS not in reply.content.metric_records:
                LOG.warning("stage %d: evaluation reply from node %s ignored", server_round,
                            reply.metadata.src_node_id)
                continue
            m = reply.content[METRICS]
            rows.append({"stage": server_round, "task": info.task, "accuracy": float(m["accuracy"]),
                         "balanced_accuracy": float(m["balanced-accuracy"]), "n_test": int(m["num-examples"])})
        rows.sort(key=lambda r: r["task"])
        self.evaluations[server_round] = rows
        if not rows:
            return None
        return MetricRecord({"accuracy": float(np.mean([r["accuracy"] for r in rows]))})

    # ------------------------------------------------------------------ the stage loop
    def start(self, grid, initial_arrays: ArrayRecord, num_rounds: int | None = None, timeout: float | None = None,
              train_config=None, evaluate_config=None, evaluate_fn=None) -> Result:
        """Run (or resume) the federation: discover clients, stage 0 evaluation, stages 1..S.

        ``num_rounds`` defaults to ``cfg.stages``; the other Flower arguments are not used.
        """
        stages = self.cfg.stages if num_rounds is None else int(num_rounds)
        timeout = self.cfg.timeout if timeout is None else float(timeout)
        self.summary()
        self.discover(grid, timeout)
        initial = from_record(initial_arrays)
        done, self.base = runstate.resume(self.run_dir, self.cfg, initial, sorted(self._by_task()))
        if done > stages:
            raise StageError(f"{self.run_dir} already holds {done} stages, more than the {stages} requested")
        result = Result()
        if done < 0:
            t0 = time.perf_counter()
            self._evaluate(grid, 0, timeout)
            self._checkpoint(0, [], time.perf_counter() - t0)
            done = 0
        for stage in range(done + 1, stages + 1):
            t0 = time.perf_counter()
            accepted = self._run_stage(grid, stage, timeout)
            self.base = self._combine(accepted)
            self._evaluate(grid, stage, timeout)
            self._checkpoint(stage, accepted, time.perf_counter() - t0)
        result.arrays = to_record(self.base)
        runstate.write_summary(self.run_dir, self.cfg, stages)
        return result

    def discover(self, grid, timeout: float) -> dict[int, ClientInfo]:
        """Wait for ``min_nodes`` clients, then query each for task name, classes and sizes.

        The clients connected at this moment form the federation; later ones take no part in the run.
        """
        need = self.cfg.min_nodes or self.cfg.clients_per_stage
        deadline = time.monotonic() + timeout
        while len(list(grid.get_node_ids())) < need:
            if time.monotonic() > deadline:
                raise StageError(f"only {len(list(grid.get_node_ids()))} of {need} clients connected in {timeout:g} s")
            time.sleep(0.2)
        query = [Message(content=RecordDict({CONFIG: ConfigRecord({"ask": "task"})}), dst_node_id=n,
                         message_type=MessageType.QUERY) for n in sorted(grid.get_node_ids())]
        for reply in grid.send_and_receive(query, timeout=timeout):
            if reply.has_error() or CONFIG not in reply.content.config_records:
                LOG.warning("node %s did not answer the query; it takes no part", reply.metadata.src_node_id)
                continue
            c = reply.content[CONFIG]
            node = reply.metadata.src_node_id
            self.clients[node] = ClientInfo(node, str(c["task"]), int(c["num-classes"]), int(c["num-train"]),
                                            int(c["num-test"]))
        names = [c.task for c in self.clients.values()]
        if len(set(names)) != len(names):
            raise StageError(f"two clients report the same task name: {sorted(names)}")
        if len(names) < self.cfg.clients_per_stage:
            raise StageError(f"{len(names)} clients answered, a stage needs {self.cfg.clients_per_stage}")
        LOG.info("clients: %s", ", ".join(sorted(names)))
        return self.clients

    def _run_stage(self, grid, stage: int, timeout: float) -> list[Accepted]:
        """Send training requests until exactly ``clients_per_stage`` valid models are accepted."""
        need = self.cfg.clients_per_stage
        queue = stage_order(self._by_task(), stage, self.cfg)
        accepted: list[Accepted] = []
        base_record = to_record(self.base)
        while len(accepted) < need:
            batch, queue = queue[:need - len(accepted)], queue[need - len(accepted):]
            if not batch:
                raise StageError(f"stage {stage}: only {len(accepted)} of {need} clients returned valid models")
            replies = grid.send_and_receive(self._train_messages(stage, base_record, batch), timeout=timeout)
            accepted += self._accept_all(stage, replies)
        return sorted(accepted, key=lambda a: a.task)

    def _evaluate(self, grid, stage: int, timeout: float) -> None:
        messages = self.configure_evaluate(stage, to_record(self.base), ConfigRecord(), grid)
        if messages:
            self.aggregate_evaluate(stage, grid.send_and_receive(messages, timeout=timeout))

    # ------------------------------------------------------------------ helpers
    def _by_task(self) -> dict[str, ClientInfo]:
        return {c.task: c for c in self.clients.values()}

    def _train_messages(self, stage: int, arrays: ArrayRecord, tasks: list[str]) -> list[Message]:
        by_task = self._by_task()
        messages = []
        for task in tasks:
            info = by_task[task]
            head = stage_head(self.cfg, task, info.num_classes, stage)
            cfg_rec = ConfigRecord({"stage": stage, "seed": finetune_seed(self.cfg.seed, stage, task), "task": task})
            content = RecordDict({BASE: arrays, HEAD: to_record(head), CONFIG: cfg_rec})
            messages.append(Message(content=content, dst_node_id=info.node_id, message_type=MessageType.TRAIN))
        return messages

    def _accept_all(self, stage: int, replies: Iterable[Message]) -> list[Accepted]:
        accepted = []
        for reply in replies:
            try:
                accepted.append(self.accept(reply))
            except BadUpdateError as err:
                self.refused.append(f"stage {stage}: {err}")
                LOG.warning("stage %d: %s", stage, err)
        return accepted

    def accept(self, reply: Message) -> Accepted:
        """Validate one training reply against the current base model.

        Raises
        ------
        BadUpdateError
            Failed client, missing metrics, extra records (e.g. a head), wrong keys, shapes, dtypes,
            NaN / inf.
        """
        info = self.clients.get(reply.metadata.src_node_id)
        name = info.task if info else f"node {reply.metadata.src_node_id}"
        if reply.has_error():
            raise BadUpdateError(f"client {name}: training failed ({reply.error.reason.splitlines()[0][:200]})")
        arrays = sorted(reply.content.array_records)
        if arrays != [ENCODER]:
            raise BadUpdateError(f"client {name}: update refused, expected exactly the array record "
                                 f"{ENCODER!r}, got {arrays}")
        if METRICS not in reply.content.metric_records:
            raise BadUpdateError(f"client {name}: update refused, no {METRICS!r} record")
        metrics = dict(reply.content[METRICS])
        n = metrics.get("num-examples")
        if not isinstance(n, (int, float)) or not np.isfinite(n) or n <= 0 or int(n) != n:
            raise BadUpdateError(f"client {name}: update refused, num-examples {n!r} is not a positive integer")
        update = from_record(reply.content[ENCODER])
        validate_update(update, self.base, name)
        return Accepted(name, update, int(n), {k: float(v) for k, v in metrics.items()
                                               if isinstance(v, (int, float))})

    def _combine(self, accepted: list[Accepted]) -> dict[str, np.ndarray]:
        accepted = sorted(accepted, key=lambda a: a.task)
        return aggregate([a.encoder for a in accepted], [a.num_examples for a in accepted], self.cfg.aggregation)

    def _checkpoint(self, stage: int, accepted: list[Accepted], seconds: float) -> None:
        train = [{"task": a.task, "num_examples": a.num_examples, **a.metrics} for a in accepted]
        stage_refused = [r for r in self.refused if r.startswith(f"stage {stage}:")]
        runstate.save_stage(self.run_dir, self.cfg, stage, self.base, sorted(self._by_task()),
                            self.evaluations.get(stage, []), train, stage_refused, seconds)
