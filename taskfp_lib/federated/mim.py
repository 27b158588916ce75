"""The ViT encoder and its SimMIM-style masked-image-modelling (MIM) pretraining.

MedUniverse initialises the server's base model by masked image modelling on an unlabelled pool
that spans body parts and imaging techniques. Here the encoder is a small timm Vision Transformer
(no class token, mean-pooled patch tokens, sizes from :class:`~taskfp_lib.federated.config.FedConfig`)
and the pretext task is SimMIM (Xie et al., CVPR 2022): a random fraction of the patch embeddings
is replaced by a learned mask token, the encoder processes all tokens, and a linear decoder
predicts the pixels of every patch; the loss is the mean absolute error on the masked patches,

    L = sum_{p masked} |x_p - W h_p| / (number of masked pixels),

with ``x_p`` the normalised pixels of patch ``p`` and ``h_p`` its encoder output. Only the
encoder is kept (and federated); the decoder and the mask token stay on the server.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from .config import FedConfig

__all__ = ["create_encoder", "SimMIM", "random_patch_mask", "pretrain_mim", "encoder_state", "load_encoder_state"]


def create_encoder(cfg: FedConfig, seed: int = 0) -> nn.Module:
    """A timm ViT encoder (images (B, 3, S, S) -> features (B, embed_dim)), seeded initialisation.

    The global torch RNG is forked, so creating an encoder has no side effect on other draws.
    """
    import timm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=cfg.image_size,
                                 patch_size=cfg.patch_size, embed_dim=cfg.embed_dim, depth=cfg.depth,
                                 num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio, class_token=False,
                                 global_pool="avg")


def encoder_state(encoder: nn.Module) -> dict[str, np.ndarray]:
    """The encoder's weights as float32 numpy arrays (``state_dict`` order)."""
    return {k: v.detach().cpu().numpy().astype(np.float32, copy=True) for k, v in encoder.state_dict().items()}


def load_encoder_state(encoder: nn.Module, state: dict[str, np.ndarray]) -> nn.Module:
    """Load numpy weights into ``encoder`` (strict: same keys and shapes)."""
    encoder.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=True)
    return encoder


def random_patch_mask(batch: int, num_patches: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """Boolean mask (batch, num_patches) with exactly ``round(ratio * num_patches)`` True per row."""
    k = max(1, int(round(ratio * num_patches)))
    order = torch.rand(batch, num_patches, generator=generator).argsort(dim=1)
    mask = torch.zeros(batch, num_patches, dtype=torch.bool)
    mask.scatter_(1, order[:, :k], True)
    return mask


class SimMIM(nn.Module):
    """Encoder + learned mask token + linear pixel decoder (SimMIM).

    Parameters
    ----------
    encoder : timm VisionTransformer
        Built by :func:`create_encoder` (no class token, so ``pos_embed`` has one row per patch).
    patch_size : int
    """

    def __init__(self, encoder: nn.Module, patch_size: int):
        super().__init__()
        self.encoder = encoder
        self.patch_size = int(patch_size)
        dim = encoder.embed_dim
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.decoder = nn.Linear(dim, 3 * self.patch_size ** 2)

    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, num_patches, 3 * p * p), row-major patches as the patch embedding."""
        p = self.patch_size
        b, c, h, w = images.shape
        x = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, (h // p) * (w // p), p * p * c)

    def encode_masked(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Token features (B, N, D) with the masked patch embeddings replaced by the mask token."""
        enc = self.encoder
        x = enc.patch_embed(images)
        x = torch.where(mask[..., None], self.mask_token.expand_as(x), x)
        x = enc.pos_drop(x + enc.pos_embed)
        x = enc.norm_pre(x)
        x = enc.blocks(x)
        return enc.norm(x)

    def loss(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean absolute reconstruction error over the masked patches' pixels."""
        pred = self.decoder(self.encode_masked(images, mask))
        target = self.patchify(images)
        err = (pred - target).abs().mean(dim=2)
        return (err * mask).sum() / mask.sum().clamp(min=1)


def _schedule(total: int, warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
    return factor


def pretrain_mim(images: torch.Tensor, cfg: FedConfig, seed: int = 0, epochs: int | None = None,
                 progress: bool = False) -> tuple[nn.Module, list[float]]:
    """SimMIM pretraining of a fresh encoder on an unlabelled pool.

    Parameters
    ----------
    images : Tensor of shape (n, 3, S, S), float32
        Normalised images of the pool (:func:`taskfp_lib.federated.data.to_tensor`).
    cfg : FedConfig
    seed : int
        Seeds the encoder, decoder, batch order, flips and masks.
    epochs : int, optional
        Overrides ``cfg.mim_epochs``.

    Returns
    -------
    encoder : nn.Module
        The pretrained encoder (decoder and mask token dropped), in eval mode.
    losses : list of float
        Mean loss per epoch.
    """
    from tqdm.auto import tqdm

    if images.ndim != 4 or images.shape[1:] != (3, cfg.image_size, cfg.image_size):
        raise ValueError(f"MIM pool of shape {tuple(images.shape)} does not match (n, 3, {cfg.image_size}, "
                         f"{cfg.image_size})")
    epochs = cfg.mim_epochs if epochs is None else int(epochs)
    gen = torch.Generator().manual_seed(int(seed))
    model = SimMIM(create_encoder(cfg, seed), cfg.patch_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed) + 1)
        model.decoder.reset_parameters()
        nn.init.trunc_normal_(model.mask_token, std=0.02)
    n, bs = len(images), min(cfg.mim_batch_size, len(images))
    steps = epochs * math.ceil(n / bs)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.mim_lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(steps, max(1, steps // 20)))
    losses: list[float] = []
    model.train()
    for _ in tqdm(range(epochs), desc="MIM pretraining", unit="epoch", disable=not progress):
        order, total = torch.randperm(n, generator=gen), 0.0
        for start in range(0, n, bs):
            x = images[order[start:start + bs]]
            flip = torch.rand(len(x), generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            loss = model.loss(x, random_patch_mask(len(x), cfg.num_patches, cfg.mask_ratio, gen))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(x)
        losses.append(total / n)
    return model.encoder.eval(), losses
