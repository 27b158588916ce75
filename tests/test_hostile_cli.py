"""Every command-line failure is one line ``taskfp <command>: error: ...`` naming the file, field or option,
and options are checked before any long work (issue 11, item 8 and "Also")."""
from __future__ import annotations

import json
import os

import pytest

import _hostile as H
from taskfp_lib.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    fps = {n: H.fingerprint(n, seed=i).save(root / f"{n}.npz") for i, n in enumerate(["a", "b"])}
    ranges = H.ranges().save(root / "ranges.npz")
    cloud = root / "cloud"
    assert main(["cloud", "init", str(cloud)]) == 0
    assert main(["cloud", "add", str(cloud), str(fps["a"])]) == 0
    (root / "junk.npz").write_bytes(b"PK\x03\x04 not really")
    broken = root / "broken_cloud"
    broken.mkdir()
    man = json.loads((cloud / "cloud.json").read_text())
    del man["entries"]["a"]["n_samples"]
    (broken / "cloud.json").write_text(json.dumps(man))
    return {"root": root, "cloud": cloud, "ranges": ranges, "broken": broken, **fps}


#: (scenario, argv template, command, words the error line must contain)
ERROR_CASES = [
    ("unknown distance", "fingerprint distance {a} {b} --distance bogus", "fingerprint distance", "bogus"),
    ("feature-based distance on fingerprints", "fingerprint distance {a} {b} --distance MMD-geo-sinkhorn-0.01",
     "fingerprint distance", "per-image features"),
    ("unknown distance in a query", "cloud query {cloud} {b} --distance bogus", "cloud query", "bogus"),
    ("garbage npz", "fingerprint info {root}/junk.npz", "fingerprint info", "junk.npz"),
    ("missing file", "fingerprint info {root}/nothing.npz", "fingerprint info", "nothing.npz"),
    ("manifest entry missing a field", "cloud list {broken}", "cloud list", "'n_samples'"),
    ("not a cloud", "cloud list {root}/nowhere", "cloud list", "not a knowledge cloud"),
    ("remove an unknown task", "cloud remove {cloud} zzz", "cloud remove", "'zzz' is not in the cloud"),
    ("import a missing archive", "cloud import {cloud} {root}/none.zip", "cloud import", "none.zip"),
    ("import garbage", "cloud import {cloud} {root}/junk.npz", "cloud import", "junk.npz"),
    ("add a range file as a fingerprint", "cloud add {cloud} {ranges}", "cloud add", "expected format"),
    ("create with a bad task name", "fingerprint create {root} --ranges {ranges} -o {root}/x.npz --name =evil",
     "fingerprint create", "--name"),
    ("create with a garbage range file", "fingerprint create {root} --ranges {root}/junk.npz -o {root}/x.npz "
     "--name ok", "fingerprint create", "junk.npz"),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_errors_are_one_line_naming_what_is_wrong(files, capsys, case):
    _, argv, command, needle = case
    assert main(argv.format(**{k: str(v) for k, v in files.items()}).split()) == 1
    H.assert_one_line_error(capsys.readouterr().err, command, needle)


#: options refused by argparse itself (exit 2) before anything is loaded or extracted
OPTION_CASES = [
    ("-n 0", "fingerprint create {root} --ranges {ranges} -o {root}/x.npz -n 0", "-n/--samples"),
    ("-n ten", "fingerprint ranges {root} -o {root}/r.npz -n ten", "-n/--samples"),
    ("--bins 0", "fingerprint create {root} --ranges {ranges} -o {root}/x.npz --bins 0", "--bins"),
    ("--bins 10**9", "fingerprint create {root} --ranges {ranges} -o {root}/x.npz --bins 1000000000", "--bins"),
    ("--batch-size 0 (was: range() arg 3 must not be zero)",
     "fingerprint ranges {root} -o {root}/r.npz --batch-size 0", "--batch-size"),
    ("--workers -1", "fingerprint ranges {root} -o {root}/r.npz --workers -1", "--workers"),
    ("-o is a folder", "fingerprint ranges {root} -o {root}", "-o/--output"),
    ("-o below a file", "fingerprint create {root} --ranges {ranges} -o {a}/x.npz", "-o/--output"),
    ("--quantiles 2 3", "fingerprint ranges {root} -o {root}/r.npz --quantiles 2 3", "--quantiles"),
    ("-k -1", "cloud query {cloud} {b} -k -1", "-k"),
    ("--csv is a folder", "cloud list {cloud} --csv {root}", "--csv"),
]


@pytest.mark.parametrize("case", OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_bad_options_fail_at_parse_time(files, capsys, monkeypatch, case):
    import taskfp_lib.fingerprints as fpkg

    monkeypatch.setattr(fpkg, "extract_features", lambda *a, **k: pytest.fail("extraction started"), raising=False)
    _, argv, option = case
    with pytest.raises(SystemExit) as exit_:
        main(argv.format(**{k: str(v) for k, v in files.items()}).split())
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and "Traceback" not in err


def test_quantiles_low_above_high_fail_before_extraction(files, capsys):
    assert main(["fingerprint", "ranges", str(files["root"]), "-o", str(files["root"] / "r.npz"),
                 "--quantiles", "0.9", "0.1"]) == 1
    H.assert_one_line_error(capsys.readouterr().err, "fingerprint ranges", "--quantiles")


def test_unexpected_exceptions_are_one_line_too(files, capsys, monkeypatch):
    from taskfp_lib.cli import build_parser

    parser_args = ["cloud", "list", str(files["cloud"])]
    assert build_parser().parse_args(parser_args)._prog == "taskfp cloud list"
    monkeypatch.setattr("taskfp_lib.cloud.KnowledgeCloud.list", lambda self: {}["missing"])
    assert main(parser_args) == 1
    line = H.assert_one_line_error(capsys.readouterr().err, "cloud list", "missing")
    assert "KeyError(" not in line
    monkeypatch.setattr("taskfp_lib.cloud.KnowledgeCloud.list", lambda self: None + 1)
    assert main(parser_args) == 1
    H.assert_one_line_error(capsys.readouterr().err, "cloud list", "unexpected TypeError", "TASKFP_TRACEBACK")
    monkeypatch.setenv("TASKFP_TRACEBACK", "1")
    with pytest.raises(TypeError):
        main(parser_args)


def test_data_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TASKFP_MANIFEST", str(tmp_path / "none.csv"))
    assert main(["data", "path", "cache/x.csv"]) == 1
    H.assert_one_line_error(capsys.readouterr().err, "data path", "none.csv")
    assert os.environ["TASKFP_MANIFEST"].endswith("none.csv")
