"""Reading task images: one home for folder scanning, decoding, intensity presets and limits.

Fingerprints, transfer and the federated chapter read task folders ``<task>/<class>/<files>``
through this subpackage. Files may be PNG/JPEG/TIFF/BMP/PPM/GIF/WebP (PIL), DICOM (pydicom) or
NIfTI (nibabel); 3-D volumes and multi-frame DICOM contribute slices chosen by a
:class:`SliceSpec`. :func:`scan_task_folder` reads headers only; :func:`load_image` decodes one
item into an ``(H, W, 3)`` uint8 RGB array through an :class:`IntensityPreset` (CT windows, MR
percentile normalisation, min-max). :func:`build_demo_tasks` writes small medical demo tasks from
images that ship inside installed packages.
"""
from .constants import (IMAGENET_MEAN, IMAGENET_STD, MAX_FILES_PER_TASK, MAX_IMAGE_PIXELS,
                        MAX_ITEMS_PER_TASK, MAX_SLICES_PER_VOLUME, MAX_VOLUME_VOXELS)
from .headers import ImageItem, ImagingError, NotAnImageError, file_kind
from .medical_demo import DEMO_TASKS, build_demo_tasks
from .presets import CT_WINDOWS, DEFAULT_PRESET, IntensityPreset, known_preset_ids, parse_preset
from .readers import ModalityValues, load_image, read_values
from .scan import SliceSpec, TaskScan, scan_task_folder

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "MAX_FILES_PER_TASK", "MAX_IMAGE_PIXELS", "MAX_ITEMS_PER_TASK",
    "MAX_SLICES_PER_VOLUME", "MAX_VOLUME_VOXELS",
    "CT_WINDOWS", "DEFAULT_PRESET", "IntensityPreset", "known_preset_ids", "parse_preset",
    "ModalityValues", "load_image", "read_values",
    "ImageItem", "ImagingError", "NotAnImageError", "SliceSpec", "TaskScan", "file_kind", "scan_task_folder",
    "DEMO_TASKS", "build_demo_tasks",
]
