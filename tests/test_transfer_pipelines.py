"""The baseline and the four transfer scenarios as Lightning training pipelines (CPU, tiny models)."""
from __future__ import annotations

import json
import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from taskfp_lib.transfer.data import scan_task
from taskfp_lib.transfer.demo import write_digit_tasks
from taskfp_lib.transfer.models import (ARCHITECTURES, ClassifierModule, balanced_accuracy, create_backbone,
                                        load_backbone_weights, macro_auroc, save_backbone)
from taskfp_lib.transfer.pipelines import (RunResult, TrainConfig, _datamodule, _module, pretrain_source,
                                           run_architecture, run_augmentation, run_baseline, run_cotraining,
                                           run_pretraining, train)

TINY = TrainConfig(arch="test_resnet", pretrained=False, image_size=32, max_epochs=2, batch_size=16, lr=1e-2,
                   lr_find=False, cache_images=True, accelerator="cpu", num_threads=1, shrink_train=60, shrink_threshold=150)


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    return write_digit_tasks(root, ["digits_low_high", "digits_mod3", "digits_parity"], size=32, max_per_class=100)


def test_loss_goes_down_on_a_learnable_task(tasks):
    cfg = TINY.replace(max_epochs=8)
    task = scan_task(tasks["digits_low_high"])
    dm = _datamodule(task, cfg, seed=0, shrunk=False)
    module, metrics, lr = train(dm, _module(cfg, cfg.arch, [2]), cfg, seed=0)
    losses = np.asarray(module.train_losses)
    per_epoch = losses.reshape(cfg.max_epochs, -1).mean(axis=1)
    assert per_epoch[-1] < per_epoch[0] - 0.15, per_epoch
    assert metrics["BA"] > 0.75 and metrics["AUROC"] > 0.85, metrics  # chance: 0.5
    assert lr == cfg.lr


def test_same_seed_same_numbers(tasks):
    first = run_baseline(tasks["digits_mod3"], TINY, seed=4)
    second = run_baseline(tasks["digits_mod3"], TINY, seed=4)
    assert first.metrics == second.metrics
    assert first.scenario == "baseline" and first.arch == "test_resnet" and not first.shrunk
    assert first.n_train + first.n_test == 300 and first.n_test == 60


def test_run_records_configuration_metrics_and_versions(tasks):
    result = run_architecture(tasks["digits_parity"], "test_efficientnet", TINY, seed=0, shrunk=True)
    assert result.shrunk and result.n_train == TINY.shrink_train and result.arch == "test_efficientnet"
    record = json.loads(result.to_json())
    assert set(record["metrics"]) == {"BA", "AUROC"} and all(0 <= v <= 1 for v in record["metrics"].values())
    assert record["config"]["image_size"] == 32 and record["config"]["arch"] == "test_resnet"
    assert {"torch", "timm", "lightning", "albumentations", "taskfp_lib"} <= set(record["versions"])
    assert RunResult(**record).metrics == result.metrics


def test_learning_rate_finder_sets_the_rate(tasks):
    cfg = TINY.replace(lr_find=True, lr_find_steps=25, max_epochs=1)
    result = run_baseline(tasks["digits_low_high"], cfg, seed=0)
    assert np.isfinite(result.lr) and result.lr > 0 and result.lr != cfg.lr


def test_cotraining_losses_use_each_heads_own_samples():
    torch.manual_seed(0)
    module = ClassifierModule("test_resnet", num_classes=[2, 3], pretrained=False, label_smoothing=0.0)
    x = torch.randn(6, 3, 32, 32)
    y = torch.tensor([1, 0, 2, 1, 0, 2])
    task = torch.tensor([0, 0, 1, 1, 1, 0])
    y = torch.where(task == 0, y.clamp(max=1), y)
    losses = module.head_losses((x, y, task))
    feats = module.backbone(x)
    ce = torch.nn.functional.cross_entropy
    torch.testing.assert_close(losses[0], ce(module.heads[0](feats[task == 0]), y[task == 0]))
    torch.testing.assert_close(losses[1], ce(module.heads[1](feats[task == 1]), y[task == 1]))
    # a batch without source samples trains only the target head
    only_target = module.head_losses((x[task == 0], y[task == 0], task[task == 0]))
    assert only_target[1] is None
    only_target[0].backward()
    assert module.heads[1].weight.grad is None and module.heads[0].weight.grad.abs().sum() > 0
    assert module.loss_weights == [1.0, 1.0]


def test_cotraining_scenario(tasks):
    result = run_cotraining(tasks["digits_mod3"], tasks["digits_low_high"], TINY, seed=0)
    assert result.scenario == "multi_task" and result.source == "digits_mod3" and result.target == "digits_low_high"
    assert result.shrunk and result.n_train == 60 and 0 <= result.metrics["BA"] <= 1


def test_pretraining_scenario_starts_from_the_source_backbone(tasks, tmp_path):
    checkpoint = tmp_path / "source.safetensors"
    source = pretrain_source(tasks["digits_mod3"], checkpoint, TINY, seed=0)
    assert checkpoint.is_file() and source.extra["checkpoint"] == str(checkpoint)
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left nothing behind
    restored = load_backbone_weights(create_backbone("test_resnet", pretrained=False), checkpoint)
    fresh = create_backbone("test_resnet", pretrained=False)
    from safetensors.torch import load_file

    saved = load_file(str(checkpoint))
    assert all(torch.equal(restored.state_dict()[k], v) for k, v in saved.items())
    assert any(not torch.equal(fresh.state_dict()[k], v) for k, v in saved.items() if v.is_floating_point())
    with pytest.raises(ValueError, match="does not fit the backbone"):
        load_backbone_weights(create_backbone("test_efficientnet", pretrained=False), checkpoint)
    result = run_pretraining("digits_mod3", tasks["digits_low_high"], TINY, seed=0, checkpoint=checkpoint)
    assert result.scenario == "pretrain" and result.source == "digits_mod3" and result.shrunk
    # without a checkpoint the source is trained on the fly (same seed -> same outcome)
    direct = run_pretraining(tasks["digits_mod3"], tasks["digits_low_high"], TINY, seed=0)
    assert direct.metrics == result.metrics


def test_augmentation_scenario_with_a_policy_file(tasks, tmp_path):
    policy = {"__version__": "1.3.0", "transform": {
        "__class_fullname__": "Compose", "p": 1.0, "bbox_params": None, "keypoint_params": None,
        "additional_targets": {}, "transforms": [
            {"__class_fullname__": "Solarize", "always_apply": False, "p": 0.5, "threshold": [128, 128]},
            {"__class_fullname__": "CoarseDropout", "always_apply": False, "p": 0.5, "max_holes": 2,
             "max_height": 64, "max_width": 64, "min_holes": 1, "min_height": 32, "min_width": 32,
             "fill_value": 0, "mask_fill_value": None}]}}
    path = tmp_path / "policy_0001.json"
    path.write_text(json.dumps(policy))
    result = run_augmentation(path, tasks["digits_parity"], TINY, seed=0, source="some_source")
    assert result.scenario == "augmentation" and result.source == "some_source" and result.shrunk
    baseline = run_architecture(tasks["digits_parity"], "test_resnet", TINY, seed=0, shrunk=True)
    assert result.metrics != baseline.metrics  # the policy changed the training


def test_metrics():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert balanced_accuracy(y, np.array([0, 1, 1, 1, 2, 0])) == pytest.approx((0.5 + 1 + 0.5) / 3)
    probs = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.7 + 0.1
    from sklearn.metrics import roc_auc_score

    assert macro_auroc(y, probs) == pytest.approx(roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    assert macro_auroc(np.array([0, 1, 1, 0]), np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])) == 1.0


def test_the_twenty_architectures_exist_in_timm():
    import timm

    assert len(ARCHITECTURES) == len(set(ARCHITECTURES)) == 20
    assert all(timm.is_model(a) for a in ARCHITECTURES)
    with pytest.raises(ValueError, match="unknown timm architecture"):
        create_backbone("resnet_9000", pretrained=False)


def test_local_weights_file_is_used(tmp_path):
    source = create_backbone("test_resnet", pretrained=False)
    path = save_backbone(source, tmp_path / "test_resnet.safetensors")
    loaded = create_backbone("test_resnet", weights_file=path)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in source.state_dict().items())
    cfg = TINY.replace(weights_dir=str(tmp_path))
    assert cfg.weights_file("test_resnet") == str(path)
    with pytest.raises(FileNotFoundError, match="no weights file"):
        cfg.weights_file("resnet34")
