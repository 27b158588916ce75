"""Intensity presets: how modality values (HU, MR signal, stored pixel values) become 8-bit grey.

A preset is a small frozen record with a stable string id (``"ct:lung"``, ``"mr:p1-p99"``) and a
dict form (:meth:`IntensityPreset.to_dict`) meant for fingerprint metadata, so that two
fingerprints made with different presets can be recognised as incomparable. Two presets are equal
exactly when they map every image to the same 8-bit image (their ids are then equal, too).

Kinds
-----
``auto`` (the default)
    8-bit single-channel data (a PNG, an 8-bit DICOM without rescale) is kept as it is; any
    other data is min-max scaled per image, as ``minmax``. This is what the image-folder readers
    did before DICOM and NIfTI support, so plain PNG/JPEG tasks decode exactly as before.
``minmax``
    :math:`y = 255\\,(x - \\min x) / (\\max x - \\min x)` per image (a constant image maps to 0).
``window`` (CT windows; named ``ct:brain``, ``ct:soft-tissue``, ``ct:lung``, ``ct:bone``)
    The linear VOI function of DICOM PS3.3 section C.11.2.1.2.1 with centre :math:`c` and width
    :math:`w` (in Hounsfield units after the modality LUT / Rescale Slope and Intercept):
    :math:`y = 255\\,\\mathrm{clip}\\big((x - (c - 0.5)) / (w - 1) + 0.5,\\ 0,\\ 1\\big)`, so values
    at or below :math:`c - 0.5 - (w-1)/2` give 0, values above :math:`c - 0.5 + (w-1)/2` give 255
    and the centre gives :math:`127.5 + 127.5/(w-1)` (128 after rounding for widths above 128.5;
    129 for the brain window's width of 80).
    Named windows (width / level) follow Radiopaedia, "Windowing (CT)"
    (https://radiopaedia.org/articles/windowing-ct): brain W 80 / L 40; lungs W 1500 / L -600;
    bones W 1800 / L 400; soft tissues W 350-400 / L 20-60, of which W 400 / L 40 is used.
``percentile`` (MR intensity normalisation; ``mr:p1-p99``)
    Values are clipped to the image's :math:`p_{lo}`-th and :math:`p_{hi}`-th percentiles
    (``numpy.percentile``, linear interpolation, over all pixels of the 2-D image or slice) and
    scaled linearly onto 0..255. MR signal has no absolute scale, so a fixed window cannot be
    used; percentile clipping removes the few very bright voxels (vessels, fat, artefacts) that
    would otherwise compress the tissue contrast (e.g. Nyul & Udupa, Magn. Reson. Med. 42:1072,
    1999, use percentile landmarks for the same reason).

X-ray and all other DICOM: Photometric Interpretation ``MONOCHROME1`` (the minimum value is shown
white, DICOM PS3.3 C.7.6.3.1.2) is inverted *after* every preset, so a radiograph stored as
MONOCHROME1 shows bone white under any preset; no separate X-ray preset is needed.
Colour data (RGB, YBR, palette) is passed through when 8-bit and min-max scaled jointly over all
channels otherwise; windows and percentiles act on single-channel data only.
Non-finite values: NaN and -inf are replaced by the smallest finite value, +inf by the largest,
before any preset; an image without a finite value is refused.
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

__all__ = ["IntensityPreset", "CT_WINDOWS", "DEFAULT_PRESET", "parse_preset", "known_preset_ids"]

#: named CT windows: name -> (centre/level, width) in HU (sources in the module docstring)
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "soft-tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}
_KINDS = ("auto", "minmax", "window", "percentile")
_DICT_VERSION = 1


def _num(x: float) -> str:
    """Stable short text of a number for ids (``40``, ``-600``, ``0.5``)."""
    return format(float(x), "g")


@dataclass(frozen=True)
class IntensityPreset:
    """How modality values become 8-bit grey values (see the module docstring for the formulas).

    Parameters
    ----------
    kind : {'auto', 'minmax', 'window', 'percentile'}
    center, width : float, optional
        Window centre (level) and width, for ``kind='window'`` (``width > 1``).
    low, high : float, optional
        Percentiles in [0, 100], ``low < high``, for ``kind='percentile'``.
    """

    kind: str = "auto"
    center: float | None = None
    width: float | None = None
    low: float | None = None
    high: float | None = None

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"preset kind {self.kind!r}: unknown; known: {', '.join(_KINDS)}")
        need = {"window": ("center", "width"), "percentile": ("low", "high")}.get(self.kind, ())
        for field in ("center", "width", "low", "high"):
            value = getattr(self, field)
            if (field in need) != (value is not None):
                raise ValueError(f"preset {self.kind!r}: field {field!r} "
                                 f"{'is required' if field in need else 'must be None'}")
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                    raise ValueError(f"preset {self.kind!r}: field {field!r} must be a finite number, got {value!r}")
                object.__setattr__(self, field, float(value))
        if self.kind == "window" and not self.width > 1:
            raise ValueError(f"preset window: width must be > 1, got {self.width!r}")
        if self.kind == "percentile" and not 0 <= self.low < self.high <= 100:
            raise ValueError(f"preset percentile: need 0 <= low < high <= 100, got {self.low!r}, {self.high!r}")

    @property
    def id(self) -> str:
        """Stable id: ``auto``, ``minmax``, ``ct:<name>`` or ``window:<c>/<w>``, ``mr:p<lo>-p<hi>``."""
        if self.kind == "window":
            for name, (c, w) in CT_WINDOWS.items():
                if (self.center, self.width) == (c, w):
                    return f"ct:{name}"
            return f"window:{_num(self.center)}/{_num(self.width)}"
        if self.kind == "percentile":
            return f"mr:p{_num(self.low)}-p{_num(self.high)}"
        return self.kind

    def __str__(self) -> str:
        return self.id

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for fingerprint metadata; :meth:`from_dict` inverts it exactly."""
        return {"id": self.id, "kind": self.kind, "center": self.center, "width": self.width,
                "low": self.low, "high": self.high, "version": _DICT_VERSION}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "IntensityPreset":
        """Rebuild a preset from :meth:`to_dict` output; refuses unknown keys or an id that lies.

        Raises
        ------
        ValueError
            Not a mapping, unknown or missing keys, an unsupported version, invalid values, or an
            ``id`` that does not match the parameters.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"intensity preset: expected a mapping, got {type(data).__name__}")
        keys = {"id", "kind", "center", "width", "low", "high", "version"}
        if set(data) != keys:
            raise ValueError(f"intensity preset: expected keys {sorted(keys)}, got {sorted(map(str, data))}")
        if data["version"] != _DICT_VERSION:
            raise ValueError(f"intensity preset: unsupported version {data['version']!r}")
        if not isinstance(data["kind"], str):
            raise ValueError(f"intensity preset: field 'kind' must be a string, got {data['kind']!r}")
        preset = cls(data["kind"], data["center"], data["width"], data["low"], data["high"])
        if data["id"] != preset.id:
            raise ValueError(f"intensity preset: id {data['id']!r} does not match its parameters ({preset.id})")
        return preset

    def apply(self, values: np.ndarray, *, monochrome1: bool = False) -> np.ndarray:
        """Map modality values to 8-bit display values.

        Parameters
        ----------
        values : ndarray, shape (H, W) or (H, W, 3)
            Modality values (after Rescale Slope/Intercept) or colour data.
        monochrome1 : bool
            The data is DICOM ``MONOCHROME1``: invert the result (:math:`255 - y`).

        Returns
        -------
        ndarray of uint8, shape (H, W) or (H, W, 3)

        Raises
        ------
        ValueError
            Wrong shape, non-numeric dtype, or no finite value (callers prefix the file name).
        """
        arr = np.asarray(values)
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3) or arr.size == 0:
            raise ValueError(f"cannot map an array of shape {arr.shape} to an image")
        if arr.dtype == np.bool_:
            arr = arr.astype(np.uint8) * 255
        if arr.dtype.kind not in "iuf":
            raise ValueError(f"unsupported pixel type {arr.dtype}")
        if arr.ndim == 3:  # colour: kept when 8-bit, else one min-max over all channels
            return arr.copy() if arr.dtype == np.uint8 else _minmax(arr)
        if self.kind == "auto" and arr.dtype == np.uint8:
            out = arr.copy()
        elif self.kind == "window":
            x = _finite(arr)
            y = np.clip((x - (self.center - 0.5)) / (self.width - 1.0) + 0.5, 0.0, 1.0)
            out = np.rint(y * 255.0).astype(np.uint8)
        elif self.kind == "percentile":
            x = _finite(arr)
            lo, hi = np.percentile(x, [self.low, self.high])
            out = _minmax(np.clip(x, lo, hi))
        else:
            out = _minmax(arr)
        return 255 - out if monochrome1 else out


def _finite(arr: np.ndarray) -> np.ndarray:
    """``arr`` as float64 with NaN/-inf -> smallest finite value, +inf -> largest."""
    x = np.asarray(arr, dtype=np.float64)
    finite = np.isfinite(x)
    if finite.all():
        return x
    if not finite.any():
        raise ValueError("image holds no finite value")
    lo, hi = float(x[finite].min()), float(x[finite].max())
    return np.where(np.isposinf(x), hi, np.where(finite, x, lo))


def _minmax(arr: np.ndarray) -> np.ndarray:
    """Per-image min-max scaling onto 0..255 (constant images -> 0), uint8 of the same shape."""
    x = _finite(arr)
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.zeros(x.shape, dtype=np.uint8)
    return np.rint((x - lo) * (255.0 / (hi - lo))).astype(np.uint8)


#: the preset used when none is given
DEFAULT_PRESET = IntensityPreset("auto")
_PERCENTILE_RE = re.compile(r"^mr:p(\d+(?:\.\d+)?)-p(\d+(?:\.\d+)?)$")
_WINDOW_RE = re.compile(r"^window:(-?\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)$")


def known_preset_ids() -> list[str]:
    """The preset ids :func:`parse_preset` accepts by name (plus the ``window:`` and ``mr:p`` forms)."""
    return ["auto", "minmax"] + [f"ct:{name}" for name in CT_WINDOWS] + ["mr:p1-p99"]


def parse_preset(spec: "str | IntensityPreset | Mapping[str, Any] | None") -> IntensityPreset:
    """A preset from its id, its dict form, or itself (``None`` gives :data:`DEFAULT_PRESET`).

    Accepted ids: ``auto``, ``minmax``, ``ct:brain``, ``ct:soft-tissue``, ``ct:lung``, ``ct:bone``,
    ``window:<centre>/<width>`` (e.g. ``window:50/350``), ``mr:p<low>-p<high>`` (e.g. ``mr:p1-p99``).

    Raises
    ------
    ValueError
        An unknown id (the message lists the known ones) or invalid parameters.
    """
    if spec is None:
        return DEFAULT_PRESET
    if isinstance(spec, IntensityPreset):
        return spec
    if isinstance(spec, Mapping):
        return IntensityPreset.from_dict(spec)
    if not isinstance(spec, str):
        raise ValueError(f"intensity preset: expected an id string, got {type(spec).__name__}")
    text = spec.strip().lower()
    if text in ("auto", "minmax"):
        return IntensityPreset(text)
    if text.startswith("ct:") and text[3:] in CT_WINDOWS:
        c, w = CT_WINDOWS[text[3:]]
        return IntensityPreset("window", center=c, width=w)
    match = _WINDOW_RE.match(text)
    if match:
        return IntensityPreset("window", center=float(match[1]), width=float(match[2]))
    match = _PERCENTILE_RE.match(text)
    if match:
        return IntensityPreset("percentile", low=float(match[1]), high=float(match[2]))
    raise ValueError(f"intensity preset {spec!r}: unknown; known: {', '.join(known_preset_ids())}, "
                     "window:<centre>/<width>, mr:p<low>-p<high>")
