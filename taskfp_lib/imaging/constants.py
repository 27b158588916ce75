"""Named constants of image reading: size limits, file suffixes and the ImageNet normalisation.

Every limit bounds the work done on a file *before* its pixels are decoded, so a hostile or broken
file from another lab fails with a one-line ``ValueError`` naming the file instead of exhausting
memory (see :mod:`taskfp_lib.imaging.readers`).
"""
from __future__ import annotations

#: ImageNet channel means of RGB values scaled to [0, 1] (the normalisation every ImageNet-trained
#: torchvision/timm model expects; timm's ``IMAGENET_DEFAULT_MEAN``).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
#: ImageNet channel standard deviations of RGB values scaled to [0, 1] (timm's ``IMAGENET_DEFAULT_STD``).
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: the most pixels (rows x columns) one 2-D image or slice may declare; larger files are refused
#: from their header, before decoding (about 7071 x 7071; PIL's own bomb threshold is 89.5 M)
MAX_IMAGE_PIXELS: int = 50_000_000
#: the most voxels a NIfTI volume (its first 3-D volume) or multi-frame DICOM may declare
#: (2**30, e.g. 512 x 512 x 4096 slices)
MAX_VOLUME_VOXELS: int = 1_073_741_824
#: the most slices (frames) one volume may contribute to a task, after slice selection
MAX_SLICES_PER_VOLUME: int = 4096
#: the most files one task folder may hold (all classes together)
MAX_FILES_PER_TASK: int = 1_000_000
#: the most items (2-D images and slices) one task may hold
MAX_ITEMS_PER_TASK: int = 2_000_000
#: DICOM header values larger than this are not read while scanning (pydicom ``defer_size``)
DICOM_DEFER_BYTES: int = 1 << 20
#: bytes read from the start of a suffix-less file to look for the DICOM preamble ``DICM`` at 128
DICOM_SNIFF_BYTES: int = 132

#: suffixes decoded by PIL (lower case; ``.ppm``/``.pgm``/``.pbm``/``.pnm`` are Netpbm)
PIL_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp",
                                 ".ppm", ".pgm", ".pbm", ".pnm")
#: suffixes of DICOM files (files without a suffix are DICOM when they carry the ``DICM`` preamble)
DICOM_SUFFIXES: tuple[str, ...] = (".dcm", ".dicom")
#: suffixes of NIfTI-1/2 single files (``.hdr``/``.img`` pairs are not supported)
NIFTI_SUFFIXES: tuple[str, ...] = (".nii", ".nii.gz")
