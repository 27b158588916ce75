"""Task distances (spec 3.4), grouped by the representation they compare.

Public API
----------
distance_matrix            all-pairs matrix (index = sources, columns = targets) for a registered distance.
get_distance               DistanceSpec by file stem or paper label (properties: symmetric, requires, ...).
available_distances        names of the registered distances.
register_distance          add a distance to the registry.
write_distance_csv         write a matrix in the published CSV layout (atomic).
bkld_distance_matrix       binned KL divergence, vectorised, with weighting variants.
histogram_stats            per-task bKLD terms (sum P log P, logsumexp) to cache.
vdna_distance_matrix       mean per-feature 1-D EMD of histograms.
kld_averaged_distance_matrix   P2L (KLD-PP:NN) on mean features.
fid_distance_matrix        Fréchet distance of Gaussian summaries.
fed_distance_matrix        1 - cosine of Fisher embeddings.
sinkhorn_divergence        debiased Sinkhorn divergence of two feature clouds (geomloss).

``taskfp_lib.distances.semantic`` (the Manual selector) is imported lazily by the registry.
"""
from .binned import (WEIGHTINGS, bkld_distance_matrix, bkld_naive, histogram_stats, kld_averaged_distance_matrix,
                     softmax, vdna_distance_matrix)
from .fisher import fed_distance_matrix
from .gaussian import fid_distance_matrix, frechet_distance_naive
from .registry import (ALIASES, INPUTS, DistanceSpec, available_distances, distance_matrix, get_distance,
                       published_layout, register_distance, write_distance_csv)
from .transport import sinkhorn_distance_matrix, sinkhorn_divergence

__all__ = [
    "ALIASES", "INPUTS", "WEIGHTINGS", "DistanceSpec", "available_distances", "bkld_distance_matrix", "bkld_naive",
    "distance_matrix", "fed_distance_matrix", "fid_distance_matrix", "frechet_distance_naive", "get_distance", "histogram_stats",
    "kld_averaged_distance_matrix", "published_layout", "register_distance", "sinkhorn_distance_matrix",
    "sinkhorn_divergence", "softmax", "vdna_distance_matrix", "write_distance_csv",
]
