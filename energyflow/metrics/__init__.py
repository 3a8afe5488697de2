"""Metrics: grid NLL (and exact grid samples) for low-dimensional energies, AUROC, Frechet distance, MMD and nearest-neighbour realism."""

from energyflow.metrics.auroc import auroc
from energyflow.metrics.frechet import frechet_distance, frechet_from_stats
from energyflow.metrics.grid_nll import grid_nll, grid_sample
from energyflow.metrics.mmd import mmd
from energyflow.metrics.realism import (
    RealismReference,
    distance_ratio,
    knn_radii,
    nearest_distance,
    realistic,
)

__all__ = [
    "RealismReference", "auroc", "distance_ratio", "frechet_distance", "frechet_from_stats", "grid_nll", "grid_sample",
    "knn_radii", "mmd", "nearest_distance", "realistic",
]
