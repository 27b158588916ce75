"""Thread counts set on purpose: one home for the BLAS/OpenMP and torch thread limits of every workload.

Left alone, numpy's BLAS, scikit-learn's OpenMP loops and torch each start one thread per core. On a
machine shared by several jobs (the book's notebooks run side by side, one per core; a test suite
beside a build) these pools oversubscribe the cores and small workloads slow down by 5-50x (issue 15:
a 32-px fingerprint extraction took 1.1 s with one thread and up to 34 s with two beside a busy
process). Every workload therefore states its thread count:

* small workloads (32-px extraction, t-SNE of 71 tasks, the demo training grids, the paper recipes'
  BLAS) run with :data:`SMALL` = 1 thread, whatever the machine: :func:`limited_threads` with
  ``SMALL``;
* large workloads (224-px extraction of 10,000 images, distance matrices of many tasks) use
  :func:`default_threads`: the ``TASKFP_THREADS`` environment variable when set, otherwise the cores
  this process may run on;
* processes that run others (the notebook plan, one kernel per core) give each child
  :func:`thread_environment` (``OMP_NUM_THREADS`` etc. and ``TASKFP_THREADS``) so that its pools are
  sized before they start.

Environment
-----------
``TASKFP_THREADS``
    Threads of the large workloads in this process (a positive integer); also what
    :func:`set_process_threads` applies when called without a count.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

#: environment variable holding the thread count of large workloads
ENV_VAR = "TASKFP_THREADS"
#: thread count of small workloads (where a second thread costs more than it gains)
SMALL = 1
#: variables read by the BLAS/OpenMP runtimes (and torch) when their pools start
RUNTIME_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Threads for large workloads: ``$TASKFP_THREADS`` when set, else :func:`available_cores`.

    Raises
    ------
    ValueError
        When ``TASKFP_THREADS`` is set but is not a positive integer.
    """
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return available_cores()
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{ENV_VAR}={value!r}: expected a positive number of threads")
    return int(value)


def _resolve(threads: int | None) -> int:
    n = default_threads() if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads={threads!r}: expected a positive number of threads (or None)")
    return n


def _torch():
    """torch when this process has already imported it (setting threads never imports it)."""
    return sys.modules.get("torch")


def set_process_threads(threads: int | None = None) -> int:
    """Limit this process's BLAS/OpenMP pools and torch to ``threads`` threads, from now on.

    Also exports the count in the environment (:func:`thread_environment`), so that processes
    started later (notebook kernels, data loader workers) start with the same limit, and torch,
    imported later, starts with it too.

    Parameters
    ----------
    threads : int, optional
        Thread count; default :func:`default_threads`.

    Returns
    -------
    int
        The thread count applied.
    """
    from threadpoolctl import threadpool_limits

    n = _resolve(threads)
    os.environ.update(thread_environment(n))
    threadpool_limits(limits=n)
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(n)
    return n


@contextlib.contextmanager
def limited_threads(threads: int | None = SMALL) -> Iterator[int]:
    """Run a block with at most ``threads`` BLAS/OpenMP and torch threads; restore the limits after.

    Parameters
    ----------
    threads : int or None, default :data:`SMALL`
        Thread count; ``None`` means :func:`default_threads`.

    Yields
    ------
    int
        The thread count in force inside the block.

    Examples
    --------
    >>> with limited_threads(SMALL):            # doctest: +SKIP
    ...     xy = TSNE(metric="precomputed").fit_transform(d)
    """
    from threadpoolctl import threadpool_limits

    n = _resolve(threads)
    torch = _torch()
    before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=n):
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield n
        finally:
            if torch is not None:
                torch.set_num_threads(before)


def thread_environment(threads: int = SMALL) -> dict[str, str]:
    """Environment variables that start a child process's thread pools at ``threads`` threads.

    Parameters
    ----------
    threads : int, default :data:`SMALL`
        Thread count of the child.

    Returns
    -------
    dict
        ``{"OMP_NUM_THREADS": "1", ..., "TASKFP_THREADS": "1"}`` (every name in :data:`RUNTIME_VARS`).
    """
    n = _resolve(threads)
    return {var: str(n) for var in (*RUNTIME_VARS, ENV_VAR)}
