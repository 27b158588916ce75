"""One flat, frozen configuration of a MedUniverse run (model, MIM, fine-tuning, federation).

The same record travels three ways: as Python object (simulation engine, library), as Flower
``run_config`` (deployment engine: ``flwr run --run-config``; keys with ``-`` instead of ``_``) and
as the metadata of every stage checkpoint, whose hash decides whether a run can be resumed.
Where MedUniverse (Radwan, Osman, Shehata, arXiv 2407.14719) leaves a detail open, the default is
our choice and a parameter: model size, aggregation rule, aggregated parameters (the whole
encoder), clients per stage, client selection.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

#: start of the extractor name of a MIM encoder probe (:class:`taskfp_lib.federated.compare.MIMProbe`),
#: followed by the encoder's sizes from its configuration
MIM_PROBE_PREFIX = "vit-mim("

#: aggregation rules of the stage-wise server
AGGREGATIONS = ("fedavg", "mean", "median")
#: how the clients of a stage are chosen
SELECTIONS = ("cycle", "random")
#: fields that do not change a run's results (excluded from the resume hash)
_NOT_HASHED = ("stages", "timeout", "min_nodes", "progress")


@dataclass(frozen=True)
class FedConfig:
    """Configuration of MIM pretraining, client fine-tuning and the stage-wise federation.

    Attributes
    ----------
    image_size, patch_size, embed_dim, depth, num_heads, mlp_ratio
        The timm ViT encoder (no class token, mean-pooled tokens; CPU-sized by default).
    mim_epochs, mim_batch_size, mim_lr, mask_ratio
        SimMIM pretraining on the unlabelled pool: fraction ``mask_ratio`` of the patches is
        replaced by a learned mask token and reconstructed (L1 on the masked patches).
    ft_epochs, ft_batch_size, ft_lr, ft_weight_decay, label_smoothing
        Client fine-tuning (Lightning, AdamW, warm-up + cosine) of encoder and linear head.
    stages
        Number of stages (one Flower round each).
    clients_per_stage
        A stage closes after exactly this many clients returned valid models.
    aggregation
        ``"fedavg"`` (weighted by training samples), ``"mean"`` or ``"median"`` (element-wise).
    selection
        ``"cycle"``: stage ``s`` takes the next ``clients_per_stage`` clients of a seeded
        permutation of the task names; ``"random"``: a seeded sample per stage.
    evaluate
        Evaluate every stage's base model on every client (fine-tune, held-out accuracy).
    seed
        Seeds MIM, heads, selection and every fine-tuning.
    test_fraction, pool_fraction, split_seed
        Per task: held-out test split, the share given to the server's unlabelled MIM pool
        (disjoint from the test split and from the client's training split) and the seed.
    min_nodes
        Deployment: wait until this many clients are connected (0: ``clients_per_stage``).
    timeout
        Seconds to wait for the replies of one message round.
    """

    image_size: int = 32
    patch_size: int = 4
    embed_dim: int = 64
    depth: int = 2
    num_heads: int = 4
    mlp_ratio: float = 2.0
    mim_epochs: int = 30
    mim_batch_size: int = 64
    mim_lr: float = 2e-3
    mask_ratio: float = 0.5
    ft_epochs: int = 4
    ft_batch_size: int = 32
    ft_lr: float = 2e-3
    ft_weight_decay: float = 0.05
    label_smoothing: float = 0.1
    stages: int = 3
    clients_per_stage: int = 2
    aggregation: str = "fedavg"
    selection: str = "cycle"
    evaluate: bool = True
    seed: int = 0
    test_fraction: float = 0.25
    pool_fraction: float = 0.0
    split_seed: int = 0
    min_nodes: int = 0
    timeout: float = 600.0
    progress: bool = False

    def __post_init__(self):
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation {self.aggregation!r} is not one of {AGGREGATIONS}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection {self.selection!r} is not one of {SELECTIONS}")
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not a multiple of num_heads {self.num_heads}")
        if self.stages < 0 or self.clients_per_stage < 1:
            raise ValueError("stages must be >= 0 and clients_per_stage >= 1")
        if not (0 < self.test_fraction < 1 and 0 <= self.pool_fraction < 1
                and self.test_fraction + self.pool_fraction < 1):
            raise ValueError("test_fraction and pool_fraction must be in [0, 1) and leave a training split")
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}")

    def replace(self, **changes: Any) -> "FedConfig":
        return dataclasses.replace(self, **changes)

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "FedConfig":
        """Build from a mapping; keys may use ``-`` (Flower run config) or ``_``; unknown keys are an error."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        out: dict[str, Any] = {}
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name not in fields:
                raise ValueError(f"unknown federated option {key!r}; known: {sorted(fields)}")
            out[name] = _coerce(fields[name].type, value, key)
        return cls(**out)

    def to_run_config(self) -> dict[str, Any]:
        """Flower run config (``image-size = 32`` ...): scalars only."""
        return {k.replace("_", "-"): v for k, v in self.to_dict().items()}

    def result_hash(self) -> str:
        """sha256 of every field that changes results (not ``stages``, timeouts, progress)."""
        values = {k: v for k, v in self.to_dict().items() if k not in _NOT_HASHED}
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def _coerce(kind: str, value: Any, key: str) -> Any:
    """Convert a run-config value to the field's type (``kind`` is the annotation string)."""
    try:
        if kind == "bool":
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                return value.lower() in ("true", "1")
            return bool(value)
        return {"int": int, "float": float, "str": str}[kind](value)
    except (ValueError, TypeError, KeyError):
        raise ValueError(f"federated option {key!r}: cannot read {value!r} as {kind}") from None
