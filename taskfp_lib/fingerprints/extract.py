"""Probe-network feature extraction (paper, Methods, "Representations").

Images are drawn *with replacement* (default n = 10,000) with an explicit seed and lightly augmented
(resize, random crop, horizontal flip) with albumentations. Every draw gets its own augmentation
seed, derived from the fingerprint seed, so results do not depend on batch size or the number of
loader workers. A background thread decodes and augments the next batch while the network runs
on the current one. Torch runs with a stated number of threads (:func:`extraction_threads`): one
for small crops (<= 64 px), where a second thread costs more than it gains and, on a shared
machine, oversubscribes the cores.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np
import torch

from .probe import FeatureExtractor

#: crops up to this side (pixels) count as small workloads and run on one torch thread
SMALL_IMAGE_SIZE = 64
#: announce the expected time of runs of at least this many images (CLI)
ANNOUNCE_MIN_IMAGES = 2000


def extraction_threads(image_size: int, threads: int | None = None) -> int:
    """Torch threads for an extraction: ``threads`` if given, 1 for crops <= :data:`SMALL_IMAGE_SIZE` px,
    else ``$TASKFP_THREADS`` or the cores this process may use."""
    if threads is not None:
        if int(threads) < 1:
            raise ValueError(f"threads must be >= 1, got {threads!r}")
        return int(threads)
    if image_size <= SMALL_IMAGE_SIZE:
        return 1
    env = os.environ.get("TASKFP_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """Run a block with ``n`` torch intra-op threads and restore the previous count afterwards.

    (A local stand-in for the shared ``taskfp_lib._threads.limited_threads`` helper.)
    """
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield int(n)
    finally:
        torch.set_num_threads(before)


def sample_plan(num_images: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices drawn with replacement and one augmentation seed per draw, from ``seed``.

    Returns
    -------
    indices : ndarray of shape (n,), int64, in ``[0, num_images)``
    aug_seeds : ndarray of shape (n,), int64, in ``[0, 2**31 - 1)``
    """
    if num_images < 1:
        raise ValueError("the task has no images")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num_images, size=n)
    aug = rng.integers(0, 2**31 - 1, size=n)
    return idx, aug


class _AugmentedDraws(torch.utils.data.Dataset):
    """Draw i -> (augmented CHW float tensor, label); decoded images cached within a byte budget."""

    def __init__(self, task, indices, aug_seeds, transform, cache_bytes: int = 512 << 20):
        self.task, self.indices, self.aug_seeds, self.transform = task, indices, aug_seeds, transform
        self.cache: dict[int, tuple[np.ndarray, int]] = {}
        self.cache_left = cache_bytes
        self.lock = threading.Lock()

    def __len__(self):
        return len(self.indices)

    def __getstate__(self):  # for loader worker processes: no lock, no cache
        state = dict(self.__dict__)
        state.pop("lock")
        state["cache"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.lock = threading.Lock()

    def _load(self, j: int):
        hit = self.cache.get(j)
        if hit is not None:
            return hit
        image, label = self.task[j]
        # keep a resized copy only: what the transform would compute first anyway
        small = self.transform.transforms[0](image=image)["image"]
        with self.lock:
            if small.nbytes <= self.cache_left:
                self.cache[j] = (small, label)
                self.cache_left -= small.nbytes
        return small, label

    def __getitem__(self, i: int):
        small, label = self._load(int(self.indices[i]))
        t = self.transform
        t.set_random_seed(int(self.aug_seeds[i]))
        out = small  # already resized; apply the remaining ops
        for op in t.transforms[1:]:
            out = op(image=out)["image"]
        return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1))), label


def _batches(draws: _AugmentedDraws, batch_size: int, num_workers: int,
             pin: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield batches in draw order; a background thread prepares the next batch while the model runs."""
    n = len(draws)
    if num_workers > 0:
        loader = torch.utils.data.DataLoader(draws, batch_size=batch_size, shuffle=False,
                                             num_workers=num_workers, pin_memory=pin)
        yield from loader
        return

    def make(start):
        items = [draws[i] for i in range(start, min(start + batch_size, n))]
        x = torch.stack([x for x, _ in items])
        return (x.pin_memory() if pin else x), torch.tensor([y for _, y in items])

    with ThreadPoolExecutor(max_workers=1) as pool:
        fut = pool.submit(make, 0) if n else None
        for start in range(0, n, batch_size):
            batch = fut.result()
            nxt = start + batch_size
            fut = pool.submit(make, nxt) if nxt < n else None
            yield batch


def extract_features(task, extractor: FeatureExtractor, n: int = 10_000, seed: int = 0, batch_size: int = 64,
                     num_workers: int = 0, augment: bool = True, progress: bool = True,
                     return_plan: bool = False, threads: int | None = None):
    """Features of ``n`` augmented draws (with replacement) from ``task``.

    Parameters
    ----------
    task : ImageFolderTask, ArrayTask or path
    extractor : FeatureExtractor
    n : int
        Number of draws (the paper: 10,000).
    seed : int
        Seeds the draws and every augmentation; same seed -> same features.
    batch_size, num_workers : int
        Batch size; loader worker processes (0: one prefetch thread, the fastest on few cores).
    threads : int, optional
        Torch threads (default :func:`extraction_threads`: 1 for crops <= 64 px, else all cores).

    Returns
    -------
    features : ndarray of shape (n, feature_dim), float32
    labels : ndarray of shape (n,), int64
    plan : (indices, aug_seeds), only if ``return_plan``
    """
    from tqdm import tqdm

    from .images import as_task

    task = as_task(task)
    indices, aug = sample_plan(len(task), int(n), seed)
    draws = _AugmentedDraws(task, indices, aug, extractor.make_transform(augment))
    feats = np.empty((int(n), extractor.feature_dim), dtype=np.float32)
    labels = np.empty(int(n), dtype=np.int64)
    pos = 0
    pin = extractor.device.type == "cuda"
    with torch_threads(extraction_threads(extractor.image_size, threads)), \
            tqdm(total=int(n), desc=f"features {getattr(task, 'name', 'task')}", unit="img",
                 disable=not progress) as bar:
        for x, y in _batches(draws, batch_size, num_workers, pin):
            f = extractor.forward(x).cpu().numpy()
            feats[pos:pos + len(f)] = f
            labels[pos:pos + len(f)] = y.numpy()
            pos += len(f)
            bar.update(len(f))
    if return_plan:
        return feats, labels, (indices, aug)
    return feats, labels


def measure_rate(task, extractor: FeatureExtractor, batch_size: int = 64, threads: int | None = None,
                 seed: int = 0) -> float:
    """Images per second of the whole pipeline (decode, augment, forward) on one batch of ``task``,
    after a warm-up forward pass; what :func:`announce_expected_time` multiplies by n."""
    from .images import as_task

    task = as_task(task)
    idx, aug = sample_plan(len(task), batch_size, seed)
    draws = _AugmentedDraws(task, idx, aug, extractor.make_transform(True))
    with torch_threads(extraction_threads(extractor.image_size, threads)):
        extractor.forward(torch.stack([draws[0][0], draws[1 % len(draws)][0]]))
        t0 = time.perf_counter()
        for x, _ in _batches(draws, batch_size, 0, extractor.device.type == "cuda"):
            extractor.forward(x).cpu()
        return batch_size / max(time.perf_counter() - t0, 1e-9)


def announce_expected_time(task, extractor: FeatureExtractor, total_images: int, batch_size: int = 64,
                           threads: int | None = None, stream=None) -> float | None:
    """Print one line with the expected time of extracting ``total_images`` (measured rate x n).

    Skipped (returns None) below :data:`ANNOUNCE_MIN_IMAGES` images; otherwise returns the
    expected seconds. The rate is measured on one batch of ``task`` on this machine.
    """
    if total_images < ANNOUNCE_MIN_IMAGES:
        return None
    rate = measure_rate(task, extractor, batch_size, threads)
    seconds = total_images / rate
    when = f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"
    print(f"expected time: ~{when} for {total_images:,} images ({rate:.1f} images/s measured on "
          f"{extractor.device}, {extraction_threads(extractor.image_size, threads)} thread(s)); "
          "fewer draws with -n", file=stream or sys.stderr, flush=True)
    return seconds
