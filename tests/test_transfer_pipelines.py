"""The baseline and the four transfer scenarios as Lightning training pipelines (CPU, tiny models)."""
from __future__ import annotations

import json
import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from taskfp_lib.transfer import models
from taskfp_lib.transfer.config import ConfigError, TrainConfig, recipe, settings_diff, settings_hash
from taskfp_lib.transfer.data import read_task
from taskfp_lib.transfer.demo import write_digit_tasks
from taskfp_lib.transfer.models import (ClassifierModule, WeightsUnavailableError, balanced_accuracy,
                                        create_backbone, load_backbone_weights, macro_auroc, save_backbone)
from taskfp_lib.transfer.scenarios.arch import run_architecture
from taskfp_lib.transfer.scenarios.augmentation import run_augmentation
from taskfp_lib.transfer.scenarios.baseline import run_baseline
from taskfp_lib.transfer.scenarios.cotraining import run_cotraining
from taskfp_lib.transfer.scenarios.pretrain import pretrain_source, run_pretraining
from taskfp_lib.transfer.training import RunResult, classifier, cost_notice, task_datamodule, train
from taskfp_lib.vocabulary import ARCHITECTURES

TINY = TrainConfig(arch="test_resnet", pretrained=False, image_size=32, max_epochs=2, batch_size=16, lr=1e-2,
                   lr_find=False, cache_images=True, accelerator="cpu", num_threads=1, shrink_train=60, shrink_threshold=150)


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    return write_digit_tasks(root, ["digits_low_high", "digits_mod3", "digits_parity"], size=32, max_per_class=100)


def test_loss_goes_down_on_a_learnable_task(tasks):
    cfg = TINY.replace(max_epochs=8)
    task = read_task(tasks["digits_low_high"])
    dm = task_datamodule(task, cfg, seed=0, shrunk=False)
    module, metrics, lr = train(dm, classifier(cfg, cfg.arch, [2]), cfg, seed=0)
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


def test_garbage_checkpoint_is_a_one_line_error(tmp_path):
    backbone = create_backbone("test_resnet", pretrained=False)
    for content in (b"", b"\x00" * 64, b"\xff\xff\xff\xff\xff\xff\xff\x7f{}", b'{"not": "safetensors"}'):
        path = tmp_path / "garbage.safetensors"
        path.write_bytes(content)
        with pytest.raises(ValueError, match=r"garbage.safetensors: not a readable safetensors checkpoint") as err:
            load_backbone_weights(backbone, path)
        assert "\n" not in str(err.value)
        with pytest.raises(ValueError, match="garbage.safetensors: cannot load ImageNet weights") as err:
            create_backbone("test_resnet", weights_file=path)
        assert "\n" not in str(err.value)


def test_missing_hub_weights_say_how_to_work_offline(monkeypatch):
    real = models.timm.create_model

    def offline(name, pretrained=False, **kwargs):
        if pretrained and "pretrained_cfg_overlay" not in kwargs:
            raise OSError("We couldn't connect to 'https://huggingface.co' to load the files,\nand no cache")
        return real(name, pretrained=pretrained, **kwargs)

    monkeypatch.setattr(models.timm, "create_model", offline)
    with pytest.raises(WeightsUnavailableError) as err:
        create_backbone("test_resnet", pretrained=True)
    message = str(err.value)
    assert "\n" not in message and "--no-pretrained" in message and "--weights-dir" in message
    assert "HF_HUB_OFFLINE" in message and message.startswith("test_resnet: ImageNet weights not available")
    assert create_backbone("test_resnet", pretrained=False).num_features > 0


def test_adamw_runs_as_one_multi_tensor_update_with_the_loop_result():
    torch.manual_seed(0)
    module = ClassifierModule("test_resnet", num_classes=[3], pretrained=False, lr=0.05)
    x, y = torch.randn(8, 3, 32, 32), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])

    class Trainer:  # what configure_optimizers reads from Lightning's trainer
        estimated_stepping_batches = 10

    module.trainer = Trainer()  # type: ignore[assignment]
    optimizer = module.configure_optimizers()["optimizer"]
    assert optimizer.defaults["foreach"] is True
    twin = ClassifierModule("test_resnet", num_classes=[3], pretrained=False, lr=0.05)
    twin.load_state_dict(module.state_dict())
    loop = torch.optim.AdamW(twin.parameters(), lr=0.05, weight_decay=0.02, foreach=False)
    for model, opt in ((module, optimizer), (twin, loop)):
        for _ in range(3):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    for (name, a), b in zip(module.state_dict().items(), twin.state_dict().values()):
        assert torch.equal(a, b), name  # bit for bit


def test_train_config_refuses_bad_values_by_field():
    for field, value, message in [("max_epochs", 0, "max_epochs: expected an integer in \\[1, 100000\\], got 0"),
                                  ("max_epochs", "ten", "max_epochs: expected an integer .* got 'ten'"),
                                  ("max_epochs", 2.0, "max_epochs: expected an integer"),
                                  ("batch_size", True, "batch_size: expected an integer"),
                                  ("lr", float("nan"), "lr: expected a number in \\(0, 10\\]"),
                                  ("lr", -1e-3, "lr: expected a number"),
                                  ("test_fraction", 1.0, "test_fraction: expected a number in \\(0, 1\\)"),
                                  ("image_size", 10**6, "image_size: expected an integer in \\[8, 4096\\]"),
                                  ("pretrained", "yes", "pretrained: expected true or false"),
                                  ("limit_train_batches", 0, "limit_train_batches: expected null"),
                                  ("arch", "", "arch: expected a non-empty printable text")]:
        with pytest.raises(ConfigError, match=message):
            TrainConfig(**{field: value})
    with pytest.raises(ConfigError, match=r"unknown training option\(s\) \['colour'\]"):
        TrainConfig.from_dict({"colour": 1})
    with pytest.raises(ConfigError, match="max_epochs"):
        TINY.replace(max_epochs=-3)


def test_settings_hash_covers_the_recipe_not_the_execution():
    base = recipe(TINY)
    assert "num_threads" not in base and "max_epochs" in base and "pretrained" in base
    assert recipe(TINY.replace(num_threads=2, cache_images=False, num_workers=3)) == base
    assert settings_hash({"train": base}) == settings_hash({"train": dict(reversed(list(base.items())))})
    changed = recipe(TINY.replace(max_epochs=5, lr=0.5))
    assert settings_hash({"train": changed}) != settings_hash({"train": base})
    assert settings_diff({"train": base}, {"train": changed}) == ["train.lr: 0.01 -> 0.5", "train.max_epochs: 2 -> 5"]


def test_cost_is_stated_before_a_run():
    text = cost_notice(TrainConfig(max_epochs=20, batch_size=32), steps_per_epoch=25, step_seconds=12.0)
    assert text.startswith("transfer: 100 learning-rate finder steps + 500 training steps (20 epochs x 25 batches")
    assert "about 20 min for the finder and 100 min for training at 12.00 s per step" in text
    assert "--no-lr-find" in text
    quick = cost_notice(TrainConfig(lr_find=False, max_epochs=1), steps_per_epoch=3)
    assert quick == "transfer: 3 training steps (1 epochs x 3 batches of 32)"


def test_progress_run_prints_its_measured_cost_first(tasks, capsys):
    cfg = TINY.replace(max_epochs=1, lr_find=True, lr_find_steps=3, progress=True)
    quiet = run_baseline(tasks["digits_low_high"], cfg.replace(progress=False), seed=2)
    loud = run_baseline(tasks["digits_low_high"], cfg, seed=2)
    err = capsys.readouterr().err
    assert "transfer: 3 learning-rate finder steps + 10 training steps" in err and "s per step measured now" in err
    assert loud.metrics == quiet.metrics and loud.lr == quiet.lr  # measuring the step changed nothing
