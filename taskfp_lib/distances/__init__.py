"""Task distances (Methods, "Task fingerprinting"): one module per distance, one registry.

Orientation everywhere: **sources first**, a matrix of shape (n_sources, n_targets) -- rows are
sources, columns are targets, the layout of the published distance files -- lower is closer.

Public API
----------
distance_matrix            all-pairs matrix (index = sources, columns = targets) for a registered distance.
get_distance               DistanceSpec by file stem or selector label (properties: symmetric, requires, ...).
available_distances        names of the registered distances.
register_distance          add a distance; ``register_family`` adds names built from a pattern.
write_distance_csv         write a matrix in the published CSV layout (atomic).
DistanceInputError         a kernel refused an input; ``entries`` names the offending tasks.
bkld_distance_matrix       bKLD, binned KL divergence with its weightings (``bkld``).
histogram_stats            per-task bKLD terms (sum P log P, logsumexp).
vdna_distance_matrix       mean per-feature 1-D EMD of histograms (``vdna``).
kld_averaged_distance_matrix   P2L (KLD-PP:NN) on mean features (``p2l``).
fid_distance_matrix        Fréchet distance of Gaussian summaries (``gaussian``).
fed_distance_matrix        1 - cosine of Fisher embeddings (``fisher``).
sinkhorn_divergence        debiased Sinkhorn divergence of two feature clouds (``transport``, geomloss).
semantic_distance_matrix   the Manual selector from task keywords (``semantic``).

Adding a distance: write one module in this package (or anywhere, for a plug-in) that defines the
kernel and calls :func:`register_distance` / :func:`register_family` at import; every public module
of this package is imported here, so a new module here is registered without touching this file.
"""
import importlib as _importlib
import pkgutil as _pkgutil

from ._inputs import FEATURE_MAX, MEMORY_BUDGET_BYTES, DistanceInputError, l1_normalize, softmax
from .bkld import WEIGHTINGS, bkld_distance_matrix, feature_weights, histogram_stats
from .fisher import fed_distance_matrix
from .gaussian import PSD_RTOL, fid_distance_matrix
from .p2l import kld_averaged_distance_matrix
from .registry import (INPUTS, PUBLISHED_ONLY, DistanceFamily, DistanceSpec, available_distances, distance_matrix,
                       get_distance, published_layout, register_distance, register_family, resolves,
                       write_distance_csv)
from .semantic import semantic_distance_matrix
from .transport import sinkhorn_distance_matrix, sinkhorn_divergence
from .vdna import vdna_distance_matrix

# registration beside each kernel: importing a module registers its distances
for _module in _pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        _importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "FEATURE_MAX", "INPUTS", "MEMORY_BUDGET_BYTES", "PSD_RTOL", "PUBLISHED_ONLY", "WEIGHTINGS", "DistanceFamily",
    "DistanceInputError", "DistanceSpec", "available_distances", "bkld_distance_matrix", "distance_matrix",
    "feature_weights", "fed_distance_matrix", "fid_distance_matrix", "get_distance", "histogram_stats",
    "kld_averaged_distance_matrix", "l1_normalize", "published_layout", "register_distance", "register_family",
    "resolves", "semantic_distance_matrix", "sinkhorn_distance_matrix", "sinkhorn_divergence", "softmax",
    "vdna_distance_matrix", "write_distance_csv",
]
