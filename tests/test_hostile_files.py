"""Hostile fingerprint and range files: every malformed, oversized or poisoned file is refused with one
clear error naming the file and the field, before anything large is allocated (issue 11, items 3-4)."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import _hostile as H
from taskfp_lib.fingerprints import FileFormatError, Fingerprint, InvalidFingerprintError, ReferenceRanges
from taskfp_lib.limits import MAX_FINGERPRINT_BYTES


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "fp.npz"
    H.fingerprint("good").save(path)
    return path


def _arr(fp_path, name):
    return np.load(fp_path)[name]


def _set(key, value):
    return lambda meta: meta.__setitem__(key, value)


def _del(key):
    return lambda meta: meta.pop(key)


def _neg_def(path):
    cov = _arr(path, "cov")
    return {"cov": -cov - np.eye(len(cov))}


def _mean(value, j=0):
    def make(path):
        mean = _arr(path, "mean").copy()
        mean[j] = value
        return {"mean": mean}
    return make


def _indefinite(path):
    cov = _arr(path, "cov").copy()
    big = 10 * np.sqrt(cov[0, 0] * cov[1, 1])
    cov[0, 1] = cov[1, 0] = big        # positive diagonal, a negative eigenvalue
    return {"cov": cov}


def _sym_swap(path):
    cov = _arr(path, "cov").copy()
    cov[0, 1] += 1.0
    return {"cov": cov}


def _ranges_lie(path):
    hi = _arr(path, "ranges_hi").copy()
    hi[0] += 1.0
    return {"ranges_hi": hi}


#: (scenario, metadata edit, array replacement, words the error must contain)
CONTENT_CASES = [
    ("negative-definite covariance (FID -5e8)", None, _neg_def, "positive semi-definite"),
    ("indefinite covariance, positive diagonal", None, _indefinite, "positive semi-definite"),
    ("asymmetric covariance", None, _sym_swap, "symmetric"),
    ("negative mean feature (P2L fails)", None, _mean(-0.5), "negative"),
    ("mean feature 1e308 (bKLD source weight)", None, _mean(1e308), "exceeds"),
    ("mean feature NaN", None, _mean(np.nan), "NaN"),
    ("carried ranges do not hash to ranges_sha256", None, _ranges_lie, "ranges_sha256"),
    ("complex array", None, lambda p: {"mean": _arr(p, "mean").astype(np.complex128)}, "not allowed"),
    ("complex array labelled <f8", None, lambda p: {"mean": _arr(p, "mean").astype(np.complex128)}, "not allowed"),
    ("string array", None, lambda p: {"mean": np.array(["a"] * H.M)}, "not allowed"),
    ("big-endian array", None, lambda p: {"mean": _arr(p, "mean").astype(">f8")}, "not allowed"),
    ("structured array", None, lambda p: {"mean": np.zeros(H.M, dtype=[("a", "<f8")])}, "not allowed"),
    ("object array (pickle)", None, lambda p: {"mean": np.array([object()] * H.M)}, "mean"),
    ("task name with ANSI escape", _set("task", "evil\x1b[31m"), None, "control characters"),
    ("task name starting with =", _set("task", "=HYPERLINK(\"http://x\")"), None, "starts with '='"),
    ("task name of 10,000 characters", _set("task", "t" * 10_000), None, "characters long"),
    ("task_meta spoofs the task name", _set("task_meta", {"task": "spoof"}), None, "identity"),
    ("task_meta spoofs ranges_sha256", _set("task_meta", {"ranges_sha256": "0" * 64}), None, "identity"),
    ("task_meta of 100 fields", _set("task_meta", {f"k{i}": i for i in range(100)}), None, "task_meta"),
    ("task_meta string of 1 MB", _set("task_meta", {"note": "x" * 900_000}), None, "task_meta"),
    ("n_samples as a string", _set("n_samples", "ten"), None, "'n_samples'"),
    ("n_samples below the privacy floor", _set("n_samples", 5), None, "minimum"),
    ("bins [0]", _set("bins", [0]), None, "'bins'"),
    ("bins 10**9", _set("bins", [10 ** 9]), None, "'bins'"),
    ("bins missing", _del("bins"), None, "'bins'"),
    ("extractor without weights", _set("extractor", {"name": "x"}), None, "'extractor'"),
    ("ranges_sha256 not hex", _set("ranges_sha256", "zz"), None, "ranges_sha256"),
    ("seed as text", _set("seed", "x"), None, "'seed'"),
    ("task as a number", _set("task", 7), None, "'task'"),
    ("array table entry with bad shape", lambda m: m["arrays"]["mean"].update(shape=[-1]), None, "arrays"),
    ("unsupported version", _set("version", 99), None, "version 99"),
    ("other format", _set("format", "x"), None, "expected format"),
]


@pytest.mark.parametrize("case", CONTENT_CASES, ids=[c[0] for c in CONTENT_CASES])
def test_poisoned_or_malformed_fingerprint_is_refused(good, tmp_path, case):
    _, edit, arrays, needle = case
    bad = H.rewrite(good, tmp_path / "bad.npz", meta_edit=edit, arrays=arrays(good) if arrays else None,
                    consistent="labelled" not in case[0])
    with pytest.raises(FileFormatError) as err:
        Fingerprint.load(bad)
    assert str(bad) in str(err.value) and needle in str(err.value), str(err.value)
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)


def _zip_edit(edit):
    def make(good, out):
        content = H.members(good)
        edit(content)
        return H.write_members(out, content)
    return make


def _lying_crc(good, out):
    data = bytearray(good.read_bytes())
    start = data.find(b"mean.npy") + 200   # inside the deflated mean array
    data[start:start + 4] = bytes(b ^ 0xFF for b in data[start:start + 4])
    out.write_bytes(bytes(data))
    return out


ARCHIVE_CASES = [
    ("extra member", _zip_edit(lambda c: c.__setitem__("evil.py", b"print(1)")), "unexpected or missing"),
    ("missing member", _zip_edit(lambda c: c.pop("mean.npy")), "unexpected or missing"),
    ("20 members", _zip_edit(lambda c: c.update({f"x{i}.npy": b"" for i in range(20)})), "members"),
    ("metadata not JSON", _zip_edit(lambda c: c.__setitem__("metadata.json", b"{not json")), "invalid JSON"),
    ("metadata nested 100,000 deep", _zip_edit(lambda c: c.__setitem__("metadata.json", b"[" * 100_000)),
     "invalid JSON"),
    ("metadata is a list", _zip_edit(lambda c: c.__setitem__("metadata.json", b"[]")), "expected format"),
    ("corrupted deflate data / lying CRC", _lying_crc, "npz"),
    ("not a zip", lambda good, out: (out.write_bytes(b"junk" * 10), out)[1], "not a readable npz"),
    ("empty file", lambda good, out: (out.write_bytes(b""), out)[1], "not a readable npz"),
]


@pytest.mark.parametrize("case", ARCHIVE_CASES, ids=[c[0] for c in ARCHIVE_CASES])
def test_damaged_fingerprint_archive_is_refused(good, tmp_path, case):
    _, make, needle = case
    bad = make(good, tmp_path / "bad.npz")
    with pytest.raises(FileFormatError) as err:
        Fingerprint.load(bad)
    assert str(bad) in str(err.value) and needle in str(err.value), str(err.value)


def _bomb_meta(good, arrays_table):
    meta = json.loads(H.members(good)["metadata.json"])
    meta["arrays"].update(arrays_table)
    return json.dumps(meta).encode()


def make_bombs(good, tmp_path) -> dict:
    """Decompression bombs of the audit, each a few MB on disk."""
    out = {}
    # metadata.json that inflates to 1.5 GiB (declared honestly, then with a lying small size)
    data, size = H.deflate_bomb(b" ", (1536 << 20) - (1 << 20) + (1 << 20))
    others = [(n, *H.deflated(b)[:1], len(b), H.deflated(b)[2]) for n, b in H.members(good).items()
              if n != "metadata.json"]
    out["metadata 1.5 GiB"] = H.raw_zip(tmp_path / "meta_bomb.npz", [("metadata.json", data, size + 1, 0), *others])
    out["metadata 1.5 GiB, size lies"] = H.raw_zip(tmp_path / "meta_lie.npz",
                                                   [("metadata.json", data, 900, 0), *others])
    # a 2 GiB array: the header declares (2**28,) float64
    header = H.npy_header("<f8", (1 << 28,))
    adata, asize = H.deflate_bomb(header, 1 << 31)
    meta = _bomb_meta(good, {"mean": {"dtype": "<f8", "shape": [1 << 28], "sha256": "0" * 64}})
    keep = [(n, *H.deflated(b)[:1], len(b), H.deflated(b)[2]) for n, b in H.members(good).items()
            if n not in ("metadata.json", "mean.npy")]
    mz = H.deflated(meta)
    out["array 2 GiB"] = H.raw_zip(tmp_path / "array_bomb.npz",
                                   [("metadata.json", mz[0], mz[1], mz[2]), ("mean.npy", adata, asize, 0), *keep])
    out["array 2 GiB, size lies"] = H.raw_zip(tmp_path / "array_lie.npz",
                                              [("metadata.json", mz[0], mz[1], mz[2]), ("mean.npy", adata, 4000, 0),
                                               *keep])
    # a .npy header declaring 10**12 items in a tiny member
    tiny = H.npy_header("<f8", (10 ** 12,)) + b"\0" * 64
    meta = _bomb_meta(good, {"mean": {"dtype": "<f8", "shape": [10 ** 12], "sha256": "0" * 64}})
    mz, tz = H.deflated(meta), H.deflated(tiny)
    out["npy header 10**12 items"] = H.raw_zip(tmp_path / "header_bomb.npz",
                                               [("metadata.json", *mz), ("mean.npy", *tz), *keep])
    return out


@pytest.fixture(scope="module")
def bombs(good, tmp_path_factory):
    return make_bombs(good, tmp_path_factory.mktemp("bombs"))


def test_bombs_are_refused_before_inflating(bombs):
    for name, path in bombs.items():
        assert path.stat().st_size < 8 << 20, name          # small on disk ...
        with pytest.raises(FileFormatError) as err:          # ... refused, in this process, without a MemoryError
            Fingerprint.load(path)
        assert str(path) in str(err.value), (name, str(err.value))
        assert any(w in str(err.value) for w in ("limit", "inflates", "declares", "holds", "exceed", "CRC")), \
            (name, str(err.value))


def test_range_file_reader_is_bounded_too(tmp_path):
    r = H.ranges()
    path = r.save(tmp_path / "r.npz")
    assert ReferenceRanges.load(path).sha256 == r.sha256
    content = H.members(path)
    content["metadata.json"] = b" " * (2 << 20) + content["metadata.json"]
    with pytest.raises(FileFormatError, match="metadata.json declares"):
        ReferenceRanges.load(H.write_members(tmp_path / "big.npz", content))


def test_saving_checks_content_and_limits():
    fp = H.fingerprint("ok")
    assert fp.ranges is not None and fp.ranges.sha256 == fp.ranges_sha256
    bad = H.fingerprint("ok")
    bad.cov = -bad.cov
    with pytest.raises(InvalidFingerprintError, match="positive semi-definite"):
        bad.check_content()
    assert MAX_FINGERPRINT_BYTES >= 64 << 20   # the paper's fingerprint (6.5 MB) and a Fisher embedding fit


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                     | st.text(max_size=20), lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=10)
_FIELDS = ["task", "n_samples", "bins", "extractor", "ranges_sha256", "seed", "task_meta", "fisher_meta", "created",
           "n_features", "ranges", "version"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(_FIELDS), value=_JSON)
def test_any_metadata_value_gives_a_fingerprint_or_a_file_format_error(good, tmp_path, field, value):
    bad = H.rewrite(good, tmp_path / "fuzz.npz", meta_edit=_set(field, value))
    try:
        fp = Fingerprint.load(bad)
    except FileFormatError as err:
        assert str(bad) in str(err) and "\n" not in str(err)
    else:   # accepted only when the value is harmless for that field
        assert fp.task == "good" or fp.task == value
        fp.check_content()
