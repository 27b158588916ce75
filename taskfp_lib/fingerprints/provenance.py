"""How far to trust a fingerprint's numbers, and what else two comparable fingerprints must share.

A fingerprint records its probe (:attr:`Fingerprint.probe`: where the weights came from, whether they
are pretrained, their sha256, the numeric precision) and how its images were read
(:attr:`Fingerprint.reading`: intensity preset, slices of volumes). Two fingerprints are comparable
only when, besides the extractor identity and reference ranges, they share

* the intensity preset (a CT task windowed for soft tissue and one min-max scaled differ by reading,
  not by task);
* the slice selection, where both tasks hold volumes (2-D-only tasks have none to compare);
* the numeric precision of the probe (``bfloat16`` autocast moves features by about 1e-3).

Fingerprints written before these records existed read as the default (preset ``auto``, float32)
and as a probe whose trust is derived from the weights identity string alone.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from ._io import FileFormatError

#: the preset id of fingerprints that do not record one (the readers before DICOM/NIfTI support)
DEFAULT_PRESET_ID = "auto"
DEFAULT_PRECISION = "float32"
PAPER_WEIGHTS = "timm:timm/resnet34.a1_in1k"
PROBE_SOURCES = ("timm-hub", "file", "random-init", "mim-encoder")
_PROBE_KEYS = frozenset({"source", "pretrained", "weights", "weights_sha256", "file", "precision", "device",
                         "channels_last", "compile", "torch"})
_MAX_TEXT = 200


def _preset_id(reading: Mapping[str, Any] | None) -> str:
    preset = (reading or {}).get("preset") or {}
    return str(preset.get("id", DEFAULT_PRESET_ID)) if isinstance(preset, Mapping) else str(preset)


def _slices(reading: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return (reading or {}).get("slices")


def reading_differences(a: Any, b: Any) -> list[str]:
    """What, beyond the extractor identity, keeps fingerprints ``a`` and ``b`` from being compared.

    Returns
    -------
    list of str
        One ``"<what>: <a> vs <b>"`` entry per difference (empty: comparable).
    """
    diffs = []
    pa, pb = _preset_id(a.reading), _preset_id(b.reading)
    if pa != pb:
        diffs.append(f"intensity preset: {pa!r} vs {pb!r}")
    sa, sb = _slices(a.reading), _slices(b.reading)
    if sa is not None and sb is not None and dict(sa) != dict(sb):
        diffs.append(f"volume slices: {dict(sa)} vs {dict(sb)}")
    qa = (a.probe or {}).get("precision", DEFAULT_PRECISION)
    qb = (b.probe or {}).get("precision", DEFAULT_PRECISION)
    if qa != qb:
        diffs.append(f"probe precision: {qa!r} vs {qb!r}")
    return diffs


def probe_status(fp: Any) -> str:
    """``'pretrained'`` (timm hub weights), ``'file'`` (local weights file), ``'mim'`` (a MIM encoder of the
    federated chapter, an alternative probe), ``'random'`` or ``'unknown'``."""
    probe = fp.probe or {}
    source = probe.get("source")
    weights = str((fp.extractor or {}).get("weights", ""))
    if source == "random-init" or (source is None and weights.startswith("random-init")):
        return "random"
    if source == "timm-hub" or (source is None and weights.startswith("timm:")):
        return "pretrained"
    if source == "file" or (source is None and weights.startswith("file:")):
        return "file"
    if source == "mim-encoder":
        return "mim"
    return "unknown"


def probe_warning(fingerprints: Iterable[Any]) -> str | None:
    """One line to print next to distances or rankings made from ``fingerprints``, or None.

    A random or unknown probe gets a ``WARNING``; weights from a local file get a ``note`` naming
    their hash (the file decides how far to trust them); timm hub weights get nothing.
    """
    fps = list(fingerprints)
    status = {probe_status(fp) for fp in fps}
    weights = sorted({str(fp.extractor.get("weights", "?")) for fp in fps})
    if "random" in status:
        return ("WARNING: random probe (" + ", ".join(weights) + "): these distances come from an untrained "
                "network; they exercise the mechanics, they are not the paper's method and rank tasks unreliably. "
                f"Use ImageNet weights ({PAPER_WEIGHTS}; offline: --checkpoint with the downloaded file).")
    if "unknown" in status:
        return ("WARNING: probe of unknown provenance (" + ", ".join(weights) + "): the fingerprints do not say "
                "which weights made them; treat these distances as unverified.")
    if "mim" in status:
        return ("note: alternative probe, a MIM encoder from taskfp federated pretrain (" + ", ".join(
            w.removeprefix("sha256:")[:12] + "..." for w in weights) + "): these distances are not the paper's "
                f"(its probe: {PAPER_WEIGHTS}) and compare only with fingerprints of the same encoder.")
    if "file" in status:
        return ("note: probe weights from a local file (" + ", ".join(w.removeprefix("file:")[:19] + "..."
                                                                          for w in weights) +
                "); trust these distances as far as you trust that file (the paper's probe: "
                f"{PAPER_WEIGHTS}, model.safetensors).")
    return None


def _checked_probe(value: Mapping[str, Any], path) -> dict:
    unknown = sorted(set(value) - _PROBE_KEYS)
    if unknown:
        raise FileFormatError(f"{path}: metadata field 'probe' has unknown keys {unknown[:5]}")
    for key, item in value.items():
        if item is not None and not isinstance(item, (bool, int, float, str)) or \
                isinstance(item, str) and len(item) > _MAX_TEXT:
            raise FileFormatError(f"{path}: metadata field 'probe.{key}' must be a short text, number, bool or null")
    if value.get("source") not in (None, *PROBE_SOURCES):
        raise FileFormatError(f"{path}: metadata field 'probe.source' must be one of {PROBE_SOURCES}")
    if value.get("precision") not in (None, "float32", "bfloat16"):
        raise FileFormatError(f"{path}: metadata field 'probe.precision' must be float32 or bfloat16")
    return dict(value)


def _checked_reading(value: Mapping[str, Any], path) -> dict:
    from ..imaging import IntensityPreset, SliceSpec

    if not set(value) <= {"preset", "slices"}:
        raise FileFormatError(f"{path}: metadata field 'reading' holds only 'preset' and 'slices'")
    try:
        preset = IntensityPreset.from_dict(value["preset"]).to_dict() if value.get("preset") is not None else None
        slices = SliceSpec.from_dict(value["slices"]).to_dict() if value.get("slices") is not None else None
    except (ValueError, TypeError, KeyError) as err:
        raise FileFormatError(f"{path}: metadata field 'reading' is invalid ({' '.join(str(err).split())[:200]})") \
            from None
    return {"preset": preset, "slices": slices} if preset is not None else {"slices": slices}


def checked_record(value: Any, kind: str, path) -> dict:
    """The ``probe`` or ``reading`` record of a fingerprint file, validated (files come from other labs).

    ``None`` (files written before the records existed) gives ``{}``. A probe record holds known keys
    with short scalar values; a reading record a valid preset and slice selection (their dict forms).

    Raises
    ------
    FileFormatError
        One line naming the file and the field.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FileFormatError(f"{path}: metadata field {kind!r} must be an object or null")
    return _checked_probe(value, path) if kind == "probe" else _checked_reading(value, path)
