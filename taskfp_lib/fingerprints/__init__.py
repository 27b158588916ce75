"""Task fingerprints: probe features -> binned histograms over reference ranges -> a shareable file.

Public API
----------
FeatureExtractor        timm probe backbone (default resnet34, ImageNet weights) with its identity.
extract_features        features of n augmented draws with replacement (seeded, batched, progress bar).
ReferenceRanges         per-feature [lo, hi] of one extractor; versioned file with sha256.
build_reference_ranges  5 %/95 % linear quantiles of a reference feature set.
bin_features            per-feature histograms with torch.histc semantics.
Fingerprint             histograms + mean + covariance (+ Fisher); save/load as NPZ + JSON.
fingerprint_task        image folder / dataset -> Fingerprint.
InvalidFingerprintError a fingerprint whose numbers cannot be honest (validation.py).
ImageFolderTask, ArrayTask, read_image, to_rgb_uint8, write_image_folder   image input.

The extractor and image modules (torch, timm, PIL) are imported on first use, so reading and
validating fingerprint files stays light (the command line's cloud operations, memory-capped checks).
"""
import importlib

from ._io import FileFormatError
from .core import (DEFAULT_BINS, MIN_IMAGES, MIN_SAMPLES, Fingerprint, IncompatibleFingerprintsError,
                   check_all_compatible, fingerprint_task)
from .ranges import DEFAULT_QUANTILES, ReferenceRanges, bin_features, build_reference_ranges
from .validation import InvalidFingerprintError

_LAZY = {"FeatureExtractor": "extract", "extract_features": "extract", "fisher_embedding": "extract",
         "sample_plan": "extract", "ArrayTask": "images", "ImageFolderTask": "images",
         "UnreadableImageError": "images", "read_image": "images", "to_rgb_uint8": "images",
         "write_image_folder": "images"}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ArrayTask", "DEFAULT_BINS", "DEFAULT_QUANTILES", "FeatureExtractor", "FileFormatError", "Fingerprint",
    "ImageFolderTask", "IncompatibleFingerprintsError", "InvalidFingerprintError", "MIN_IMAGES", "MIN_SAMPLES",
    "ReferenceRanges", "UnreadableImageError", "bin_features", "build_reference_ranges", "check_all_compatible",
    "extract_features", "fingerprint_task", "fisher_embedding", "read_image", "sample_plan", "to_rgb_uint8",
    "write_image_folder",
]
