"""The experiment grid: published outcome layout, resume after a crash, Dask execution."""
from __future__ import annotations

import json
import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path

import pandas as pd
import pytest

from taskfp_lib.transfer import grid as grid_module
from taskfp_lib.transfer.demo import write_digit_tasks
from taskfp_lib.transfer.grid import (GridSpec, Job, grid_jobs, job_status, outcome_tables, read_runs, run_grid,
                                      write_outcomes)
from taskfp_lib.transfer.pipelines import TrainConfig

REPO = Path(__file__).resolve().parents[1]
TINY = TrainConfig(arch="test_resnet", pretrained=False, image_size=32, max_epochs=1, batch_size=16, lr=1e-2,
                   lr_find=False, cache_images=True, accelerator="cpu", num_threads=1, limit_train_batches=3,
                   shrink_train=40, shrink_threshold=120)
NAMES = ["digits_low_high", "digits_mod3", "digits_parity"]


def _policy_file(path: Path, threshold: int) -> str:
    policy = {"__version__": "1.3.0", "transform": {
        "__class_fullname__": "Compose", "p": 1.0, "bbox_params": None, "keypoint_params": None,
        "additional_targets": {}, "transforms": [
            {"__class_fullname__": "Solarize", "always_apply": False, "p": 0.5, "threshold": [threshold, threshold]},
            {"__class_fullname__": "HorizontalFlip", "always_apply": False, "p": 0.5}]}}
    path.write_text(json.dumps(policy))
    return str(path)


@pytest.fixture(scope="module")
def task_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid_tasks")
    paths = write_digit_tasks(root, NAMES, size=32, max_per_class=50)
    policies = {n: [_policy_file(root / f"{n}_{r}.json", 60 + 40 * i + r) for r in range(3)]
                for i, n in enumerate(NAMES)}
    return {k: str(v) for k, v in paths.items()}, policies


def _spec(task_dirs, **changes) -> GridSpec:
    tasks, policies = task_dirs
    values = dict(tasks=tasks, targets=["digits_parity", "digits_mod3"], sources=list(NAMES),
                  architectures=["test_resnet", "test_efficientnet"], policies=policies, repetitions=[0, 1, 2],
                  train=TINY)
    values.update(changes)
    return GridSpec(**values)


@pytest.fixture(scope="module")
def full_grid(task_dirs, tmp_path_factory):
    spec = _spec(task_dirs)
    workdir = tmp_path_factory.mktemp("full_grid")
    counts = run_grid(spec, workdir, progress=False)
    return spec, workdir, counts


def test_jobs_are_unique_and_dependencies_come_first(task_dirs):
    spec = _spec(task_dirs)
    jobs = grid_jobs(spec)
    keys = [j.key for j in jobs]
    assert len(keys) == len(set(keys))
    position = {k: i for i, k in enumerate(keys)}
    for job in jobs:
        if job.kind == "pretrain":
            assert position[job.depends_on().key] < position[job.key]
    per_rep = [j for j in jobs if j.repetition == 0]
    kinds = pd.Series([j.kind for j in per_rep]).value_counts().to_dict()
    # 2 targets with 2 valid sources each; digits_mod3 (150 images) is shrinkable, digits_parity (100) not;
    # the full-size arch runs of digits_parity as a target and as a source are the same job
    assert kinds == {"baseline": 3, "pretrain_source": 3, "arch": 2 * (3 + 1), "pretrain": 4, "augmentation": 4,
                     "multi_task": 4}


def test_grid_writes_the_published_layout(full_grid):
    spec, workdir, counts = full_grid
    assert counts == {"total": 3 * 26, "skipped": 0, "ran": 3 * 26, "failed": 0}
    written = {p.name: p for p in write_outcomes(spec, workdir)}
    expected = {f"load_{exp}_experiment%{m}%True%True.csv" for exp in ("arch", "multi_task") for m in ("BA", "AUROC")}
    expected |= {f"load_{exp}_experiment%{m}%True.csv" for exp in ("pretrain", "augmentation") for m in ("BA", "AUROC")}
    expected |= {f"load_baseline_experiment%{m}%{s}%True.csv" for m in ("BA", "AUROC") for s in (True, False)}
    assert set(written) == expected
    for name, path in written.items():
        text = path.read_text().splitlines()
        frame = pd.read_csv(path, index_col=0)
        if "baseline" in name:
            assert text[0] == ",digits_mod3" if "%True%" in name else text[0] == ",digits_parity,digits_mod3"
            assert list(frame.index) == [0, 1, 2]
        else:
            assert text[0] == ",r,s,t,p"
            assert list(frame.index) == list(range(len(frame)))
            assert len(frame) == 3 * 4 and not frame.duplicated(["r", "s", "t"]).any()
            assert set(frame["t"]) == {"digits_parity", "digits_mod3"} and (frame["s"] != frame["t"]).all()
            assert list(frame["r"]) == sorted(frame["r"])
        assert frame.to_numpy().size and frame.select_dtypes("number").notna().all().all()
    # full float precision: the CSV value is exactly the run's metric
    runs = read_runs(workdir)
    arch = pd.read_csv(written["load_arch_experiment%BA%True%True.csv"], index_col=0)
    for _, row in arch.iterrows():
        source_scores = {a: runs[Job("arch", row.s, row.r, arch=a).key]["metrics"]["BA"] for a in spec.architectures}
        best = max(spec.architectures, key=lambda a: (source_scores[a], -spec.architectures.index(a)))
        target_run = runs[Job("arch", row.t, row.r, arch=best, shrunk=row.t == "digits_mod3").key]
        assert row.p == target_run["metrics"]["BA"]
    co = pd.read_csv(written["load_multi_task_experiment%AUROC%True%True.csv"], index_col=0)
    key = Job("multi_task", "digits_mod3", 2, source="digits_parity", arch="test_resnet", shrunk=True).key
    assert co.query("r == 2 and s == 'digits_parity' and t == 'digits_mod3'")["p"].item() == \
        runs[key]["metrics"]["AUROC"]
    assert runs[key]["n_train"] == TINY.shrink_train


def test_outcomes_are_read_by_the_evaluation(full_grid):
    spec, workdir, _ = full_grid
    outdir = workdir / "exp"
    write_outcomes(spec, workdir, outdir)
    outcomes_module = pytest.importorskip("taskfp_lib.evaluation.outcomes")
    outcomes = outcomes_module.load_outcomes(validation=True, directory=outdir)
    for scenario in outcomes_module.SCENARIOS:
        matrix = outcomes.matrix(scenario, "BA", "mean")
        assert set(matrix.columns) == {"digits_parity", "digits_mod3"}
        base = outcomes.baseline(scenario, "BA", "mean", ["digits_parity", "digits_mod3"])
        assert base.notna().all()


def test_finished_grid_is_not_recomputed(full_grid, monkeypatch):
    spec, workdir, _ = full_grid

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished run was recomputed")

    for name in ("run_baseline", "run_architecture", "pretrain_source", "run_pretraining", "run_augmentation",
                 "run_cotraining"):
        monkeypatch.setattr(grid_module, name, must_not_run)
    assert run_grid(spec, workdir, progress=False) == {"total": 78, "skipped": 78, "ran": 0, "failed": 0}
    assert job_status(spec, workdir)["done"].all()


def test_resume_after_a_crash_loses_and_duplicates_nothing(task_dirs, tmp_path, monkeypatch):
    spec = _spec(task_dirs, scenarios=["pretrain", "multi_task"], repetitions=[0])
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    real = grid_module.run_cotraining
    calls = {"n": 0}

    def crash_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated crash in the middle of a training")
        return real(*args, **kwargs)

    monkeypatch.setattr(grid_module, "run_cotraining", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_grid(spec, crashed, progress=False)
    monkeypatch.setattr(grid_module, "run_cotraining", real)
    done_before = {p.name: p.stat().st_mtime_ns for p in (crashed / "runs").glob("*.json")}
    status = job_status(spec, crashed)
    assert 0 < status["done"].sum() < len(status) == len(done_before) + (~status["done"]).sum()
    (crashed / "runs" / ".half_written.json.tmp").write_text('{"key": "trunc')  # debris of a killed writer

    counts = run_grid(spec, crashed, progress=False)
    assert counts["skipped"] == len(done_before) and counts["ran"] == len(status) - len(done_before)
    for name, mtime in done_before.items():
        assert (crashed / "runs" / name).stat().st_mtime_ns == mtime
    assert len(read_runs(crashed)) == len(status)

    run_grid(spec, clean, progress=False)
    resumed, uninterrupted = outcome_tables(spec, crashed), outcome_tables(spec, clean)
    assert resumed.keys() == uninterrupted.keys()
    for name in resumed:
        pd.testing.assert_frame_equal(resumed[name], uninterrupted[name])
        if "baseline" not in name:
            assert len(resumed[name]) == 4 and not resumed[name].duplicated(["r", "s", "t"]).any()


def test_missing_runs_are_named(task_dirs, tmp_path):
    spec = _spec(task_dirs, scenarios=["augmentation"], repetitions=[0])
    run_grid(spec, tmp_path, progress=False, max_jobs=2)
    with pytest.raises(RuntimeError, match=r"run\(s\) missing .*augmentation__"):
        write_outcomes(spec, tmp_path)


def test_dask_local_cluster_gives_the_sequential_result(task_dirs, tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = _spec(task_dirs, scenarios=["pretrain", "augmentation"], repetitions=[1],
                 targets=["digits_mod3"])
    run_grid(spec, tmp_path / "sequential", progress=False)
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1",
           "NO_ALBUMENTATIONS_UPDATE": "1", "HF_HUB_OFFLINE": "1"}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env=env) as cluster, distributed.Client(cluster) as client:
        counts = run_grid(spec, tmp_path / "dask", client=client, progress=False)
        pids = {r["pid"] for r in read_runs(tmp_path / "dask").values()}
    assert counts["ran"] == counts["total"] == len(grid_jobs(spec)) and counts["failed"] == 0
    sequential, dask = outcome_tables(spec, tmp_path / "sequential"), outcome_tables(spec, tmp_path / "dask")
    for name in sequential:
        pd.testing.assert_frame_equal(sequential[name], dask[name])
    assert os.getpid() not in pids  # the trainings ran in the worker processes


def test_spec_round_trip_and_clear_errors(task_dirs, tmp_path):
    spec = _spec(task_dirs)
    path = tmp_path / "grid.json"
    spec.to_json(path)
    again = GridSpec.from_json(path)
    assert again == spec
    bad = json.loads(path.read_text())
    bad["scenarios"] = ["arch", "teleport"]
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"grid.json: unknown scenario\(s\) \['teleport'\]"):
        GridSpec.from_json(path)
    bad = json.loads(spec.to_json())
    bad["train"]["colour"] = 1
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"grid.json: unknown training option\(s\) \['colour'\]"):
        GridSpec.from_json(path)
    with pytest.raises(ValueError, match="no image folder"):
        _spec(task_dirs, targets=["unknown_task"])
