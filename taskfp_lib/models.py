"""The neural architectures of the paper (Supplementary Table 1)."""
from __future__ import annotations

import pandas as pd

#: the 20 candidate architectures of the Model Architecture scenario (timm names, paper order)
ARCHITECTURES: list[str] = [
    "tf_efficientnet_b2_ns", "swsl_resnet50", "resnest50d", "ecaresnet50d", "ssl_resnext50_32x4d",
    "tf_efficientnet_b2_ap", "tf_efficientnet_b2", "cspdarknet53", "cspresnext50", "cspresnet50",
    "ese_vovnet39b", "mixnet_l", "regnety_032", "regnetx_032", "res2net50_26w_4s", "rexnet_100",
    "tf_efficientnet_cc_b0_4e", "skresnet34", "hrnet_w18", "mobilenetv3_large_100",
]
#: the baseline architecture and fingerprint backbone
BASELINE_ARCHITECTURE = "resnet34"
#: timm's ImageNet result tables (2020 first, 2022 as the fallback), upstream paths
IMAGENET_RESULT_FILES = ("data/results-imagenet-b496b7bde9861b8736c6ef74c735313e20058252.csv",
                         "data/results-imagenet-960f5f92e645a8d02757bf32fa680499127d2c98.csv")


def backbone_parameter_count(name: str) -> int:
    """Parameters of a timm backbone without its classification head (``num_classes=0``)."""
    import warnings

    import timm

    with warnings.catch_warnings():  # deprecated model names still resolve; the paper uses them
        warnings.simplefilter("ignore")
        model = timm.create_model(name, pretrained=False, num_classes=0)
    return sum(p.numel() for p in model.parameters())


def imagenet_top1(names, paths=None) -> pd.Series:
    """ImageNet top-1 accuracy (%) of timm models from the first result table that lists them."""
    if paths is None:
        from .data import data_path

        paths = [data_path(p) for p in IMAGENET_RESULT_FILES]
    tables = [pd.read_csv(p, dtype={"param_count": str}).set_index("model") for p in paths]
    out = {}
    for name in names:
        for table in tables:
            if name in table.index:
                out[name] = float(table.loc[name, "top1"])
                break
        else:
            raise ValueError(f"{name}: not listed in the ImageNet result tables {[str(p) for p in paths]}")
    return pd.Series(out, name="imagenet_top1")


def architecture_table(names=None) -> pd.DataFrame:
    """Supplementary Table 1: timm_name, imagenet_top1, train_params_millions (measured)."""
    names = ARCHITECTURES + [BASELINE_ARCHITECTURE] if names is None else list(names)
    top1 = imagenet_top1(names)
    return pd.DataFrame({"timm_name": names, "imagenet_top1": top1.loc[names].to_numpy(),
                         "train_params_millions": [backbone_parameter_count(n) / 1e6 for n in names]})
