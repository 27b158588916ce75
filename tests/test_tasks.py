import pytest

from taskfp_lib import tasks as T
from taskfp_lib.paper.recipes import task_pool_table
from taskfp_lib.upstream.readers import load_task_infos


def test_registry_sizes_and_order():
    assert len(T.DEV_TASKS) == 28 and len(T.VAL_TASKS) == 43 and len(T.ALL_TASKS) == 71
    assert len(set(T.ALL_TASKS)) == 71
    assert T.DEV_TASKS[0] == "lapgyn4_anatomical_structures" and T.VAL_TASKS[-1] == "aptos19_blindness_detection"
    assert len(T.SHRINKABLE_TASKS) == 56
    assert sum(t in T.DEV_TASKS for t in T.SHRINKABLE_TASKS) == 20
    assert len(T.ALL_TASKS_INCLUDING_SHRUNK) == 127
    assert sorted(T.PAPER_IDS.values()) == [f"T{i:02d}" for i in range(1, 72)]


@pytest.mark.parametrize("name", ["svhn", "chexpert_edema", "mednode_melanoma_classification"])
def test_shrink_names_round_trip(name):
    shrunk = T.shrunk_name(name)
    assert T.base_name(shrunk) == name
    assert T.to_old_style(T.to_new_style(shrunk)) == shrunk
    assert T.shrunk_name(shrunk) == shrunk  # idempotent
    if name in T.NON_SHRINKABLE:
        assert shrunk == name
    else:
        assert shrunk == name + " --shrink_train 800"
        assert T.to_new_style(shrunk) == name + "+shrink_train?800"


def test_valid_sources_rules():
    # validation target: pool = all 71 tasks minus itself and its image-sharing group (13 chexpert tasks)
    vs = T.valid_sources("chexpert_edema")
    assert len(vs) == 71 - 13 and not any(s.startswith("chexpert_") for s in vs)
    assert vs == [t for t in T.ALL_TASKS if t in vs]  # registry order
    # cholec80 group includes lapgyn4_instrument_count; dev targets only see dev sources
    vs = T.valid_sources("cholec80_hook_presence")
    assert "lapgyn4_instrument_count" not in vs and set(vs) <= set(T.DEV_TASKS) and len(vs) == 28 - 8
    # the xray pair excludes each other
    assert "covid_xray_classification" not in T.valid_sources("pneumonia_classification")
    assert len(T.valid_sources("svhn")) == 27
    assert T.valid_sources("svhn --shrink_train 800") == T.valid_sources("svhn")
    with pytest.raises(ValueError, match="unknown task"):
        T.valid_sources("not_a_task")


def test_domain_is_last_matching_tag():
    assert T.imaging_domain(["x_ray", "ct_scan", "medical"]) == "ct_scan"
    assert T.imaging_domain(["medical"]) is None
    assert T.domain_label("x_ray") == "X-ray" and T.domain_label("laparoscopy") == "laparoscopy"


def test_task_infos_and_pool(task_infos):
    assert len(task_infos) == 71 and set(task_infos.index) == set(T.ALL_TASKS)
    pool = task_pool_table(task_infos)
    assert pool["medical"].sum() == 62
    assert pool.loc[~pool["domain"].isin(["natural images", "handwritings"]), "domain"].nunique() == 12
    assert T.development_targets(task_infos) == [t for t in T.DEV_TASKS if task_infos.loc[t, "num_classes"] < 40]
    assert len(T.development_targets(task_infos)) == 23


def test_transformed_infos_are_zscored(task_infos):
    z = T.transformed_task_infos(task_infos)
    assert z.mean().abs().max() < 1e-12
    assert (z.std(ddof=0) - 1).abs().max() < 1e-12
    # Box-Cox and z-score are monotone: ranks are preserved
    assert (z["num_samples"].rank() == task_infos["num_samples"].rank()).all()


def test_bad_task_infos_file(tmp_path):
    bad = tmp_path / "infos.csv"
    bad.write_text(",name,num_classes\n0,a,2\n")
    with pytest.raises(ValueError, match="infos.csv: task infos lack"):
        load_task_infos(bad)
    bad.write_text(",name,num_classes,num_samples,keywords,dimensions,imbalance_ratios\n0,a,2,3,__import__('os'),1,1\n")
    with pytest.raises(ValueError, match="not a list literal"):
        load_task_infos(bad)
