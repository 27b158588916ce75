"""timm backbones, classification heads and the Lightning module shared by all scenarios."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import lightning as L
import numpy as np
import timm
import torch
from torch import nn

__all__ = [
    "ARCHITECTURES",
    "BASELINE_ARCHITECTURE",
    "create_backbone",
    "save_backbone",
    "load_backbone_weights",
    "balanced_accuracy",
    "macro_auroc",
    "ClassifierModule",
]

# the 20 candidate architectures of the Model Architecture scenario (Supplementary Table 1, paper order)
# and the baseline architecture / fingerprint probe: one definition, in taskfp_lib.models
from ..vocabulary import ARCHITECTURES as _ARCHITECTURES, BASELINE_ARCHITECTURE  # noqa: E402

ARCHITECTURES = tuple(_ARCHITECTURES)


def create_backbone(arch: str, pretrained: bool = True, weights_file: str | os.PathLike | None = None) -> nn.Module:
    """A timm model without classifier (``num_classes=0``): images -> pooled features.

    Parameters
    ----------
    arch : str
        timm model name.
    pretrained : bool
        Load ImageNet weights from the timm/Hugging Face hub (needs network or a filled cache).
    weights_file : path, optional
        Local ImageNet weights for ``arch`` (a timm/PyTorch or safetensors file), for machines
        without internet; overrides the hub download.
    """
    if not timm.is_model(arch):
        raise ValueError(f"unknown timm architecture {arch!r}")
    if weights_file is not None:
        weights_file = Path(weights_file)
        if not weights_file.is_file():
            raise FileNotFoundError(f"{weights_file}: backbone weights file not found")
        return timm.create_model(arch, pretrained=True, num_classes=0,
                                 pretrained_cfg_overlay={"file": str(weights_file)})
    return timm.create_model(arch, pretrained=pretrained, num_classes=0)


def save_backbone(backbone: nn.Module, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Write the backbone's weights as safetensors (no pickle), atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    state = {k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}
    try:
        save_file(state, str(tmp), metadata=metadata)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_backbone_weights(backbone: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load weights written by :func:`save_backbone` (strict: the architecture must match)."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: backbone checkpoint not found")
    try:
        backbone.load_state_dict(load_file(str(path)), strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path}: checkpoint does not fit the backbone ({err})") from err
    return backbone


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> float:
    """Mean per-class recall over the classes present in ``y_true`` (the paper's BA)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recalls = [np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]
    return float(np.mean(recalls))


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney statistic (ties count one half)."""
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def macro_auroc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Macro one-vs-rest AUROC over the classes present in ``y_true`` (binary: AUROC of class 1)."""
    y_true, probs = np.asarray(y_true), np.asarray(probs, dtype=np.float64)
    present = np.unique(y_true)
    if len(present) < 2:
        return float("nan")
    if probs.shape[1] == 2:
        return _binary_auc(y_true == 1, probs[:, 1])
    return float(np.mean([_binary_auc(y_true == c, probs[:, c]) for c in present]))


class ClassifierModule(L.LightningModule):
    """Backbone + one linear head per task; the recipe shared by all scenarios.

    Training: AdamW, linear warm-up then cosine decay (per step), cross-entropy with label
    smoothing, in the spirit of "ResNet strikes back". With several heads (co-training) a
    batch carries a task id per sample; each head's loss is computed on its own task's
    samples only and the losses are added with equal weights. Testing evaluates head 0
    (the target) and stores ``test_metrics`` = {"BA", "AUROC"}.

    Parameters
    ----------
    arch : str
        timm architecture.
    num_classes : sequence of int
        Classes per head; head 0 is the target.
    lr : float
        Peak learning rate (overwritten by Lightning's learning-rate finder when used).
    backbone : nn.Module, optional
        A ready backbone (e.g. pretrained on a source task); otherwise built by
        :func:`create_backbone` from ``pretrained``/``weights_file``.
    """

    def __init__(self, arch: str = BASELINE_ARCHITECTURE, num_classes: Sequence[int] = (2,), lr: float = 1e-3,
                 weight_decay: float = 0.02, label_smoothing: float = 0.1, warmup_fraction: float = 0.05,
                 loss_weights: Sequence[float] | None = None, pretrained: bool = True,
                 weights_file: str | None = None, backbone: nn.Module | None = None):
        super().__init__()
        self.save_hyperparameters(ignore=["backbone"])
        self.lr = lr
        self.backbone = backbone if backbone is not None else create_backbone(arch, pretrained, weights_file)
        features = self.backbone.num_features
        self.heads = nn.ModuleList(nn.Linear(features, int(n)) for n in num_classes)
        self.loss_weights = list(loss_weights) if loss_weights is not None else [1.0] * len(num_classes)
        if len(self.loss_weights) != len(self.heads):
            raise ValueError("one loss weight per head is required")
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.test_metrics: dict[str, float] = {}
        self.train_losses: list[float] = []
        self._outputs: list[tuple[np.ndarray, np.ndarray]] = []

    def forward(self, x: torch.Tensor, head: int = 0) -> torch.Tensor:
        return self.heads[head](self.backbone(x))

    def head_losses(self, batch) -> list[torch.Tensor | None]:
        """Per-head mean loss over that head's samples (``None`` where a head has none)."""
        if len(batch) == 3:
            x, y, task = batch
        else:
            (x, y), task = batch, None
        feats = self.backbone(x)
        losses: list[torch.Tensor | None] = []
        for h, head in enumerate(self.heads):
            mask = torch.ones_like(y, dtype=torch.bool) if task is None else task == h
            if task is None and h > 0 or not bool(mask.any()):
                losses.append(None)
                continue
            losses.append(self.criterion(head(feats[mask]), y[mask]))
        return losses

    def training_step(self, batch, batch_idx):
        losses = self.head_losses(batch)
        total = sum(w * loss for w, loss in zip(self.loss_weights, losses) if loss is not None)
        self.log("train_loss", total, prog_bar=True, on_step=True, on_epoch=False)
        self.train_losses.append(float(total.detach()))
        return total

    def validation_step(self, batch, batch_idx):  # noqa: D401 - used by the lr finder only if asked
        return None

    def on_test_epoch_start(self) -> None:
        self._outputs = []

    def test_step(self, batch, batch_idx):
        x, y = batch[0], batch[1]
        probs = torch.softmax(self(x, 0).float(), dim=1)
        self._outputs.append((y.cpu().numpy(), probs.cpu().numpy()))

    def on_test_epoch_end(self) -> None:
        y = np.concatenate([o[0] for o in self._outputs])
        probs = np.concatenate([o[1] for o in self._outputs])
        self.test_metrics = {"BA": balanced_accuracy(y, probs.argmax(1)), "AUROC": macro_auroc(y, probs)}
        self.log_dict({f"test_{k}": v for k, v in self.test_metrics.items()})

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.hparams.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(total * self.hparams.warmup_fraction)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
