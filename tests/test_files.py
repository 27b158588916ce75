"""The shared file helpers: atomic writes and content hashes."""
import hashlib

from taskfp_lib._files import atomic_write_text, file_sha256


def test_atomic_write_text(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    atomic_write_text(target, "hello")
    assert target.read_text() == "hello"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_file_sha256_matches_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    payload = bytes(range(256)) * 5000  # larger than one read chunk
    path.write_bytes(payload)
    assert file_sha256(path, chunk=4096) == hashlib.sha256(payload).hexdigest()
