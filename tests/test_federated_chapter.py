"""The chapter's pieces: bundled medical demo tasks as clients, the fingerprint route with the MIM
encoder as probe, and the summary statistics (known numbers)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from taskfp_lib.federated.config import FedConfig
from taskfp_lib.federated.data import ClientData, load_client, load_unlabelled
from taskfp_lib.federated.recipe import paired_tests, sharing_table, stage_summary

CFG = FedConfig(image_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, ft_epochs=1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from taskfp_lib.imaging import build_demo_tasks

    paths = build_demo_tasks(tmp_path_factory.mktemp("demo"), seed=0, image_size=32, per_class=8,
                             tasks=["ct_region", "mr_brain_slab", "us_exam"], pool_fraction=0.3)
    return ([str(p) for k, p in paths.items() if not k.startswith("pool/")],
            [str(p) for k, p in paths.items() if k.startswith("pool/")])


def test_dicom_nifti_and_png_demo_tasks_become_clients_and_the_pool_is_disjoint(demo):
    tasks, pools = demo
    clients = [load_client(t, CFG) for t in tasks]
    assert [c.name for c in clients] == ["ct_region", "mr_brain_slab", "us_exam"]
    for c in clients:
        assert c.x_train.shape[1:] == (32, 32, 3) and c.x_train.dtype == np.uint8
        assert len(c.y_test) == 2 * c.num_classes  # 25 % of 8 per class
        assert set(c.y_train) == set(range(c.num_classes))
    pool = load_unlabelled(pools, 32)
    client_images = {img.tobytes() for c in clients for img in np.concatenate([c.x_train, c.x_test])}
    assert len(pool) > 0 and not {img.tobytes() for img in pool} & client_images


def test_the_fingerprint_route_selects_a_twin_task(demo):
    from taskfp_lib.federated.compare import MIMProbe, fingerprint_clients, fingerprint_nbytes, select_sources
    from taskfp_lib.federated.mim import create_encoder, encoder_state

    tasks, pools = demo
    clients = [load_client(t, CFG) for t in tasks]
    ct = clients[0]
    twin = ClientData("ct_twin", ct.classes, ct.x_train[::-1].copy(), ct.y_train[::-1].copy(), ct.x_test, ct.y_test)
    probe = MIMProbe(encoder_state(create_encoder(CFG, seed=1)), CFG)
    assert probe.identity["weights"].startswith("sha256:") and probe.identity["feature_dim"] == 32
    fps, ranges = fingerprint_clients(probe, clients + [twin], load_unlabelled(pools, 32), n=200, seed=0)
    assert ranges.extractor == probe.identity
    chosen = select_sources(fps).set_index("target")
    assert chosen.loc["ct_region", "source"] == "ct_twin" and chosen.loc["ct_twin", "source"] == "ct_region"
    assert (chosen.source != chosen.index).all() and (chosen.distance >= 0).all()
    size = fingerprint_nbytes(fps[0])
    assert 1000 < size < 10_000_000 and fingerprint_nbytes(fps[0]) == size  # reproducible (results file)


def _stages(gains: dict[tuple[int, str], list[float]]) -> pd.DataFrame:
    rows = []
    for (seed, task), values in gains.items():
        for stage, gain in enumerate([0.0] + values):
            rows.append({"seed": seed, "stage": stage, "task": task, "accuracy": 0.5 + gain, "gain": gain,
                         "trained": False})
    return pd.DataFrame(rows)


def test_stage_summary_and_paired_tests_reproduce_known_numbers():
    stages = _stages({(0, "a"): [0.1, 0.2], (0, "b"): [0.3, 0.0], (1, "a"): [0.0, 0.4], (1, "b"): [0.1, 0.2]})
    summary = stage_summary(stages).set_index("stage")
    assert summary.loc[1, "mean_gain"] == pytest.approx(0.125)
    assert summary.loc[1, "sd_over_seeds"] == pytest.approx(np.std([0.2, 0.05], ddof=1))
    assert summary.loc[2, "n_seeds"] == 2 and summary.loc[2, "n_tasks"] == 2
    comparison = pd.DataFrame({"seed": [0, 0, 1, 1], "target": ["a", "b", "a", "b"],
                               "fingerprint_accuracy": [0.6, 0.7, 0.8, 0.5], "federated_accuracy": [0.7, 0.6, 0.9, 0.5],
                               "fingerprint_bytes": [10, 10, 10, 10], "federated_upload_bytes": [40, 40, 40, 40]})
    tests = paired_tests(stages, comparison).set_index("comparison")
    final = tests.iloc[0]
    assert final.n == 2 and final.mean_difference == pytest.approx(np.mean([0.3, 0.1]))
    assert final.wilcoxon_p == pytest.approx(stats.wilcoxon([0.3, 0.1], method="exact").pvalue)
    assert final.t_p == pytest.approx(stats.ttest_rel([0.8, 0.6], [0.5, 0.5]).pvalue)
    fed_vs_fp = tests.iloc[1]
    assert fed_vs_fp.mean_difference == pytest.approx(np.mean([0.1, -0.05]))
    table = sharing_table(comparison).set_index("approach")
    assert table["bytes per site"].tolist() == [40.0, 10.0]
