"""Probe-network feature extraction (spec 3.4, "Representations").

The probe is a timm backbone without its classifier (default ``resnet34``, ImageNet weights,
512 penultimate features after global average pooling). Images are drawn *with replacement*
(default n = 10,000) with an explicit seed and lightly augmented (resize, random crop,
horizontal flip) with albumentations. Every draw gets its own augmentation seed, derived from the
fingerprint seed, so results do not depend on batch size or the number of loader workers.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ._io import file_sha256

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_OFFLINE_HELP = (
    "The ImageNet weights of {model!r} could not be obtained from the timm/Hugging Face hub "
    "({err}). Without internet access, either (a) run once with network access so timm caches "
    "the weights (~/.cache/huggingface), (b) pass a local checkpoint file (library: "
    "FeatureExtractor(checkpoint=...); CLI: --checkpoint FILE), or (c) for tests only, use "
    "pretrained=False / --random-init (fingerprints are then comparable only with fingerprints of "
    "the same random initialisation)."
)


def _seeded_init(seed: int):
    """Fork the global torch RNG and seed it, so random init is reproducible and side-effect free."""
    ctx = torch.random.fork_rng(devices=[])
    ctx.__enter__()
    torch.manual_seed(seed)
    return ctx


class FeatureExtractor:
    """A timm backbone that maps RGB uint8 images to penultimate features.

    Parameters
    ----------
    model : str
        timm architecture name (default ``"resnet34"`` as in the paper).
    pretrained : bool
        Load timm's default pretrained weights from the hub (needs the weights in the local
        cache when offline). Ignored when ``checkpoint`` is given.
    checkpoint : path, optional
        Local weight file (a ``state_dict`` saved with ``torch.save`` or ``.safetensors``).
        Loaded with ``weights_only=True``; classifier keys are ignored.
    init_seed : int
        Torch seed for random initialisation (``pretrained=False``), for reproducible tests.
    image_size : int
        Side of the square crop fed to the network (224 in the paper).
    device : str
        ``"cpu"``, ``"cuda"``, ...

    Attributes
    ----------
    identity : dict
        ``name``, ``weights`` (``timm:<hub id>``, ``file:sha256:<hex>`` or ``random-init:seed=<s>``),
        ``feature_dim``, ``image_size``. Reference ranges and fingerprints record it.
    """

    def __init__(self, model: str = "resnet34", pretrained: bool = True, checkpoint: str | os.PathLike | None = None,
                 init_seed: int = 0, image_size: int = 224, device: str = "cpu"):
        import timm

        self.model_name = model
        self.image_size = int(image_size)
        self.device = torch.device(device)
        if checkpoint is not None:
            checkpoint = Path(checkpoint)
            if not checkpoint.is_file():
                raise FileNotFoundError(f"{checkpoint}: checkpoint file does not exist")
            ctx = _seeded_init(init_seed)
            try:
                net = timm.create_model(model, pretrained=False, num_classes=0)
            finally:
                ctx.__exit__(None, None, None)
            state = self._read_checkpoint(checkpoint)
            head = {k for k in state if k.split(".")[0] in {"fc", "head", "classifier", "last_linear"}}
            missing, unexpected = net.load_state_dict({k: v for k, v in state.items() if k not in head}, strict=False)
            if missing or unexpected:
                raise ValueError(f"{checkpoint}: does not fit timm model {model!r} "
                                 f"(missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]})")
            weights = f"file:sha256:{file_sha256(checkpoint)}"
        elif pretrained:
            try:
                net = timm.create_model(model, pretrained=True, num_classes=0)
            except Exception as err:  # network / cache errors come in many types
                raise RuntimeError(_OFFLINE_HELP.format(model=model, err=f"{type(err).__name__}: {err}")) from None
            cfg = getattr(net, "pretrained_cfg", {}) or {}
            weights = "timm:" + (cfg.get("hf_hub_id") or f"{cfg.get('architecture', model)}.{cfg.get('tag', '')}")
        else:
            ctx = _seeded_init(init_seed)
            try:
                net = timm.create_model(model, pretrained=False, num_classes=0)
            finally:
                ctx.__exit__(None, None, None)
            weights = f"random-init:seed={int(init_seed)}:timm={timm.__version__}"
        self.net = net.eval().to(self.device)
        self.feature_dim = int(net.num_features)
        self.identity = {"name": model, "weights": weights, "feature_dim": self.feature_dim,
                         "image_size": self.image_size}

    @staticmethod
    def _read_checkpoint(path: Path) -> dict:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as err:
                raise ValueError(f"{path}: not a loadable weights file ({type(err).__name__}: {err})") from None
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
        if not isinstance(state, dict):
            raise ValueError(f"{path}: expected a state_dict")
        return {k.removeprefix("module."): v for k, v in state.items()}

    @torch.no_grad()
    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Features of a normalised float batch (B, 3, H, W) -> (B, feature_dim)."""
        return self.net(batch.to(self.device, non_blocking=True))

    def make_transform(self, augment: bool = True):
        """albumentations pipeline: resize to ~1.14x, random crop, horizontal flip, normalise."""
        import albumentations as A

        resize = int(round(self.image_size * 256 / 224))
        ops = [A.Resize(resize, resize)]
        if augment:
            ops += [A.RandomCrop(self.image_size, self.image_size), A.HorizontalFlip(p=0.5)]
        else:
            ops += [A.CenterCrop(self.image_size, self.image_size)]
        ops += [A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD)]
        return A.Compose(ops, seed=0)


def sample_plan(num_images: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices drawn with replacement and one augmentation seed per draw, from ``seed``."""
    if num_images < 1:
        raise ValueError("the task has no images")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num_images, size=n)
    aug = rng.integers(0, 2**31 - 1, size=n)
    return idx, aug


class _AugmentedDraws(torch.utils.data.Dataset):
    """Draw i -> (augmented CHW float tensor, label); decoded images cached within a byte budget."""

    def __init__(self, task, indices, aug_seeds, transform, cache_bytes: int = 512 << 20):
        self.task, self.indices, self.aug_seeds, self.transform = task, indices, aug_seeds, transform
        self.cache: dict[int, tuple[np.ndarray, int]] = {}
        self.cache_left = cache_bytes
        self.lock = threading.Lock()

    def __len__(self):
        return len(self.indices)

    def __getstate__(self):  # for loader worker processes: no lock, no cache
        state = dict(self.__dict__)
        state.pop("lock")
        state["cache"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.lock = threading.Lock()

    def _load(self, j: int):
        hit = self.cache.get(j)
        if hit is not None:
            return hit
        image, label = self.task[j]
        # keep a resized copy only: what the transform would compute first anyway
        resize = self.transform.transforms[0]
        small = resize(image=image)["image"]
        with self.lock:
            if small.nbytes <= self.cache_left:
                self.cache[j] = (small, label)
                self.cache_left -= small.nbytes
        return small, label

    def __getitem__(self, i: int):
        j = int(self.indices[i])
        small, label = self._load(j)
        t = self.transform
        t.set_random_seed(int(self.aug_seeds[i]))
        # the cached image is already resized; apply the remaining ops
        out = small
        for op in t.transforms[1:]:
            out = op(image=out)["image"]
        return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1))), label


def _batches(draws: _AugmentedDraws, batch_size: int, num_workers: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield batches; a background thread prepares the next batch while the model runs."""
    n = len(draws)
    if num_workers > 0:
        loader = torch.utils.data.DataLoader(draws, batch_size=batch_size, shuffle=False,
                                             num_workers=num_workers, pin_memory=torch.cuda.is_available())
        yield from loader
        return

    def make(start):
        items = [draws[i] for i in range(start, min(start + batch_size, n))]
        return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])

    with ThreadPoolExecutor(max_workers=1) as pool:
        fut = pool.submit(make, 0) if n else None
        for start in range(0, n, batch_size):
            batch = fut.result()
            nxt = start + batch_size
            fut = pool.submit(make, nxt) if nxt < n else None
            yield batch


def extract_features(task, extractor: FeatureExtractor, n: int = 10_000, seed: int = 0, batch_size: int = 64,
                     num_workers: int = 0, augment: bool = True, progress: bool = True,
                     return_plan: bool = False):
    """Features of ``n`` augmented draws (with replacement) from ``task``.

    Parameters
    ----------
    task : ImageFolderTask, ArrayTask or path
    extractor : FeatureExtractor
    n : int
        Number of draws (the paper: 10,000).
    seed : int
        Seeds the draws and every augmentation; same seed -> same features.

    Returns
    -------
    features : ndarray of shape (n, feature_dim), float32
    labels : ndarray of shape (n,), int64
    plan : (indices, aug_seeds), only if ``return_plan``
    """
    from tqdm import tqdm

    from .images import as_task

    task = as_task(task)
    indices, aug = sample_plan(len(task), int(n), seed)
    draws = _AugmentedDraws(task, indices, aug, extractor.make_transform(augment))
    feats = np.empty((int(n), extractor.feature_dim), dtype=np.float32)
    labels = np.empty(int(n), dtype=np.int64)
    pos = 0
    with tqdm(total=int(n), desc=f"features {getattr(task, 'name', 'task')}", unit="img",
              disable=not progress) as bar:
        for x, y in _batches(draws, batch_size, num_workers):
            f = extractor.forward(x).float().cpu().numpy()
            feats[pos:pos + len(f)] = f
            labels[pos:pos + len(f)] = y.numpy()
            pos += len(f)
            bar.update(len(f))
    if return_plan:
        return feats, labels, (indices, aug)
    return feats, labels


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
    x = torch.from_numpy(np.asarray(features, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    with contextlib.ExitStack() as stack:
        ctx = _seeded_init(seed)
        stack.callback(ctx.__exit__, None, None, None)
        head = torch.nn.Linear(x.shape[1], int(num_classes)).double()
    xd = x.double()
    opt = torch.optim.LBFGS(head.parameters(), max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(xd), y) + 1e-4 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    head = head.float().to(extractor.device)

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
