"""Flower's deployment engine: a server process and one process per client, over the network.

* ``taskfp federated server`` (:func:`run_server`) starts a SuperLink (``flower-superlink
  --insecure``), writes a small Flower App whose components are
  :data:`taskfp_lib.federated.apps.server_app` / ``client_app`` and whose run config holds every
  option, submits it with ``flwr run`` and waits until the run has written ``summary.json``;
* ``taskfp federated client`` (:func:`run_client`) runs a SuperNode (``flower-supernode --insecure
  --superlink HOST:PORT --node-config "task-dir='...'"``) whose ClientApp reads only that site's
  task folder;
* ``taskfp federated local`` (:func:`run_local`) starts the server and N clients on loopback and
  stops every process it started, also on failure.

Across institutions the same commands run on different machines (TLS certificates instead of
``--insecure``); only weights and a few numbers cross the network.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from .config import FedConfig

__all__ = ["write_flower_app", "run_server", "run_client", "run_local", "ProcessGroup", "group_members", "descendants",
           "free_port", "flower_env"]

LOG = logging.getLogger("taskfp.federated")
APP_MODULE = "taskfp_meduniverse_app"
CONNECTION = "taskfp"


# ---------------------------------------------------------------------------------------------- processes
def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args[0]} exited with code {proc.returncode} before {host}:{port} opened")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{host}:{port} did not open within {timeout:g} s")


def _executable(name: str) -> str:
    here = Path(sys.executable).parent / name
    found = str(here) if here.is_file() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found (install flwr[simulation]==1.42.0 in this environment)")
    return found


def flower_env(flwr_home: str | os.PathLike | None = None) -> dict[str, str]:
    """Environment of the Flower processes: taskfp and Flower's executables found, one thread, no telemetry."""
    import taskfp_lib

    env = dict(os.environ)
    root = str(Path(taskfp_lib.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    # Flower starts flower-superexec, flwr-serverapp and flwr-clientapp by name: this environment's first
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(FLWR_TELEMETRY_ENABLED="0", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               NO_ALBUMENTATIONS_UPDATE="1", PYTHONUNBUFFERED="1")
    if flwr_home is not None:
        env["FLWR_HOME"] = str(flwr_home)
    return env


def group_members(pgid: int) -> list[int]:
    """Process ids of the members of process group ``pgid`` that have not exited.

    Exited members whose parent has not collected them yet (zombies) do not count. Read from
    ``/proc``; without it, ``[pgid]`` while a signal can still be sent to the group, else ``[]``.
    """
    if not os.path.isdir("/proc"):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    return [pid for pid, fields in _proc_stats()
            if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X")]


def descendants(pid: int) -> list[int]:
    """Process ids of every process below ``pid`` (children, grandchildren, ...), read from ``/proc``
    (empty without it). A process whose parent exited is re-parented and no longer counts."""
    children: dict[int, list[int]] = {}
    for child, fields in _proc_stats():
        if len(fields) > 1 and fields[1].isdigit():
            children.setdefault(int(fields[1]), []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _proc_stats():
    """``(pid, fields)`` of every process in ``/proc``: the fields of ``/proc/<pid>/stat`` after the command
    name (``fields[0]`` state, ``[1]`` parent id, ``[2]`` process group); nothing without ``/proc``."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        yield int(entry), fields


class ProcessGroup:
    """Processes started here; all are stopped on exit (SIGTERM, then SIGKILL after ``grace`` s).

    ``new_session=True`` starts a process in its own session, and stopping signals its whole
    process group (the process and everything it started); otherwise only the process itself.
    """

    def __init__(self, grace: float = 10.0):
        self.procs: list[tuple[subprocess.Popen, bool]] = []
        self.grace = grace

    def start(self, argv: Sequence[str], log: str | os.PathLike, env: Mapping[str, str] | None = None,
              new_session: bool = False) -> subprocess.Popen:
        fh = open(log, "ab")  # noqa: SIM115 - closed with the process below
        try:
            proc = subprocess.Popen(list(argv), stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=dict(env) if env is not None else None, start_new_session=new_session)
        finally:
            fh.close()
        self.procs.append((proc, new_session))
        return proc

    def _signal(self, proc: subprocess.Popen, group: bool, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(proc.pid, sig)
            elif proc.poll() is None:
                proc.send_signal(sig)

    def _running(self, proc: subprocess.Popen, group: bool) -> bool:
        """Whether the process (or, for a group, any member of its process group) still runs."""
        if proc.poll() is None:
            return True
        return group and bool(group_members(proc.pid))

    def stop(self) -> None:
        """SIGTERM to every process (group); up to ``grace`` s for the processes started here to
        exit; SIGKILL to every group (members left behind by an exited leader included) and to any
        process still running. Returns once none of them runs, or after 5 more seconds."""
        for proc, group in reversed(self.procs):
            self._signal(proc, group, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for proc, group in reversed(self.procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            self._signal(proc, group, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while running := [p.pid for p, g in self.procs if self._running(p, g)]:
            if time.monotonic() >= deadline:
                LOG.warning("processes still run after SIGKILL: %s", ", ".join(map(str, running)))
                break
            time.sleep(0.05)

    def __enter__(self) -> "ProcessGroup":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit, so that ``finally`` blocks stop child processes."""
    def handler(signum, frame):  # noqa: ARG001
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


# ---------------------------------------------------------------------------------------------- the app
def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_flower_app(app_dir: str | os.PathLike, cfg: FedConfig, run_dir: str | os.PathLike,
                     initial_model: str | os.PathLike) -> Path:
    """A Flower App (``pyproject.toml`` + a two-line module) whose run config carries every option."""
    app_dir = Path(app_dir)
    app_dir.mkdir(parents=True, exist_ok=True)
    config = {**cfg.to_run_config(), "run-dir": str(Path(run_dir).resolve()),
              "initial-model": str(Path(initial_model).resolve())}
    lines = ['[build-system]', 'requires = ["hatchling"]', 'build-backend = "hatchling.build"', '',
             '[project]', 'name = "taskfp-meduniverse"', 'version = "1.0.0"',
             'description = "MedUniverse stage-wise federation (taskfp_lib.federated)"',
             'dependencies = []', '', '[tool.flwr.app]', 'publisher = "taskfp"', '',
             '[tool.flwr.app.components]', f'serverapp = "{APP_MODULE}:server_app"',
             f'clientapp = "{APP_MODULE}:client_app"', '', '[tool.flwr.app.config]']
    lines += [f"{key} = {_toml_value(value)}" for key, value in config.items()]
    (app_dir / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (app_dir / f"{APP_MODULE}.py").write_text(
        '"""Flower App entry points (generated by taskfp federated server)."""\n'
        "from taskfp_lib.federated import apps\n\n"
        "server_app = apps.server_app  # plain assignments: Flower checks the names statically\n"
        "client_app = apps.client_app\n", encoding="utf-8")
    return app_dir


def _write_connection(flwr_home: Path, host: str, port: int) -> None:
    flwr_home.mkdir(parents=True, exist_ok=True)
    (flwr_home / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\naddress = "{host}:{port}"\n'
        "insecure = true\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------- roles
def run_server(cfg: FedConfig, run_dir: str | os.PathLike, initial_model: str | os.PathLike,
               host: str = "127.0.0.1", port: int = 9091, timeout: float = 3600.0) -> dict:
    """Start a SuperLink, submit the federation with ``flwr run`` and wait for it to finish.

    Parameters
    ----------
    cfg : FedConfig
        Sent to every client in the run config (model size, split, fine-tuning recipe ...).
    run_dir : path
        Stage checkpoints; a run directory with completed stages is resumed.
    initial_model : path
        The MIM-pretrained encoder (``taskfp federated pretrain``).
    host, port : str, int
        Where the SuperLink listens (``0.0.0.0`` to accept other machines).
    timeout : float
        Seconds the whole run may take.

    Returns
    -------
    dict
        ``summary.json`` of the run directory.
    """
    from .runstate import read_summary

    run_dir = Path(run_dir).resolve()
    work = run_dir / "deployment"
    work.mkdir(parents=True, exist_ok=True)
    if not Path(initial_model).is_file():
        raise FileNotFoundError(f"{initial_model}: initial model not found (taskfp federated pretrain)")
    app = write_flower_app(work / "app", cfg, run_dir, initial_model)
    connect = "127.0.0.1" if host in ("0.0.0.0", "") else host
    _write_connection(work / "flwr_home", connect, port)
    env = flower_env(work / "flwr_home")
    (run_dir / "summary.json").unlink(missing_ok=True)
    with _terminate_on_sigterm(), ProcessGroup() as group:
        link = group.start([_executable("flower-superlink"), "--insecure", "--host", host, "--port", str(port),
                            "--disable-runtime-dependency-installation"], work / "superlink.log", env)
        _wait_port(connect, port, 60.0, link)
        submit = group.start([_executable("flwr"), "run", str(app), CONNECTION, "--stream"], work / "flwr_run.log",
                             env)
        try:
            code = submit.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the federation did not finish within {timeout:g} s; see {work / 'superlink.log'}"
                               ) from None
    if not (run_dir / "summary.json").is_file():
        reason = _last_error(work / "flwr_run.log", _SERVERAPP_ERROR) or f"flwr run exit code {code}"
        raise RuntimeError(f"the federation did not complete ({reason}); see {work / 'flwr_run.log'}")
    return read_summary(run_dir)


_SERVERAPP_ERROR = re.compile(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception): .+)$")
_CLI_ERROR = re.compile(r"^taskfp federated(?: [\w-]+)?: error: (.+)$")


def _last_error(log: Path, pattern: re.Pattern) -> str | None:
    """The last line of a log (ANSI colours removed, last 1 MB) that matches ``pattern`` (group 1)."""
    if not log.is_file():
        return None
    with open(log, "rb") as fh:
        fh.seek(max(0, log.stat().st_size - (1 << 20)))
        text = fh.read().decode("utf-8", "replace")
    found = None
    for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines():
        if m := pattern.match(line.strip()):
            found = m.group(1)
    return found


def run_client(superlink: str, task_dir: str | os.PathLike, port: int = 0,
               flwr_home: str | os.PathLike | None = None) -> int:
    """Run one site's SuperNode in the foreground until it exits or is stopped.

    Parameters
    ----------
    superlink : str
        ``HOST:PORT`` of the server's SuperLink.
    task_dir : path
        The site's private task folder (``<task>/<class>/<files>``); checked before connecting.
    port : int
        Port of the SuperNode's local runtime API (0: any free port).
    flwr_home : path, optional
        Where Flower installs the app (default: a temporary folder, removed afterwards).
    """
    import tempfile

    from ..imaging import scan_task_folder

    task_dir = Path(task_dir).resolve()
    scan_task_folder(task_dir, min_classes=2)
    if "'" in str(task_dir):
        raise ValueError(f"{task_dir}: a task folder path must not contain a single quote")
    with contextlib.ExitStack() as stack:
        home = flwr_home or stack.enter_context(tempfile.TemporaryDirectory(prefix="taskfp-supernode-"))
        argv = [_executable("flower-supernode"), "--insecure", "--superlink", superlink, "--port",
                str(port or free_port()), "--node-config", f"task-dir='{task_dir}'"]
        proc = subprocess.Popen(argv, env=flower_env(home), stdin=subprocess.DEVNULL)
        try:
            with _terminate_on_sigterm():
                return proc.wait()
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _option_args(cfg: FedConfig) -> list[str]:
    args: list[str] = []
    for key, value in cfg.to_dict().items():
        args += ["--option", f"{key}={value}"]
    return args


def run_local(task_dirs: Sequence[str | os.PathLike], cfg: FedConfig, run_dir: str | os.PathLike,
              initial_model: str | os.PathLike, timeout: float = 3600.0) -> dict:
    """Server + one client process per task on loopback (``taskfp federated local``).

    Every role is a ``taskfp federated ...`` process in its own session; all of them (and what
    they started) are stopped when the server finishes, fails or ``timeout`` passes. Logs are in
    ``run_dir/logs``, the process groups started in ``run_dir/logs/processes.json``.
    """
    from .runstate import read_summary

    run_dir = Path(run_dir).resolve()
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cli = [sys.executable, "-m", "taskfp_lib.cli", "federated"]
    env = flower_env()
    cfg = cfg.replace(min_nodes=cfg.min_nodes or len(task_dirs))
    with _terminate_on_sigterm(), ProcessGroup() as group:
        server_args = ["server", "--run-dir", str(run_dir), "--initial", str(Path(initial_model).resolve()),
                       "--port", str(port), "--timeout", str(timeout)] + _option_args(cfg)
        server = group.start(cli + server_args, logs / "server.log", env, new_session=True)
        _wait_port("127.0.0.1", port, 90.0, server)
        for i, task in enumerate(task_dirs):
            group.start(cli + ["client", "--superlink", f"127.0.0.1:{port}", "--task-dir", str(Path(task).resolve())],
                        logs / f"client_{i}.log", env, new_session=True)
        (logs / "processes.json").write_text(json.dumps({"superlink_port": port, "process_groups": [
            p.pid for p, _ in group.procs]}) + "\n", encoding="utf-8")
        try:
            code = server.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the local federation did not finish within {timeout:g} s; see {logs}") from None
    if code != 0:
        reason = _last_error(logs / "server.log", _CLI_ERROR) or f"exit code {code}"
        raise RuntimeError(f"the server failed: {reason}; see {logs / 'server.log'}")
    return read_summary(run_dir)
