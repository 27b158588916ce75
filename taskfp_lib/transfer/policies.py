"""Learned augmentation policies: albumentations 1.3 JSON -> albumentations 2.x objects.

The authors ship one learned policy per task and repetition
(``data/auto_augmentations/pami2_t_aa_search_01_<r>/AA/<dataset>%<task>/policy_0001.json``),
serialised by albumentations 1.3. Albumentations 2 renamed or removed several of the
arguments used there, and changed the meaning of some of them, so ``A.from_dict`` cannot
load these files. This module translates every transform the shipped policies use, keeps
the 1.3 semantics for uint8 images (the policies were learned on uint8 images), and fails
with a :class:`PolicyError` naming the file, the position in the policy and the problem for
anything it does not know.

Translation table (1.3 -> 2.x)
------------------------------
* every transform: ``always_apply`` was removed in 2.0; ``always_apply=True`` becomes ``p=1``.
* ``Compose``/``OneOf``/``Sequential``: unchanged (``bbox_params``/``keypoint_params`` must be null).
* ``RGBShift``: 1.3 shifts uint8 images by the limits in pixel units. 2.x interprets limits
  with ``|x| <= 1`` as fractions of 255 (so a shift of ``1`` would become ``+255``), hence
  the limits are always divided by 255 here.
* ``Solarize``: ``threshold`` (pixel value, pixels ``>= threshold`` are inverted) becomes
  ``threshold_range`` as a fraction of 255. Half a grey level is subtracted so that the
  integer comparison of 1.3 is kept exactly despite floating-point rounding.
* ``ShiftScaleRotate``: deprecated in 2.x (a thin wrapper of ``Affine``); built directly as
  ``Affine`` with ``scale = 1 + scale_limit``, ``translate_percent = shift_limit_x/y``,
  ``rotate = rotate_limit``, ``value`` -> ``fill`` (None -> 0), ``mask_value`` -> ``fill_mask``.
* ``CoarseDropout``: ``min/max_holes`` -> ``num_holes_range``, ``min/max_height`` ->
  ``hole_height_range``, ``min/max_width`` -> ``hole_width_range`` (ints are pixels, as in
  1.3; a missing minimum equals the maximum; when the training resolution differs from the
  256 x 256 the policies were learned at, pixel sizes are rescaled), ``fill_value`` -> ``fill``,
  ``mask_fill_value`` -> ``fill_mask``.
* ``RandomBrightnessContrast``, ``HorizontalFlip``, ``VerticalFlip``, ``NoOp``: unchanged.

Policies serialised by albumentations 2.x are handed to ``A.from_dict`` unchanged, after the
allow-list check of :mod:`taskfp_lib.transfer.policy_rules`. Every policy is checked against the
limits of that module (sizes, counts, tree size) on the parsed JSON, before any transform is built.

Building a policy costs about 0.1-0.2 s (albumentations validates and seeds every node, 492 in the
largest shipped policy), so :func:`load_policy` builds each (file, image size) once per thread and
hands out the same object, reseeded.
"""
from __future__ import annotations

import collections
import json
import os
import threading
import warnings
from pathlib import Path
from typing import Any, Callable

import albumentations as A

from .policy_rules import MAX_POLICY_BYTES, V1_COMPOSES, PolicyError, check_policy, policy_version, transform_name

__all__ = [
    "PolicyError",
    "SUPPORTED_TRANSFORMS",
    "convert_policy",
    "load_policy",
    "read_policy_json",
    "check_policy_file",
    "count_leaves",
    "POLICY_CACHE_SIZE",
]

#: built policies kept per thread, keyed by (file, size, modification time, image size, reference size)
POLICY_CACHE_SIZE = 64


# --------------------------------------------------------------------------------------------
# argument helpers


def _pair(value: Any, where: str, name: str, symmetric: bool = True) -> tuple[float, float]:
    """A 1.3 range argument: a scalar ``v`` means ``(-v, v)`` (or ``(v, v)``), a list two values."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (-float(value), float(value)) if symmetric else (float(value), float(value))
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        lo, hi = float(value[0]), float(value[1])
        return (lo, hi) if lo <= hi else (hi, lo)
    raise PolicyError(f"{where}: argument {name!r} must be a number or a pair of numbers, got {value!r}")


def _int_pair(lo: Any, hi: Any, where: str, name: str) -> tuple[int, int] | tuple[float, float]:
    if hi is None:
        raise PolicyError(f"{where}: argument 'max_{name}' is required")
    lo = hi if lo is None else lo
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)):
        return (min(lo, hi), max(lo, hi))
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1 for v in (lo, hi)):
        return (float(min(lo, hi)), float(max(lo, hi)))
    raise PolicyError(f"{where}: min/max_{name} must be pixel counts (int) or fractions in (0, 1], "
                      f"got {lo!r}, {hi!r}")


def _probability(args: dict, where: str) -> float:
    p = args.pop("p", 0.5)
    always = args.pop("always_apply", False)
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 <= p <= 1:
        raise PolicyError(f"{where}: probability p must be in [0, 1], got {p!r}")
    return 1.0 if always else float(p)


def _check_empty(args: dict, where: str, name: str) -> None:
    if args:
        raise PolicyError(
            f"{where}: transform {name!r} has argument(s) {sorted(args)} that the albumentations 1.3 -> 2.x "
            "compatibility layer does not know; extend taskfp_lib.transfer.policies"
        )


# --------------------------------------------------------------------------------------------
# one converter per transform: (args without __class_fullname__, where, children) -> transform


def _compose(args: dict, where: str, children: list) -> A.BaseCompose:
    p = _probability(args, where)
    for key in ("bbox_params", "keypoint_params"):
        if args.pop(key, None) is not None:
            raise PolicyError(f"{where}: {key} is not supported for image-classification policies")
    additional = args.pop("additional_targets", None) or None
    args.pop("is_check_shapes", None)
    _check_empty(args, where, "Compose")
    return A.Compose(children, p=p, additional_targets=additional)


def _one_of(args: dict, where: str, children: list) -> A.BaseCompose:
    p = _probability(args, where)
    _check_empty(args, where, "OneOf")
    return A.OneOf(children, p=p)


def _sequential(args: dict, where: str, children: list) -> A.BaseCompose:
    p = _probability(args, where)
    _check_empty(args, where, "Sequential")
    return A.Sequential(children, p=p)


def _rgb_shift(args: dict, where: str, children: list) -> A.BasicTransform:
    p = _probability(args, where)
    limits = {}
    for channel in "rgb":
        key = f"{channel}_shift_limit"
        lo, hi = _pair(args.pop(key, 20), where, key)
        limits[key] = (lo / 255.0, hi / 255.0)  # 1.3: pixel units on uint8 images
    _check_empty(args, where, "RGBShift")
    return A.RGBShift(**limits, p=p)


def _brightness_contrast(args: dict, where: str, children: list) -> A.BasicTransform:
    p = _probability(args, where)
    kwargs = {
        "brightness_limit": _pair(args.pop("brightness_limit", 0.2), where, "brightness_limit"),
        "contrast_limit": _pair(args.pop("contrast_limit", 0.2), where, "contrast_limit"),
        "brightness_by_max": bool(args.pop("brightness_by_max", True)),
    }
    _check_empty(args, where, "RandomBrightnessContrast")
    return A.RandomBrightnessContrast(**kwargs, p=p)


def _solarize(args: dict, where: str, children: list) -> A.BasicTransform:
    p = _probability(args, where)
    lo, hi = _pair(args.pop("threshold", 128), where, "threshold", symmetric=False)
    _check_empty(args, where, "Solarize")
    # 1.3 inverts pixels >= threshold; 2.x inverts pixels >= fraction * 255. Subtracting half a grey
    # level keeps the integer comparison exact whatever the floating-point rounding of fraction * 255.
    def frac(t: float) -> float:
        return min(max(t - 0.5, 0.0), 255.0) / 255.0
    return A.Solarize(threshold_range=(frac(lo), frac(hi)), p=p)


def _flip(cls: type) -> Callable:
    def convert(args: dict, where: str, children: list) -> A.BasicTransform:
        p = _probability(args, where)
        _check_empty(args, where, cls.__name__)
        return cls(p=p)
    return convert


def _shift_scale_rotate(args: dict, where: str, children: list) -> A.BasicTransform:
    p = _probability(args, where)
    shift = args.pop("shift_limit", 0.0625)
    shift_x, shift_y = args.pop("shift_limit_x", None), args.pop("shift_limit_y", None)
    shift_x = _pair(shift if shift_x is None else shift_x, where, "shift_limit_x")
    shift_y = _pair(shift if shift_y is None else shift_y, where, "shift_limit_y")
    s_lo, s_hi = _pair(args.pop("scale_limit", 0.1), where, "scale_limit")
    rotate = _pair(args.pop("rotate_limit", 45), where, "rotate_limit")
    fill = args.pop("value", None)
    fill_mask = args.pop("mask_value", None)
    kwargs = {
        "interpolation": args.pop("interpolation", 1),
        "border_mode": args.pop("border_mode", 4),
        "rotate_method": args.pop("rotate_method", "largest_box"),
    }
    _check_empty(args, where, "ShiftScaleRotate")
    if 1 + s_lo <= 0:
        raise PolicyError(f"{where}: scale_limit {s_lo} would give a non-positive scale")
    try:
        return A.Affine(
            scale=(1.0 + s_lo, 1.0 + s_hi), translate_percent={"x": shift_x, "y": shift_y}, rotate=rotate,
            shear=(0.0, 0.0), fill=0 if fill is None else fill, fill_mask=0 if fill_mask is None else fill_mask,
            fit_output=False, keep_ratio=False, p=p, **kwargs,
        )
    except ValueError as err:  # pydantic validation of a value
        raise PolicyError(f"{where}: ShiftScaleRotate: {err}") from err


def _rescale_pixels(pair: tuple, factor: float | None, size: int | None) -> tuple:
    """Hole sizes in pixels learned at the reference resolution, rescaled to the training resolution."""
    if factor is None or not all(isinstance(v, int) for v in pair):
        return pair
    lo, hi = (min(max(1, round(v * factor)), size) for v in pair)
    return (lo, hi)


def _coarse_dropout(args: dict, where: str, children: list, factor: float | None = None,
                    size: int | None = None) -> A.BasicTransform:
    p = _probability(args, where)
    height = _int_pair(args.pop("min_height", None), args.pop("max_height", 8), where, "height")
    width = _int_pair(args.pop("min_width", None), args.pop("max_width", 8), where, "width")
    kwargs = {
        "num_holes_range": _int_pair(args.pop("min_holes", None), args.pop("max_holes", 8), where, "holes"),
        "hole_height_range": _rescale_pixels(height, factor, size),
        "hole_width_range": _rescale_pixels(width, factor, size),
        "fill": args.pop("fill_value", 0),
        "fill_mask": args.pop("mask_fill_value", None),
    }
    _check_empty(args, where, "CoarseDropout")
    try:
        return A.CoarseDropout(**kwargs, p=p)
    except ValueError as err:
        raise PolicyError(f"{where}: CoarseDropout: {err}") from err


#: albumentations 1.3 class names the compatibility layer translates
_CONVERTERS: dict[str, Callable] = {
    "Compose": _compose,
    "OneOf": _one_of,
    "Sequential": _sequential,
    "RGBShift": _rgb_shift,
    "RandomBrightnessContrast": _brightness_contrast,
    "Solarize": _solarize,
    "HorizontalFlip": _flip(A.HorizontalFlip),
    "VerticalFlip": _flip(A.VerticalFlip),
    "NoOp": _flip(A.NoOp),
    "ShiftScaleRotate": _shift_scale_rotate,
    "CoarseDropout": _coarse_dropout,
}
SUPPORTED_TRANSFORMS = tuple(_CONVERTERS)


def _convert(node: Any, where: str, image_size: int | None = None, reference_size: int = 256) -> Any:
    name = transform_name(node, where)
    args = dict(node)
    fullname = args.pop("__class_fullname__")
    if name not in _CONVERTERS:
        raise PolicyError(
            f"{where}: unknown transform {fullname!r}; the albumentations 1.3 compatibility layer knows "
            f"{', '.join(SUPPORTED_TRANSFORMS)}"
        )
    here = f"{where}/{name}"
    children = []
    if name in V1_COMPOSES:
        items = args.pop("transforms", None)
        if not isinstance(items, list):
            raise PolicyError(f"{here}: 'transforms' must be a list")
        children = [_convert(child, f"{here}[{i}]", image_size, reference_size) for i, child in enumerate(items)]
    elif "transforms" in args:
        raise PolicyError(f"{here}: a {name} cannot have child transforms")
    if name == "CoarseDropout" and image_size is not None:
        return _coarse_dropout(args, here, children, factor=image_size / reference_size, size=image_size)
    return _CONVERTERS[name](args, here, children)


def convert_policy(policy: dict, source: str = "<policy>", seed: int | None = None,
                   image_size: int | None = None, reference_size: int = 256) -> A.Compose:
    """Translate a serialised policy (the parsed JSON) into an albumentations 2.x ``Compose``.

    Parameters
    ----------
    policy : dict
        The parsed JSON: ``{"__version__": "1.3.0", "transform": {...}}``.
    source : str
        Name used in error messages (usually the file path).
    seed : int, optional
        Seed of the returned ``Compose`` (albumentations 2 keeps its own random state).
    image_size : int, optional
        Side length of the (square) training images. Pixel-valued ``CoarseDropout`` hole sizes,
        learned at ``reference_size``, are rescaled to it (clamped to ``[1, image_size]``).
        ``None`` keeps the pixel values of the file (1.3 semantics at the reference size).
    reference_size : int
        Resolution the policy was learned at (256 in the paper).

    Returns
    -------
    albumentations.Compose

    Raises
    ------
    PolicyError
        For an unknown transform or argument, a bad value or an unsupported version.
    """
    check_policy(policy, source)
    if policy_version(policy, source) == 2:
        try:
            result = A.from_dict(policy)
        except Exception as err:  # noqa: BLE001 - re-raised with the file name
            raise PolicyError(f"{source}: albumentations 2 policy cannot be loaded: {' '.join(str(err).split())}"
                              ) from None
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = _convert(policy["transform"], source, image_size, reference_size)
    if not isinstance(result, A.Compose):
        result = A.Compose([result])
    if seed is not None:
        result.set_random_seed(seed)
    return result


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def read_policy_json(path: str | os.PathLike) -> dict:
    """Parse a policy file (at most :data:`~taskfp_lib.transfer.policy_rules.MAX_POLICY_BYTES`; no NaN/Infinity).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    PolicyError
        Too large, not UTF-8, or not valid JSON (one line naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: augmentation policy file not found")
    with open(path, "rb") as fh:
        data = fh.read(MAX_POLICY_BYTES + 1)
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(f"{path}: policy file larger than {MAX_POLICY_BYTES} bytes")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError is a ValueError
        raise PolicyError(f"{path}: not valid JSON ({' '.join(str(err).split())})") from None


_LOCAL = threading.local()


def _cache() -> collections.OrderedDict:
    if not hasattr(_LOCAL, "policies"):
        _LOCAL.policies = collections.OrderedDict()
    return _LOCAL.policies


def load_policy(path: str | os.PathLike, seed: int | None = None, image_size: int | None = None,
                reference_size: int = 256) -> A.Compose:
    """Read a policy JSON file and translate it with :func:`convert_policy` (same keywords).

    Each (file, image size, reference size) is built once per thread (the file's size and
    modification time are part of the key); later calls return the same object, reseeded with
    ``seed``. Seed it (or pass ``seed``) before each use, as ``TaskDataset`` does, and do not use
    one object from two threads.

    Raises
    ------
    PolicyError
        If the file is too large, not valid JSON, beyond the limits or cannot be translated (the
        message names the file).
    FileNotFoundError
        If the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: augmentation policy file not found")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, image_size, reference_size)
    cache = _cache()
    if key in cache:
        cache.move_to_end(key)
        result = cache[key]
    else:
        result = convert_policy(read_policy_json(path), source=str(path), image_size=image_size,
                                reference_size=reference_size)
        cache[key] = result
        while len(cache) > POLICY_CACHE_SIZE:
            cache.popitem(last=False)
    if seed is not None:
        result.set_random_seed(seed)
    return result


def check_policy_file(path: str | os.PathLike, image_size: int | None = None) -> None:
    """Read, check and build a policy file once (cached for the trainings that use it), as a preflight check."""
    load_policy(path, image_size=image_size)


def count_leaves(policy: dict) -> list[tuple[str, float]]:
    """``(class name, p)`` of every non-composite transform of a serialised policy, depth first."""
    out: list[tuple[str, float]] = []

    def walk(node: dict) -> None:
        name = str(node["__class_fullname__"]).rsplit(".", 1)[-1]
        if name in V1_COMPOSES:
            for child in node["transforms"]:
                walk(child)
        else:
            out.append((name, 1.0 if node.get("always_apply") else float(node.get("p", 0.5))))

    walk(policy["transform"])
    return out
