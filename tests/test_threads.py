"""Thread limits set on purpose (taskfp_lib._threads)."""
import os

import pytest
import torch
from threadpoolctl import threadpool_info

from taskfp_lib import _threads
from taskfp_lib._threads import (ENV_VAR, RUNTIME_VARS, SMALL, default_threads, limited_threads, set_process_threads,
                                 thread_environment)


def _pool_sizes():
    return {info["internal_api"]: info["num_threads"] for info in threadpool_info()}


def test_thread_environment_names_every_runtime():
    env = thread_environment(3)
    assert env == {**{v: "3" for v in RUNTIME_VARS}, ENV_VAR: "3"}
    assert {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"} <= set(env)
    assert thread_environment()[ENV_VAR] == str(SMALL) == "1"


def test_default_threads_reads_the_option(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "3")
    assert default_threads() == 3
    monkeypatch.delenv(ENV_VAR)
    assert default_threads() == _threads.available_cores() >= 1
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(ENV_VAR, bad)
        with pytest.raises(ValueError, match=ENV_VAR):
            default_threads()


def test_limited_threads_limits_blas_openmp_and_torch_and_restores(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "2")
    torch.set_num_threads(2)
    before = _pool_sizes()
    with limited_threads(SMALL) as n:
        assert n == 1
        assert torch.get_num_threads() == 1
        assert set(_pool_sizes().values()) == {1}
    assert torch.get_num_threads() == 2
    assert _pool_sizes() == before
    with limited_threads(None) as n:     # None: the documented option
        assert n == 2 == torch.get_num_threads()
    with pytest.raises(ValueError):
        with limited_threads(0):
            pass


def test_limited_threads_is_also_a_decorator():
    @limited_threads(SMALL)
    def work():
        return torch.get_num_threads()

    assert work() == 1


def test_set_process_threads_applies_and_exports(monkeypatch):
    for var in (*RUNTIME_VARS, ENV_VAR):
        monkeypatch.setenv(var, "9")       # restored by monkeypatch after the test
    threads = torch.get_num_threads()
    try:
        assert set_process_threads(1) == 1
        assert torch.get_num_threads() == 1 and set(_pool_sizes().values()) == {1}
        assert all(os.environ[v] == "1" for v in (*RUNTIME_VARS, ENV_VAR))
    finally:
        set_process_threads(threads)
