"""Diagonal Fisher embedding of the probe network for a task (Task2Vec-style, for the FED baseline)."""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from .extract import _AugmentedDraws
from .probe import FeatureExtractor, _seeded_init


def _fit_head(features: np.ndarray, labels: np.ndarray, num_classes: int, seed: int) -> torch.nn.Linear:
    """Linear head (float64) fitted on ``features`` (n, m) -> ``labels`` by full-batch L-BFGS with an
    L2 penalty :math:`10^{-4} \\lVert W \\rVert^2`; initialised from ``seed`` (deterministic)."""
    x = torch.from_numpy(np.asarray(features, dtype=np.float64))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    with contextlib.ExitStack() as stack:
        ctx = _seeded_init(seed)
        stack.callback(ctx.__exit__, None, None, None)
        head = torch.nn.Linear(x.shape[1], int(num_classes)).double()
    opt = torch.optim.LBFGS(head.parameters(), max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(x), y) + 1e-4 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return head


def fisher_embedding(task, extractor: FeatureExtractor, features: np.ndarray, labels: np.ndarray,
                     plan: tuple[np.ndarray, np.ndarray], num_classes: int, n_fisher: int = 100,
                     seed: int = 0, layer_fraction: float = 0.6, progress: bool = True) -> tuple[np.ndarray, dict]:
    """Diagonal Fisher information of the probe network (Task2Vec-style, for FED).

    1. A linear head (num_classes outputs) is fitted on the extracted ``features`` with
       full-batch L-BFGS (deterministic).
    2. For the first ``n_fisher`` draws of ``plan``, a label is sampled from the model's
       predictive distribution (seeded) and the squared per-sample gradient of its
       log-likelihood is accumulated for every backbone parameter tensor.
    3. The embedding concatenates the flattened mean squared gradients of the last
       ``layer_fraction`` of the parameter tensors (index ``>= int((1 - layer_fraction) * L)`` in
       ``named_parameters`` order; the task-specific head is excluded).

    Returns
    -------
    embedding : ndarray of shape (n_params,), float32
    meta : dict with ``layers`` (names), ``sizes``, ``n_fisher``, ``seed``
    """
    from tqdm import tqdm

    from .images import as_task

    task = as_task(task)
    gen = torch.Generator().manual_seed(int(seed))
    head = _fit_head(features, labels, num_classes, seed).float().to(extractor.device)

    net = extractor.net
    params = list(net.named_parameters())
    start = int((1.0 - layer_fraction) * len(params))
    chosen = params[start:]
    acc = [torch.zeros_like(p, device=p.device) for _, p in chosen]
    indices, aug = plan
    m = min(int(n_fisher), len(indices))
    draws = _AugmentedDraws(task, indices[:m], aug[:m], extractor.make_transform(True))
    requires = [p.requires_grad for _, p in params]
    for _, p in params:
        p.requires_grad_(False)
    for _, p in chosen:
        p.requires_grad_(True)
    try:
        for i in tqdm(range(m), desc="fisher", unit="img", disable=not progress):
            img, _ = draws[i]
            logits = head(net(img[None].to(extractor.device)))
            logp = torch.log_softmax(logits, dim=1)
            sampled = torch.multinomial(logp.detach().exp().cpu(), 1, generator=gen).item()
            grads = torch.autograd.grad(logp[0, sampled], [p for _, p in chosen])
            for a, g in zip(acc, grads):
                a += g.detach() ** 2
    finally:
        for (_, p), r in zip(params, requires):
            p.requires_grad_(r)
    emb = torch.cat([(a / max(m, 1)).flatten().cpu() for a in acc]).numpy().astype(np.float32)
    meta = {"layers": [n for n, _ in chosen], "sizes": [int(p.numel()) for _, p in chosen],
            "n_fisher": m, "seed": int(seed), "layer_fraction": float(layer_fraction),
            "method": "monte-carlo diagonal Fisher, linear head fitted on the features"}
    return emb, meta
