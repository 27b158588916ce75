"""The same client tasks through task fingerprinting, with the MIM encoder as the probe.

Task fingerprinting (Godau et al., arXiv 2412.08763, Methods) shares a *description* of each task
instead of weights: binned histograms of probe features over fixed reference ranges. Here the
probe is the server's MIM-pretrained encoder (not the paper's ImageNet ResNet34), the reference
ranges are the 5 %/95 % quantiles of its features on the server's unlabelled pool, and every
client's fingerprint is queried against the others' with bKLD(small, target)
(``KLD-PP:NS-W:TS-100-BINS``, the paper's recommended distance). The selected source for target
``t`` is ``argmin_{s != t} d(s, t)``; knowledge is transferred by the pretraining scenario: the
MIM encoder is fine-tuned on the source, then on the target with a fresh head.
"""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..fingerprints.extract import FeatureExtractor
from ..vocabulary import DEFAULT_DISTANCE
from .config import MIM_PROBE_PREFIX, FedConfig
from .data import ClientData

__all__ = ["MIMProbe", "fingerprint_clients", "select_sources", "source_transfer", "fingerprint_nbytes",
           "DISTANCE"]

#: bKLD(small, target), the paper's recommended task distance
DISTANCE = DEFAULT_DISTANCE


class _PostReLUPool(torch.nn.Module):
    """ViT tokens -> mean over tokens of ReLU(token): features >= 0, like a ResNet's pooled post-ReLU map.

    ``f_j = (1 / N) sum_{i=1..N} max(0, h_ij)`` for the N patch tokens ``h_i`` of the encoder's final
    (normalised) layer. Fingerprint distances weight features by their means, which must be >= 0.
    """

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x):  # noqa: D102
        return torch.relu(self.encoder.forward_features(x)).mean(dim=1)


class MIMProbe(FeatureExtractor):
    """The MIM encoder as fingerprint probe: images -> mean over patch tokens of ReLU(token) (embed_dim features).

    The paper's probe features are non-negative (post-ReLU average pooling of a ResNet); a ViT's
    tokens are not, so the probe pools ReLU(tokens) (:class:`_PostReLUPool`). Its identity names the
    architecture, this pooling and the sha256 of the weights, so fingerprints of different MIM
    encoders are never compared; its probe record says ``source: mim-encoder``, and every output
    made from it notes that it is an alternative probe, not the paper's (offline-capable: the
    encoder comes from ``taskfp federated pretrain``, see :meth:`from_checkpoint`).
    """

    def __init__(self, encoder: Mapping[str, np.ndarray], cfg: FedConfig):  # noqa: D107 - no super(): no timm name

        from .mim import create_encoder, load_encoder_state
        from .runstate import state_sha256

        self.model_name = (f"{MIM_PROBE_PREFIX}s={cfg.image_size},p={cfg.patch_size},d={cfg.depth},"
                           f"w={cfg.embed_dim},pool=relu-mean)")
        self.image_size = int(cfg.image_size)
        self.device = torch.device("cpu")
        self.net = _PostReLUPool(load_encoder_state(create_encoder(cfg), dict(encoder))).eval()
        self.feature_dim = int(cfg.embed_dim)
        sha = state_sha256(encoder)
        self.identity = {"name": self.model_name, "weights": f"sha256:{sha}",
                         "feature_dim": self.feature_dim, "image_size": self.image_size}
        self._weights = {"source": "mim-encoder", "pretrained": True, "weights_sha256": sha}

    @classmethod
    def from_checkpoint(cls, path) -> "MIMProbe":
        """The probe of a MIM encoder file written by ``taskfp federated pretrain`` (safetensors + config).

        Raises ``ValueError`` (one line naming the file) for another kind of file, a configuration
        that does not validate, or weights that do not fit the configuration.
        """
        from .weights import MIM_FORMAT, load_checkpoint

        state, meta = load_checkpoint(path)
        if meta.get("format") != MIM_FORMAT or not isinstance(meta.get("config"), dict):
            raise ValueError(f"{path}: not a MIM encoder written by taskfp federated pretrain (field 'format')")
        try:
            cfg = FedConfig.from_dict(meta["config"])
            return cls(state, cfg)
        except (ValueError, TypeError, KeyError, RuntimeError) as err:
            raise ValueError(f"{path}: MIM encoder does not fit its field 'config' "
                             f"({' '.join(str(err).split())[:200]})") from None


def _task(images: np.ndarray, labels: np.ndarray, name: str):
    from ..fingerprints.images import ArrayTask

    return ArrayTask(list(zip(images, labels.tolist())), name=name, num_classes=int(labels.max()) + 1)


def fingerprint_clients(probe: MIMProbe, clients: Sequence[ClientData], pool: np.ndarray, n: int = 500,
                        seed: int = 0) -> tuple[list, object]:
    """Fingerprints of the clients' training splits and the reference ranges they were binned with.

    Parameters
    ----------
    probe : MIMProbe
    clients : sequence of ClientData
    pool : ndarray (m, S, S, 3) uint8
        The server's unlabelled pool; its features define the reference ranges.
    n : int
        Augmented draws per task (with replacement; at least 100, the privacy floor).
    seed : int
    """
    from ..fingerprints import Fingerprint, build_reference_ranges, extract_features

    zeros = np.zeros(len(pool), dtype=np.int64)
    ref, _ = extract_features(_task(pool, zeros, "pool"), probe, n=max(n, len(pool)), seed=seed, progress=False)
    ranges = build_reference_ranges({"pool": ref}, probe.identity)
    fps = []
    for c in clients:
        feats, _ = extract_features(_task(c.x_train, c.y_train, c.name), probe, n=n, seed=seed, progress=False)
        fps.append(Fingerprint.from_features(feats, ranges, task=c.name, bins=(100, 1000), seed=seed,
                                             task_meta={"num_classes": c.num_classes,
                                                        "num_images": len(c.y_train)}))
    return fps, ranges


def select_sources(fingerprints: Sequence, distance: str = DISTANCE) -> pd.DataFrame:
    """For every target the closest other client: columns target, source, distance (lower = closer)."""
    from ..distances import distance_matrix

    d = distance_matrix(distance, list(fingerprints))
    rows = []
    for target in d.columns:
        column = d[target].drop(index=target)
        rows.append({"target": target, "source": str(column.idxmin()), "distance": float(column.min())})
    return pd.DataFrame(rows)


def source_transfer(encoder: Mapping[str, np.ndarray], source: ClientData, target: ClientData, cfg: FedConfig,
                    target_head: Mapping[str, np.ndarray], target_seed: int, source_seed: int,
                    cache: dict | None = None) -> float:
    """Held-out accuracy on ``target`` after fine-tuning the encoder on ``source`` first (pretraining scenario).

    The source is trained with a head seeded by ``source_seed``; the target fine-tuning uses
    ``target_head`` and ``target_seed`` (pass the federation's evaluation head and seed to compare
    like with like). ``cache`` (a dict) keeps source-trained encoders across targets.
    """
    from .finetune import finetune
    from .weights import init_head

    key = (source.name, int(source_seed))
    if cache is None or key not in cache:
        src_head = init_head(cfg.embed_dim, source.num_classes, [int(source_seed), 7])
        trained = finetune(dict(encoder), src_head, source.x_train, source.y_train, source.x_test, source.y_test,
                           cfg, seed=int(source_seed)).encoder
        if cache is None:
            cache = {}
        cache[key] = trained
    out = finetune(cache[key], dict(target_head), target.x_train, target.y_train, target.x_test, target.y_test,
                   cfg, seed=int(target_seed))
    return out.accuracy


def fingerprint_nbytes(fingerprint) -> int:
    """Size of the fingerprint file a site would share (``Fingerprint.save``, NPZ + JSON).

    The creation time is replaced by a fixed one of the same length, so the size is reproducible.
    """
    fixed = copy.copy(fingerprint)
    fixed.created = "2000-01-01T00:00:00+00:00"
    with tempfile.TemporaryDirectory(prefix="taskfp-fp-") as tmp:
        path = Path(tmp) / "fp.npz"
        fixed.save(path)
        return path.stat().st_size
