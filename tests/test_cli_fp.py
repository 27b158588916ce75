"""The paper's workflow from the command line: ranges -> fingerprint -> cloud add/list/query/export/import."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np
import pandas as pd
import pytest

from taskfp_lib.cli import main
from taskfp_lib.cloud import KnowledgeCloud
from taskfp_lib.fingerprints import Fingerprint, ReferenceRanges, write_image_folder

EXTRACTOR = ["--model", "test_resnet", "--random-init", "--image-size", "32", "--batch-size", "32"]


@pytest.fixture(scope="module")
def task_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    rng = np.random.default_rng(0)
    dirs = {}
    for name, bright in [("dark", 40), ("bright", 200), ("darkish", 60)]:
        imgs = [(rng.random((16, 16)) * 50 + bright).clip(0, 255).astype(np.uint8) for _ in range(20)]
        labels = [i % 2 for i in range(20)]
        dirs[name] = write_image_folder(root / name, imgs, labels)
    return dirs


@pytest.fixture(scope="module")
def workflow(task_dirs, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    ranges = out / "ranges.npz"
    assert main(["fingerprint", "ranges", str(task_dirs["dark"]), str(task_dirs["bright"]), "-o", str(ranges),
                 "-n", "120", "--quiet", *EXTRACTOR]) == 0
    fps = {}
    for name, d in task_dirs.items():
        fps[name] = out / f"{name}.npz"
        # the extractor is taken from the range file (random init, test_resnet, 32 px)
        assert main(["fingerprint", "create", str(d), "--ranges", str(ranges), "-o", str(fps[name]),
                     "-n", "120", "--bins", "10", "100", "--quiet"]) == 0
    return out, ranges, fps


def test_help_reads_like_the_workflow(capsys):
    with pytest.raises(SystemExit):
        main(["fingerprint", "--help"])
    text = capsys.readouterr().out
    assert "taskfp fingerprint ranges" in text and "taskfp fingerprint create" in text and "never a per-image" in text
    with pytest.raises(SystemExit):
        main(["cloud", "--help"])
    text = capsys.readouterr().out
    for op in ("init", "add", "list", "query", "export", "import", "remove"):
        assert f"taskfp cloud {op}" in text


def test_fingerprint_files_are_valid_and_seeded(workflow, task_dirs, capsys):
    out, ranges, fps = workflow
    r = ReferenceRanges.load(ranges)
    fp = Fingerprint.load(fps["dark"])
    assert fp.ranges_sha256 == r.sha256 and fp.n_samples == 120 and fp.bins == (10, 100)
    assert fp.extractor["name"] == "test_resnet" and fp.extractor["weights"].startswith("random-init")
    again = out / "dark_again.npz"
    assert main(["fingerprint", "create", str(task_dirs["dark"]), "--ranges", str(ranges), "-o", str(again),
                 "-n", "120", "--bins", "10", "100", "--quiet"]) == 0
    np.testing.assert_allclose(Fingerprint.load(again).histogram(100), fp.histogram(100), atol=1e-12)
    capsys.readouterr()
    assert main(["fingerprint", "info", str(fps["dark"]), str(ranges)]) == 0
    text = capsys.readouterr().out
    assert '"kind": "fingerprint"' in text and '"kind": "reference-ranges"' in text and r.sha256 in text


def test_distance_command_writes_published_layout(workflow):
    out, _, fps = workflow
    csv = out / "KLD-PP:NS-W:TS-100-BINS.csv"
    assert main(["fingerprint", "distance", *map(str, fps.values()), "-o", str(csv)]) == 0
    D = pd.read_csv(csv, index_col=0)
    assert list(D.index) == list(D.columns) == ["dark", "bright", "darkish"]
    assert (np.diag(D.to_numpy()) == 0).all() and (D.to_numpy() >= 0).all()


def test_cloud_workflow(workflow, tmp_path, capsys):
    out, _, fps = workflow
    cloud = tmp_path / "cloud"
    assert main(["cloud", "init", str(cloud)]) == 0
    assert main(["cloud", "add", str(cloud), str(fps["dark"]), "--best-architecture", "resnet50",
                 "--augmentation-policy", "policies/dark.json", "--data-shareable"]) == 0
    assert main(["cloud", "add", str(cloud), str(fps["bright"]), "--best-architecture", "vit_small"]) == 0
    capsys.readouterr()
    assert main(["cloud", "list", str(cloud)]) == 0
    listing = capsys.readouterr().out
    assert "resnet50" in listing and "vit_small" in listing
    ranking_csv = tmp_path / "ranking.csv"
    assert main(["cloud", "query", str(cloud), str(fps["darkish"]), "-k", "2", "--distance", "VDNA-PP:NN-100-BINS",
                 "--csv", str(ranking_csv)]) == 0
    ranking = pd.read_csv(ranking_csv)
    assert ranking["source"].tolist() == ["dark", "bright"]          # darker images are closer
    direct = KnowledgeCloud(cloud).query(Fingerprint.load(fps["darkish"]), distance="VDNA-PP:NN-100-BINS", k=2)
    np.testing.assert_array_equal(ranking["distance"].to_numpy(), direct["distance"].to_numpy())
    archive = tmp_path / "share.zip"
    assert main(["cloud", "export", str(cloud), str(archive)]) == 0
    other = tmp_path / "other"
    assert main(["cloud", "init", str(other)]) == 0
    assert main(["cloud", "import", str(other), str(archive)]) == 0
    assert KnowledgeCloud(other).names == ["dark", "bright"]
    assert main(["cloud", "remove", str(other), "dark"]) == 0
    assert KnowledgeCloud(other).names == ["bright"]
    capsys.readouterr()
    # errors are reported, not raised
    assert main(["cloud", "remove", str(other), "dark"]) == 1
    assert "not in the cloud" in capsys.readouterr().err
    assert main(["cloud", "query", str(cloud), str(fps["darkish"]), "--distance", "Sinkhorn Divergence"]) == 1
    assert "per-image features" in capsys.readouterr().err
    assert main(["cloud", "list", str(tmp_path / "nowhere")]) == 1


def test_checkpoint_extractor_round_trip(task_dirs, tmp_path, capsys):
    import torch

    from taskfp_lib.fingerprints import FeatureExtractor

    ckpt = tmp_path / "probe.pt"
    torch.save(FeatureExtractor("test_resnet", pretrained=False, init_seed=9, image_size=32).net.state_dict(), ckpt)
    ranges = tmp_path / "ranges.npz"
    assert main(["fingerprint", "ranges", str(task_dirs["dark"]), "-o", str(ranges), "-n", "120", "--quiet",
                 "--model", "test_resnet", "--checkpoint", str(ckpt), "--image-size", "32"]) == 0
    assert ReferenceRanges.load(ranges).extractor["weights"].startswith("file:sha256:")
    capsys.readouterr()
    out = tmp_path / "fp.npz"
    # the range file belongs to a checkpoint: creating without it is an error that says what to do
    assert main(["fingerprint", "create", str(task_dirs["bright"]), "--ranges", str(ranges), "-o", str(out),
                 "-n", "120", "--quiet"]) == 1
    assert "--checkpoint" in capsys.readouterr().err
    assert main(["fingerprint", "create", str(task_dirs["bright"]), "--ranges", str(ranges), "-o", str(out),
                 "-n", "120", "--bins", "10", "--quiet", "--checkpoint", str(ckpt)]) == 0
    assert Fingerprint.load(out).ranges_sha256 == ReferenceRanges.load(ranges).sha256
    assert not out.with_suffix(".npz.tmp").exists()


def test_version_and_labelled_matrices_with_probe_warning(workflow, tmp_path, capsys):
    from taskfp_lib import __version__

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"taskfp {__version__}"
    out, _, fps = workflow
    assert main(["fingerprint", "distance", *map(str, fps.values())]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith("WARNING: random probe") and "rows are sources, columns are targets" in lines[1]
    assert "asymmetric" in lines[1] and "target" in lines[2] and lines[3].startswith("source")
    cloud = tmp_path / "cloud"
    assert main(["cloud", "init", str(cloud)]) == 0
    assert main(["cloud", "add", str(cloud), str(fps["dark"]), str(fps["bright"])]) == 0
    capsys.readouterr()
    assert main(["cloud", "query", str(cloud), str(fps["darkish"]), "-k", "1", "--distance", "VDNA-PP:NN-100-BINS"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("WARNING: random probe") and "target 'darkish'" in text
    assert "margin between rank 1 and rank 2" in text


def test_ranges_writes_fingerprints_from_the_same_features_and_self_checks(task_dirs, workflow, tmp_path, capsys):
    out, _, fps = workflow
    ranges, fp_dir = tmp_path / "ranges.npz", tmp_path / "fps"
    assert main(["fingerprint", "ranges", str(task_dirs["dark"]), str(task_dirs["bright"]), "-o", str(ranges),
                 "-n", "120", "--quiet", "--fingerprints", str(fp_dir), "--bins", "10", "100", "--self-check",
                 "--check-distances", "VDNA-PP:NN-100-BINS", *EXTRACTOR]) == 0
    text = capsys.readouterr().out
    # the same range file and the same fingerprints as ranges + create (same seed, same draws)
    assert ReferenceRanges.load(ranges).sha256 == ReferenceRanges.load(out / "ranges.npz").sha256
    np.testing.assert_array_equal(Fingerprint.load(fp_dir / "dark.npz").histogram(100),
                                  Fingerprint.load(fps["dark"]).histogram(100))
    assert "WARNING: random probe" in text and "self-check: the re-sampled copy was nearest" in text
    assert text.count("VDNA") == 2 and "copy_nearest" in text
    assert main(["fingerprint", "create", str(task_dirs["dark"]), "--ranges", str(ranges), "-o",
                 str(tmp_path / "x.npz"), "-n", "120", "--quiet", "--self-check"]) == 1
    assert "--against" in capsys.readouterr().err


@pytest.fixture(scope="module")
def mim_encoder(tmp_path_factory):
    """A MIM encoder file as `taskfp federated pretrain` writes it (seeded initialisation, no training)."""
    from taskfp_lib.federated.config import FedConfig
    from taskfp_lib.federated.mim import create_encoder, encoder_state
    from taskfp_lib.federated.weights import MIM_FORMAT, save_checkpoint

    cfg = FedConfig(image_size=16, patch_size=8, embed_dim=16, depth=1, num_heads=2)
    path = tmp_path_factory.mktemp("mim") / "mim.safetensors"
    save_checkpoint(path, encoder_state(create_encoder(cfg, seed=3)), {"format": MIM_FORMAT, "config": cfg.to_dict()})
    return path, cfg


def test_mim_encoder_is_an_offline_alternative_probe_that_says_so(mim_encoder, task_dirs, tmp_path, capsys):
    from taskfp_lib.fingerprints import probe_status

    path, cfg = mim_encoder
    ranges, fp = tmp_path / "ranges.npz", tmp_path / "dark.npz"
    assert main(["fingerprint", "ranges", str(task_dirs["dark"]), str(task_dirs["bright"]), "-o", str(ranges),
                 "-n", "120", "--quiet", "--mim-encoder", str(path)]) == 0
    r = ReferenceRanges.load(ranges)
    assert r.extractor["name"].startswith("vit-mim(s=16,p=8,d=1,w=16") and r.extractor["feature_dim"] == 16
    # the range file names its probe: create without --mim-encoder is refused, with it the fingerprint is made
    assert main(["fingerprint", "create", str(task_dirs["darkish"]), "--ranges", str(ranges), "-o", str(fp),
                 "-n", "120", "--quiet"]) == 1
    assert "pass it with --mim-encoder PATH" in capsys.readouterr().err
    assert main(["fingerprint", "create", str(task_dirs["darkish"]), "--ranges", str(ranges), "-o", str(fp),
                 "-n", "120", "--quiet", "--mim-encoder", str(path)]) == 0
    loaded = Fingerprint.load(fp)
    assert probe_status(loaded) == "mim" and loaded.probe["source"] == "mim-encoder"
    assert (loaded.mean >= 0).all()  # mean of ReLU(tokens): the distances' feature weights are non-negative
    fp2 = tmp_path / "bright.npz"
    assert main(["fingerprint", "create", str(task_dirs["bright"]), "--ranges", str(ranges), "-o", str(fp2),
                 "-n", "120", "--quiet", "--mim-encoder", str(path)]) == 0
    capsys.readouterr()
    assert main(["fingerprint", "distance", str(fp), str(fp2)]) == 0
    out = capsys.readouterr().out
    assert "note: alternative probe, a MIM encoder" in out and "not the paper's" in out


def test_mim_encoder_refusals_are_one_line(mim_encoder, task_dirs, tmp_path, capsys):
    from taskfp_lib.federated.config import FedConfig
    from taskfp_lib.federated.mim import create_encoder, encoder_state
    from taskfp_lib.federated.weights import MIM_FORMAT, save_checkpoint

    path, cfg = mim_encoder
    other = tmp_path / "other.safetensors"  # a MIM file whose config does not fit its weights
    save_checkpoint(other, encoder_state(create_encoder(cfg, seed=3)),
                    {"format": MIM_FORMAT, "config": cfg.replace(embed_dim=32).to_dict()})
    foreign = tmp_path / "foreign.safetensors"
    save_checkpoint(foreign, encoder_state(create_encoder(cfg, seed=3)), {"format": "something-else"})
    base = ["fingerprint", "ranges", str(task_dirs["dark"]), "-o", str(tmp_path / "r.npz"), "-n", "120", "--quiet"]
    for args, expected in [(["--mim-encoder", str(foreign)], "not a MIM encoder written by taskfp federated pretrain"),
                           (["--mim-encoder", str(other)], "MIM encoder does not fit its field 'config'"),
                           (["--mim-encoder", str(path), "--random-init"], "--mim-encoder sets the probe; drop "
                                                                            "--random-init")]:
        assert main(base + args) == 1
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, err
    # a range file of one encoder refuses fingerprints made with another (same sizes, other weights)
    ranges, seed4 = tmp_path / "ranges.npz", tmp_path / "seed4.safetensors"
    save_checkpoint(seed4, encoder_state(create_encoder(cfg, seed=4)), {"format": MIM_FORMAT, "config": cfg.to_dict()})
    assert main(["fingerprint", "ranges", str(task_dirs["dark"]), "-o", str(ranges), "-n", "120", "--quiet",
                 "--mim-encoder", str(path)]) == 0
    capsys.readouterr()
    assert main(["fingerprint", "create", str(task_dirs["bright"]), "--ranges", str(ranges), "-o",
                 str(tmp_path / "b.npz"), "-n", "120", "--quiet", "--mim-encoder", str(seed4)]) == 1
    err = capsys.readouterr().err.strip()
    assert "the reference ranges belong to extractor" in err and len(err.splitlines()) == 1, err
