"""Process groups of the deployment engine: ``ProcessGroup.stop`` leaves nothing running, also a
member that ignores SIGTERM and outlives its leader (no Flower needed)."""
from __future__ import annotations

import os
import sys
import time

import pytest

from taskfp_lib.federated.deploy import ProcessGroup, descendants, group_members

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc") or sys.platform == "win32",
                                reason="process groups read from /proc")

#: a leader that starts a child ignoring SIGTERM, then waits for it
STUBBORN = ("import signal, subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', "
            "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)'])\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(120)\n")


def _child_pid(log, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        text = log.read_text() if log.exists() else ""
        if text.strip():
            return int(text.split()[0])
        time.sleep(0.05)
    raise AssertionError("the leader did not report its child")


def test_stop_kills_a_member_that_ignores_sigterm_and_returns_when_none_runs(tmp_path):
    group = ProcessGroup(grace=0.5)
    leader = group.start([sys.executable, "-c", STUBBORN], tmp_path / "leader.log", new_session=True)
    child = _child_pid(tmp_path / "leader.log")
    assert set(group_members(leader.pid)) == {leader.pid, child}
    group.stop()
    assert leader.poll() is not None
    assert group_members(leader.pid) == []


def test_descendants_are_the_children_and_grandchildren(tmp_path):
    with ProcessGroup(grace=0.5) as group:
        leader = group.start([sys.executable, "-c", STUBBORN], tmp_path / "leader.log", new_session=True)
        child = _child_pid(tmp_path / "leader.log")
        assert {leader.pid, child} <= set(descendants(os.getpid()))
        assert descendants(leader.pid) == [child] and descendants(child) == []
    assert descendants(leader.pid) == []


def test_stop_without_a_session_signals_only_the_process(tmp_path):
    with ProcessGroup(grace=5.0) as group:
        proc = group.start([sys.executable, "-c", "import time; time.sleep(120)"], tmp_path / "p.log")
        assert group_members(os.getpgid(0)) and proc.poll() is None
    assert proc.poll() is not None  # SIGTERM ended it; this test's own process group lives on


def test_group_members_of_a_group_that_never_existed_is_empty():
    assert group_members(2 ** 22 + 12345) == []
