"""The experiment grid: published outcome layout, resume after a crash, Dask execution, hostile specs."""
from __future__ import annotations

import dataclasses
import json
import os
import re

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path

import pandas as pd
import pytest

from taskfp_lib.transfer.config import ConfigError, TrainConfig
from taskfp_lib.transfer.demo import write_digit_tasks
from taskfp_lib.transfer.grid import grid_jobs, job_status, outcome_tables, read_runs, run_grid, write_outcomes
from taskfp_lib.transfer.plugins import Job, checkpoint_path, plugins
from taskfp_lib.transfer.scenarios import cotraining
from taskfp_lib.transfer.spec import GridSpec

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
    from taskfp_lib.evaluation import load_outcomes
    from taskfp_lib.vocabulary import PAPER_SCENARIOS

    outcomes = load_outcomes(validation=True, directory=outdir)
    for scenario in PAPER_SCENARIOS:
        matrix = outcomes.matrix(scenario, "BA", "mean")
        assert set(matrix.columns) == {"digits_parity", "digits_mod3"}
        base = outcomes.baseline(scenario, "BA", "mean", ["digits_parity", "digits_mod3"])
        assert base.notna().all()


def test_finished_grid_is_not_recomputed(full_grid, monkeypatch):
    spec, workdir, _ = full_grid

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished run was recomputed")

    for plugin in plugins().values():
        monkeypatch.setattr(plugin, "run_job", must_not_run)
    assert run_grid(spec, workdir, progress=False) == {"total": 78, "skipped": 78, "ran": 0, "failed": 0}
    assert job_status(spec, workdir)["done"].all()


def test_resume_after_a_crash_loses_and_duplicates_nothing(task_dirs, tmp_path, monkeypatch):
    spec = _spec(task_dirs, scenarios=["pretrain", "multi_task"], repetitions=[0])
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    real = cotraining.run_cotraining
    calls = {"n": 0}

    def crash_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated crash in the middle of a training")
        return real(*args, **kwargs)

    monkeypatch.setattr(cotraining, "run_cotraining", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_grid(spec, crashed, progress=False)
    monkeypatch.setattr(cotraining, "run_cotraining", real)
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


@pytest.mark.processes
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
    with pytest.raises(ValueError, match=r"grid.json: scenarios: unknown scenario\(s\) \['teleport'\]"):
        GridSpec.from_json(path)
    bad = json.loads(spec.to_json())
    bad["train"]["colour"] = 1
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"grid.json: train: unknown training option\(s\) \['colour'\]"):
        GridSpec.from_json(path)
    with pytest.raises(ValueError, match="no image folder"):
        _spec(task_dirs, targets=["unknown_task"])


QUICK = TINY.replace(limit_train_batches=1)


@pytest.fixture(scope="module")
def look_alike_tasks(tmp_path_factory):
    """Three different tasks whose names differ only in characters a file name cannot keep."""
    root = tmp_path_factory.mktemp("look_alike")
    folders = write_digit_tasks(root, ["digits_low_high", "digits_mod3", "digits_round", "digits_parity"], size=32,
                                max_per_class=12)
    names = {"task x": "digits_low_high", "task_x": "digits_mod3", "task/x": "digits_round", "src": "digits_parity"}
    return {name: str(folders[d]) for name, d in names.items()}


def test_look_alike_task_names_never_share_a_job(look_alike_tasks, tmp_path):
    spec = GridSpec(tasks=look_alike_tasks, targets=["task x", "task_x", "task/x"], sources=["src"],
                    scenarios=["multi_task"], repetitions=[0], architectures=["test_resnet"], train=QUICK)
    jobs = grid_jobs(spec)
    assert len(jobs) == 3 * 2 and len({j.key for j in jobs}) == 6  # baseline + co-training per target
    assert len({j.key.rsplit("__", 1)[0] for j in jobs}) == 2  # readable parts collide, keys do not
    assert run_grid(spec, tmp_path, progress=False) == {"total": 6, "skipped": 0, "ran": 6, "failed": 0}
    runs = read_runs(tmp_path)
    tables = outcome_tables(spec, tmp_path)
    co = tables["load_multi_task_experiment%BA%True%True.csv"]
    assert sorted(co["t"]) == sorted(["task x", "task_x", "task/x"])
    for _, row in co.iterrows():
        record = runs[Job("multi_task", row.t, 0, source="src", arch="test_resnet").key]
        assert record["target"] == row.t and record["settings"]["inputs"]["target"] == look_alike_tasks[row.t]
        assert row.p == record["metrics"]["BA"]
    # three different tasks (2, 3 and 2 classes): their runs are their own
    assert sorted(r["n_train"] + r["n_test"] for r in runs.values() if r["scenario"] == "baseline") == [24, 24, 36]


def test_resume_with_other_settings_is_refused_before_any_job(look_alike_tasks, tmp_path):
    spec = GridSpec(tasks=look_alike_tasks, targets=["task x"], sources=["src"], scenarios=["pretrain"],
                    repetitions=[0], train=QUICK)
    assert run_grid(spec, tmp_path, progress=False, max_jobs=2)["ran"] == 2
    before = {p.name: p.read_bytes() for p in (tmp_path / "runs").glob("*.json")}
    grid_json = (tmp_path / "grid.json").read_bytes()
    other = dataclasses.replace(spec, train=QUICK.replace(max_epochs=2, lr=0.05))
    with pytest.raises(ConfigError, match=r"2 finished run\(s\) were made with other settings.*"
                                          r"train.lr: 0.01 -> 0.05; train.max_epochs: 1 -> 2") as err:
        run_grid(other, tmp_path, progress=False)
    assert "\n" not in str(err.value)
    assert (tmp_path / "grid.json").read_bytes() == grid_json  # not relabelled
    assert {p.name: p.read_bytes() for p in (tmp_path / "runs").glob("*.json")} == before
    with pytest.raises(ConfigError, match="made with other settings"):
        outcome_tables(dataclasses.replace(spec, seed=5), tmp_path)
    # execution details (threads, workers, caching) are not part of the settings: resuming is fine
    faster = dataclasses.replace(spec, train=QUICK.replace(num_threads=2, cache_images=False))
    assert run_grid(faster, tmp_path, progress=False)["skipped"] == 2


def test_garbage_checkpoint_in_a_grid_is_a_one_line_error(look_alike_tasks, tmp_path):
    spec = GridSpec(tasks=look_alike_tasks, targets=["task x"], sources=["src"], scenarios=["pretrain"],
                    repetitions=[0], train=QUICK)
    jobs = grid_jobs(spec)
    source_job = next(j for j in jobs if j.kind == "pretrain_source")
    run_grid(spec, tmp_path, progress=False, max_jobs=jobs.index(source_job) + 1)
    checkpoint_path(tmp_path, source_job).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage}")
    with pytest.raises(ValueError, match=r"not a readable safetensors checkpoint .*; delete it and runs/"
                                         r"pretrain_source__src__.*json .* to recompute") as err:
        run_grid(spec, tmp_path, progress=False)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("change, message", [
    ({"train": {"max_epochs": "ten"}}, r"train.max_epochs: expected an integer in \[1, 100000\], got 'ten'"),
    ({"train": {"max_epochs": 0}}, r"train.max_epochs: expected an integer in \[1, 100000\], got 0"),
    ({"train": {"lr": "fast"}}, r"train.lr: expected a number"),
    ({"train": [1]}, r"train: expected a mapping of training options, got list"),
    ({"tasks": ["a", "b"]}, r"tasks: expected a mapping of task name -> image folder, got list"),
    ({"targets": "task x"}, r"targets: expected a list of names, got str"),
    ({"targets": ["task x", "task x"]}, r"targets: names must be distinct"),
    ({"sources": [3]}, r"sources\[0\]: expected a non-empty printable text"),
    ({"repetitions": [0, True]}, r"repetitions\[1\]: expected an integer"),
    ({"repetitions": []}, r"repetitions: expected a non-empty list"),
    ({"seed": -1}, r"seed: expected an integer in \[0, 2147483648\], got -1"),
    ({"shrunk": "no"}, r"shrunk: expected true or false, got 'no'"),
    ({"scenarios": "arch"}, r"scenarios: expected a list of names, got str"),
    ({"policies": {"src": "one.json"}}, r"policies\['src'\]: needs a list of one policy file per repetition"),
    ({"groups": [["a", 1]]}, r"groups\[0\]\[1\]: expected a non-empty printable text"),
    ({"tasks": {"bad\u001b[31mname": "x"}}, r"tasks: expected a non-empty printable text"),
])
def test_grid_spec_errors_name_the_file_and_the_field(tmp_path, change, message):
    values = {"tasks": {"task x": "a", "src": "b"}, "targets": ["task x"], "sources": ["src"], "repetitions": [0],
              "train": {"max_epochs": 1}}
    values.update(change)
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ConfigError) as err:
        GridSpec.from_json(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)
    assert re.search(message, str(err.value)), str(err.value)


def test_spec_that_is_not_a_mapping_or_not_json(tmp_path):
    path = tmp_path / "grid.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"grid.json: expected a mapping of grid options, got list"):
        GridSpec.from_json(path)
    path.write_text('{"tasks": {}}')
    with pytest.raises(ConfigError, match=r"grid.json: missing grid option\(s\) \['sources', 'targets'\]"):
        GridSpec.from_json(path)


def test_bad_inputs_are_found_before_any_job_runs(look_alike_tasks, tmp_path):
    tasks = {**look_alike_tasks, "ghost": str(tmp_path / "no_such_folder")}
    spec = GridSpec(tasks=tasks, targets=["task x", "ghost"], sources=["src"], scenarios=["multi_task"],
                    repetitions=[0], train=QUICK)
    with pytest.raises(ValueError, match="no_such_folder: task folder does not exist"):
        run_grid(spec, tmp_path / "work", progress=False)
    assert not (tmp_path / "work").exists()
    bad_policy = tmp_path / "policy.json"
    bad_policy.write_text(json.dumps({"__version__": "1.3.0", "transform": {
        "__class_fullname__": "CoarseDropout", "p": 1.0, "max_holes": 10**9, "max_height": 8, "max_width": 8}}))
    spec = GridSpec(tasks=look_alike_tasks, targets=["task x"], sources=["src"], scenarios=["augmentation"],
                    repetitions=[0], policies={"src": [str(bad_policy)]}, train=QUICK)
    with pytest.raises(ValueError, match=r"policy.json/CoarseDropout: CoarseDropout.max_holes = 1000000000 exceeds"):
        run_grid(spec, tmp_path / "work", progress=False)
    spec = GridSpec(tasks=look_alike_tasks, targets=["task x"], sources=["src"], scenarios=["arch"],
                    repetitions=[0], architectures=["test_resnet", "resnet_9000"], train=QUICK)
    with pytest.raises(ValueError, match=r"architectures: unknown timm architecture\(s\) \['resnet_9000'\]"):
        run_grid(spec, tmp_path / "work", progress=False)
    assert not (tmp_path / "work").exists()


def test_task_paths_are_resolved_once_and_stored_absolute(look_alike_tasks, tmp_path, monkeypatch):
    root = Path(look_alike_tasks["src"]).parent
    (root / "specs").mkdir(exist_ok=True)
    spec_file = root / "specs" / "grid.json"
    spec_file.write_text(json.dumps({"tasks": {"a": "../digits_parity", "b": "../digits_mod3"}, "targets": ["a"],
                                     "sources": ["b"], "scenarios": [], "repetitions": [0]}))
    monkeypatch.chdir(tmp_path)
    spec = GridSpec.from_json(Path(os.path.relpath(spec_file, tmp_path)))
    assert spec.tasks == {"a": str(root / "digits_parity"), "b": str(root / "digits_mod3")}
    spec.to_json(tmp_path / "work" / "grid.json")
    monkeypatch.chdir(root)
    again = GridSpec.from_json(Path(os.path.relpath(tmp_path / "work" / "grid.json", root)))
    assert again.tasks == spec.tasks and again == spec
