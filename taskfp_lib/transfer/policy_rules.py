"""Limits on augmentation policy files, checked on the parsed JSON before any transform is built.

A policy file comes from another lab and is hostile input: a 180-byte file asking for
``CoarseDropout(max_holes=1e9)`` once grew to 21 GB. :func:`check_policy` walks the parsed JSON
without importing albumentations and refuses, with one line naming the file, the position in the
tree and the transform,

* trees deeper than :data:`MAX_POLICY_DEPTH` or with more than :data:`MAX_POLICY_NODES` transforms;
* size parameters (pixels) above :data:`MAX_POLICY_SIDE` and count parameters above
  :data:`MAX_POLICY_COUNT`, for every transform that has such parameters;
* in albumentations 2.x serialisations (handed to ``A.from_dict``), any transform outside the
  allow-list :data:`V2_ALLOWED`, and ``fit_output=true`` (an output size set by the parameters).

Shipped policies stay far inside these limits (at most 492 transforms, depth 5, 16 holes of at
most 256 pixels).
"""
from __future__ import annotations

from typing import Any

__all__ = ["MAX_POLICY_BYTES", "MAX_POLICY_DEPTH", "MAX_POLICY_NODES", "MAX_POLICY_SIDE", "MAX_POLICY_COUNT",
           "V1_COMPOSES", "V2_ALLOWED", "PolicyError", "policy_version", "check_policy", "transform_name"]

#: the largest policy file that is read (the shipped ones have at most 97 kB)
MAX_POLICY_BYTES: int = 4 << 20
#: the deepest nesting of Compose/OneOf/Sequential (shipped: 5)
MAX_POLICY_DEPTH: int = 16
#: the most transforms in one policy, composites included (shipped: 492)
MAX_POLICY_NODES: int = 10_000
#: the largest size parameter in pixels (hole sizes, crop and resize sides); 4096 x 4096 x 3 = 48 MiB
MAX_POLICY_SIDE: int = 4096
#: the largest count parameter (dropout holes, transforms picked by SomeOf)
MAX_POLICY_COUNT: int = 1024

#: composite transforms of the albumentations 1.3 serialisation
V1_COMPOSES = frozenset({"Compose", "OneOf", "Sequential"})
_SIDE, _COUNT, _FALSE = "side", "count", "false"
#: albumentations 1.3: the size and count parameters of the transforms that have any
_V1_LIMITS: dict[str, dict[str, str]] = {
    "CoarseDropout": {"min_holes": _COUNT, "max_holes": _COUNT, "min_height": _SIDE, "max_height": _SIDE,
                      "min_width": _SIDE, "max_width": _SIDE},
}
#: albumentations 2.x: the transforms a native policy may use -> their size/count/must-be-false parameters
V2_ALLOWED: dict[str, dict[str, str]] = {
    "Compose": {}, "OneOf": {}, "Sequential": {}, "SomeOf": {"n": _COUNT},
    "HorizontalFlip": {}, "VerticalFlip": {}, "NoOp": {}, "Transpose": {}, "RandomRotate90": {},
    "RGBShift": {}, "RandomBrightnessContrast": {}, "Solarize": {}, "ToGray": {}, "InvertImg": {},
    "Affine": {"fit_output": _FALSE}, "Rotate": {},
    "CoarseDropout": {"num_holes_range": _COUNT, "hole_height_range": _SIDE, "hole_width_range": _SIDE},
    "Resize": {"height": _SIDE, "width": _SIDE},
    "CenterCrop": {"height": _SIDE, "width": _SIDE},
    "RandomCrop": {"height": _SIDE, "width": _SIDE},
    "RandomResizedCrop": {"size": _SIDE},
}
_V2_COMPOSES = frozenset({"Compose", "OneOf", "Sequential", "SomeOf"})


class PolicyError(ValueError):
    """A policy file cannot be used (too large, unknown transform or argument, bad value); one line."""


def transform_name(node: Any, where: str) -> str:
    """The class name of a serialised transform (last part of ``__class_fullname__``)."""
    if not isinstance(node, dict) or not isinstance(node.get("__class_fullname__"), str):
        raise PolicyError(f"{where}: expected a serialised transform (a mapping with '__class_fullname__')")
    return node["__class_fullname__"].rsplit(".", 1)[-1]


def policy_version(policy: Any, source: str) -> int:
    """The albumentations major version of a serialised policy: 1 (1.x and 0.x) or 2."""
    if not isinstance(policy, dict) or "transform" not in policy:
        raise PolicyError(f"{source}: not a serialised albumentations policy (no 'transform' key)")
    version = str(policy.get("__version__", ""))
    if version.startswith("2."):
        return 2
    if version.startswith(("1.", "0.")):
        return 1
    raise PolicyError(f"{source}: unsupported albumentations serialisation version {version!r}")


def _check_number(value: Any, limit: int, where: str, name: str, transform: str) -> None:
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) > limit:
            raise PolicyError(f"{where}: {transform}.{name} = {v!r} exceeds the limit of {limit} "
                              f"{'pixels' if limit == MAX_POLICY_SIDE else 'items'}")


def _check_limits(node: dict, limits: dict[str, str], where: str, name: str) -> None:
    for arg, kind in limits.items():
        if arg not in node:
            continue
        if kind == _FALSE:
            if node[arg] not in (False, None):
                raise PolicyError(f"{where}: {name}.{arg} must be false (the output size must not depend on "
                                  f"the parameters), got {node[arg]!r}")
        else:
            _check_number(node[arg], MAX_POLICY_SIDE if kind == _SIDE else MAX_POLICY_COUNT, where, arg, name)


def check_policy(policy: Any, source: str = "<policy>") -> int:
    """Check the structure and the limits of a parsed policy; returns the number of transforms.

    Parameters
    ----------
    policy : dict
        Parsed JSON: ``{"__version__": "1.3.0" or "2.x", "transform": {...}}``.
    source : str
        File name for the messages.

    Raises
    ------
    PolicyError
        ``<source>/<path in the tree>: <what>`` for the first violation.
    """
    version = policy_version(policy, source)
    composes = V1_COMPOSES if version == 1 else _V2_COMPOSES
    count = 0
    stack: list[tuple[Any, str, int]] = [(policy["transform"], source, 1)]
    while stack:
        node, where, depth = stack.pop()
        name = transform_name(node, where)
        count += 1
        if count > MAX_POLICY_NODES:
            raise PolicyError(f"{source}: more than {MAX_POLICY_NODES} transforms")
        if depth > MAX_POLICY_DEPTH:
            raise PolicyError(f"{where}: transforms nested deeper than {MAX_POLICY_DEPTH} levels")
        if version == 2 and name not in V2_ALLOWED:
            raise PolicyError(f"{where}: transform {name!r} is not allowed in albumentations 2 policies; "
                              f"allowed: {', '.join(sorted(V2_ALLOWED))}")
        here = f"{where}/{name}"
        _check_limits(node, (V2_ALLOWED if version == 2 else _V1_LIMITS).get(name, {}), here, name)
        children = node.get("transforms")
        if name in composes:
            if not isinstance(children, list):
                raise PolicyError(f"{here}: 'transforms' must be a list")
            stack.extend((child, f"{here}[{i}]", depth + 1) for i, child in reversed(list(enumerate(children))))
        elif children is not None:
            raise PolicyError(f"{here}: a {name} cannot have child transforms")
    return count
