"""The task registry of the paper: development/validation tasks, shrunk variants, valid sources.

Pure data and functions, no file I/O (the task metadata are read by
:func:`taskfp_lib.upstream.readers.load_task_infos`). All lists follow the order of the authors'
task registry (Fig. 3; Supplementary Table 2 maps datasets to the paper ids T01-T71); the order
matters for the evaluation table and for the tie-breakers of the Manual selector.
"""
from __future__ import annotations

from functools import lru_cache

import pandas as pd

#: development ("train") tasks, registry order
DEV_TASKS: list[str] = [
    "lapgyn4_anatomical_structures", "lapgyn4_surgical_actions", "lapgyn4_instrument_count",
    "lapgyn4_anatomical_actions", "sklin2_skin_lesions", "identify_nbi_infframes", "laryngeal_tissues",
    "nerthus_bowel_cleansing_quality", "stanford_dogs_image_categorization", "svhn",
    "caltech101_object_classification", "caltech256_object_classification", "cifar10_object_classification",
    "cifar100_object_classification", "mnist_digit_classification", "emnist_digit_classification",
    "hyperkvasir_anatomical-landmarks", "hyperkvasir_pathological-findings",
    "hyperkvasir_quality-of-mucosal-views", "hyperkvasir_therapeutic-interventions",
    "cholec80_grasper_presence", "cholec80_bipolar_presence", "cholec80_hook_presence",
    "cholec80_scissors_presence", "cholec80_clipper_presence", "cholec80_irrigator_presence",
    "cholec80_specimenbag_presence", "derm7pt_skin_lesions",
]

#: validation ("test") tasks, registry order
VAL_TASKS: list[str] = [
    "idle_action_recognition", "barretts_esophagus_diagnosis", "brain_tumor_classification",
    "mednode_melanoma_classification", "brain_tumor_type_classification", "chexpert_enlarged_cardiomediastinum",
    "chexpert_cardiomegaly", "chexpert_lung_opacity", "chexpert_lung_lesion", "chexpert_edema",
    "chexpert_consolidation", "chexpert_pneumonia", "chexpert_atelectasis", "chexpert_pneumothorax",
    "chexpert_pleural_effusion", "chexpert_pleural_other", "chexpert_fracture", "chexpert_support_devices",
    "pneumonia_classification", "ph2-melanocytic-lesions-classification", "covid_xray_classification",
    "isic20_melanoma_classification", "deep_drid_dr_level", "shenzen_chest_xray_tuberculosis",
    "crawled_covid_ct_classification", "deep_drid_quality", "deep_drid_clarity", "deep_drid_field",
    "deep_drid_artifact", "kvasir_capsule_anatomy", "kvasir_capsule_content", "kvasir_capsule_pathologies",
    "breast_cancer_classification_v2", "eye_condition_classification", "mura_xr_wrist", "mura_xr_shoulder",
    "mura_xr_humerus", "mura_xr_hand", "mura_xr_forearm", "mura_xr_finger", "mura_xr_elbow",
    "bean_plant_disease_classification", "aptos19_blindness_detection",
]

ALL_TASKS: list[str] = DEV_TASKS + VAL_TASKS

#: paper ids (Supplementary Table 2), used for plot labels only
PAPER_IDS: dict[str, str] = dict(zip(
    ALL_TASKS,
    [f"T{i:02d}" for i in (6, 7, 8, 9, 23, 27, 28, 1, 17, 18, 19, 20, 21, 22, 25, 26, 2, 3, 4, 5,
                           10, 11, 12, 13, 14, 15, 16, 24,
                           53, 54, 57, 60, 58, 38, 39, 40, 41, 37, 29, 30, 31, 32, 33, 34, 35, 36, 42, 61, 44,
                           62, 63, 43, 59, 64, 65, 66, 67, 69, 70, 71, 55, 56, 45, 46, 47, 48, 49, 50, 51, 52, 68)],
))

#: tasks with <= 1000 samples or >= 40 classes: never shrunk (Methods, "Data"; the code also keeps >= 40 classes)
NON_SHRINKABLE: frozenset[str] = frozenset({
    "sklin2_skin_lesions", "identify_nbi_infframes", "stanford_dogs_image_categorization",
    "caltech101_object_classification", "caltech256_object_classification", "cifar100_object_classification",
    "emnist_digit_classification", "derm7pt_skin_lesions", "barretts_esophagus_diagnosis",
    "mednode_melanoma_classification", "ph2-melanocytic-lesions-classification",
    "shenzen_chest_xray_tuberculosis", "crawled_covid_ct_classification", "breast_cancer_classification_v2",
    "eye_condition_classification",
})

SHRINK_SUFFIX = " --shrink_train 800"
NEW_STYLE_SHRINK_SUFFIX = "+shrink_train?800"

SHRINKABLE_TASKS: list[str] = [t for t in ALL_TASKS if t not in NON_SHRINKABLE]
ALL_TASKS_INCLUDING_SHRUNK: list[str] = ALL_TASKS + [t + SHRINK_SUFFIX for t in SHRINKABLE_TASKS]

#: groups of tasks that share images and therefore exclude each other as sources (Methods, "Validation of
#: knowledge transfer quality"; the code also groups lapgyn4_instrument_count and the two X-ray tasks)
TASK_GROUPS: dict[str, frozenset[str]] = {
    "chexpert": frozenset(t for t in ALL_TASKS if t.startswith("chexpert_")),
    "cholec80": frozenset([t for t in ALL_TASKS if t.startswith("cholec80_")] + ["lapgyn4_instrument_count"]),
    "deep_drid": frozenset(t for t in ALL_TASKS if t.startswith("deep_drid_")),
    "xray": frozenset({"pneumonia_classification", "covid_xray_classification"}),
}

#: the 14 imaging-domain tags of Fig. 3; the LAST one contained in a task's keywords wins
DOMAIN_TAGS: tuple[str, ...] = (
    "dermatoscopy", "laryngoscopy", "gastroscopy_colonoscopy", "laparoscopy", "natural_objects", "handwritings",
    "cataract_surgery", "fundus_photography", "mri_scan", "x_ray", "ct_scan", "confocal laser endomicroscopy",
    "ultrasound", "capsule endoscopy",
)
DOMAIN_DISPLAY: dict[str, str] = {
    "cataract_surgery": "ophthalmic microscopy", "ct_scan": "CT", "fundus_photography": "fundus photography",
    "gastroscopy_colonoscopy": "gastro & colonoscopy", "mri_scan": "MRI", "natural_objects": "natural images",
    "x_ray": "X-ray",
}

TASK_INFO_PROPERTIES = ("num_classes", "num_samples", "imbalance_ratios", "dimensions", "max_resolution",
                        "min_resolution")


def _check_known(task: str) -> None:
    if task not in _ALL_SET:
        raise ValueError(f"unknown task {task!r}: not one of the paper's 71 tasks")


_ALL_SET = frozenset(ALL_TASKS)


def base_name(name: str) -> str:
    """The base task of a (possibly shrunk) task name, in either tag style."""
    for suffix in (SHRINK_SUFFIX, NEW_STYLE_SHRINK_SUFFIX):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_shrinkable(task: str) -> bool:
    """Whether a shrunk variant (800 training images) of ``task`` exists."""
    return base_name(task) not in NON_SHRINKABLE


def shrunk_name(task: str) -> str:
    """The shrink map: ``task --shrink_train 800`` for shrinkable tasks, else ``task``."""
    task = base_name(task)
    return task + SHRINK_SUFFIX if is_shrinkable(task) else task


def to_new_style(name: str) -> str:
    """``t --shrink_train 800`` -> ``t+shrink_train?800`` (the style of feature folders)."""
    return base_name(name) + NEW_STYLE_SHRINK_SUFFIX if name.endswith(SHRINK_SUFFIX) else name


def to_old_style(name: str) -> str:
    """``t+shrink_train?800`` -> ``t --shrink_train 800`` (the style of every published CSV)."""
    return base_name(name) + SHRINK_SUFFIX if name.endswith(NEW_STYLE_SHRINK_SUFFIX) else name


def task_group(task: str) -> str | None:
    """Name of the image-sharing group of ``task`` (or None)."""
    task = base_name(task)
    for name, members in TASK_GROUPS.items():
        if task in members:
            return name
    return None


@lru_cache(maxsize=None)
def _valid_sources(target: str) -> tuple[str, ...]:
    _check_known(target)
    pool = DEV_TASKS if target in DEV_TASKS else ALL_TASKS
    group = task_group(target)
    excluded = TASK_GROUPS[group] if group else frozenset()
    return tuple(t for t in pool if t != target and t not in excluded)


def valid_sources(target: str) -> list[str]:
    """Valid source tasks of a target, in registry order.

    The pool is the development tasks for a development target and all 71 tasks otherwise; the target
    itself and every member of its image-sharing group are removed.
    """
    return list(_valid_sources(base_name(target)))


def development_targets(task_infos: pd.DataFrame) -> list[str]:
    """Targets of the development phase: the development tasks with fewer than 40 classes."""
    return [t for t in DEV_TASKS if task_infos.loc[t, "num_classes"] < 40]


def transformed_task_infos(task_infos: pd.DataFrame, columns=TASK_INFO_PROPERTIES) -> pd.DataFrame:
    """Box-Cox (lambda by maximum likelihood) then z-scoring (population std) of each property (Fig. 3)."""
    from scipy import stats

    out = pd.DataFrame(index=task_infos.index)
    for col in columns:
        transformed, _ = stats.boxcox(task_infos[col].to_numpy(dtype=float))
        out[col] = (transformed - transformed.mean()) / transformed.std(ddof=0)
    return out


def imaging_domain(keywords) -> str | None:
    """The imaging-domain tag of a task: the last of :data:`DOMAIN_TAGS` contained in its keywords."""
    found = None
    for tag in DOMAIN_TAGS:
        if tag in keywords:
            found = tag
    return found


def domain_label(tag: str | None) -> str | None:
    """Display name of a domain tag (Fig. 3)."""
    return None if tag is None else DOMAIN_DISPLAY.get(tag, tag)
