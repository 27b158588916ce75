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
ImageFolderTask, ArrayTask, read_image, to_rgb_uint8, write_image_folder   image input.
"""
from ._io import FileFormatError
from .core import (DEFAULT_BINS, MIN_IMAGES, MIN_SAMPLES, Fingerprint, IncompatibleFingerprintsError,
                   check_all_compatible, fingerprint_task)
from .extract import FeatureExtractor, extract_features, fisher_embedding, sample_plan
from .images import ArrayTask, ImageFolderTask, UnreadableImageError, read_image, to_rgb_uint8, write_image_folder
from .ranges import DEFAULT_QUANTILES, ReferenceRanges, bin_features, build_reference_ranges

__all__ = [
    "ArrayTask", "DEFAULT_BINS", "DEFAULT_QUANTILES", "FeatureExtractor", "FileFormatError", "Fingerprint",
    "ImageFolderTask", "IncompatibleFingerprintsError", "MIN_IMAGES", "MIN_SAMPLES", "ReferenceRanges",
    "UnreadableImageError", "bin_features", "build_reference_ranges", "check_all_compatible", "extract_features",
    "fingerprint_task", "fisher_embedding", "read_image", "sample_plan", "to_rgb_uint8", "write_image_folder",
]
