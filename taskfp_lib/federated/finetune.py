"""Client fine-tuning with the project's Lightning recipe, and held-out accuracy.

The encoder (a base model from the server) and a linear head (initialised by the server) are
trained together with :class:`taskfp_lib.transfer.models.ClassifierModule` and
:func:`taskfp_lib.transfer.pipelines.train` (AdamW, linear warm-up then cosine decay,
label-smoothed cross-entropy, ``deterministic=True``, one CPU thread, no learning-rate finder).
Images come from memory (:class:`~taskfp_lib.federated.data.ClientData`), without augmentation.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from .config import FedConfig
from .data import to_tensor
from .mim import create_encoder, encoder_state, load_encoder_state

__all__ = ["FinetuneResult", "finetune", "accuracy_score"]


@dataclass
class FinetuneResult:
    """Outcome of one fine-tuning: weights, held-out metrics, training losses."""

    encoder: dict[str, np.ndarray]
    head: dict[str, np.ndarray]
    accuracy: float
    balanced_accuracy: float
    losses: list[float]
    n_train: int
    n_test: int
    seconds: float


class _ArrayDataModule(L.LightningDataModule):
    """Train/test tensors as a Lightning data module (shuffled training order from ``seed``)."""

    def __init__(self, x_train, y_train, x_test, y_test, batch_size: int, seed: int):
        super().__init__()
        self.train_set = TensorDataset(to_tensor(x_train), torch.as_tensor(y_train, dtype=torch.long))
        self.test_set = TensorDataset(to_tensor(x_test), torch.as_tensor(y_test, dtype=torch.long))
        self.batch_size, self.seed = int(batch_size), int(seed)

    def train_dataloader(self):
        gen = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, generator=gen)

    def test_dataloader(self):
        return DataLoader(self.test_set, batch_size=256, shuffle=False)


@torch.no_grad()
def accuracy_score(module, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of correctly classified images (head 0 of a ``ClassifierModule``)."""
    module.eval()
    pred = module(to_tensor(x)).argmax(dim=1).numpy()
    return float(np.mean(pred == np.asarray(y)))


def finetune(encoder: dict[str, np.ndarray], head: dict[str, np.ndarray], x_train: np.ndarray, y_train: np.ndarray,
             x_test: np.ndarray, y_test: np.ndarray, cfg: FedConfig, seed: int,
             epochs: int | None = None) -> FinetuneResult:
    """Fine-tune encoder + head on the training split and score the held-out split.

    Parameters
    ----------
    encoder : dict of str -> ndarray
        Base-model weights (keys of :func:`~taskfp_lib.federated.mim.create_encoder`'s ``state_dict``).
    head : dict with ``weight`` (k, d) and ``bias`` (k,)
    x_train, x_test : ndarray (n, S, S, 3) uint8
    y_train, y_test : ndarray (n,) int
    cfg : FedConfig
        ``ft_epochs``, ``ft_batch_size``, ``ft_lr``, ``ft_weight_decay``, ``label_smoothing``.
    seed : int
        Seeds the training order (and Lightning's global seed).
    epochs : int, optional
        Overrides ``cfg.ft_epochs``.
    """
    from ..transfer.models import ClassifierModule
    from ..transfer.pipelines import TrainConfig, train

    t0 = time.perf_counter()
    net = load_encoder_state(create_encoder(cfg), encoder)
    k = int(head["weight"].shape[0])
    module = ClassifierModule(num_classes=[k], lr=cfg.ft_lr, weight_decay=cfg.ft_weight_decay,
                              label_smoothing=cfg.label_smoothing, pretrained=False, backbone=net)
    module.heads[0].load_state_dict({n: torch.from_numpy(np.ascontiguousarray(v)) for n, v in head.items()})
    dm = _ArrayDataModule(x_train, y_train, x_test, y_test, cfg.ft_batch_size, seed)
    tcfg = TrainConfig(max_epochs=cfg.ft_epochs if epochs is None else int(epochs), lr=cfg.ft_lr, lr_find=False,
                       accelerator="cpu", num_threads=1, progress=False)
    with warnings.catch_warnings():  # the shared module defines a validation_step; no validation here
        warnings.filterwarnings("ignore", message=".*validation_step.*")
        module, metrics, _ = train(dm, module, tcfg, int(seed))
    acc = accuracy_score(module, x_test, y_test)
    head_out = {n: p.detach().numpy().astype(np.float32, copy=True) for n, p in module.heads[0].state_dict().items()}
    return FinetuneResult(encoder_state(module.backbone), head_out, acc, float(metrics["BA"]),
                          list(module.train_losses), len(y_train), len(y_test), time.perf_counter() - t0)
