"""The numbers the paper prints (arXiv 2412.08763, v1), with where and at which precision.

Scenario-indexed values follow :data:`taskfp_lib.vocabulary.PAPER_SCENARIOS`. The comparison with
the reproduced results is :mod:`taskfp_lib.paper.comparison`.
"""
from __future__ import annotations

from ..vocabulary import PAPER_SCENARIOS

SCEN = list(PAPER_SCENARIOS)

FIRST_SHOT = dict(zip(SCEN, [67, 41, 58, 57]))
FIVE_SHOT = dict(zip(SCEN, [90, 75, 83, 84]))
RELATIVE_INCREASE = dict(zip(SCEN, [12, 57, 15, 2]))
STABILITY = {"meta_metric": 0.61, "metric": 0.32, "aggregate": 0.12, "target": 0.02, "scenario": 0.01}
TABLE3 = {("Model Architecture", "Pretraining Data"): (0.084, 0.147),
          ("Model Architecture", "Augmentation Policy"): (0.078, 0.141),
          ("Model Architecture", "Co-Training Data"): (0.052, 0.137),
          ("Pretraining Data", "Augmentation Policy"): (0.037, 0.164),
          ("Pretraining Data", "Co-Training Data"): (0.038, 0.136),
          ("Augmentation Policy", "Co-Training Data"): (-0.002, 0.140)}
TABLE4 = {  # selector -> (Arch, Pre, Aug, CoT, mean), Supplementary Table 4
    "FID": (15.02, 13.86, 12.60, 10.66, 13.03),
    "P2L": (15.21, 14.92, 13.66, 10.17, 13.49),
    "FED": (15.89, 15.21, 11.14, 12.79, 13.76),
    "VDNA": (13.66, 18.41, 16.09, 12.21, 15.09),
    "Manual": (20.64, 19.86, 11.34, 16.96, 17.20),
    "bKLD(small,target)": (14.53, 25.58, 23.84, 17.25, 20.30),
    "bKLD(large,unweighted)": (14.53, 25.39, 22.19, 20.64, 20.69),
    "bKLD(large,source)": (34.98, 19.86, 27.71, 32.66, 28.80),
}
TASK_STATS = {"num_samples": (170, 1572, 40673, 122138, 0), "num_classes": (2, 2, 5, 257, 0),
              "imbalance_ratios": (1, 1.34, 14.27, 171.33, 2)}  # min, q1, q3, max, decimals
TABLE1 = {  # timm name -> (ImageNet top-1 as printed, train params in millions, 1 decimal)
    "tf_efficientnet_b2_ns": ("82.38", 7.7), "swsl_resnet50": ("81.166", 23.5), "resnest50d": ("80.974", 25.4),
    "ecaresnet50d": ("80.592", 23.5), "ssl_resnext50_32x4d": ("80.318", 23.0), "tf_efficientnet_b2_ap": ("80.3", 7.7),
    "tf_efficientnet_b2": ("80.086", 7.7), "cspdarknet53": ("80.058", 26.6), "cspresnext50": ("80.04", 18.5),
    "cspresnet50": ("79.574", 20.6), "ese_vovnet39b": ("79.32", 23.5), "mixnet_l": ("78.976", 5.8),
    "regnety_032": ("78.886", 17.9), "regnetx_032": ("78.172", 14.3), "res2net50_26w_4s": ("77.964", 23.7),
    "rexnet_100": ("77.858", 3.5), "tf_efficientnet_cc_b0_4e": ("77.306", 12.0), "skresnet34": ("76.912", 21.8),
    "hrnet_w18": ("76.758", 19.3), "mobilenetv3_large_100": ("75.766", 4.2), "resnet34": ("75.11", 21.3),
}
#: cells of Supplementary Table 4 that the shipped cache reproduces only up to one of 1032 cases:
#: exact ties between selectors whose top-3 means differ in the last bit depending on summation order
TABLE4_KNOWN_ONE_CASE = {("P2L", "Pretraining Data"), ("P2L", "Co-Training Data"), ("FED", "Augmentation Policy"),
                         ("VDNA", "Co-Training Data")}




def _ids(first: int, last: int | None = None) -> tuple[str, ...]:
    return tuple(f"T{i:02d}" for i in range(first, (last or first) + 1))


#: Supplementary Table 2: dataset (as printed) -> (paper task ids, the paper's reference numbers)
TABLE2_DATASETS: dict[str, tuple[tuple[str, ...], str]] = {
    "Nerthus": (_ids(1), "51"), "HyperKvasir": (_ids(2, 5), "52"), "LapGyn4": (_ids(6, 9), "53, 54"),
    "Cholec80": (_ids(10, 16), "54"), "Stanford Dogs": (_ids(17), "2, 55"), "SVHN": (_ids(18), "56"),
    "Caltech101": (_ids(19), "57"), "Caltech256": (_ids(20), "58"), "CIFAR": (_ids(21, 22), "59"),
    "SKLIN2": (_ids(23), "60"), "Derm7pt": (_ids(24), "61"), "MNIST": (_ids(25), "62"), "EMNIST": (_ids(26), "63"),
    "NBI-InfFrames": (_ids(27), "64"), "Laryngeal Cancerous Tissues": (_ids(28), "65"),
    "CheXpert": (_ids(29, 41), "66"), "Zhang Chest X-Ray Images": (_ids(42), "67"),
    "Shenzen Hospital CXR Set": (_ids(43), "68"), "Kaggle COVID X-Ray Dataset": (_ids(44), "69"),
    "MURA": (_ids(45, 51), "70"), "ibean": (_ids(52), "71"), "CatRelComp": (_ids(53), "72"),
    "AIDA-E Barrett's Esophagus Diagnosis": (_ids(54), "73"), "Dataset of Breast Ultrasound Images": (_ids(55), "74"),
    "Kaggle Cataract Dataset": (_ids(56), "75"), "Kaggle Brain Tumor Classification": (_ids(57), "76"),
    "Brain Tumor Type Classification": (_ids(58), "77"), "COVID-CT-Dataset": (_ids(59), "78"),
    "MED-NODE": (_ids(60), "79"), "PH2": (_ids(61), "80"), "ISIC20": (_ids(62), "81, 82"),
    "DeepDRiD": (_ids(63, 67), "83"), "APTOS19": (_ids(68), "84"), "Kvasir-Capsule": (_ids(69, 71), "85"),
}
