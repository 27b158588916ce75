"""Small real image tasks that are available offline, for demonstrations and CI.

They are built from image data that installed packages ship: scikit-learn's handwritten digits
(8x8 greyscale) and sample photographs (``china.jpg``, ``flower.jpg``), and matplotlib's sample data
(the ``grace_hopper.jpg`` photograph, a 16-bit MRI slice ``s1045.ima.gz`` and the
``jacksboro_fault_dem.npz`` elevation map). Patch tasks cut seeded random crops. Every task is
written as an image folder (``root/<task>/<class>/<index>.png``), the layout users provide.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: tasks for the knowledge cloud, and the held-out query task
CLOUD_TASKS = ("digits_low_vs_high", "digits_even_vs_odd", "digits_10_classes", "photo_patches",
               "mri_patches", "terrain_patches")
QUERY_TASK = "digits_3_vs_8"


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)
    return images, d.target.astype(int)


def _photos():
    from matplotlib import cbook
    from sklearn.datasets import load_sample_images

    photos = [np.asarray(im) for im in load_sample_images().images]
    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        photos.append(np.asarray(im.convert("RGB")))
    return photos  # china, flower, grace hopper


def _mri():
    from matplotlib import cbook

    with cbook.get_sample_data("s1045.ima.gz") as f:
        return np.frombuffer(f.read(), ">u2").reshape(256, 256).astype(np.uint16)


def _terrain():
    from matplotlib import cbook

    return np.asarray(cbook.get_sample_data("jacksboro_fault_dem.npz")["elevation"], dtype=np.int16)


def _patches(image, size, count, rng):
    h, w = image.shape[:2]
    ys = rng.integers(0, h - size + 1, size=count)
    xs = rng.integers(0, w - size + 1, size=count)
    return [image[y:y + size, x:x + size] for y, x in zip(ys, xs)]


def _save(root: Path, samples) -> Path:
    counts: dict[str, int] = {}
    for image, cls in samples:
        d = root / cls
        d.mkdir(parents=True, exist_ok=True)
        i = counts.get(cls, 0)
        counts[cls] = i + 1
        arr = np.asarray(image)
        if arr.dtype == np.uint16:
            Image.fromarray(arr).save(d / f"{i:04d}.png")                # 16-bit greyscale PNG
        else:
            Image.fromarray(arr.astype(np.uint8)).save(d / f"{i:04d}.png")
    return root


def write_demo_tasks(root: str | Path, seed: int = 0, per_class: int = 60,
                     only=None) -> dict[str, Path]:
    """Write the demo tasks as image folders under ``root``; returns ``{task name: folder}``.

    The digits tasks of the cloud use the first half of scikit-learn's digits, the query task
    ``digits_3_vs_8`` the second half, so that the query shares no image with the cloud.
    ``only``: names of the tasks to write (default: all). Patch positions depend on ``seed`` only.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    images, labels = _digits()
    half = len(images) // 2
    cloud_img, cloud_lab = images[:half], labels[:half]
    q_img, q_lab = images[half:], labels[half:]
    tasks = {
        "digits_low_vs_high": [(im, "low" if y < 5 else "high") for im, y in zip(cloud_img, cloud_lab)],
        "digits_even_vs_odd": [(im, "even" if y % 2 == 0 else "odd") for im, y in zip(cloud_img, cloud_lab)],
        "digits_10_classes": [(im, f"digit_{y}") for im, y in zip(cloud_img, cloud_lab)],
        QUERY_TASK: [(im, f"digit_{y}") for im, y in zip(q_img, q_lab) if y in (3, 8)],
    }
    photos = _photos()
    tasks["photo_patches"] = [(p, name) for photo, name in zip(photos, ["china", "flower", "portrait"])
                              for p in _patches(photo, 48, per_class, rng)]
    mri = _mri()
    mri_patches = _patches(mri, 32, 4 * per_class, rng)
    med = np.median([p.mean() for p in mri_patches])
    tasks["mri_patches"] = [(p, "bright" if p.mean() > med else "dark") for p in mri_patches]
    terrain = _terrain()
    ter = _patches(terrain, 32, 4 * per_class, rng)
    tmed = np.median([p.mean() for p in ter])
    # elevation maps as 16-bit images (offset to non-negative)
    offset = int(terrain.min())
    tasks["terrain_patches"] = [((p.astype(np.int32) - offset).astype(np.uint16), "high" if p.mean() > tmed else "low")
                                for p in ter]
    wanted = set(tasks) if only is None else set(only)
    unknown = wanted - set(tasks)
    if unknown:
        raise ValueError(f"unknown demo tasks {sorted(unknown)}; available: {sorted(tasks)}")
    return {name: _save(root / name, samples) for name, samples in tasks.items() if name in wanted}
