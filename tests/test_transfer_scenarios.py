"""Scenarios are plug-ins: a new one is a record plus a plug-in, and runs through the grid, the published
file naming and the evaluation's reader without touching any other module."""
from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd
import pytest

from taskfp_lib.evaluation import load_outcomes
from taskfp_lib.transfer.config import ConfigError, TrainConfig
from taskfp_lib.transfer.demo import write_digit_tasks
from taskfp_lib.transfer.grid import grid_jobs, job_status, read_runs, run_grid, write_outcomes
from taskfp_lib.transfer.plugins import (Job, TransferScenario, get_plugin, plugin_for_kind, plugins,
                                         register_plugin, unregister_plugin)
from taskfp_lib.transfer.spec import GridSpec
from taskfp_lib.transfer.training import RunResult
from taskfp_lib.upstream.readers import outcome_filename
from taskfp_lib.vocabulary import BASELINE_KEY, PAPER_SCENARIOS, SCENARIOS, Scenario, register_scenario

TINY = TrainConfig(arch="test_resnet", pretrained=False, image_size=32, max_epochs=1, batch_size=16, lr=1e-2,
                   lr_find=False, cache_images=True, accelerator="cpu", num_threads=1, limit_train_batches=1,
                   shrink_train=20, shrink_threshold=30)


# --- the whole of a new scenario: its record and its plug-in (what one new module would hold) ------

def class_overlap(spec: GridSpec, source: str, target: str) -> float:
    """Jaccard index of the class-folder names of two tasks (the toy scenario's 'outcome')."""
    a, b = set(spec.scan(source).classes), set(spec.scan(target).classes)
    return len(a & b) / len(a | b)


class ClassOverlap(TransferScenario):
    """Toy scenario: no training; the outcome of a pair is the overlap of their class names."""

    def run(self, target, cfg, seed=0, *, shrunk=True, source=None) -> RunResult:
        raise NotImplementedError("a grid-only toy")

    def run_job(self, job: Job, spec: GridSpec, workdir) -> RunResult:
        p = class_overlap(spec, job.source, job.target)
        return RunResult(scenario=self.key, target=job.target, source=job.source, arch=job.arch,
                         seed=spec.seed + job.repetition, shrunk=job.shrunk, metrics={"BA": p, "AUROC": p},
                         n_train=0, n_test=0, lr=0.0, seconds=0.0)


@pytest.fixture
def toy():
    record = register_scenario(Scenario("Class Overlap", "class_overlap", "Ovl", "C. O.", True, "#777777"))
    plugin = ClassOverlap()
    plugin.record = record
    register_plugin(plugin)
    yield plugin
    unregister_plugin(record.key)
    del SCENARIOS[record.label]


# ----------------------------------------------------------------------------------------------------


def test_every_scenario_has_exactly_one_plugin():
    keys = {s.key for s in SCENARIOS.values()}
    assert set(plugins()) == keys | {BASELINE_KEY}
    for label in PAPER_SCENARIOS:
        plugin = get_plugin(SCENARIOS[label].key)
        assert plugin.record is SCENARIOS[label]
        for kind in plugin.job_kinds():
            assert plugin_for_kind(kind) is plugin
    assert plugin_for_kind("pretrain_source") is get_plugin("pretrain")
    with pytest.raises(KeyError, match="unknown scenario 'teleport'"):
        get_plugin("teleport")
    with pytest.raises(ValueError, match="already registered"):
        register_plugin(type(get_plugin("arch"))())


def test_every_scenario_round_trips_through_the_published_file_naming():
    for scenario in SCENARIOS.values():
        for metric in ("BA", "AUROC"):
            name = outcome_filename(scenario.key, metric, True, True)
            assert name.startswith(f"load_{scenario.key}_experiment%{metric}%")
            assert name.count("%") == (3 if scenario.has_shrunk_field else 2)


@pytest.fixture(scope="module")
def digit_tasks(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy_tasks")
    paths = write_digit_tasks(root, ["digits_low_high", "digits_parity", "digits_0to4"], size=32, max_per_class=8)
    return {name: str(path) for name, path in paths.items()}


def test_a_new_scenario_runs_through_grid_files_and_evaluation(toy, digit_tasks, tmp_path):
    spec = GridSpec(tasks=digit_tasks, targets=["digits_parity", "digits_0to4"], sources=list(digit_tasks),
                    scenarios=[toy.key], repetitions=[0, 1], architectures=["test_resnet"], train=TINY)
    jobs = grid_jobs(spec)
    assert [j.kind for j in jobs].count(toy.key) == 2 * 2 * 2  # 2 repetitions x 2 targets x 2 valid sources
    counts = run_grid(spec, tmp_path, progress=False)
    assert counts == {"total": len(jobs), "skipped": 0, "ran": len(jobs), "failed": 0}
    assert job_status(spec, tmp_path)["done"].all()
    names = {p.name for p in write_outcomes(spec, tmp_path)}
    assert {"load_class_overlap_experiment%BA%True%True.csv", "load_class_overlap_experiment%AUROC%True%True.csv",
            "load_baseline_experiment%BA%False%True.csv"} <= names
    outcomes = load_outcomes(validation=True, directory=tmp_path / "exp", scenarios=[toy.record.label])
    matrix = outcomes.matrix(toy.record.label, "BA", "mean")
    expected = pd.DataFrame({t: {s: class_overlap(spec, s, t) for s in spec.valid_sources(t)} for t in spec.targets})
    pd.testing.assert_frame_equal(matrix, expected.loc[matrix.index, matrix.columns], check_names=False)
    assert matrix.loc["digits_low_high", "digits_0to4"] == 0.0  # low/high vs d0..d4
    assert outcomes.baseline(toy.record.label, "BA", "mean", spec.targets).between(0, 1).all()
    assert all(r["config_hash"] for r in read_runs(tmp_path).values())


def test_an_unregistered_scenario_is_refused_by_name(digit_tasks):
    with pytest.raises(ConfigError, match=r"scenarios: unknown scenario\(s\) \['class_overlap'\]"):
        GridSpec(tasks=digit_tasks, targets=["digits_parity"], sources=["digits_0to4"], scenarios=["class_overlap"])
