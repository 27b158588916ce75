"""The numbers the seed paper prints (arXiv 2412.08763, v1), with where and at which precision.

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

#: study-design counts and method constants the paper prints: (quantity, where, printed value)
COUNTS = (
    ("tasks in the pool", "Abstract; Results; Fig. 3 caption; Methods - Data", 71),
    ("development tasks", "Results; Fig. 3 caption", 28),
    ("validation tasks", "Results; Fig. 3, 4, 6 captions", 43),
    ("medical imaging modalities", "Abstract; Methods - Data", 12),
    ("tasks from the medical domain", "Methods - Data", 62),
    ("knowledge-transfer scenarios", "Results; Fig. 1 caption", 4),
    ("base metrics (BA, AUROC)", "Methods - Validation metrics; Fig. 5 caption", 2),
    ("repetitions of every transfer", "Results; Fig. 4 caption", 3),
    ("candidate architectures", "Methods - Scenario 1; Supplementary Table 1", 20),
    ("setups per scenario and meta metric in Fig. 5 / Supp. Fig. 1", "Fig. 5 and Supp. Fig. 1 captions", 258),
    ("cases per scenario in Supplementary Table 4", "Supplementary Table 4 caption", 1032),
    ("bootstrap samples", "Fig. 5 and Supp. Fig. 1 captions", 1000),
    ("subplots of Fig. 5", "Fig. 5 caption", 16),
    ("suggestions averaged per setup (top k)", "Fig. 5, Supp. Table 4, Supp. Fig. 1 captions", 3),
    ("largest number of shots in Fig. 4", "Results; Fig. 4 caption", 5),
    ("resamplings per sample size in Fig. 6", "Fig. 6 caption", 10),
    ("bKLD variants in Fig. 6", "Fig. 6 caption", 3),
    ("images per fingerprint", "Fig. 2 caption; Methods - Task fingerprinting", 10000),
    ("smallest fingerprint sample size in Fig. 6", "Results - robust; Fig. 6 caption", 10),
    ("bins of the small fingerprint", "Fig. 2 caption; Methods - Task fingerprinting", 100),
    ("bins of the large fingerprints", "Methods - Task fingerprinting", 1000),
)
#: "improves training for up to 90% of validation tasks" (Fig. 4 caption): the largest five-shot fraction
UP_TO_FIVE_SHOT = 90
#: expected percentile of the best of 3 random suggestions (Results - robust), 2 decimals
RANDOM_BEST_OF_3 = 0.75
#: "sources around the 88th percentile" for Pretraining Data in Fig. 6 (Results - robust)
FIG6_PRETRAINING = 0.88


