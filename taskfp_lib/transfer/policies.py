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

Policies serialised by albumentations 2.x are handed to ``A.from_dict`` unchanged.
"""
from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import Any, Callable

import albumentations as A

__all__ = [
    "PolicyError",
    "SUPPORTED_TRANSFORMS",
    "AUTO_AUGMENTATION_ROOT",
    "POLICY_RUNS",
    "convert_policy",
    "load_policy",
    "policy_relpath",
    "policy_file",
    "shipped_policy_relpaths",
    "count_leaves",
]

#: upstream folder of the learned policies (relative to the upstream repository root)
AUTO_AUGMENTATION_ROOT = "data/auto_augmentations"
#: the three search runs, one per repetition r = 0, 1, 2
POLICY_RUNS = ("pami2_t_aa_search_01_0", "pami2_t_aa_search_01_1", "pami2_t_aa_search_01_2")
#: task names whose policy folder carries a different task name upstream
_FOLDER_ALIASES = {"breast_cancer_classification_v2": "breast_cancer_classification"}


class PolicyError(ValueError):
    """A policy file cannot be translated (unknown transform, unknown argument, bad value)."""


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
_COMPOSES = {"Compose", "OneOf", "Sequential"}


def _convert(node: Any, where: str, image_size: int | None = None, reference_size: int = 256) -> Any:
    if not isinstance(node, dict) or "__class_fullname__" not in node:
        raise PolicyError(f"{where}: expected a serialised transform (a mapping with '__class_fullname__')")
    args = dict(node)
    fullname = args.pop("__class_fullname__")
    name = str(fullname).rsplit(".", 1)[-1]
    if name not in _CONVERTERS:
        raise PolicyError(
            f"{where}: unknown transform {fullname!r}; the albumentations 1.3 compatibility layer knows "
            f"{', '.join(SUPPORTED_TRANSFORMS)}"
        )
    here = f"{where}/{name}"
    children = []
    if name in _COMPOSES:
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
    if not isinstance(policy, dict) or "transform" not in policy:
        raise PolicyError(f"{source}: not a serialised albumentations policy (no 'transform' key)")
    version = str(policy.get("__version__", ""))
    if version.startswith("2."):
        try:
            result = A.from_dict(policy)
        except Exception as err:  # noqa: BLE001 - re-raised with the file name
            raise PolicyError(f"{source}: albumentations {version} policy cannot be loaded: {err}") from err
    elif version.startswith(("1.", "0.")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = _convert(policy["transform"], source, image_size, reference_size)
    else:
        raise PolicyError(f"{source}: unsupported albumentations serialisation version {version!r}")
    if not isinstance(result, A.Compose):
        result = A.Compose([result])
    if seed is not None:
        result.set_random_seed(seed)
    return result


def load_policy(path: str | os.PathLike, seed: int | None = None, image_size: int | None = None,
                reference_size: int = 256) -> A.Compose:
    """Read a policy JSON file and translate it with :func:`convert_policy` (same keywords).

    Raises
    ------
    PolicyError
        If the file is not valid JSON or cannot be translated (the message names the file).
    FileNotFoundError
        If the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: augmentation policy file not found")
    try:
        policy = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise PolicyError(f"{path}: not valid JSON ({err})") from err
    return convert_policy(policy, source=str(path), seed=seed, image_size=image_size,
                          reference_size=reference_size)


def count_leaves(policy: dict) -> list[tuple[str, float]]:
    """``(class name, p)`` of every non-composite transform of a serialised policy, depth first."""
    out: list[tuple[str, float]] = []

    def walk(node: dict) -> None:
        name = str(node["__class_fullname__"]).rsplit(".", 1)[-1]
        if name in _COMPOSES:
            for child in node["transforms"]:
                walk(child)
        else:
            out.append((name, 1.0 if node.get("always_apply") else float(node.get("p", 0.5))))

    walk(policy["transform"])
    return out


# --------------------------------------------------------------------------------------------
# locating the authors' policies

_FOLDER_RE = re.compile(r"^[^%]+%TASK\d*_(?P<task>.+)$")


def _task_of_folder(folder: str) -> str | None:
    match = _FOLDER_RE.match(folder)
    return match.group("task") if match else None


def shipped_policy_relpaths() -> list[str]:
    """Upstream paths of all shipped policies (from the data manifest, else the local mirror)."""
    rels: list[str] = []
    try:
        from taskfp_lib.upstream.manifest import manifest_files

        rels = [p for p in manifest_files() if p.startswith(AUTO_AUGMENTATION_ROOT + "/")
                and p.endswith("/policy_0001.json")]
    except Exception:  # noqa: BLE001 - no manifest yet: fall back to the mirror
        rels = []
    if rels:
        return rels
    mirror = _mirror()
    if mirror is None:
        return []
    root = mirror / AUTO_AUGMENTATION_ROOT
    return sorted(str(p.relative_to(mirror)).replace(os.sep, "/") for p in root.glob("*/AA/*/policy_0001.json"))


def _mirror() -> Path | None:
    """The local mirror of the upstream repository (``$TASKFP_MIRROR`` or the default)."""
    try:
        from taskfp_lib.upstream.manifest import default_mirror

        return default_mirror()
    except ImportError:  # pragma: no cover
        env = os.environ.get("TASKFP_MIRROR")
        return Path(env) if env else None


def policy_relpath(task: str, repetition: int) -> str:
    """Upstream path of the learned policy of ``task`` in repetition ``repetition`` (0, 1 or 2).

    Raises
    ------
    KeyError
        If no shipped policy belongs to the task.
    """
    if repetition not in range(len(POLICY_RUNS)):
        raise KeyError(f"repetition must be 0, 1 or 2, got {repetition!r}")
    wanted = _FOLDER_ALIASES.get(task, task)
    prefix = f"{AUTO_AUGMENTATION_ROOT}/{POLICY_RUNS[repetition]}/AA/"
    for rel in shipped_policy_relpaths():
        if rel.startswith(prefix) and _task_of_folder(rel[len(prefix):].split("/")[0]) == wanted:
            return rel
    raise KeyError(f"no learned augmentation policy for task {task!r} (repetition {repetition}) under {prefix}")


def policy_file(task: str, repetition: int) -> Path:
    """Verified local copy of the learned policy of ``task`` (see :func:`policy_relpath`).

    Uses ``taskfp_lib.data.data_path`` (data manifest, mirror or download); for a file not in
    the data manifest it reads the local mirror (``$TASKFP_MIRROR``) directly.
    """
    rel = policy_relpath(task, repetition)
    from taskfp_lib.upstream.manifest import DataError, data_path

    try:
        return data_path(rel)
    except DataError as err:  # not (yet) in the data manifest: read the mirror directly
        mirror = _mirror()
        if mirror is None or not (mirror / rel).is_file():
            raise FileNotFoundError(f"{rel}: learned augmentation policy not available ({err})") from err
        return mirror / rel
