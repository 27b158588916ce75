"""The probe network: a timm backbone without its classifier, where its weights come from, how it runs.

The paper's probe is timm's ``resnet34`` with ImageNet weights (Methods, "Representations"): 512
penultimate features after global average pooling. timm's default ``resnet34`` weights are the hub
repository ``timm/resnet34.a1_in1k`` (:data:`PAPER_PROBE_HUB_ID`), file ``model.safetensors``
(:data:`PAPER_PROBE_FILE`). Without network access, download that one file on any machine
(:data:`PAPER_PROBE_URL`) and pass it, or the folder holding it, as ``checkpoint``; this loads the
same tensors as timm's ``pretrained_cfg_overlay=dict(file=...)``.

Weights sources and the identity string they give (recorded in reference ranges and fingerprints):

* timm's hub (``pretrained=True``; ``timm:<hub id>``), from the local Hugging Face cache when offline;
* a local file or folder (``checkpoint=``; ``file:sha256:<hash of the file>``), read without pickle
  (``.safetensors``, or ``torch.load(weights_only=True)``);
* a seeded random initialisation (``pretrained=False``; ``random-init:seed=<s>:timm=<version>``),
  for tests and demonstrations only: its distances are not the paper's method.

Run-time options that leave the features equal to float tolerance (``device``, ``channels_last``,
``compile``) are recorded but do not affect comparability; ``precision="bfloat16"`` moves features by
about 1e-3 relative and is part of what two comparable fingerprints must share.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch

from ._io import file_sha256

#: hub repository and file of the paper's probe weights (timm's default ImageNet weights of resnet34)
PAPER_PROBE_HUB_ID = "timm/resnet34.a1_in1k"
PAPER_PROBE_FILE = "model.safetensors"
PAPER_PROBE_URL = f"https://huggingface.co/{PAPER_PROBE_HUB_ID}/resolve/main/{PAPER_PROBE_FILE}"
#: file names looked for, in this order, when ``checkpoint`` is a folder (a downloaded hub repository)
WEIGHT_FILE_NAMES = ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors")
PRECISIONS = ("float32", "bfloat16")
_HEAD_PREFIXES = {"fc", "head", "classifier", "last_linear"}

OFFLINE_HELP = (
    "The ImageNet weights of {model!r} could not be obtained from the timm/Hugging Face hub ({err}). "
    "To work offline: (a) download the weights file once on a machine with internet access (for the paper's "
    f"probe: {PAPER_PROBE_URL}) and pass the file or its folder (library: FeatureExtractor(checkpoint=PATH); "
    "CLI: --checkpoint PATH), or (b) copy a Hugging Face cache that holds them to ~/.cache/huggingface and set "
    "HF_HUB_OFFLINE=1, or (c) for tests and demonstrations only, use pretrained=False / --random-init "
    "(distances from a random probe are not the paper's method)."
)


def _seeded_init(seed: int):
    """Fork the global torch RNG and seed it, so random init is reproducible and side-effect free."""
    ctx = torch.random.fork_rng(devices=[])
    ctx.__enter__()
    torch.manual_seed(seed)
    return ctx


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None): ``cuda`` when :func:`torch.cuda.is_available`, else ``cpu``."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def weights_file(checkpoint: str | os.PathLike) -> Path:
    """The weights file of ``checkpoint``: the file itself, or the first of :data:`WEIGHT_FILE_NAMES` in a folder."""
    path = Path(checkpoint)
    if path.is_dir():
        for name in WEIGHT_FILE_NAMES:
            if (path / name).is_file():
                return path / name
        found = sorted(path.glob("*.safetensors"))
        if len(found) == 1:
            return found[0]
        raise FileNotFoundError(f"{path}: no weights file in the folder (looked for {', '.join(WEIGHT_FILE_NAMES)} "
                                "or a single *.safetensors)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint file does not exist")
    return path


def read_state_dict(path: Path) -> dict:
    """Tensors of a weights file without unpickling code: safetensors, else ``torch.load(weights_only=True)``.

    Nested ``state_dict`` / ``model`` / ``model_state_dict`` entries and a ``module.`` prefix
    (DataParallel) are unwrapped.
    """
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt files raise many types
        raise ValueError(f"{path}: not a loadable weights file ({type(err).__name__}: {err})") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state_dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _hub_file_sha256(hub_id: str | None) -> str | None:
    """sha256 of the hub weights file in the local Hugging Face cache, if it is there."""
    if not hub_id:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        for name in WEIGHT_FILE_NAMES:
            cached = try_to_load_from_cache(hub_id, name)
            if isinstance(cached, str) and Path(cached).is_file():
                return file_sha256(cached)
    except Exception:  # an unusual cache layout only costs the hash
        return None
    return None


def _build(model: str, *, pretrained: bool, checkpoint, init_seed: int) -> tuple[torch.nn.Module, dict]:
    """The timm network without classifier and its provenance record (``source``, ``weights``, ...)."""
    import timm

    if checkpoint is None and pretrained:
        try:
            net = timm.create_model(model, pretrained=True, num_classes=0)
        except Exception as err:  # network / cache errors come in many types
            raise RuntimeError(OFFLINE_HELP.format(model=model, err=f"{type(err).__name__}: {err}")) from None
        cfg = getattr(net, "pretrained_cfg", {}) or {}
        hub_id = cfg.get("hf_hub_id")
        weights = "timm:" + (hub_id or f"{cfg.get('architecture', model)}.{cfg.get('tag', '')}")
        return net, {"source": "timm-hub", "pretrained": True, "weights": weights,
                     "weights_sha256": _hub_file_sha256(hub_id)}
    ctx = _seeded_init(init_seed)
    try:
        net = timm.create_model(model, pretrained=False, num_classes=0)
    finally:
        ctx.__exit__(None, None, None)
    if checkpoint is None:
        return net, {"source": "random-init", "pretrained": False, "weights_sha256": None,
                     "weights": f"random-init:seed={int(init_seed)}:timm={timm.__version__}"}
    path = weights_file(checkpoint)
    state = read_state_dict(path)
    body = {k: v for k, v in state.items() if k.split(".")[0] not in _HEAD_PREFIXES}
    missing, unexpected = net.load_state_dict(body, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: does not fit timm model {model!r} "
                         f"(missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]})")
    digest = file_sha256(path)
    return net, {"source": "file", "pretrained": None, "weights": f"file:sha256:{digest}",
                 "weights_sha256": digest, "file": path.name}


class FeatureExtractor:
    """A timm backbone that maps normalised RGB batches to penultimate features.

    Parameters
    ----------
    model : str
        timm architecture name (default ``"resnet34"`` as in the paper).
    pretrained : bool
        Load timm's default pretrained weights from the hub (needs the weights in the local
        cache when offline). Ignored when ``checkpoint`` is given.
    checkpoint : path, optional
        Local weights file or a folder holding one (:func:`weights_file`), e.g. the paper's
        :data:`PAPER_PROBE_FILE` of :data:`PAPER_PROBE_HUB_ID`; classifier keys are ignored.
    init_seed : int
        Torch seed for random initialisation (``pretrained=False``), for reproducible tests.
    image_size : int
        Side of the square crop fed to the network (224 in the paper).
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    channels_last : bool
        Run convolutions in channels-last memory format (same features to float tolerance; faster on CPU).
    compile : bool
        ``torch.compile`` the network (worth it for long runs; the first batch pays the compilation).
    precision : {"float32", "bfloat16"}
        ``bfloat16`` runs under autocast: about 2x faster on CPUs with bf16 support, but features move
        by about 1e-3, so its fingerprints are comparable only with other bfloat16 fingerprints.

    Attributes
    ----------
    identity : dict
        ``name``, ``weights`` (``timm:<hub id>``, ``file:sha256:<hex>`` or ``random-init:seed=<s>:...``),
        ``feature_dim``, ``image_size``. Reference ranges and fingerprints record it.
    probe : dict
        Provenance of the weights and how they ran (see :meth:`probe_record`).
    """

    #: defaults for subclasses that set ``net``, ``identity``, ``device`` and ``image_size`` themselves
    #: (e.g. the federated chapter's MIM encoder probe)
    channels_last = False
    precision = "float32"
    compiled = False
    _run = None
    _weights: dict = {"source": None, "pretrained": None, "weights_sha256": None}

    def __init__(self, model: str = "resnet34", pretrained: bool = True, checkpoint: str | os.PathLike | None = None,
                 init_seed: int = 0, image_size: int = 224, device: str = "auto", channels_last: bool = True,
                 compile: bool = False, precision: str = "float32"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.model_name = model
        self.image_size = int(image_size)
        self.device = resolve_device(device)
        self.channels_last = bool(channels_last)
        self.precision = precision
        self.compiled = bool(compile)
        net, self._weights = _build(model, pretrained=pretrained, checkpoint=checkpoint, init_seed=init_seed)
        net = net.eval().to(self.device)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.net = net
        self._run = torch.compile(net) if compile else net
        self.feature_dim = int(net.num_features)
        self.identity = {"name": model, "weights": self._weights["weights"], "feature_dim": self.feature_dim,
                         "image_size": self.image_size}

    @property
    def probe(self) -> dict:
        """Provenance and run-time record for fingerprints (:meth:`probe_record`)."""
        return self.probe_record()

    def probe_record(self) -> dict:
        """``source`` (timm-hub, file, random-init), ``pretrained`` (True, False, or None for a file of
        unknown origin), ``weights``, ``weights_sha256``, ``precision``, ``device``, ``channels_last``,
        ``compile`` and the torch version."""
        return {"weights": self.identity.get("weights"), **self._weights, "precision": self.precision,
                "device": str(self.device),
                "channels_last": self.channels_last, "compile": self.compiled, "torch": torch.__version__}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.model_name!r}, weights={self.identity['weights']!r}, "
                f"image_size={self.image_size}, device={str(self.device)!r}, precision={self.precision!r})")

    def _autocast(self):
        if self.precision == "bfloat16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @torch.no_grad()
    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Features of a normalised float batch, shape (B, 3, H, W) -> (B, feature_dim), float32."""
        x = batch.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            return (self._run or self.net)(x).float()

    def make_transform(self, augment: bool = True):
        """albumentations pipeline: resize to ~1.14x, random crop, horizontal flip, ImageNet normalisation."""
        import albumentations as A

        from ..imaging import IMAGENET_MEAN, IMAGENET_STD

        resize = int(round(self.image_size * 256 / 224))
        ops = [A.Resize(resize, resize)]
        if augment:
            ops += [A.RandomCrop(self.image_size, self.image_size), A.HorizontalFlip(p=0.5)]
        else:
            ops += [A.CenterCrop(self.image_size, self.image_size)]
        ops += [A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD)]
        return A.Compose(ops, seed=0)
