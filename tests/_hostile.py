"""Helpers of the hostile-input suite (tests/test_hostile_*.py): small fingerprints, rewritten and
hand-made zip archives (decompression bombs), and the command line run in a memory-capped child."""
from __future__ import annotations

import io
import json
import os
import resource
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

from taskfp_lib.fingerprints import Fingerprint, build_reference_ranges
from taskfp_lib.fingerprints._io import array_sha256

REPO = Path(__file__).resolve().parents[1]
M = 8


def ranges():
    rng = np.random.default_rng(0)
    return build_reference_ranges({"ref": np.abs(rng.normal(1.0, 1.0, size=(400, M)))}, {"name": "syn", "weights": "w0"})


def fingerprint(name: str, shift: float = 0.0, seed: int = 1, r=None) -> Fingerprint:
    rng = np.random.default_rng(seed)
    feats = np.abs(rng.normal(1.0 + shift, 1.0, size=(150, M)))
    return Fingerprint.from_features(feats, r or ranges(), task=name, bins=(10, 100), seed=seed,
                                     task_meta={"num_classes": 2})


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write_members(out, content: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n, data in content.items():
            zf.writestr(n, data)
    return Path(out)


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    return buf.getvalue()


def rewrite(path, out, meta_edit=None, arrays=None, consistent: bool = True) -> Path:
    """Copy a fingerprint file with some arrays replaced (checksums kept consistent) and metadata edited."""
    content = members(path)
    meta = json.loads(content["metadata.json"])
    for name, arr in (arrays or {}).items():
        content[f"{name}.npy"] = npy_bytes(arr)
        if consistent and arr.dtype != object:
            meta["arrays"][name] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": array_sha256(arr)}
    if meta_edit:
        meta_edit(meta)
    content["metadata.json"] = json.dumps(meta).encode()
    return write_members(out, content)


# ------------------------------------------------------------------------------------- hand-made zips
def npy_header(descr: str, shape: tuple) -> bytes:
    """A version-1.0 .npy header declaring ``descr`` and ``shape`` (no data)."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def deflate_bomb(prefix: bytes, zero_bytes: int, unit: int = 1 << 20) -> tuple[bytes, int]:
    """Raw deflate of ``prefix`` followed by ``zero_bytes`` zeros, built in O(compressed size)."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [co.compress(prefix) + co.flush(zlib.Z_FULL_FLUSH)]
    block = co.compress(b"\0" * unit) + co.flush(zlib.Z_FULL_FLUSH)
    assert zero_bytes % unit == 0
    out.append(block * (zero_bytes // unit - 1) + co.compress(b"\0" * unit) + co.flush(zlib.Z_FINISH))
    return b"".join(out), len(prefix) + zero_bytes


def raw_zip(out, entries: list[tuple[str, bytes, int, int]]) -> Path:
    """Write a zip by hand: entries are (name, deflated data, declared uncompressed size, crc).

    The declared sizes may lie: that is the point (zipfile always writes the truth).
    """
    body, central = io.BytesIO(), io.BytesIO()
    for name, data, size, crc in entries:
        offset, raw_name = body.tell(), name.encode()
        body.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size,
                               len(raw_name), 0) + raw_name + data)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                                  len(raw_name), 0, 0, 0, 0, 0, offset) + raw_name)
    cd = central.getvalue()
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(cd), body.tell(), 0)
    Path(out).write_bytes(body.getvalue() + cd + end)
    return Path(out)


def deflated(data: bytes) -> tuple[bytes, int, int]:
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    return co.compress(data) + co.flush(), len(data), zlib.crc32(data)


# ------------------------------------------------------------------------------------- the command line
def env(**extra) -> dict:
    e = dict(os.environ)
    e.update({"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    e.pop("TASKFP_CRASH_AT", None)
    e.update({k: str(v) for k, v in extra.items()})
    return e


_PEAK_WRAPPER = """
import os, resource, runpy, sys
sys.argv = ["taskfp", *sys.argv[1:]]
try:
    runpy.run_module("taskfp_lib.cli", run_name="__main__")
finally:
    # VmHWM: this process image's peak RSS (ru_maxrss would carry the forking parent's over exec)
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
    with open(os.environ["TASKFP_TEST_PEAK_FILE"], "w") as fh:
        fh.write(str(int(hwm) * 1024))
"""


def run_cli(args, memory_limit: int | None = None, timeout: float = 60, **extra):
    """Run ``taskfp ARGS`` in a child; return (returncode, stdout, stderr, peak RSS in bytes or None).

    ``memory_limit`` caps the child's address space (``RLIMIT_AS``) so that a decompression bomb
    that is inflated fails instead of exhausting the machine.
    """
    import tempfile

    def limit():
        if memory_limit:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        proc = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, *map(str, args)], capture_output=True,
                              env=env(TASKFP_TEST_PEAK_FILE=peak_file, **extra), cwd=REPO, preexec_fn=limit,
                              timeout=timeout)
        peak = int(peak_file.read_text()) if peak_file.exists() else None
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode(), peak


def assert_one_line_error(stderr: str, command: str, *needles: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{stderr}"
    assert lines[0].startswith(f"taskfp {command}: error: "), lines[0]
    assert "Traceback" not in stderr and "\x1b" not in stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# ------------------------------------------------------------------------------------- a hostile HTTP server
PAYLOAD = b"task,value\n" + b"".join(f"t{i},{i}\n".encode() for i in range(2000))


def start_server():
    """A local HTTP server: /good, /drip (one byte every 0.2 s), /big (twice the bytes), /liar (announces
    too much), /wrong (same size, other bytes), /slow (the payload in 0.5 s pieces, for kill tests)."""
    import http.server
    import threading
    import time

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = {"/big": PAYLOAD * 2, "/wrong": PAYLOAD[::-1]}.get(self.path, PAYLOAD)
            self.send_response(200)
            if self.path != "/big":     # /big: no length announced, the connection's end delimits the body
                self.send_header("Content-Length", str(len(body) * (10 if self.path == "/liar" else 1)))
            self.end_headers()
            try:
                if self.path == "/drip":
                    for b in body:
                        self.wfile.write(bytes([b]))
                        self.wfile.flush()
                        time.sleep(0.2)
                elif self.path == "/slow":
                    for i in range(0, len(body), 4096):
                        self.wfile.write(body[i:i + 4096])
                        self.wfile.flush()
                        time.sleep(0.5)
                else:
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def one_file_manifest(path, url: str, content: bytes = PAYLOAD) -> Path:
    import hashlib

    from taskfp_lib.upstream.manifest import UPSTREAM_COMMIT

    Path(path).write_text("path,commit,sha256,size,group,url\n"
                          f"cache/x.csv,{UPSTREAM_COMMIT},{hashlib.sha256(content).hexdigest()},{len(content)},"
                          f"metadata,{url}\n")
    return Path(path)
