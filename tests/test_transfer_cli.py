"""``taskfp transfer``: demo data, single runs, the grid, status and outcomes from the command line."""
from __future__ import annotations

import json
import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd
import pytest

from taskfp_lib.cli import main

TINY = ["--arch", "test_resnet", "--image-size", "32", "--epochs", "1", "--batch-size", "16", "--lr", "0.01",
        "--no-lr-find", "--no-pretrained", "--accelerator", "cpu", "--threads", "1", "--limit-train-batches", "3"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    assert main(["transfer", "demo-data", str(root / "tasks"), "--tasks", "digits_low_high", "digits_mod3",
                 "--max-per-class", "30"]) == 0
    return root


def test_run_each_scenario(demo, capsys):
    tasks = demo / "tasks"
    policy = demo / "policy.json"
    policy.write_text(json.dumps({"__version__": "1.3.0", "transform": {
        "__class_fullname__": "Compose", "p": 1.0, "bbox_params": None, "keypoint_params": None,
        "additional_targets": {}, "transforms": [
            {"__class_fullname__": "VerticalFlip", "always_apply": False, "p": 0.5}]}}))
    capsys.readouterr()
    runs = [["--scenario", "baseline"], ["--scenario", "arch", "--shrunk"],
            ["--scenario", "pretrain", "--source", str(tasks / "digits_mod3")],
            ["--scenario", "augmentation", "--policy", str(policy)],
            ["--scenario", "multi_task", "--source", str(tasks / "digits_mod3")]]
    for extra in runs:
        out = demo / "record.json"
        assert main(["transfer", "run", "--target", str(tasks / "digits_low_high"), "--quiet", "--out", str(out),
                     *extra, *TINY]) == 0
        line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert line["scenario"] == extra[1] and 0 <= line["BA"] <= 1 and 0 <= line["AUROC"] <= 1
        record = json.loads(out.read_text())
        assert record["metrics"]["BA"] == line["BA"] and record["config"]["arch"] == "test_resnet"


def test_bad_input_is_a_clear_error(demo, capsys):
    assert main(["transfer", "run", "--scenario", "pretrain", "--target", str(demo / "tasks" / "digits_mod3"),
                 *TINY]) == 1
    assert "needs --source" in capsys.readouterr().err
    assert main(["transfer", "run", "--scenario", "baseline", "--target", str(demo / "nowhere"), *TINY]) == 1
    assert "nowhere: task folder does not exist" in capsys.readouterr().err
    target = str(demo / "tasks" / "digits_mod3")
    for argv, message in [(["--scenario", "teleport"], "unknown scenario 'teleport'; known: ['arch', 'augmentation', "
                                                      "'baseline', 'multi_task', 'pretrain']"),
                          (["--scenario", "baseline", *TINY, "--epochs", "0"],
                           "--epochs: expected an integer in [1, 100000], got 0"),
                          (["--scenario", "baseline", *TINY, "--lr", "-1"], "--lr: expected a number in (0, 10]"),
                          (["--scenario", "augmentation"], "needs --policy FILE or --policy-task NAME"),
                          (["--scenario", "augmentation", "--policy-task", "mnist_digit_classification",
                            "--repetition", "7"], "policy repetition must be 0, 1 or 2, got 7"),
                          (["--scenario", "baseline", "--source", target], "takes no --source")]:
        assert main(["transfer", "run", "--target", target, "--quiet", *argv]) == 1
        err = capsys.readouterr().err
        assert err.startswith("taskfp transfer run: error: ") and message in err and err.count("\n") == 1, err


def test_run_without_weights_says_how_to_work_offline(demo, capsys, monkeypatch):
    from taskfp_lib.transfer import models

    def offline(name, pretrained=False, **kwargs):
        raise OSError("cannot reach the hub (simulated: no network, no cache)")

    monkeypatch.setattr(models.timm, "create_model", offline)
    assert main(["transfer", "run", "--scenario", "baseline", "--target", str(demo / "tasks" / "digits_mod3"),
                 "--quiet", "--arch", "test_resnet", "--no-lr-find", "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("taskfp transfer run: error: test_resnet: ImageNet weights not available") and \
        err.count("\n") == 1
    assert "--no-pretrained" in err and "--weights-dir" in err and "HF_HUB_OFFLINE" in err


def test_bad_grid_spec_is_one_line_before_any_job(demo, capsys):
    spec = {"tasks": {"a": "tasks/digits_low_high", "b": "tasks/digits_mod3"}, "targets": ["a"], "sources": ["b"],
            "train": {"max_epochs": "ten"}}
    path = demo / "bad_grid.json"
    path.write_text(json.dumps(spec))
    assert main(["transfer", "grid", str(path), "--workdir", str(demo / "bad_work"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == f"taskfp transfer grid: error: {path}: train.max_epochs: expected an integer in [1, 100000], got 'ten'\n"
    assert not (demo / "bad_work").exists()


def test_grid_status_and_outcomes(demo, capsys, monkeypatch):
    tasks = demo / "tasks"
    spec = {"tasks": {"digits_low_high": "tasks/digits_low_high", "digits_mod3": "tasks/digits_mod3"},
            "targets": ["digits_low_high", "digits_mod3"], "sources": ["digits_low_high", "digits_mod3"],
            "scenarios": ["multi_task"], "repetitions": [0, 1, 2], "train": {"max_epochs": 1}}
    (demo / "grid.json").write_text(json.dumps(spec))
    work = demo / "work"
    assert tasks.is_dir()
    assert main(["transfer", "grid", str(demo / "grid.json"), "--workdir", str(work), "--quiet", "--max-jobs", "3",
                 *TINY]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["ran"] == 3
    recorded = json.loads((work / "grid.json").read_text())["tasks"]
    assert recorded == {"digits_low_high": str(tasks / "digits_low_high"), "digits_mod3": str(tasks / "digits_mod3")}
    monkeypatch.chdir(work)  # status and outcomes read grid.json's absolute paths from anywhere
    assert main(["transfer", "status", str(work)]) == 0
    assert "all\t3/12" in capsys.readouterr().out
    assert main(["transfer", "outcomes", str(work)]) == 1
    assert "missing" in capsys.readouterr().err
    assert main(["transfer", "grid", str(demo / "grid.json"), "--workdir", str(work), "--quiet", *TINY]) == 0
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[0]) == {"total": 12, "skipped": 3, "ran": 9, "failed": 0}
    files = sorted(os.path.basename(p) for p in out[1:])
    assert "load_multi_task_experiment%BA%True%True.csv" in files
    frame = pd.read_csv(work / "exp" / "load_multi_task_experiment%BA%True%True.csv", index_col=0)
    assert len(frame) == 3 * 2 and list(frame.columns) == ["r", "s", "t", "p"]
