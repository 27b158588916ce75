"""The transfer scenarios' plug-ins, one module each; importing this package registers every module in it.

* :mod:`.baseline`: the single-task baseline (no record; every grid runs it).
* :mod:`.arch`: Model Architecture (Scenario 1).
* :mod:`.pretrain`: Pretraining Data (Scenario 2).
* :mod:`.augmentation`: Augmentation Policy (Scenario 3).
* :mod:`.cotraining`: Co-Training Data (Scenario 4).

A module added to this folder is imported (and so registered) automatically, in name order after
the baseline.
"""
from __future__ import annotations

import importlib
import pkgutil

from . import baseline  # noqa: F401 - registered first: the baseline jobs come first in every grid

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_module}")
