"""MedUniverse on Flower: configuration, splits, aggregation, validation, checkpoints and the
stage-wise strategy driven by an in-memory grid with scripted clients (no training)."""
from __future__ import annotations

import numpy as np
import pytest

from taskfp_lib.federated.config import FedConfig
from taskfp_lib.federated.data import site_split
from taskfp_lib.federated.weights import (BadUpdateError, CheckpointError, aggregate, init_head, load_checkpoint,
                                          save_checkpoint, validate_update)

flwr_app = pytest.importorskip("flwr.app")
from flwr.app import Array, ArrayRecord, Error, Message, MetricRecord, RecordDict  # noqa: E402

from _fed_standin import flower_identity  # noqa: E402,F401 (fixture)
from taskfp_lib.federated import runstate  # noqa: E402
from taskfp_lib.federated.strategy import StageError, StageWiseStrategy, stage_order  # noqa: E402


# ------------------------------------------------------------------------------------------ config
def test_config_round_trips_through_the_flower_run_config():
    cfg = FedConfig(stages=5, aggregation="median", evaluate=False, ft_lr=3e-4)
    back = FedConfig.from_dict({k: str(v) for k, v in cfg.to_run_config().items()})
    assert back == cfg
    assert cfg.replace(stages=9, timeout=1.0).result_hash() == cfg.result_hash()
    assert cfg.replace(seed=1).result_hash() != cfg.result_hash()


@pytest.mark.parametrize("values, message", [
    ({"aggregation": "trimmed"}, "aggregation 'trimmed' is not one of"),
    ({"nope": 1}, "unknown federated option 'nope'"),
    ({"image-size": "big"}, "cannot read 'big' as int"),
    ({"evaluate": "maybe"}, "cannot read 'maybe' as bool"),
    ({"image_size": 30, "patch_size": 4}, "not a multiple of patch_size"),
])
def test_config_errors_are_one_line(values, message):
    with pytest.raises(ValueError, match=message) as err:
        FedConfig.from_dict(values)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------------------------ data
def test_site_split_is_disjoint_stratified_and_complete():
    labels = np.repeat([0, 1, 2], [40, 20, 9])
    parts = site_split(labels, test_fraction=0.25, pool_fraction=0.25, seed=3)
    union = np.concatenate(list(parts.values()))
    assert sorted(union) == list(range(len(labels)))
    assert not set(parts["pool"]) & set(parts["test"]) and not set(parts["pool"]) & set(parts["train"])
    assert [int(np.sum(labels[parts["test"]] == c)) for c in range(3)] == [10, 5, 2]
    assert [int(np.sum(labels[parts["pool"]] == c)) for c in range(3)] == [10, 5, 2]
    again = site_split(labels, 0.25, 0.25, seed=3)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)


def test_site_split_keeps_a_training_image_per_class():
    parts = site_split(np.array([0, 0, 1, 1]), test_fraction=0.4, pool_fraction=0.5, seed=0)
    assert sorted(np.array([0, 0, 1, 1])[parts["train"]]) == [0, 1]


# ------------------------------------------------------------------------------------------ weights
def _state(value: float) -> dict[str, np.ndarray]:
    return {"a": np.full((2, 3), value, dtype=np.float32), "b": np.full(4, -value, dtype=np.float32)}


def test_aggregation_of_known_weights_gives_the_known_average():
    updates = [_state(1.0), _state(2.0), _state(6.0)]
    fedavg = aggregate(updates, [1, 1, 2], "fedavg")
    np.testing.assert_allclose(fedavg["a"], (1 + 2 + 2 * 6) / 4)
    np.testing.assert_allclose(fedavg["b"], -(1 + 2 + 2 * 6) / 4)
    np.testing.assert_allclose(aggregate(updates, rule="mean")["a"], 3.0)
    np.testing.assert_allclose(aggregate(updates, rule="median")["a"], 2.0)
    assert fedavg["a"].dtype == np.float32
    with pytest.raises(ValueError, match="positive number of samples"):
        aggregate(updates, [1, 0, 1], "fedavg")


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("b"), r"missing \['b'\]"),
    (lambda s: s.update({"head.weight": np.zeros((2, 4), np.float32)}), r"unexpected \['head.weight'\]"),
    (lambda s: s.update(a=np.zeros((3, 2), np.float32)), r"a has shape \(3, 2\), expected \(2, 3\)"),
    (lambda s: s.update(a=np.zeros((2, 3), np.float64)), "a has dtype float64"),
    (lambda s: s["b"].__setitem__(1, np.nan), "b contains NaN or infinite values"),
    (lambda s: s["a"].__setitem__((0, 0), np.inf), "a contains NaN or infinite values"),
])
def test_bad_updates_are_refused_with_one_line(change, message):
    update = _state(1.0)
    change(update)
    with pytest.raises(BadUpdateError, match=message) as err:
        validate_update(update, _state(0.0), "site-x")
    assert str(err.value).startswith("client site-x: update refused") and "\n" not in str(err.value)


def test_checkpoint_round_trip_is_atomic_and_checked(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", _state(2.5), {"stage": 3, "note": "x"})
    state, meta = load_checkpoint(path)
    assert meta == {"stage": 3, "note": "x"} and set(state) == {"a", "b"}
    np.testing.assert_array_equal(state["a"], _state(2.5)["a"])
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(CheckpointError, match="m.safetensors"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_heads_are_seeded_and_sized_by_the_class_count():
    a, b = init_head(8, 3, [0, 1, 2]), init_head(8, 3, [0, 1, 2])
    assert a["weight"].shape == (3, 8) and a["bias"].shape == (3,)
    assert np.array_equal(a["weight"], b["weight"]) and np.abs(a["weight"]).max() <= 1 / np.sqrt(8)
    assert not np.array_equal(a["weight"], init_head(8, 3, [0, 1, 3])["weight"])
    with pytest.raises(ValueError, match="at least 2 classes"):
        init_head(8, 1, 0)


def test_cycle_selection_visits_every_client_equally():
    cfg = FedConfig(clients_per_stage=2, selection="cycle", seed=4)
    names = ["a", "b", "c", "d"]
    picked = [t for s in (1, 2) for t in stage_order(names, s, cfg)[:2]]
    assert sorted(picked) == names
    assert stage_order(names, 3, cfg)[:2] == stage_order(names, 1, cfg)[:2]
    rnd = cfg.replace(selection="random")
    assert stage_order(names, 2, rnd) == stage_order(list(reversed(names)), 2, rnd)


# ------------------------------------------------------------------------------------------ strategy
class ScriptedGrid:
    """An in-memory Flower grid: node i is task ``t<i>`` (classes 2 + i % 3, 10 * (i + 1) samples).

    A training reply is ``base + (i + 1)`` for every array, unless ``bad[task]`` replaces it.
    Every message sent is recorded in ``sent``.
    """

    def __init__(self, n: int, bad: dict | None = None):
        self.tasks = {100 + i: (f"t{i}", 2 + i % 3, 10 * (i + 1)) for i in range(n)}
        self.bad = bad or {}
        self.sent: list[Message] = []

    def get_node_ids(self):
        return list(self.tasks)

    def send_and_receive(self, messages, *, timeout=None):
        replies = []
        for msg in messages:
            self.sent.append(msg)
            replies.append(self._reply(msg))
        return replies

    def _reply(self, msg):
        node = msg.metadata.dst_node_id
        task, k, n = self.tasks[node]
        kind = msg.metadata.message_type
        if kind == "query":
            return Message(RecordDict({"config": flwr_app.ConfigRecord(
                {"task": task, "num-classes": k, "num-train": n, "num-test": 5})}), reply_to=msg)
        if kind == "evaluate":
            return Message(RecordDict({"metrics": MetricRecord(
                {"accuracy": 0.5, "balanced-accuracy": 0.5, "num-examples": 5})}), reply_to=msg)
        base = {key: v.numpy() for key, v in msg.content["base"].items()}
        update = {key: v + (node - 99) for key, v in base.items()}
        content = RecordDict({"encoder": ArrayRecord({key: Array(v) for key, v in update.items()}),
                              "metrics": MetricRecord({"num-examples": n})})
        if task in self.bad:
            content = self.bad[task](msg, content)
            if isinstance(content, Error):
                return Message(content, reply_to=msg)
        return Message(content, reply_to=msg)


def _run(tmp_path, grid, stages=2, name="run", **cfg):
    cfg = FedConfig(stages=stages, embed_dim=8, num_heads=2, **cfg)
    strategy = StageWiseStrategy(cfg, tmp_path / name)
    result = strategy.start(grid, ArrayRecord({k: Array(v) for k, v in _state(0.0).items()}))
    return strategy, {k: v.numpy() for k, v in result.arrays.items()}


def _trained(grid, stage=None):
    return [m for m in grid.sent if m.metadata.message_type == "train"
            and (stage is None or m.content["config"]["stage"] == stage)]


def test_a_stage_closes_after_exactly_k_clients_and_averages_their_encoders(tmp_path, flower_identity):
    grid = ScriptedGrid(5)
    strategy, final = _run(tmp_path, grid, stages=3, clients_per_stage=2, evaluate=False)
    expected = _state(0.0)
    for stage in (1, 2, 3):
        sent = _trained(grid, stage)
        assert len(sent) == 2
        offsets = [m.metadata.dst_node_id - 99 for m in sent]
        samples = [10 * o for o in offsets]
        shift = sum(n * o for n, o in zip(samples, offsets)) / sum(samples)
        expected = {k: v + np.float32(shift) for k, v in expected.items()}
        meta = runstate.read_stages(tmp_path / "run")[stage]
        assert len(meta["train"]) == 2 and meta["refused"] == []
    np.testing.assert_allclose(final["a"], expected["a"], rtol=1e-6)
    np.testing.assert_allclose(final["b"], expected["b"], rtol=1e-6)
    assert len(strategy.clients) == 5


def test_clients_receive_base_and_a_head_sized_by_their_classes_and_send_back_the_encoder_only(
        tmp_path, flower_identity):
    grid = ScriptedGrid(3)
    _run(tmp_path, grid, stages=1, clients_per_stage=3, evaluate=True)
    for msg in _trained(grid) + [m for m in grid.sent if m.metadata.message_type == "evaluate"]:
        task, k, _ = grid.tasks[msg.metadata.dst_node_id]
        assert set(msg.content.array_records) == {"base", "head"}
        assert msg.content["head"]["weight"].numpy().shape == (k, 8)
        assert set(msg.content["base"]) == {"a", "b"}
    first = stage_order(["t0", "t1", "t2"], 1, FedConfig(clients_per_stage=2))[0]
    head_back = ScriptedGrid(3, bad={first: lambda msg, c: RecordDict({**c, "head": msg.content["head"]})})
    strategy, _ = _run(tmp_path, head_back, stages=1, name="heads", clients_per_stage=2, evaluate=False)
    assert strategy.refused == [f"stage 1: client {first}: update refused, expected exactly the array record "
                                "'encoder', got ['encoder', 'head']"]


def _nan(msg, content):
    arrays = {k: v.numpy().copy() for k, v in content["encoder"].items()}
    arrays["a"][0, 0] = np.nan
    return RecordDict({"encoder": ArrayRecord({k: Array(v) for k, v in arrays.items()}),
                       "metrics": content["metrics"]})


def _wrong_keys(msg, content):
    return RecordDict({"encoder": ArrayRecord({"c": Array(np.zeros(3, np.float32))}), "metrics": content["metrics"]})


def _wrong_shape(msg, content):
    return RecordDict({"encoder": ArrayRecord({"a": Array(np.zeros((3, 2), np.float32)),
                                               "b": Array(np.zeros(4, np.float32))}), "metrics": content["metrics"]})


@pytest.mark.parametrize("bad, message", [
    (_nan, "a contains NaN or infinite values"),
    (_wrong_keys, "keys do not match the base model"),
    (_wrong_shape, "a has shape (3, 2), expected (2, 3)"),
    (lambda msg, c: Error(code=0, reason="out of memory\ntraceback ..."), "training failed (out of memory)"),
])
def test_bad_updates_are_refused_replaced_and_do_not_touch_the_base_model(tmp_path, flower_identity, bad, message):
    first = stage_order(["t0", "t1", "t2", "t3"], 1, FedConfig(clients_per_stage=2))[0]
    grid = ScriptedGrid(4, bad={first: bad})
    strategy, final = _run(tmp_path, grid, stages=1, clients_per_stage=2, evaluate=False)
    assert len(strategy.refused) == 1 and message in strategy.refused[0] and "\n" not in strategy.refused[0]
    assert len(_trained(grid)) == 3  # two asked, one refused, one replacement
    meta = runstate.read_stages(tmp_path / "run")[1]
    assert len(meta["train"]) == 2 and meta["refused"] == strategy.refused
    assert np.isfinite(final["a"]).all() and final["a"].shape == (2, 3)
    assert {a["task"] for a in meta["train"]}.isdisjoint(grid.bad)


def test_a_stage_without_enough_valid_models_fails_and_keeps_the_last_base_model(tmp_path, flower_identity):
    grid = ScriptedGrid(3, bad={f"t{i}": _nan for i in range(3)})
    with pytest.raises(StageError, match="stage 1: only 0 of 2 clients returned valid models"):
        _run(tmp_path, grid, stages=2, clients_per_stage=2, evaluate=False)
    assert [m["stage"] for m in runstate.read_stages(tmp_path / "run")] == [0]
    np.testing.assert_array_equal(runstate.final_model(tmp_path / "run")["a"], _state(0.0)["a"])


def test_a_stopped_run_continues_at_the_stage_it_reached(tmp_path, flower_identity):
    _, fresh = _run(tmp_path, ScriptedGrid(4), stages=3, name="fresh", clients_per_stage=2)
    crashing = ScriptedGrid(4, bad={f"t{i}": (lambda m, c: Error(code=0, reason="killed")
                                              if m.content["config"]["stage"] == 3 else c) for i in range(4)})
    with pytest.raises(StageError, match="stage 3"):
        _run(tmp_path, crashing, stages=3, clients_per_stage=2)
    stage1 = (tmp_path / "run" / "stage_001.safetensors").stat().st_mtime_ns
    again = ScriptedGrid(4)
    _, resumed = _run(tmp_path, again, stages=3, clients_per_stage=2)
    assert {m.content["config"]["stage"] for m in _trained(again)} == {3}
    assert (tmp_path / "run" / "stage_001.safetensors").stat().st_mtime_ns == stage1
    np.testing.assert_array_equal(resumed["a"], fresh["a"])
    table = runstate.stage_table(tmp_path / "run")
    assert list(table.groupby("stage").size()) == [4, 4, 4, 4] and table.trained.sum() == 6


def test_a_run_directory_of_another_configuration_is_not_resumed(tmp_path, flower_identity):
    _run(tmp_path, ScriptedGrid(3), stages=1, clients_per_stage=2, evaluate=False)
    with pytest.raises(runstate.CheckpointError, match="belongs to another configuration"):
        _run(tmp_path, ScriptedGrid(3), stages=2, clients_per_stage=2, evaluate=False, aggregation="median")


def test_duplicate_task_names_and_too_few_clients_are_errors(tmp_path, flower_identity):
    grid = ScriptedGrid(2)
    with pytest.raises(StageError, match="2 clients answered, a stage needs 3"):
        _run(tmp_path, grid, stages=1, clients_per_stage=3, min_nodes=2)
    twins = ScriptedGrid(2)
    twins.tasks[101] = ("t0", 2, 20)
    with pytest.raises(StageError, match="same task name"):
        _run(tmp_path, twins, stages=1, name="twins", clients_per_stage=1)


def test_a_run_directory_with_more_stages_than_requested_is_an_error(tmp_path, flower_identity):
    _run(tmp_path, ScriptedGrid(3), stages=2, clients_per_stage=2, evaluate=False)
    with pytest.raises(StageError, match="already holds 2 stages, more than the 1 requested"):
        _run(tmp_path, ScriptedGrid(3), stages=1, clients_per_stage=2, evaluate=False)
