"""MedUniverse on Flower with real training: MIM, fine-tuning, the ClientApp, the simulation engine,
the deployment engine (server + 3 client processes over loopback) and the CLI. Stand-in tasks
(synthetic PNG domains, ``tests/_fed_standin.py``) keep it small."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytest.importorskip("flwr.simulation")
pytestmark = pytest.mark.processes  # Ray, Flower servers and clients: after the book, on free cores

from _fed_standin import build_standin_tasks, flower_identity  # noqa: E402,F401 (fixture)

from taskfp_lib.federated.config import FedConfig  # noqa: E402
from taskfp_lib.federated.data import load_client, load_pool, to_tensor  # noqa: E402
from taskfp_lib.federated.mim import encoder_state, pretrain_mim  # noqa: E402
from taskfp_lib.federated.runstate import final_model, read_stages, read_summary, stage_table  # noqa: E402

#: small, fast settings shared by every test of this file
CFG = FedConfig(image_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, mim_epochs=3, ft_epochs=2,
                stages=2, clients_per_stage=2, evaluate=False, pool_fraction=0.25)
#: simulation and deployment give the same base model to this tolerance (measured: bitwise equal)
ENGINE_ATOL = 1e-6


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    root = tmp_path_factory.mktemp("standin")
    return [str(p) for p in build_standin_tasks(root, seed=1, per_class=10,
                                                domains=["ct_like", "mr_like", "us_like"]).values()]


@pytest.fixture(scope="module")
def initial(tasks):
    return encoder_state(pretrain_mim(to_tensor(load_pool(tasks, CFG)), CFG, seed=0)[0])


def test_mim_loss_goes_down_and_is_seeded(tasks):
    cfg = CFG.replace(mim_epochs=30)
    pool = to_tensor(load_pool(tasks, cfg))
    encoder, losses = pretrain_mim(pool, cfg, seed=3)
    assert len(losses) == 30 and losses[-1] < 0.8 * losses[0]
    again = encoder_state(pretrain_mim(pool, cfg, seed=3, epochs=30)[0])
    assert all(np.array_equal(v, again[k]) for k, v in encoder_state(encoder).items())


def test_the_mim_pool_holds_no_evaluation_image(tasks):
    pool = load_pool(tasks, CFG)
    tests = np.concatenate([load_client(t, CFG).x_test for t in tasks])
    pool_bytes = {img.tobytes() for img in pool}
    assert len(pool) > 0 and not pool_bytes & {img.tobytes() for img in tests}


def test_finetuning_is_seeded_and_scores_the_held_out_split(tasks, initial):
    from taskfp_lib.federated.finetune import finetune
    from taskfp_lib.federated.weights import init_head

    data = load_client(tasks[0], CFG)
    head = init_head(CFG.embed_dim, data.num_classes, 0)
    a = finetune(initial, head, data.x_train, data.y_train, data.x_test, data.y_test, CFG, seed=5)
    b = finetune(initial, head, data.x_train, data.y_train, data.x_test, data.y_test, CFG, seed=5)
    assert a.n_test == len(data.y_test) and 0.0 <= a.accuracy <= 1.0
    assert all(np.array_equal(a.encoder[k], b.encoder[k]) for k in a.encoder)
    assert any(not np.array_equal(a.encoder[k], initial[k]) for k in initial)


def test_the_client_app_sends_back_the_encoder_and_numbers_only(tasks, initial, flower_identity):
    from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict

    from taskfp_lib.federated.apps import client_app
    from taskfp_lib.federated.weights import from_record, init_head, to_record

    data = load_client(tasks[1], CFG)
    context = Context(run_id=1, node_id=7, node_config={"task-dir": tasks[1]}, state=RecordDict(),
                      run_config=CFG.to_run_config())
    head = init_head(CFG.embed_dim, data.num_classes, 1)
    msg = Message(RecordDict({"base": to_record(initial), "head": to_record(head),
                              "config": ConfigRecord({"stage": 1, "seed": 3, "task": data.name})}),
                  dst_node_id=7, message_type=MessageType.TRAIN)
    reply = client_app(msg, context)
    assert not reply.has_error()
    assert set(reply.content.array_records) == {"encoder"} and not reply.content.config_records
    assert set(from_record(reply.content["encoder"])) == set(initial)
    assert set(reply.content["metrics"]) == {"num-examples", "train-loss", "accuracy"}
    assert reply.content["metrics"]["num-examples"] == len(data.y_train)
    wrong = Message(RecordDict({"base": to_record(initial), "head": to_record(init_head(CFG.embed_dim, 5, 1)),
                                "config": ConfigRecord({"stage": 1, "seed": 3, "task": data.name})}),
                    dst_node_id=7, message_type=MessageType.TRAIN)
    with pytest.raises(ValueError, match=r"received a head of shape \(5, 32\), expected \(3, 32\)"):
        client_app(wrong, context)  # the Flower runtime turns this into an error reply


def _nan_from(task):
    def tamper(name, content):
        from flwr.app import Array, ArrayRecord, RecordDict

        if name != task:
            return content
        arrays = {k: v.numpy().copy() for k, v in content["encoder"].items()}
        first = next(iter(arrays))
        arrays[first].flat[0] = np.nan
        return RecordDict({"encoder": ArrayRecord({k: Array(v) for k, v in arrays.items()}),
                           "metrics": content["metrics"]})
    return tamper


def test_simulation_engine_runs_refuses_a_bad_client_and_resumes(tasks, initial, tmp_path):
    from taskfp_lib.federated.engines import run_simulation_engine
    from taskfp_lib.federated.strategy import stage_order

    names = [os.path.basename(t) for t in tasks]
    bad = stage_order(names, 1, CFG)[0]
    cfg = CFG.replace(evaluate=True, stages=1)
    run_simulation_engine(tasks, cfg, tmp_path / "run", initial, num_cpus=2, tamper=_nan_from(bad))
    table = stage_table(tmp_path / "run")
    assert list(table.groupby("stage").size()) == [3, 3] and set(table.task) == set(names)
    stage1 = read_stages(tmp_path / "run")[1]
    assert len(stage1["train"]) == 2 and bad not in {t["task"] for t in stage1["train"]}
    assert len(stage1["refused"]) == 1 and f"client {bad}: update refused" in stage1["refused"][0]
    assert all(np.isfinite(v).all() for v in final_model(tmp_path / "run").values())
    mtime = (tmp_path / "run" / "stage_001.safetensors").stat().st_mtime_ns
    run_simulation_engine(tasks, cfg.replace(stages=2), tmp_path / "run", initial, num_cpus=2)
    assert read_summary(tmp_path / "run")["completed_stages"] == 2
    assert (tmp_path / "run" / "stage_001.safetensors").stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_deployment_engine_with_three_client_processes_gives_the_simulations_base_model(tasks, initial, tmp_path):
    from taskfp_lib.federated.deploy import run_local
    from taskfp_lib.federated.engines import run_simulation_engine
    from taskfp_lib.federated.weights import save_checkpoint

    save_checkpoint(tmp_path / "mim.safetensors", initial, {"format": "taskfp-mim-encoder"})
    summary = run_local(tasks, CFG, tmp_path / "deployed", tmp_path / "mim.safetensors", timeout=400)
    assert summary["completed_stages"] == CFG.stages and summary["refused"] == []
    run_simulation_engine(tasks, CFG, tmp_path / "simulated", initial, num_cpus=2)
    deployed, simulated = final_model(tmp_path / "deployed"), final_model(tmp_path / "simulated")
    assert set(deployed) == set(simulated)
    for key in simulated:
        np.testing.assert_allclose(deployed[key], simulated[key], rtol=0, atol=ENGINE_ATOL)
    assert not any(np.array_equal(simulated[k], initial[k]) for k in initial if k.endswith("weight"))
    _assert_stopped(tmp_path / "deployed")


def _live_members(pgids):
    """Processes of these process groups that still run (zombies, i.e. exited processes whose parent
    has not collected them yet, do not count), read from /proc. Deliberately not
    ``deploy.group_members``: the library's stop() waits on that function, so the check must not."""
    live = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in pgids and fields[0] != "Z":
            live.append(int(entry))
    return live


def _assert_stopped(run_dir):
    groups = json.loads((run_dir / "logs" / "processes.json").read_text())["process_groups"]
    assert len(groups) == 4  # server + 3 clients, each the leader of its process group
    if not os.path.isdir("/proc"):
        pytest.skip("no /proc to inspect processes")
    assert _live_members(set(groups)) == []


@pytest.mark.slow
def test_local_deployment_stops_every_process_when_the_server_fails(tasks, initial, tmp_path):
    from taskfp_lib.federated.deploy import run_local
    from taskfp_lib.federated.weights import save_checkpoint

    save_checkpoint(tmp_path / "mim.safetensors", initial, {"format": "taskfp-mim-encoder"})
    with pytest.raises(RuntimeError, match=r"the server failed: the federation did not complete \(StageError: "
                                           r"3 clients answered, a stage needs 4\)") as err:
        run_local(tasks, CFG.replace(clients_per_stage=4), tmp_path / "run", tmp_path / "mim.safetensors",
                  timeout=300)
    assert "\n" not in str(err.value)
    _assert_stopped(tmp_path / "run")


def test_cli_pretrains_reports_and_refuses_bad_options(tasks, tmp_path, capsys):
    from taskfp_lib.cli import main

    out = tmp_path / "mim.safetensors"
    args = ["federated", "pretrain", "--tasks", *tasks, "--out", str(out), "--quiet", "-o", "patch_size=8",
            "-o", "embed_dim=32", "-o", "depth=1", "-o", "num_heads=2", "-o", "mim_epochs=2",
            "-o", "pool_fraction=0.25"]
    assert main(args) == 0
    assert "encoder written to" in capsys.readouterr().out and out.is_file()
    assert main(["federated", "pretrain", "--tasks", *tasks, "--out", str(out), "-o", "depth"]) == 1
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert main(["federated", "simulate", "--tasks", *tasks, "--run-dir", str(tmp_path / "r"),
                 "--initial", str(out)]) == 1
    err = capsys.readouterr().err
    assert "initial model" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_killed_simulation_continues_at_the_stage_it_reached(tasks, initial, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from taskfp_lib.federated.weights import save_checkpoint

    save_checkpoint(tmp_path / "mim.safetensors", initial, {"format": "taskfp-mim-encoder"})
    opts = [a for k, v in CFG.replace(stages=3).to_dict().items() for a in ("-o", f"{k}={v}")]
    argv = [sys.executable, "-m", "taskfp_lib.cli", "federated", "simulate", "--tasks", *tasks, "--initial",
            str(tmp_path / "mim.safetensors"), "--run-dir", str(tmp_path / "run"), "--cpus", "2", "--quiet", *opts]
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (tmp_path / "run" / "stage_001.safetensors").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before stage 1"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and the Ray processes it started
        proc.wait()
    assert not (tmp_path / "run" / "summary.json").exists()
    kept = (tmp_path / "run" / "stage_001.safetensors").stat().st_mtime_ns
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert read_summary(tmp_path / "run")["completed_stages"] == 3
    assert (tmp_path / "run" / "stage_001.safetensors").stat().st_mtime_ns == kept
    assert [m["stage"] for m in read_stages(tmp_path / "run")] == [0, 1, 2, 3]
