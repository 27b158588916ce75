"""The neural architectures of the paper (Supplementary Table 1).

ImageNet top-1 accuracy from timm's result tables (the 2020 table, the 2022 one for models it does
not list); trainable backbone parameters measured by instantiating the timm models without their
classification head (no weights are downloaded).
"""
from __future__ import annotations

import pandas as pd

from ..upstream.readers import read_imagenet_results
from ..vocabulary import ARCHITECTURES, BASELINE_ARCHITECTURE


def backbone_parameter_count(name: str) -> int:
    """Parameters of a timm backbone without its classification head (``num_classes=0``)."""
    import warnings

    with warnings.catch_warnings():  # deprecated model names still resolve (the paper uses them), and timm's
        warnings.simplefilter("ignore")  # import of tqdm.auto warns in a notebook without ipywidgets
        import timm

        model = timm.create_model(name, pretrained=False, num_classes=0)
    return sum(p.numel() for p in model.parameters())


def imagenet_top1(names, paths=None) -> pd.Series:
    """ImageNet top-1 accuracy (%) of timm models from the first result table that lists them."""
    tables = read_imagenet_results(paths)
    out = {}
    for name in names:
        for table in tables:
            if name in table.index:
                out[name] = float(table.loc[name, "top1"])
                break
        else:
            raise ValueError(f"{name}: not listed in the ImageNet result tables")
    return pd.Series(out, name="imagenet_top1")


def architecture_table(names=None) -> pd.DataFrame:
    """Supplementary Table 1: timm_name, imagenet_top1, train_params_millions (measured)."""
    names = list(ARCHITECTURES) + [BASELINE_ARCHITECTURE] if names is None else list(names)
    top1 = imagenet_top1(names)
    return pd.DataFrame({"timm_name": names, "imagenet_top1": top1.loc[names].to_numpy(),
                         "train_params_millions": [backbone_parameter_count(n) / 1e6 for n in names]})
