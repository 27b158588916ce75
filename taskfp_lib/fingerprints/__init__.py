"""Task fingerprints: probe features -> binned histograms over reference ranges -> a shareable file.

Public API
----------
FeatureExtractor        timm probe backbone (default resnet34, ImageNet weights) with its identity and
                        provenance record (probe.py: hub, local file/folder or seeded random init).
extract_features        features of n augmented draws with replacement (seeded, batched, progress bar).
ReferenceRanges         per-feature [lo, hi] of one extractor; versioned file with sha256.
build_reference_ranges  5 %/95 % linear quantiles of a reference feature set.
bin_features            per-feature histograms with torch.histc semantics.
Fingerprint             histograms + mean + covariance (+ Fisher); save/load as NPZ + JSON.
fingerprint_task        image folder (PNG/JPEG, DICOM, NIfTI) / dataset -> Fingerprint.
fingerprint_tasks       several tasks -> reference ranges + fingerprints, features extracted once.
probe_warning           how far to trust the probe (provenance.py); self_check, query_cloud and
                        ranking_margin (how far to trust a ranking) live in taskfp_lib.cloud.
InvalidFingerprintError a fingerprint whose numbers cannot be honest (validation.py).
ImageFolderTask, ArrayTask, read_image, to_rgb_uint8, write_image_folder   image input.

The extractor and image modules (torch, timm, PIL) are imported on first use, so reading and
validating fingerprint files stays light (the command line's cloud operations, memory-capped checks).
"""
import importlib

from ._io import FileFormatError
from .core import (DEFAULT_BINS, MIN_IMAGES, MIN_SAMPLES, Fingerprint, IncompatibleFingerprintsError,
                   check_all_compatible)
from .provenance import probe_status, probe_warning
from .ranges import DEFAULT_QUANTILES, ReferenceRanges, bin_features, build_reference_ranges
from .validation import InvalidFingerprintError

_LAZY = {"FeatureExtractor": "probe", "PAPER_PROBE_FILE": "probe", "PAPER_PROBE_HUB_ID": "probe",
         "extract_features": "extract", "sample_plan": "extract", "fisher_embedding": "fisher",
         "fingerprint_task": "pipeline", "fingerprint_tasks": "pipeline",
         "ArrayTask": "images", "ImageFolderTask": "images", "UnreadableImageError": "images",
         "read_image": "images", "to_rgb_uint8": "images", "write_image_folder": "images"}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ArrayTask", "DEFAULT_BINS", "DEFAULT_QUANTILES", "FeatureExtractor", "FileFormatError", "Fingerprint",
    "ImageFolderTask", "IncompatibleFingerprintsError", "InvalidFingerprintError", "MIN_IMAGES", "MIN_SAMPLES",
    "PAPER_PROBE_FILE", "PAPER_PROBE_HUB_ID", "ReferenceRanges", "UnreadableImageError",
    "bin_features", "build_reference_ranges", "check_all_compatible", "extract_features", "fingerprint_task",
    "fingerprint_tasks", "fisher_embedding", "probe_status", "probe_warning", 
    "read_image", "sample_plan", "to_rgb_uint8", "write_image_folder",
]
